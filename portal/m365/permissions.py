"""What the portal asks Microsoft for: the Graph permissions, the sign-in scopes, the connection types.

The one list of Graph permissions: the delegated sign-in asks for them as scopes, admin consent
grants them as application permissions, and a sign-in that lacks one is refused.
"""

import enum

GRAPH_PERMISSIONS = ("User.Read.All", "GroupMember.Read.All")
# A delegated sign-in (and every token refresh): who signs in, a refresh token, the Graph permissions.
DELEGATED_SCOPES = " ".join(("openid", "profile", "email", "offline_access", *GRAPH_PERMISSIONS))
# An application-permission sign-in asks only who signs in and in which tenant.
OIDC_SCOPES = "openid profile email"


class ConnectionType(enum.StrEnum):
    """How the portal reads the tenant: as the administrator who signed in (a refresh token), or
    as itself with application permissions granted by admin consent (client credentials)."""

    DELEGATED = "delegated"
    APPLICATION = "application"


# Directory role template ids (Microsoft Entra built-in roles, graph-protocol.md 1.6): the ID token's
# `wids` lists the signed-in user's roles (when the app registration's manifest sets
# groupMembershipClaims to "DirectoryRole"). Who may connect a tenant: whoever may grant what the
# connection type needs. Application and Cloud Application Administrators may consent to delegated
# permissions, but only Global and Privileged Role Administrators to Graph application permissions.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
CONNECTING_ROLES = {
    ConnectionType.APPLICATION: {GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR},
    ConnectionType.DELEGATED: {
        GLOBAL_ADMINISTRATOR,
        PRIVILEGED_ROLE_ADMINISTRATOR,
        APPLICATION_ADMINISTRATOR,
        CLOUD_APPLICATION_ADMINISTRATOR,
    },
}


def may_connect(id_token_claims, connection_type):
    """True when the verified ID token proves its user an administrator who may connect the tenant
    with `connection_type`. No `wids` claim proves nothing (the manifest does not emit it)."""
    roles = id_token_claims.get("wids")
    if not isinstance(roles, list):
        return False
    return bool({str(role).lower() for role in roles} & CONNECTING_ROLES[ConnectionType(connection_type)])


def lacks_permission(scopes):
    """True when the granted `scopes` (space-separated short names) miss a Graph permission."""
    granted = {scope.lower() for scope in scopes.split()}
    return not {permission.lower() for permission in GRAPH_PERMISSIONS} <= granted
