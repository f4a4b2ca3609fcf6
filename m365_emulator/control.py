"""The control API under `/_emulator/` (JSON): tenant data, consent, faults, latency, tokens,
clock, request log. For tests and for people trying things; see README.md for the reference."""

import random

from flask import Blueprint, abort, jsonify, request

from . import certificates, entra_provisioning
from .app import get_state
from .directory import NotFound
from .generator import make_group
from .state import DEFAULT_SETTINGS, SETTING_TYPES, utc

bp = Blueprint("control", __name__, url_prefix="/_emulator")
GROUP_KINDS = ("m365", "team", "security", "mail-security", "distribution", "dynamic")


def _body():
    return request.get_json(silent=True) or {}


def _fail(status, message):
    response = jsonify({"error": message})
    response.status_code = status
    abort(response)


def _user(key, deleted=False):
    state = get_state()
    user = state.directory.find_user(key) or (
        state.directory.find_user(key, deleted=True) if deleted else None
    )
    if user is None:
        _fail(404, f"no user {key!r}")
    return user


def _with_flags(user):
    state = get_state()
    return dict(user, _deleted="deletedDateTime" in user, _admin=user["id"] in state.directory.admins)


@bp.post("/reset")
def reset():
    """Back to the initial tenant (or {"tenant": spec, "seed": n}); clears all other state."""
    body = _body()
    get_state().reset(body.get("tenant"), body.get("seed"))
    return status()


@bp.get("/status")
def status():
    """Summary: tenant, counts, clock, settings."""
    state = get_state()
    with state.lock:
        d = state.directory
        return jsonify(
            {
                "tenant_id": d.id,
                "tenant_domain": d.domain,
                "tenant_name": d.name,
                "users": len(d.users),
                "deleted_users": len(d.deleted),
                "groups": len(d.groups),
                "now": utc(state.now()),
                "latency_ms": state.latency_ms,
                "settings": state.settings,
                "apps": sorted(state.apps),
                "faults": len(state.faults),
            }
        )


@bp.route("/tenant", methods=["GET", "POST"])
def tenant():
    """GET: the tenant as JSON (save it). POST {spec|data, seed}: load a tenant now."""
    state = get_state()
    if request.method == "GET":
        return jsonify(state.tenant_json())
    body = _body()
    spec = body.get("data") or body.get("spec")
    if not spec:
        _fail(400, "give spec (demo | generated:N | path.json) or data (tenant JSON)")
    try:
        state.reset(spec, body.get("seed"))
    except (ValueError, KeyError) as exc:
        _fail(400, str(exc))
    return status()


@bp.post("/tenant/aliases")
def tenant_aliases():
    """More tenant ids the identity endpoints accept for this one directory: {"ids": [...]}.

    For scale benchmarks and tests: many customers (one tenant each, as the portal requires) served
    by one emulator. Cleared by a reset."""
    state = get_state()
    with state.lock:
        state.aliases.update(str(i).lower() for i in _body().get("ids", []))
        return jsonify({"aliases": len(state.aliases)})


@bp.post("/apps")
def register_app():
    """Register an app: {client_id, client_secret?, redirect_uris, permissions?, display_name?,
    certificates?: [PEM], groupMembershipClaims?} (a secret, a certificate, or both).

    groupMembershipClaims as in the manifest: "DirectoryRole" (the default here), "SecurityGroup"
    or "All" put the user's directory roles into ID tokens as `wids`; "None" leaves them out."""
    body = _body()
    if not body.get("client_id") or not (body.get("client_secret") or body.get("certificates")):
        _fail(400, "client_id and a client_secret or certificates are required")
    app = {
        "client_id": body["client_id"],
        "client_secret": body.get("client_secret") or "",
        "redirect_uris": list(body.get("redirect_uris", [])),
        "display_name": body.get("display_name") or "Registered app",
        "permissions": list(body.get("permissions") or ["User.Read.All", "GroupMember.Read.All"]),
        "certificates": [],
        "groupMembershipClaims": body.get("groupMembershipClaims") or "DirectoryRole",
    }
    for pem in body.get("certificates") or []:
        _add_certificate(app, pem)
    state = get_state()
    with state.lock:
        state.apps[app["client_id"]] = app
    return jsonify({k: v for k, v in app.items() if k != "certificates"}), 201


def _add_certificate(app, pem):
    try:
        return certificates.register(app, pem)
    except ValueError as exc:
        _fail(400, f"not a PEM certificate: {exc}")


@bp.route("/apps/<client_id>/certificates", methods=["GET", "POST", "DELETE"])
def app_certificates(client_id):
    """An app's certificate credentials: POST {"certificate": PEM} uploads one (public part),
    DELETE removes them all, GET lists thumbprints and expiry."""
    state = get_state()
    with state.lock:
        app = state.apps.get(client_id)
        if app is None:
            _fail(404, f"no app {client_id!r}")
        if request.method == "POST":
            return jsonify(_add_certificate(app, _body().get("certificate") or "")), 201
        if request.method == "DELETE":
            app["certificates"] = []
        listed = app.get("certificates", [])
        return jsonify([{k: v for k, v in c.items() if k != "public_key"} for c in listed])


@bp.delete("/service-principals/<client_id>")
def delete_service_principal(client_id):
    """Delete the app's enterprise application (service principal) in the tenant: its consent
    goes, client credentials fail with AADSTS7000229, refresh tokens stop working."""
    state = get_state()
    with state.lock:
        existed = state.grants.pop(client_id, None) is not None
        revoked = state.revoke_refresh_tokens(client_id=client_id)
        return jsonify({"deleted": existed, "revoked": revoked})


@bp.get("/consent")
def list_consent():
    """Granted permissions per client id."""
    return jsonify(get_state().grants)


@bp.put("/consent/<client_id>")
def set_consent(client_id):
    """Set the tenant's granted permissions for an app: {"scopes": [...]} ([] withdraws all)."""
    state = get_state()
    with state.lock:
        state.grants[client_id] = list(_body().get("scopes", []))
        return jsonify({client_id: state.grants[client_id]})


@bp.delete("/consent/<client_id>")
def withdraw_consent(client_id):
    """Withdraw consent: all of it, or just `?scope=User.Read.All`."""
    state = get_state()
    with state.lock:
        scope = request.args.get("scope")
        granted = state.grants.get(client_id, [])
        state.grants[client_id] = [s for s in granted if scope and s.lower() != scope.lower()]
        return jsonify({client_id: state.grants[client_id]})


# -- users -------------------------------------------------------------------------------------
@bp.get("/users")
def list_users():
    """All users, active and soft-deleted, with _deleted/_admin flags."""
    state = get_state()
    with state.lock:
        d = state.directory
        return jsonify([_with_flags(u) for u in list(d.users.values()) + list(d.deleted.values())])


@bp.post("/users")
def create_user():
    """Create a member user from Graph properties (+ "admin": true for a global admin,
    "manager": id or UPN of an active user)."""
    state = get_state()
    body = _body()
    with state.lock:
        try:
            user = state.directory.create_user(body)
        except NotFound:
            _fail(400, f"no manager {body.get('manager')!r}")
        if body.get("admin"):
            state.directory.admins.add(user["id"])
        return jsonify(_with_flags(user)), 201


@bp.get("/users/<key>")
def get_user(key):
    """One user (active or soft-deleted)."""
    with get_state().lock:
        return jsonify(_with_flags(_user(key, deleted=True)))


@bp.patch("/users/<key>")
def update_user(key):
    """Change user properties (displayName, mail, department, usageLocation, ...; "manager": id or
    UPN of an active user, null for none)."""
    state = get_state()
    body = _body()
    with state.lock:
        user = _user(key)
        try:
            return jsonify(_with_flags(state.directory.update_user(user["id"], body)))
        except NotFound:
            _fail(400, f"no manager {body.get('manager')!r}")


@bp.delete("/users/<key>")
def delete_user(key):
    """Soft-delete (to deleted items); `?hard=1` deletes permanently."""
    state = get_state()
    hard = request.args.get("hard", "").lower() in ("1", "true", "yes")
    with state.lock:
        user = _user(key, deleted=hard)
        state.directory.delete_user(user["id"], hard=hard, now=utc(state.now()))
        return jsonify({"id": user["id"], "deleted": "hard" if hard else "soft"})


@bp.post("/users/<key>/restore")
def restore_user(key):
    """Restore a soft-deleted user."""
    state = get_state()
    with state.lock:
        try:
            return jsonify(_with_flags(state.directory.restore_user(key)))
        except NotFound:
            _fail(404, f"no deleted user {key!r}")


# -- groups ------------------------------------------------------------------------------------
@bp.get("/groups")
def list_groups():
    """All groups with their direct member ids."""
    state = get_state()
    with state.lock:
        d = state.directory
        return jsonify([dict(g, members=list(d.members[g["id"]])) for g in d.groups.values()])


@bp.post("/groups")
def create_group():
    """Create a group: {"displayName", "kind": m365|team|security|mail-security|distribution|
    dynamic, "members": [ids]} or raw Graph properties."""
    state = get_state()
    body = _body()
    with state.lock:
        props = dict(body)
        if body.get("kind"):
            if body["kind"] not in GROUP_KINDS:
                _fail(400, f"kind must be one of {', '.join(GROUP_KINDS)}")
            props = make_group(
                random.Random(),
                state.directory.domain,
                body.get("displayName", "New group"),
                body["kind"],
                description=body.get("description"),
                rule=body.get("membershipRule"),
            )
            props.pop("members")
        try:
            group = state.directory.create_group(props, body.get("members", []))
        except NotFound as exc:
            _fail(404, f"no directory object {exc}")
        return jsonify(dict(group, members=state.directory.members[group["id"]])), 201


@bp.patch("/groups/<group_id>")
def update_group(group_id):
    """Change group properties."""
    state = get_state()
    with state.lock:
        try:
            return jsonify(state.directory.update_group(group_id, _body()))
        except NotFound:
            _fail(404, f"no group {group_id!r}")


@bp.delete("/groups/<group_id>")
def delete_group(group_id):
    """Delete a group."""
    state = get_state()
    with state.lock:
        try:
            state.directory.delete_group(group_id)
        except NotFound:
            _fail(404, f"no group {group_id!r}")
        return jsonify({"id": group_id, "deleted": True})


@bp.route("/groups/<group_id>/members/<member_id>", methods=["POST", "DELETE"])
def group_member(group_id, member_id):
    """Add (POST) or remove (DELETE) a direct member."""
    state = get_state()
    with state.lock:
        try:
            if request.method == "POST":
                state.directory.add_member(group_id, member_id)
            else:
                state.directory.remove_member(group_id, member_id)
        except NotFound as exc:
            _fail(404, f"not found: {exc}")
        return jsonify({"group": group_id, "members": state.directory.members[group_id]})


# -- faults, latency, tokens, clock, settings, log --------------------------------------------
@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    """POST {path_pattern, status, retry_after, after, times, method, code} adds; DELETE clears."""
    state = get_state()
    with state.lock:
        if request.method == "POST":
            fault = state.add_fault(_body())
            return jsonify(fault.to_json()), 201
        if request.method == "DELETE":
            state.faults.clear()
        return jsonify([f.to_json() for f in state.faults])


@bp.post("/latency")
def latency():
    """Fixed delay for every identity/Graph request: {"ms": 250}."""
    state = get_state()
    state.latency_ms = max(0, int(_body().get("ms", 0)))
    return jsonify({"ms": state.latency_ms})


@bp.post("/tokens/expire")
def expire_tokens():
    """Expire every access token issued so far (Graph then answers 401)."""
    state = get_state()
    with state.lock:
        return jsonify({"expired": state.expire_access_tokens()})


@bp.post("/tokens/revoke")
def revoke_tokens():
    """Revoke refresh tokens: all, or {"user": id|upn} / {"client_id": ...}; {"reason":
    "sign_in_frequency"} refuses them as Conditional Access sign-in frequency does (AADSTS70043)."""
    state = get_state()
    body = _body()
    reason = "sign_in_frequency" if body.get("reason") == "sign_in_frequency" else True
    with state.lock:
        user_id = _user(body["user"], deleted=True)["id"] if body.get("user") else None
        return jsonify({"revoked": state.revoke_refresh_tokens(user_id, body.get("client_id"), reason)})


@bp.post("/tokens/lifetime")
def token_lifetime():
    """Access-token lifetime for tokens issued from now on: {"seconds": 5}."""
    state = get_state()
    state.settings["access_token_lifetime"] = max(1, int(_body().get("seconds", 3599)))
    return jsonify({"seconds": state.settings["access_token_lifetime"]})


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """Read or change settings (page sizes, replays, lifetimes); see DEFAULT_SETTINGS."""
    state = get_state()
    for name, value in _body().items() if request.method == "POST" else ():
        if name not in DEFAULT_SETTINGS:
            _fail(400, f"unknown setting {name!r}")
        state.settings[name] = SETTING_TYPES[name](value)
    return jsonify(state.settings)


@bp.post("/delta/gone")
def delta_gone():
    """Make existing delta/skip tokens answer 410 Gone + Location: {"kind": "users"|"groups"}."""
    state = get_state()
    kinds = [_body()["kind"]] if _body().get("kind") else ["users", "groups"]
    with state.lock:
        for kind in kinds:
            state.delta_gone[kind] = state.cursor_serial
    return jsonify({"gone": kinds})


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    """GET the emulated time; POST {advance_days, advance_seconds} moves it forward."""
    state = get_state()
    if request.method == "POST":
        body = _body()
        state.advance(float(body.get("advance_days", 0)), float(body.get("advance_seconds", 0)))
    return jsonify({"now": utc(state.now())})


@bp.route("/log", methods=["GET", "DELETE"])
def log():
    """The request log (method, path, query, status, resource_units, ...); DELETE clears it."""
    state = get_state()
    with state.lock:
        if request.method == "DELETE":
            state.log.clear()
        return jsonify(list(state.log))


@bp.post("/entra/test")
def entra_test():
    """Entra's Test Connection against {url, token, flag}: {"ok", "message"}."""
    body = _body()
    driver = entra_provisioning.EntraProvisioning(
        _entra_url(body), body.get("token") or "", flag=bool(body.get("flag"))
    )
    ok, message = driver.test_connection()
    return jsonify({"ok": ok, "message": message})


@bp.post("/entra/run")
def entra_run():
    """A provisioning cycle {url, token, cycle: initial|incremental, flag, workers} from this
    tenant's directory (what was pushed is remembered per target until a reset): the summary."""
    body = _body()
    cycle = body.get("cycle") or "incremental"
    if cycle not in ("initial", "incremental"):
        _fail(400, "cycle must be initial or incremental")
    try:
        run = entra_provisioning.run_on_state(
            get_state(),
            _entra_url(body),
            body.get("token") or "",
            cycle,
            flag=bool(body.get("flag")),
            workers=int(body.get("workers") or 8),
        )
    except entra_provisioning.Busy as busy:
        _fail(409, str(busy))
    return jsonify(run.summary())


def _entra_url(body):
    url = (body.get("url") or "").strip()
    if not url.startswith(("http://", "https://")):
        _fail(400, "url must be the portal's Tenant URL (http(s)://…/scim/v2)")
    return url
