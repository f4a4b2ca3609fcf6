"""`POST /{tenant}/oauth2/v2.0/token`: authorization_code, refresh_token and client_credentials,
with Microsoft's AADSTS errors and RS256 ID tokens."""

import base64
import datetime
import hashlib
import hmac
import json
import urllib.parse
import uuid

from flask import Blueprint, jsonify, request

from .app import base_url, get_state
from .certificates import ASSERTION_TYPE, AssertionRefused, verify_assertion
from .errors import GRAPH_APP_ID, aad_error
from .identity import MULTI_TENANT, issuer_for, unknown_tenant
from .scopes import ScopeError, parse_scopes

bp = Blueprint("token", __name__)
ID_TOKEN_LIFETIME = 3600
# Directory role template ids (Microsoft Entra built-in roles): the tenant's admins here are Global
# Administrators; every member holds the default user role.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
DEFAULT_USER_ROLE = "b79fbf4d-3ef9-4689-8143-76b194e85509"
ROLE_CLAIMS = {"DirectoryRole", "SecurityGroup", "All"}


class TokenError(Exception):
    """An error answer of the token endpoint."""

    def __init__(self, error, code, description, status=400, suberror=None):
        super().__init__(description)
        self.error, self.code, self.description = error, code, description
        self.status, self.suberror = status, suberror


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _client(state, tenant):
    """The authenticated app registration (HTTP Basic, client_secret in the body, or a certificate's
    client assertion)."""
    client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:]).decode()
            basic_id, basic_secret = decoded.split(":", 1)
        except ValueError as exc:
            raise TokenError("invalid_client", 7000218, "Malformed Basic authorization.", 401) from exc
        client_id = urllib.parse.unquote_plus(basic_id)
        secret = urllib.parse.unquote_plus(basic_secret)
    assertion = request.form.get("client_assertion")
    if not client_id and assertion:
        client_id = _assertion_issuer(assertion)
    if not client_id:
        raise TokenError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
        )
    app = state.apps.get(client_id)
    if app is None:
        raise TokenError(
            "unauthorized_client",
            700016,
            (
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{state.directory.name}'. This can happen if the application has not been "
                f"installed by the administrator of the tenant or consented to by any user in the "
                f"tenant."
            ),
        )
    if assertion:
        return _by_assertion(state, app, assertion, tenant)
    if not secret:
        raise TokenError(
            "invalid_client",
            7000218,
            ("The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
            401,
        )
    if not app.get("client_secret") or not hmac.compare_digest(secret, app["client_secret"]):
        raise TokenError(
            "invalid_client",
            7000215,
            (
                f"Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'."
            ),
            401,
        )
    return app


def _assertion_issuer(assertion):
    try:
        payload = assertion.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "==")).get("iss")
    except (ValueError, IndexError, AttributeError):
        return None


def _by_assertion(state, app, assertion, tenant):
    if request.form.get("client_assertion_type") != ASSERTION_TYPE:
        raise TokenError(
            "invalid_request",
            700010,
            f"Invalid client_assertion_type. Expected '{ASSERTION_TYPE}'.",
        )
    # The audience Microsoft accepts: this token endpoint, with the tenant as the client addressed it
    # or as the tenant's GUID.
    audiences = {f"{base_url()}/{segment}/oauth2/v2.0/token" for segment in (tenant, state.directory.id)}
    try:
        return verify_assertion(app, assertion, audiences, state.now())
    except AssertionRefused as exc:
        raise TokenError("invalid_client", exc.code, exc.description, 401) from exc


def _id_token(state, app, user, scopes, nonce):
    now = state.now()
    tid = state.directory.id
    claims = {
        "aud": app["client_id"],
        "iss": issuer_for(tid),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + ID_TOKEN_LIFETIME,
        "tid": tid,
        "ver": "2.0",
        "sub": _b64url(hashlib.sha256(f"{app['client_id']}:{user['id']}".encode()).digest()),
        "aio": _b64url(uuid.uuid4().bytes),
        "uti": _b64url(uuid.uuid4().bytes),
        "rh": "0.AX" + _b64url(uuid.uuid4().bytes),
    }
    if "profile" in scopes:
        claims.update(
            {"oid": user["id"], "name": user["displayName"], "preferred_username": user["userPrincipalName"]}
        )
    if "email" in scopes and user.get("mail"):
        claims["email"] = user["mail"]
    if app.get("groupMembershipClaims", "DirectoryRole") in ROLE_CLAIMS:
        admin = user["id"] in state.directory.admins
        claims["wids"] = [GLOBAL_ADMINISTRATOR, DEFAULT_USER_ROLE] if admin else [DEFAULT_USER_ROLE]
    if nonce:
        claims["nonce"] = nonce
    return state.key.sign(claims)


def _tokens(state, app, user, scopes, nonce=None):
    """The success body for a delegated grant."""
    graph = [s for s in scopes if s not in ("openid", "profile", "email", "offline_access")]
    access, lifetime = state.issue_access_token(app["client_id"], user["id"], graph)
    body = {
        "token_type": "Bearer",
        "scope": " ".join(graph + [s for s in ("openid", "profile", "email") if s in scopes]),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    }
    if "offline_access" in scopes:
        body["refresh_token"] = state.issue_refresh_token(app["client_id"], user["id"], scopes)
    if "openid" in scopes:
        body["id_token"] = _id_token(state, app, user, scopes, nonce)
    return body


def _authorization_code(state, app, tenant):
    code = request.form.get("code")
    if not code:
        raise TokenError(
            "invalid_request", 900144, "The request body must contain the following parameter: 'code'."
        )
    grant = state.codes.get(code)
    if grant is None or grant.client_id != app["client_id"]:
        raise TokenError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if grant.extra["used"]:
        raise TokenError(
            "invalid_grant",
            54005,
            (
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
                "or use an existing refresh token."
            ),
        )
    if grant.expires_at < state.now():
        raise TokenError(
            "invalid_grant",
            70008,
            (
                "The provided authorization code or refresh token has expired due to inactivity. "
                "Send a new interactive authorization request for this user and resource."
            ),
        )
    if request.form.get("redirect_uri") != grant.extra["redirect_uri"]:
        raise TokenError(
            "invalid_grant",
            500112,
            (
                f"The reply address '{request.form.get('redirect_uri', '')}' does not match the reply "
                f"address '{grant.extra['redirect_uri']}' provided when requesting Authorization code."
            ),
        )
    _check_pkce(grant, request.form.get("code_verifier"))
    user = state.directory.find_user(grant.user_id)
    if user is None or not user["accountEnabled"]:
        raise TokenError("invalid_grant", 50057, "The user account is disabled or was deleted.")
    grant.extra["used"] = True
    return _tokens(state, app, user, grant.scopes, grant.extra["nonce"])


def _check_pkce(grant, verifier):
    challenge = grant.extra["code_challenge"]
    if not challenge:
        return
    if verifier and grant.extra["code_challenge_method"] == "S256":
        computed = _b64url(hashlib.sha256(verifier.encode()).digest())
    else:
        computed = verifier
    if not verifier or not hmac.compare_digest(computed, challenge):
        raise TokenError(
            "invalid_grant",
            501481,
            ("The Code_Verifier does not match the code_challenge supplied in the authorization request."),
        )


def _refresh_token(state, app, tenant):
    token = request.form.get("refresh_token")
    if not token:
        raise TokenError(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'refresh_token'.",
        )
    grant = state.refresh_tokens.get(token)
    if grant is None or grant.client_id != app["client_id"]:
        raise TokenError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    _check_refresh_usable(state, grant)
    scopes = grant.scopes
    if request.form.get("scope"):
        try:
            oidc, graph = parse_scopes(request.form["scope"], app.get("permissions", []))
        except ScopeError as exc:
            raise TokenError("invalid_scope", 70011, f"The scope '{exc}' is not valid.") from exc
        if not set(oidc + graph) <= set(grant.scopes) | {"offline_access", "openid", "profile", "email"}:
            raise TokenError(
                "invalid_grant",
                65001,
                (
                    f"The user or administrator has not consented to use the application with ID "
                    f"'{app['client_id']}'."
                ),
                suberror="consent_required",
            )
        scopes = [s for s in grant.scopes if s in oidc + graph or s == "offline_access"]
    missing = [
        s
        for s in scopes
        if s not in ("openid", "profile", "email", "offline_access", "User.Read")
        and s not in state.grants.get(app["client_id"], [])
    ]
    if missing:
        raise TokenError(
            "invalid_grant",
            65001,
            (
                f"The user or administrator has not consented to use the application with ID "
                f"'{app['client_id']}' named '{app.get('display_name', '')}'. Send an interactive "
                f"authorization request for this user and resource."
            ),
            suberror="consent_required",
        )
    grant.extra["last_used"] = state.now()
    user = state.directory.find_user(grant.user_id)
    return _tokens(state, app, user, scopes)


def _check_refresh_usable(state, grant):
    issued = grant.issued_at.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    if grant.extra["revoked"] == "sign_in_frequency":
        raise TokenError(
            "invalid_grant",
            70043,
            (
                f"The refresh token has expired or is invalid due to sign-in frequency checks by "
                f"conditional access. The token was issued on {issued} and the maximum allowed "
                f"lifetime for this request is 86400."
            ),
        )
    if grant.extra["revoked"]:
        raise TokenError(
            "invalid_grant",
            50173,
            (
                f"The provided grant has expired due to it being revoked, a fresh auth token is "
                f"needed. The user might have changed or reset their password. The grant was issued "
                f"on '{issued}' and the TokensValidFrom date (before which tokens are not valid) for "
                f"this user is '{state.now().strftime('%Y-%m-%dT%H:%M:%S.0000000Z')}'."
            ),
        )
    idle = state.settings["refresh_inactivity_days"]
    if state.now() - grant.extra["last_used"] > datetime.timedelta(days=idle):
        raise TokenError(
            "invalid_grant",
            700082,
            (
                f"The refresh token has expired due to inactivity. The token was issued on "
                f"{issued} and was inactive for {idle}.00:00:00."
            ),
        )
    user = state.directory.find_user(grant.user_id)
    if user is None:
        raise TokenError(
            "invalid_grant",
            50034,
            (
                f"The user account {grant.user_id} does not exist in the {state.directory.domain} "
                f"directory. To sign into this application, the account must be added to the "
                f"directory."
            ),
        )
    if not user["accountEnabled"]:
        raise TokenError("invalid_grant", 50057, "The user account is disabled.")


def _client_credentials(state, app, tenant):
    if tenant.lower() in MULTI_TENANT:
        raise TokenError(
            "invalid_request",
            9001023,
            (
                "The grant type is not supported over the /common or /organizations endpoints. "
                "Please use the tenant-specific endpoint."
            ),
        )
    scope = request.form.get("scope", "")
    if scope.strip().lower() not in (
        ".default",
        "https://graph.microsoft.com/.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ):
        raise TokenError(
            "invalid_scope",
            1002012,
            (
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                f"have a scope value with /.default suffixed to the resource identifier "
                f"(application ID URI)."
            ),
        )
    if app["client_id"] not in state.grants:
        raise TokenError(
            "invalid_client",
            7000229,
            (
                f"The client application {app['client_id']} is missing service principal in the "
                f"tenant {state.directory.id}. See instructions here: https://go.microsoft.com/fwlink/"
                f"?linkid=2225119"
            ),
            401,
        )
    roles = state.effective_scopes_of(app["client_id"], app.get("permissions", []))
    access, lifetime = state.issue_access_token(
        app["client_id"], None, roles, token=_app_only_token(state, app, roles)
    )
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    }


def _app_only_token(state, app, roles):
    """An app-only access token as Microsoft issues it (a JWT the client must treat as opaque):
    `roles` = the application permissions consented now (absent when none), `idtyp` app, `tid`."""
    now = int(state.now().timestamp())
    claims = {
        "aud": "https://graph.microsoft.com",
        "iss": f"https://sts.windows.net/{state.directory.id}/",
        "iat": now,
        "nbf": now,
        "exp": now + int(state.settings["access_token_lifetime"]),
        "app_displayname": app.get("display_name", ""),
        "appid": app["client_id"],
        "appidacr": "2" if request.form.get("client_assertion") else "1",
        "idp": f"https://sts.windows.net/{state.directory.id}/",
        "idtyp": "app",
        "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{state.directory.id}:{app['client_id']}")),
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{state.directory.id}:{app['client_id']}")),
        "tid": state.directory.id,
        "ver": "1.0",
        "uti": _b64url(uuid.uuid4().bytes),
        "xms_rd": GRAPH_APP_ID,
    }
    if roles:
        claims["roles"] = list(roles)
    return state.key.sign(claims)


GRANTS = {
    "authorization_code": _authorization_code,
    "refresh_token": _refresh_token,
    "client_credentials": _client_credentials,
}


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant):
    """Redeem a grant for tokens."""
    state = get_state()
    if not state.resolve_tenant(tenant):
        return unknown_tenant(tenant)
    with state.lock:
        try:
            grant_type = request.form.get("grant_type")
            if not grant_type:
                raise TokenError(
                    "invalid_request",
                    900144,
                    ("The request body must contain the following parameter: 'grant_type'."),
                )
            if grant_type not in GRANTS:
                raise TokenError(
                    "unsupported_grant_type",
                    70003,
                    (f"The app requested an unsupported grant type '{grant_type}'."),
                )
            app = _client(state, tenant)
            body = GRANTS[grant_type](state, app, tenant)
        except TokenError as exc:
            return aad_error(
                exc.status, exc.error, exc.code, exc.description, exc.suberror, base_url=base_url()
            )
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store, no-cache"
    response.headers["Pragma"] = "no-cache"
    return response
