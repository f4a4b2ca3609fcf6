"""Microsoft Graph v1.0 read endpoints: users, groups, members, memberOf, deleted items."""

from flask import Blueprint, Response, request

from .app import get_state
from .errors import GraphError
from .listing import (
    add_manager,
    advanced,
    authorize,
    collection,
    context_url,
    cost,
    manager_expansion,
    not_found,
    query_items,
    represent,
    select_for,
)
from .odata import parse_select
from .schema import (
    CAST_TYPES,
    ENTITY_SETS,
    GROUP_FILTERABLE,
    USER_FILTERABLE,
    USER_PROPS,
    USER_SINGLE_ONLY,
)
from .scopes import READ_GROUPS, READ_USERS

bp = Blueprint("graph", __name__, url_prefix="/v1.0")
USER_SORTABLE = ("displayName", "userPrincipalName")


def _users_allowed(grant):
    """Guests can't list the directory (delegated tokens of guest accounts get 403)."""
    user = get_state().directory.users.get(grant.user_id) if grant.user_id else None
    if user and user["userType"] == "Guest":
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )


@bp.get("/users")
def list_users():
    """List users: default or $select properties, $filter/$search/$orderby/$count, paging,
    $expand=manager."""
    state = get_state()
    with state.lock:
        grant, _ = authorize(READ_USERS)
        _users_allowed(grant)
        select = select_for("user", USER_SINGLE_ONLY)
        cost(2)
        return collection(
            list(state.directory.users.values()),
            "user",
            context=context_url("users", select),
            select=select,
            filterable=USER_FILTERABLE,
            default_sortable=USER_SORTABLE,
            expansion=manager_expansion(),
        )


def _count(items, kind, filterable, resource):
    eventual, _ = advanced()
    if not eventual:
        raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
    selected, _, _ = query_items(items, kind, filterable, resource)
    cost(1)
    return Response(str(len(selected)), mimetype="text/plain")


@bp.get("/users/$count")
def count_users():
    """Number of users as text/plain (needs ConsistencyLevel: eventual)."""
    state = get_state()
    with state.lock:
        authorize(READ_USERS)
        return _count(list(state.directory.users.values()), "user", USER_FILTERABLE, "User")


@bp.get("/users/<key>")
def get_user(key):
    """One user by id or userPrincipalName ($select, $expand=manager)."""
    state = get_state()
    with state.lock:
        authorize(READ_USERS)
        select = parse_select(request.args.get("$select"), USER_PROPS + USER_SINGLE_ONLY)
        user = state.directory.find_user(key)
        if user is None:
            raise not_found(key)
        cost(1)
        body = {"@odata.context": context_url("users", select, "/$entity")}
        body.update(represent("user", user, select))
        return add_manager(body, user, manager_expansion())


@bp.get("/me")
def me():
    """The signed-in user (delegated tokens only)."""
    state = get_state()
    with state.lock:
        grant, _ = authorize({"User.Read", "User.Read.All", "Directory.Read.All"})
        if grant.user_id is None:
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        user = state.directory.find_user(grant.user_id)
        if user is None:
            raise not_found(grant.user_id)
        cost(1)
        select = select_for("user", ())
        return {"@odata.context": context_url("users", select, "/$entity"), **represent("user", user, select)}


@bp.get("/users/<key>/memberOf")
@bp.get("/users/<key>/memberOf/<cast>")
def member_of(key, cast=None):
    """Direct groups of a user (`/microsoft.graph.group` cast supported)."""
    state = get_state()
    with state.lock:
        _, scopes = authorize(READ_USERS | READ_GROUPS)
        user = state.directory.find_user(key)
        if user is None:
            raise not_found(key)
        if cast not in (None, "microsoft.graph.group"):
            raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported cast '{cast}'.")
        groups = [state.directory.groups[gid] for gid in state.directory.groups_of(user["id"])]
        cost(2)
        select = select_for("group")
        context = context_url("groups" if cast else "directoryObjects", select)
        return collection(
            [("group", grp) for grp in groups],
            "group",
            context=context,
            select=select,
            filterable=GROUP_FILTERABLE,
            resource="Group",
            typed=not cast,
            scopes=scopes,
        )


@bp.get("/groups")
def list_groups():
    """List groups (all kinds), with the same query options as users."""
    state = get_state()
    with state.lock:
        authorize(READ_GROUPS)
        select = select_for("group")
        cost(1)
        return collection(
            list(state.directory.groups.values()),
            "group",
            context=context_url("groups", select),
            select=select,
            filterable=GROUP_FILTERABLE,
            resource="Group",
        )


@bp.get("/groups/$count")
def count_groups():
    """Number of groups as text/plain (needs ConsistencyLevel: eventual)."""
    state = get_state()
    with state.lock:
        authorize(READ_GROUPS)
        return _count(list(state.directory.groups.values()), "group", GROUP_FILTERABLE, "Group")


@bp.get("/groups/<group_id>")
def get_group(group_id):
    """One group by id."""
    state = get_state()
    with state.lock:
        authorize(READ_GROUPS)
        group = state.directory.groups.get(group_id)
        if group is None:
            raise not_found(group_id)
        select = select_for("group")
        cost(1)
        return {
            "@odata.context": context_url("groups", select, "/$entity"),
            **represent("group", group, select),
        }


@bp.get("/groups/<group_id>/<relation>")
@bp.get("/groups/<group_id>/<relation>/<cast>")
def group_members(group_id, relation, cast=None):
    """Direct or transitive members (directoryObjects with @odata.type; casts filter by type)."""
    if relation not in ("members", "transitiveMembers"):
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{relation}'.")
    state = get_state()
    with state.lock:
        _, scopes = authorize(READ_GROUPS)
        directory = state.directory
        if group_id not in directory.groups:
            raise not_found(group_id)
        kind = _cast_kind(cast, transitive=relation == "transitiveMembers")
        ids = (
            directory.transitive_member_ids(group_id)
            if relation == "transitiveMembers"
            else directory.member_ids(group_id)
        )
        pairs = [directory.lookup(m) for m in ids]
        if kind:
            pairs = [(k, o) for k, o in pairs if k == kind]
        cost(5 if relation == "transitiveMembers" else 3)
        select = _member_select(kind)
        context = context_url(ENTITY_SETS[kind] if kind else "directoryObjects", select)
        filterable = USER_FILTERABLE | GROUP_FILTERABLE
        return collection(
            pairs,
            kind or "user",
            context=context,
            select=select,
            filterable=filterable,
            typed=True,
            scopes=scopes,
            resource="User" if kind == "user" else "DirectoryObject",
        )


def _cast_kind(cast, transitive):
    if cast is None:
        return None
    if cast not in CAST_TYPES:
        raise GraphError(
            400, "Request_UnsupportedQuery", f"The type '{cast}' is not a supported cast for this collection."
        )
    _, advanced_ok = advanced()
    if transitive and not advanced_ok:
        raise GraphError(
            400,
            "Request_UnsupportedQuery",
            (
                "Type cast on transitiveMembers is not supported because the required parameters "
                "might be missing. Try adding $count=true query parameter and "
                "ConsistencyLevel:eventual header."
            ),
        )
    return CAST_TYPES[cast]


def _member_select(kind):
    text = request.args.get("$select")
    if not text:
        return None
    if kind:
        return select_for(kind)
    return [n.strip() for n in text.split(",") if n.strip()]


@bp.get("/directory/deletedItems")
def deleted_items_bare():
    """The bare collection isn't supported: a type cast is required."""
    raise GraphError(
        400,
        "Request_BadRequest",
        (
            "Unsupported query: a type cast segment is required, e.g. "
            "/directory/deletedItems/microsoft.graph.user."
        ),
    )


@bp.get("/directory/deletedItems/microsoft.graph.user")
def deleted_users():
    """Users soft-deleted in the last 30 days, with deletedDateTime."""
    state = get_state()
    with state.lock:
        authorize(READ_USERS)
        select = select_for("user")
        cost(1)
        return collection(
            list(state.directory.deleted.values()),
            "user",
            context=context_url("users", select),
            select=select,
            filterable=USER_FILTERABLE | {"deletedDateTime"},
            default_sortable=USER_SORTABLE,
        )


@bp.get("/directory/deletedItems/<object_id>")
def deleted_item(object_id):
    """One soft-deleted user."""
    state = get_state()
    with state.lock:
        authorize(READ_USERS)
        user = state.directory.deleted.get(object_id)
        if user is None:
            raise not_found(object_id)
        cost(1)
        return {
            "@odata.context": context_url("directory/deletedItems", None, "/$entity"),
            "@odata.type": "#microsoft.graph.user",
            **represent("user", user, None),
        }
