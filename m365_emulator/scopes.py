"""Scope parsing and the permission rules the emulated Graph enforces."""

GRAPH_RESOURCE = "https://graph.microsoft.com/"
OIDC_SCOPES = ["openid", "profile", "email", "offline_access"]
GRAPH_SCOPES = [
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Device.Read.All",
    "OrgContact.Read.All",
    "Member.Read.Hidden",
]
# Delegated permissions that only an administrator can consent to.
ADMIN_ONLY = {
    "User.Read.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Device.Read.All",
    "OrgContact.Read.All",
    "Member.Read.Hidden",
}
_CANONICAL = {s.lower(): s for s in OIDC_SCOPES + GRAPH_SCOPES + [".default"]}

# Which permission lets a caller read which kind of object (any one of them is enough).
READ_USERS = {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"}
READ_GROUPS = {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"}
READ_BY_TYPE = {
    "user": READ_USERS,
    "group": READ_GROUPS,
    "device": {"Device.Read.All", "Directory.Read.All"},
    "orgContact": {"OrgContact.Read.All", "Directory.Read.All"},
    "servicePrincipal": {"Directory.Read.All"},
}


class ScopeError(ValueError):
    """A scope string the identity platform would reject (AADSTS70011)."""


def parse_scopes(text, app_permissions=()):
    """Split a scope string into (oidc scopes, graph scopes), normalised to short canonical names.

    `https://graph.microsoft.com/X` and `X` are the same; names are case-insensitive; `.default`
    stands for the app registration's configured permissions and can't be mixed with others.
    """
    oidc, graph, default = [], [], False
    for raw in (text or "").split():
        name = raw[len(GRAPH_RESOURCE) :] if raw.lower().startswith(GRAPH_RESOURCE) else raw
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            raise ScopeError(raw)
        if canonical == ".default":
            default = True
        elif canonical in OIDC_SCOPES:
            oidc.append(canonical) if canonical not in oidc else None
        elif canonical not in graph:
            graph.append(canonical)
    if default:
        if graph:
            raise ScopeError(".default")
        graph = list(app_permissions)
    return oidc, graph


def can_read(kind, scopes):
    """Whether a token holding `scopes` may read full objects of `kind`."""
    return bool(READ_BY_TYPE.get(kind, set()) & set(scopes))
