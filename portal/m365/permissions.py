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


def lacks_permission(scopes):
    """True when the granted `scopes` (space-separated short names) miss a Graph permission."""
    granted = {scope.lower() for scope in scopes.split()}
    return not {permission.lower() for permission in GRAPH_PERMISSIONS} <= granted
