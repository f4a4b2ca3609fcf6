"""The console page at `/_emulator/`: see the tenant; edit a user (names, mail, the organization
attributes and the manager), add, delete or restore one; add a user to a group or take one out.

Plain HTML forms (no JavaScript) so a demo can show the portal's sync reacting to changes.
"""

from flask import Blueprint, redirect, render_template, request, url_for

from .app import get_state
from .demo import DEMO_ADMIN_UPN, DEMO_CLIENT_ID, DEMO_USER_UPN
from .directory import NotFound
from .schema import MANAGER
from .state import utc

bp = Blueprint("console", __name__, url_prefix="/_emulator")
MAX_ROWS = 400


@bp.get("/")
def index():
    """Users (filterable by ?q=), deleted users and groups of the current tenant."""
    state = get_state()
    query = request.args.get("q", "").strip().lower()
    with state.lock:
        d = state.directory
        users = [
            u
            for u in d.users.values()
            if not query
            or query in f"{u['displayName']} {u['userPrincipalName']} {u.get('mail') or ''}".lower()
        ]
        groups = [
            (grp, [d.users[m] for m in d.member_ids(grp["id"]) if m in d.users]) for grp in d.groups.values()
        ]
        return render_template(
            "console.html",
            tenant=d,
            users=users[:MAX_ROWS],
            total=len(users),
            deleted=list(d.deleted.values()),
            groups=groups,
            query=query,
            error=request.args.get("error"),
            org_fields=ORG_FIELDS,
            location_fields=LOCATION_FIELDS,
            managers={u["id"]: d.users.get(u.get(MANAGER) or "") for u in users[:MAX_ROWS]},
            now=utc(state.now()),
            demo={"admin": DEMO_ADMIN_UPN, "user": DEMO_USER_UPN, "client_id": DEMO_CLIENT_ID},
            faults=state.faults,
            log_size=len(state.log),
        )


def _back(error=None):
    return redirect(url_for("console.index", q=request.form.get("q") or None, error=error), code=303)


# The properties the console edits, as Graph names them (what the portal's sync reads).
EDITED = (
    "givenName",
    "surname",
    "displayName",
    "mail",
    "department",
    "jobTitle",
    "officeLocation",
    "companyName",
    "country",
    "usageLocation",
    "preferredLanguage",
    "employeeId",
    "employeeType",
)

# (Graph name, label) of the attribute fields in the console's Edit form.
ORG_FIELDS = (
    ("department", "Department"),
    ("jobTitle", "Job title"),
    ("companyName", "Company"),
    ("employeeId", "Employee id"),
    ("employeeType", "Employee type"),
)
LOCATION_FIELDS = (
    ("officeLocation", "Office"),
    ("country", "Country"),
    ("usageLocation", "Usage location (2 letters)"),
    ("preferredLanguage", "Preferred language (e.g. de-DE)"),
)


def _edited_props():
    """The form's edited properties: a field left empty clears it (Graph's null), except the
    display name, which a user always has."""
    props = {key: request.form.get(key, "").strip() or None for key in EDITED if key in request.form}
    if not props.get("displayName"):
        props.pop("displayName", None)
    if props.get("usageLocation"):
        props["usageLocation"] = props["usageLocation"].upper()
    if request.form.get("no_manager"):
        props[MANAGER] = None
    elif MANAGER in request.form:
        props[MANAGER] = request.form[MANAGER].strip() or None
    return props


@bp.post("/ui/users/<user_id>/rename")
def rename(user_id):
    """Change a user's names, mail, organization attributes and manager (what a sync then
    reads); an unknown manager changes nothing and says so."""
    state = get_state()
    props = _edited_props()
    if "mail" in props:
        props["proxyAddresses"] = [f"SMTP:{props['mail']}"] if props["mail"] else []
    with state.lock:
        if props.get(MANAGER) and state.directory.find_user(props[MANAGER]) is None:
            return _back(f"No user {props[MANAGER]!r} to be the manager: nothing changed.")
        try:
            state.directory.update_user(user_id, props)
        except NotFound:
            pass
    return _back()


@bp.post("/ui/users")
def add_user():
    """Add a member user (given name, surname, mail), optionally straight into a group."""
    state = get_state()
    with state.lock:
        user = state.directory.create_user(_edited_props())
        if request.form.get("group"):
            try:
                state.directory.add_member(request.form["group"], user["id"])
            except NotFound:
                pass
    return _back()


@bp.post("/ui/groups/<group_id>/members")
def add_member(group_id):
    """Add a user (by user principal name or mail) to a group."""
    state = get_state()
    with state.lock:
        key = request.form.get("user", "").strip()
        user = state.directory.find_user(key) or next(
            (u for u in state.directory.users.values() if (u.get("mail") or "").lower() == key.lower()), None
        )
        if user is not None:
            try:
                state.directory.add_member(group_id, user["id"])
            except NotFound:
                pass
    return _back()


@bp.post("/ui/groups/<group_id>/members/<user_id>/remove")
def remove_member(group_id, user_id):
    """Take a user out of a group."""
    state = get_state()
    with state.lock:
        try:
            state.directory.remove_member(group_id, user_id)
        except NotFound:
            pass
    return _back()


@bp.post("/ui/users/<user_id>/delete")
def delete(user_id):
    """Soft-delete a user (restorable for 30 days)."""
    state = get_state()
    with state.lock:
        try:
            state.directory.delete_user(user_id, now=utc(state.now()))
        except NotFound:
            pass
    return _back()


@bp.post("/ui/users/<user_id>/restore")
def restore(user_id):
    """Restore a soft-deleted user."""
    state = get_state()
    with state.lock:
        try:
            state.directory.restore_user(user_id)
        except NotFound:
            pass
    return _back()


@bp.post("/ui/reset")
def reset():
    """Reset the emulator to its initial tenant."""
    get_state().reset()
    return redirect(url_for("console.index"), code=303)
