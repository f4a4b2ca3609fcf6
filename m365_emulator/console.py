"""The console page at `/_emulator/`: see the tenant; edit a user (names, mail, the organization
attributes and the manager), add, disable (block sign-in), delete or restore one, delete one
permanently; add a user to a group or take one out; run Entra provisioning against the portal
(Test connection, a provisioning cycle, the last run's summary and request log).

Plain HTML forms (no JavaScript) so a demo can show the portal's sync reacting to changes.
"""

from flask import Blueprint, redirect, render_template, request, url_for

from . import entra_provisioning as entra
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
            entra=state.entra_target,
            entra_run=state.entra_last,
            entra_pushed=sum(len(ledger["users"]) for ledger in state.entra_ledgers.values()),
            notice=request.args.get("notice"),
            request_log_rows=ENTRA_LOG_ROWS,
        )


def _back(error=None, notice=None, anchor=None):
    target = url_for("console.index", q=request.form.get("q") or None, error=error, notice=notice)
    return redirect(target + (f"#{anchor}" if anchor else ""), code=303)


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


@bp.post("/ui/users/<user_id>/enabled")
def set_enabled(user_id):
    """Block sign-in (accountEnabled false) or allow it again (form field `enabled`: 0 or 1)."""
    state = get_state()
    with state.lock:
        try:
            state.directory.update_user(user_id, {"accountEnabled": request.form.get("enabled") == "1"})
        except NotFound:
            pass
    return _back()


@bp.post("/ui/users/<user_id>/purge")
def purge(user_id):
    """Delete a soft-deleted user permanently (what 30 days in the recycle bin do)."""
    state = get_state()
    with state.lock:
        try:
            state.directory.delete_user(user_id, hard=True)
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


ENTRA_LOG_ROWS = 200  # the console shows the last requests of a run


def _entra_target():
    """The Tenant URL, token and flag from the form, remembered for the next visit (an empty
    token field keeps the token entered before)."""
    state = get_state()
    target = state.entra_target
    target["url"] = request.form.get("url", "").strip() or entra.default_tenant_url()
    target["token"] = request.form.get("token", "").strip() or target["token"]
    target["flag"] = bool(request.form.get("flag"))
    return target


@bp.post("/ui/entra/test")
def entra_test():
    """Entra's Test Connection against the Tenant URL with the Secret Token."""
    target = _entra_target()
    if not target["token"]:
        return _back(
            "Enter the Secret Token (the portal's Entra provisioning page creates one).", anchor="entra"
        )
    ok, message = entra.EntraProvisioning(
        target["url"], target["token"], flag=target["flag"]
    ).test_connection()
    return _back(None if ok else message, notice=message if ok else None, anchor="entra")


@bp.post("/ui/entra/run")
def entra_run():
    """One provisioning cycle (initial or incremental) from this tenant to the Tenant URL."""
    target = _entra_target()
    if not target["token"]:
        return _back(
            "Enter the Secret Token (the portal's Entra provisioning page creates one).", anchor="entra"
        )
    cycle = "initial" if request.form.get("cycle") == "initial" else "incremental"
    try:
        entra.run_on_state(get_state(), target["url"], target["token"], cycle, flag=target["flag"])
    except entra.Busy as busy:
        return _back(str(busy), anchor="entra")
    return _back(anchor="entra")
