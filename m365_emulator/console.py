"""The console page at `/_emulator/`: see the tenant, rename or delete a user, restore one.

Plain HTML forms (no JavaScript) so a demo can show the portal's sync reacting to changes.
"""

from flask import Blueprint, redirect, render_template, request, url_for

from .app import get_state
from .demo import DEMO_ADMIN_UPN, DEMO_CLIENT_ID, DEMO_USER_UPN
from .directory import NotFound
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
        groups = [(grp, len(d.member_ids(grp["id"]))) for grp in d.groups.values()]
        return render_template(
            "console.html",
            tenant=d,
            users=users[:MAX_ROWS],
            total=len(users),
            deleted=list(d.deleted.values()),
            groups=groups,
            query=query,
            now=utc(state.now()),
            demo={"admin": DEMO_ADMIN_UPN, "user": DEMO_USER_UPN, "client_id": DEMO_CLIENT_ID},
            faults=state.faults,
            log_size=len(state.log),
        )


def _back():
    return redirect(url_for("console.index", q=request.form.get("q") or None), code=303)


@bp.post("/ui/users/<user_id>/rename")
def rename(user_id):
    """Change a user's display name (and given/surname when given)."""
    state = get_state()
    props = {
        k: request.form[k].strip()
        for k in ("displayName", "givenName", "surname")
        if request.form.get(k, "").strip()
    }
    with state.lock:
        try:
            state.directory.update_user(user_id, props)
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
