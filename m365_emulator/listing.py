"""Shared machinery of Graph collection endpoints: auth, representation, query options, paging,
resource-unit cost."""

import urllib.parse

from flask import g, jsonify, request

from .app import base_url, get_state
from .errors import GraphError
from .odata import (
    SEARCH_HINT,
    page_after,
    parse_filter,
    parse_search,
    parse_select,
    parse_top,
    sort_key_factory,
)
from .schema import DEFAULT_BY_TYPE, MANAGER, ODATA_TYPES, PROPS_BY_TYPE, USER_PROPS
from .scopes import can_read

SEARCHABLE = {
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "description",
    "jobTitle",
    "department",
    "mailNickname",
}
NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."


def authorize(any_of):
    """The caller's access token grant and effective scopes; 401/403 as Graph answers them."""
    state = get_state()
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    grant = state.access_tokens.get(header[7:].strip())
    if grant is None:
        raise GraphError(
            401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217"
        )
    if grant.expires_at <= state.now():
        raise GraphError(
            401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
        )
    g.client_id = grant.client_id
    scopes = state.effective_scopes(grant)
    if any_of and not set(any_of) & set(scopes):
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    return grant, scopes


def not_found(object_id):
    """404 Request_ResourceNotFound for an id."""
    return GraphError(404, "Request_ResourceNotFound", NOT_FOUND.format(object_id))


def represent(kind, obj, select=None, *, with_type=False, scopes=None):
    """An object as Graph returns it: default or selected properties (+ @odata.type)."""
    out = {"@odata.type": ODATA_TYPES[kind]} if with_type else {}
    if scopes is not None and not can_read(kind, scopes):
        return dict(out, id=obj["id"])  # limited information: type and id only
    names = select or DEFAULT_BY_TYPE[kind]
    if "id" not in names:
        names = ["id"] + list(names)
    allowed = set(PROPS_BY_TYPE[kind])
    for name in names:
        if name in allowed or kind == "user":
            out[name] = obj.get(name)
    if select is None and "deletedDateTime" in obj:
        out["deletedDateTime"] = obj["deletedDateTime"]
    return out


def _expand_items(text):
    """Top-level comma-separated items of $expand (commas inside parentheses stay)."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    return [i for i in items + [current.strip()] if i]


def manager_expansion():
    """What `$expand=manager[($select=...)]` asks of a user: None (not asked), or the manager's
    property list (None inside a tuple = the default set). Other $expand items are ignored."""
    for item in _expand_items(request.args.get("$expand", "")):
        name, _, options = item.partition("(")
        if name.strip() != MANAGER:
            continue
        select = None
        for option in options.rstrip(")").split(";"):
            key, _, value = option.partition("=")
            if key.strip().lower() == "$select":
                select = parse_select(value, USER_PROPS, resource="user")
        return (select,)
    return None


def add_manager(out, user, expansion):
    """`out` (the representation of `user`) plus the expanded manager when `expansion` asks for it
    and the user has one; without a manager the property stays absent, as in Graph."""
    manager = get_state().directory.users.get(user.get(MANAGER) or "")
    if expansion is not None and manager is not None:
        out[MANAGER] = represent("user", manager, expansion[0], with_type=True)
    return out


def advanced():
    """(ConsistencyLevel: eventual sent, advanced-query parameters complete)."""
    eventual = request.headers.get("ConsistencyLevel", "").lower() == "eventual"
    return eventual, eventual and request.args.get("$count", "").lower() == "true"


def cost(base):
    """Record the request's resource-unit cost: $select −1, $top<20 −1, $expand +1, minimum 1."""
    units = base
    if request.args.get("$select"):
        units -= 1
    top = request.args.get("$top", "")
    if top.isdigit() and int(top) < 20:
        units -= 1
    if request.args.get("$expand"):
        units += 1
    g.resource_units = max(1, units)


def query_items(items, kind, filterable, resource, default_sortable=("displayName",)):
    """Apply $search, $filter and $orderby; returns (items, sort key, reverse)."""
    eventual, advanced_ok = advanced()
    if "$skip" in request.args:
        raise GraphError(
            400,
            "Request_BadRequest",
            "The query specified in the URI is not valid. Query option 'Skip' is not allowed.",
        )
    if request.args.get("$search"):
        if not eventual:
            raise GraphError(400, "Request_UnsupportedQuery", SEARCH_HINT)
        search = parse_search(request.args["$search"], SEARCHABLE)
        items = [o for o in items if search(o)]
    if request.args.get("$filter"):
        predicate = parse_filter(request.args["$filter"], filterable, resource, advanced_ok)
        items = [o for o in items if predicate(o)]
    key, reverse = sort_key_factory(
        request.args.get("$orderby"), default_sortable, advanced_ok, bool(request.args.get("$filter"))
    )
    return sorted(items, key=key, reverse=reverse), key, reverse


def next_link(skiptoken):
    """Absolute nextLink: this path, the original parameters, and the new $skiptoken."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
    pairs.append(("$skiptoken", skiptoken))
    query = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe="$,()':/")
    return f"{base_url()}{request.path}?{query}"


def collection(
    items,
    kind,
    *,
    context,
    select=None,
    filterable=(),
    resource="User",
    typed=False,
    scopes=None,
    default_sortable=("displayName",),
    expansion=None,
):
    """A paged OData collection response over `items` (dicts of `kind` or (kind, obj) pairs);
    `expansion` (from manager_expansion) adds each user's manager."""
    state = get_state()
    top = parse_top(request.args.get("$top"))
    objects, selected, key, reverse = _selection(items, kind, typed, filterable, resource, default_sortable)
    last = None
    if request.args.get("$skiptoken") is not None:
        cursor = state.cursor(request.args["$skiptoken"])
        if cursor is None or cursor.get("type") != "page":
            raise GraphError(
                400,
                "Directory_ExpiredPageToken",
                ("The specified page token value has expired and can no longer be included in your request."),
            )
        last = cursor["last"]
    page, new_last = page_after(selected, key, last, reverse, top)
    body = {"@odata.context": context}
    eventual, _ = advanced()
    if last is None and eventual and request.args.get("$count", "").lower() == "true":
        body["@odata.count"] = len(selected)
    if new_last is not None:
        body["@odata.nextLink"] = next_link(state.store_cursor({"type": "page", "last": new_last}))
    body["value"] = [represent(objects[id(o)], o, select, with_type=typed, scopes=scopes) for o in page]
    if expansion is not None:
        body["value"] = [add_manager(out, o, expansion) for o, out in zip(page, body["value"], strict=True)]
    return jsonify(body)


def _selection(items, kind, typed, filterable, resource, default_sortable):
    """(kinds by object id, the sorted matches, sort key, reverse) of this query, computed once per
    state of the directory: every page of a 100,000-user listing need not sort the tenant again."""
    state, directory = get_state(), get_state().directory
    args = tuple(sorted((k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"))
    cache_key = (directory.generation, directory.seq, request.path, args, advanced(), typed)
    if cache_key not in state.listings:
        pairs = items if typed else [(kind, o) for o in items]
        objects = {id(o): k for k, o in pairs}
        selected, key, reverse = query_items(
            [o for _, o in pairs], kind, filterable, resource, default_sortable
        )
        if len(state.listings) >= 8:
            state.listings.clear()
        state.listings[cache_key] = (objects, selected, key, reverse)
    return state.listings[cache_key]


def context_url(entity_set, select=None, suffix=""):
    """The @odata.context value, with the $select list in parentheses."""
    selection = f"({','.join(select)})" if select else ""
    return f"{base_url()}/v1.0/$metadata#{entity_set}{selection}{suffix}"


def select_for(kind, single_only=()):
    """Parse $select against the properties of `kind`."""
    return parse_select(request.args.get("$select"), PROPS_BY_TYPE[kind], single_only, resource=kind)
