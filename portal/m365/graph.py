"""The one Microsoft Graph client the rest of the code uses.

CONTRACT (implemented by the M365-connect work; others code against it):

    client = GraphClient.for_connection(connection)   # an M365Connection row
    client.list_users()            -> list[dict]  (all users, $select USER_FIELDS, $top=999, paged)
    client.get_user(user_id)       -> dict | None (None on 404 Request_ResourceNotFound)
    client.list_groups()           -> list[dict]  ($select GROUP_FIELDS)
    client.group_member_ids(group_id, transitive=True) -> list[str]  (user ids only)
    client.users_delta(delta_link=None)  -> DeltaPage(items=list[dict], delta_link=str)
    client.groups_delta(delta_link=None) -> DeltaPage(items=list[dict], delta_link=str)
    client.request_count, client.resource_units  (counters for this client's lifetime)

Errors (all subclasses of GraphError, each with a `message` an admin understands):
    ReauthRequired     refresh token rejected (invalid_grant ...): connection needs a new sign-in
    PermissionMissing  403 Authorization_RequestDenied: consent/permissions withdrawn
    GraphUnavailable   429/5xx after bounded retries, or Microsoft unreachable
    DeltaExpired       syncStateNotFound / 410: the caller must restart with delta_link=None
"""
from dataclasses import dataclass, field

USER_FIELDS = (
    "id,displayName,givenName,surname,mail,userPrincipalName,proxyAddresses,"
    "accountEnabled,userType,department,jobTitle"
)
GROUP_FIELDS = (
    "id,displayName,description,mail,mailEnabled,securityEnabled,groupTypes,"
    "resourceProvisioningOptions"
)


class GraphError(Exception):
    """A Graph call failed; `message` is shown to admins."""

    def __init__(self, message, *, code=None, status=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class ReauthRequired(GraphError):
    pass


class PermissionMissing(GraphError):
    pass


class GraphUnavailable(GraphError):
    pass


class DeltaExpired(GraphError):
    pass


@dataclass
class DeltaPage:
    items: list = field(default_factory=list)
    delta_link: str = ""
