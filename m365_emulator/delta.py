"""`/users/delta` and `/groups/delta`: rounds of pages ending in a deltaLink, then only changes.

A round's entries are computed on its first request and handed out page by page (the snapshot
is what a real service gives too: changes made meanwhile show up in the next round). Tokens are
random keys of server-side cursors; they expire after 7 emulated days (400 syncStateNotFound) and
can be invalidated on purpose from the control API (410 Gone + Location).
"""

import datetime
import re
import urllib.parse

from flask import Blueprint, jsonify, request

from .app import base_url, get_state
from .errors import GraphError
from .listing import authorize, context_url, cost, represent
from .odata import parse_select
from .schema import GROUP_PROPS, MANAGER, ODATA_TYPES, USER_PROPS, USER_SINGLE_ONLY
from .scopes import READ_GROUPS, READ_USERS

bp = Blueprint("delta", __name__, url_prefix="/v1.0")
ID_CLAUSE = re.compile(r"^\s*id\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)
EXPIRED = (
    "The sync state generation is not found. The delta token is expired and data must be synchronized again."
)


def _params():
    """Validated $select / $filter of a round's first request."""
    kind = request.path.split("/")[2]
    for option in ("$top", "$expand", "$orderby"):
        if option in request.args:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"The query option '{option}' is not supported with delta query.",
            )
    allowed = USER_PROPS + [MANAGER] if kind == "users" else GROUP_PROPS + ["members"]
    select = parse_select(
        request.args.get("$select"),
        allowed,
        USER_SINGLE_ONLY if kind == "users" else (),
        resource="user" if kind == "users" else "group",
    )
    ids = None
    if request.args.get("$filter"):
        clauses = re.split(r"\s+or\s+", request.args["$filter"], flags=re.IGNORECASE)
        matches = [ID_CLAUSE.match(c) for c in clauses]
        if not all(matches) or len(matches) > 50:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                ("Delta query supports only $filter=id eq '...' or id eq '...' (up to 50 ids)."),
            )
        ids = [m.group(1) for m in matches]
    return {"select": select, "ids": ids}


def _preferences():
    """(return=minimal asked, odata.maxpagesize or None) from the Prefer header."""
    prefer = [p.strip().lower() for p in request.headers.get("Prefer", "").split(",")]
    size = next((p.split("=", 1)[1] for p in prefer if p.startswith("odata.maxpagesize=")), None)
    return "return=minimal" in prefer, int(size) if size and size.isdigit() else None


# -- entries ---------------------------------------------------------------------------------
def _props_select(kind, select):
    """The selected plain properties: without the relationship (members / manager)."""
    if select is None:
        return select
    relationship = MANAGER if kind == "users" else "members"
    return [s for s in select if s != relationship] or ["id"]


def _with_members(kind, select):
    return kind == "groups" and (select is None or "members" in select)


def _with_manager(kind, select):
    """The manager is tracked only when $select names it (never by default)."""
    return kind == "users" and select is not None and MANAGER in select


def _manager_delta(user, changes):
    """manager@delta of a changed user: the new manager, or the one removed; None if unchanged."""
    befores = [c.before[MANAGER] for c in changes if c.before and MANAGER in c.before]
    current = user.get(MANAGER)
    if current:
        return [_member_ref("user", current)] if befores else None
    if befores and befores[0]:
        return [dict(_member_ref("user", befores[0]), **{"@removed": {"reason": "changed"}})]
    return None


def _member_ref(member_type, member_id, removed=False):
    ref = {"@odata.type": ODATA_TYPES[member_type], "id": member_id}
    if removed:
        ref["@removed"] = {"reason": "deleted"}
    return ref


def _sliced(state, entry, refs, extra):
    """Attach members@delta to `entry`; slices beyond the first go to `extra` (later pages)."""
    size = max(1, int(state.settings["delta_member_slice"]))
    slices = [refs[i : i + size] for i in range(0, len(refs), size)] or [[]]
    entry["members@delta"] = slices[0]
    for piece in slices[1:]:
        extra.append(dict(entry, **{"members@delta": piece}))
    return entry


def _initial_entries(state, kind, params):
    directory, select = state.directory, params["select"]
    wanted = set(params["ids"]) if params["ids"] else None
    entries, extra = [], []
    if kind == "users":
        props_select, managed = _props_select(kind, select), _with_manager(kind, select)
        for user in directory.users.values():
            if wanted is None or user["id"] in wanted:
                entry = represent("user", user, props_select)
                if managed and user.get(MANAGER):
                    entry["manager@delta"] = [_member_ref("user", user[MANAGER])]
                entries.append(entry)
        for uid in directory.deleted:
            if wanted is None or uid in wanted:
                entries.append({"id": uid, "@removed": {"reason": "changed"}})
    else:
        for gid, group in directory.groups.items():
            if wanted is not None and gid not in wanted:
                continue
            entry = represent("group", group, _props_select(kind, select))
            if _with_members(kind, select):
                refs = [_member_ref(directory.lookup(m)[0], m) for m in directory.member_ids(gid)]
                entry = _sliced(state, entry, refs, extra)
            entries.append(entry)
    entries += extra
    if state.settings["delta_replays"] and len(entries) > 10:
        entries += [dict(entries[i]) for i in range(3, len(entries), 37)]
    return entries


def _change_entries(state, kind, params, since, minimal):
    """Entries for everything that changed after change-log position `since`."""
    directory, select = state.directory, params["select"]
    single = "user" if kind == "users" else "group"
    wanted = set(params["ids"]) if params["ids"] else None
    per_object = {}
    for change in directory.changes_since(since):
        if change.kind == single and (wanted is None or change.id in wanted):
            per_object.setdefault(change.id, []).append(change)
    entries, extra = [], []
    for object_id, changes in per_object.items():
        entry = _change_entry(state, kind, object_id, changes, select, minimal, extra)
        if entry is not None:
            entries.append(entry)
    return entries + extra


def _change_entry(state, kind, object_id, changes, select, minimal, extra):
    directory = state.directory
    pool = directory.users if kind == "users" else directory.groups
    ops = [c.op for c in changes]
    if object_id not in pool:
        if kind == "users":
            reason = "changed" if object_id in directory.deleted else "deleted"
        else:
            reason = "changed" if ops[-1] == "softdelete" else "deleted"
        return {"id": object_id, "@removed": {"reason": reason}}
    obj, single = pool[object_id], ("user" if kind == "users" else "group")
    props_select = _props_select(kind, select)
    changed = set().union(*(c.props for c in changes)) - {"id", MANAGER}
    if props_select is not None:
        changed &= set(props_select)
    members = _member_changes(directory, changes) if _with_members(kind, select) else []
    fresh = bool({"create", "restore"} & set(ops))
    manager = None
    if _with_manager(kind, select):
        if fresh:
            manager = [_member_ref("user", obj[MANAGER])] if obj.get(MANAGER) else None
        else:
            manager = _manager_delta(obj, changes)
    if not fresh and not changed and not members and not manager:
        return None
    if fresh:
        entry = represent(single, obj, props_select)
    elif minimal:
        entry = {"id": object_id, **{p: obj.get(p) for p in sorted(changed)}}
    else:
        entry = {
            k: v for k, v in represent(single, obj, props_select).items() if v is not None or k in changed
        }
    if kind == "groups" and (members or fresh) and _with_members(kind, select):
        if fresh:
            members = [_member_ref(directory.lookup(m)[0], m) for m in directory.member_ids(object_id)]
        entry = _sliced(state, entry, members, extra)
    if manager:
        entry["manager@delta"] = manager
    return entry


def _member_changes(directory, changes):
    last = {}
    for change in changes:
        if change.op in ("member_add", "member_remove"):
            last[change.member[1]] = change
    return [
        _member_ref(c.member[0], member_id, removed=c.op == "member_remove") for member_id, c in last.items()
    ]


# -- rounds ----------------------------------------------------------------------------------
def _link(kind, option, key):
    return f"{base_url()}/v1.0/{kind}/delta?{option}={key}"


def _page(state, kind, round_):
    minimal, max_size = _preferences()
    size = max_size or int(state.settings[f"{kind}_delta_page_size"])
    entries = round_["entries"]
    body = {"@odata.context": context_url(kind, round_["params"]["select"], "/delta")}
    if len(entries) > size:
        rest = dict(round_, entries=entries[size:])
        body["@odata.nextLink"] = _link(kind, "$skiptoken", state.store_cursor(rest))
    else:
        cursor = {"type": "delta", "kind": kind, "seq": round_["seq"], "params": round_["params"]}
        body["@odata.deltaLink"] = _link(kind, "$deltatoken", state.store_cursor(cursor))
    body["value"] = entries[:size]
    response = jsonify(body)
    if round_.get("minimal"):
        response.headers["Preference-Applied"] = "return=minimal"
    return response


def _checked_cursor(state, kind, key, expected_type):
    cursor = state.cursor(key)
    if cursor is None or cursor["type"] != expected_type or cursor["kind"] != kind:
        raise GraphError(400, "syncStateNotFound", EXPIRED)
    days = state.settings["delta_token_days"]
    if state.now() - cursor["issued_at"] > datetime.timedelta(days=days):
        raise GraphError(400, "syncStateNotFound", EXPIRED)
    if cursor["serial"] <= state.delta_gone[kind]:
        query = {"$deltatoken": ""}
        if cursor["params"]["select"]:
            query["$select"] = ",".join(cursor["params"]["select"])
        location = f"{base_url()}/v1.0/{kind}/delta?" + urllib.parse.urlencode(
            query, quote_via=urllib.parse.quote, safe="$,"
        )
        raise GraphError(410, "resyncRequired", headers={"Location": location})
    return cursor


def _round_start(state, kind, params, entries, minimal=False):
    return {
        "type": "delta_page",
        "kind": kind,
        "seq": state.directory.seq,
        "params": params,
        "entries": entries,
        "minimal": minimal,
    }


def delta(kind):
    """One page of a delta round (initial, continued via $skiptoken, or from a $deltatoken)."""
    state = get_state()
    with state.lock:
        authorize(READ_USERS if kind == "users" else READ_GROUPS)
        cost(1)
        if request.args.get("$skiptoken") is not None:
            round_ = _checked_cursor(state, kind, request.args["$skiptoken"], "delta_page")
            return _page(state, kind, round_)
        token = request.args.get("$deltatoken")
        if token == "latest":
            params = _params()
            return _page(state, kind, _round_start(state, kind, params, []))
        if token:
            cursor = _checked_cursor(state, kind, token, "delta")
            minimal, _ = _preferences()
            entries = _change_entries(state, kind, cursor["params"], cursor["seq"], minimal)
            return _page(state, kind, _round_start(state, kind, cursor["params"], entries, minimal))
        params = _params()
        return _page(state, kind, _round_start(state, kind, params, _initial_entries(state, kind, params)))


for _kind in ("users", "groups"):
    for _suffix in ("delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"):
        bp.add_url_rule(
            f"/{_kind}/{_suffix}",
            view_func=delta,
            defaults={"kind": _kind},
            endpoint=f"{_kind}_{_suffix}".replace("()", "_call").replace(".", "_"),
        )
