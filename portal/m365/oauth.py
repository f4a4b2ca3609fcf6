"""Microsoft sign-in with Authlib's Flask client: authorization code + PKCE (S256), state, nonce.

    start_sign_in(customer, connection_type) -> redirect response to Microsoft's authorize page
    finish_sign_in(connection_type, tenant_free) -> SignIn (raises SignInFailed with an admin-facing message)

Delegated permissions ask for the Graph scopes and offline_access and keep the refresh token.
Application permissions sign in with OpenID Connect only (who, which tenant: the same ID-token
checks), then portal.m365.consent sends the administrator to the admin-consent endpoint.

The ID token is checked for its signature (JWKS from the metadata), `aud` (our client id), `nonce`
(the one of this sign-in) and `iss`: for the multi-tenant `organizations` authority the metadata's
issuer is the literal `.../{tenantid}/v2.0`, which Authlib's default check compares verbatim and
rejects (authlib#295). We require `iss == f"{authority}/{tid}/v2.0"` with `tid` a GUID instead.
Then a test read (GET /users?$top=1&$select=id) proves the account may read the directory.
"""

import logging
import re
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import current_app, redirect, session, url_for
from flask_babel import gettext as _
from joserfc.errors import InvalidClaimError, JoseError, MissingClaimError

from portal.links import portal_url
from portal.m365 import credentials
from portal.m365.graph import (
    GraphClient,
    GraphError,
    GraphUnavailable,
    PermissionMissing,
    aadsts_code,
)
from portal.m365.permissions import (
    DELEGATED_SCOPES,
    OIDC_SCOPES,
    ConnectionType,
    lacks_permission,
    may_connect,
)

log = logging.getLogger(__name__)

GRAPH_RESOURCE = "https://graph.microsoft.com/"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# AADSTS codes Microsoft uses when the account may not grant admin-only permissions.
NOT_ADMIN_CODES = {"AADSTS65001", "AADSTS90094", "AADSTS90095", "AADSTS90008", "AADSTS50105"}
CONNECTION_TYPES = tuple(kind.value for kind in ConnectionType)
_CLIENT_KEY = "m365_oauth_client"
# Authlib keeps each started sign-in (PKCE verifier, nonce, redirect URI) in the session cookie
# under this prefix + the state, until its callback arrives or an hour has passed.
STATE_PREFIX = "_state_m365_"
# Sign-ins kept pending at once: a second tab still works, abandoned attempts don't pile up.
MAX_PENDING = 3


@dataclass
class SignIn:
    """What a successful Microsoft sign-in proved."""

    tenant_id: str
    tenant_domain: str
    account: str  # the M365 account that consented (preferred_username)
    scopes: str
    refresh_token: str  # "" for application permissions: none is ever stored
    connection_type: str = ConnectionType.DELEGATED


class SignInFailed(Exception):
    """The sign-in did not succeed; `message` says why in an admin's words. Nothing was stored."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.message = message
        self.reason = reason


def not_admin_message():
    return _("An M365 administrator account with read access rights for all users and groups is required.")


def _messages():
    return {
        "cancelled": _(
            "The Microsoft sign-in was cancelled or the consent was declined; nothing was "
            "stored. An M365 administrator account with read access rights for all users "
            "and groups is required: sign in with such an account, tick the consent box "
            "and click Accept."
        ),
        "not_admin": not_admin_message(),
        "not_tenant_admin": _(
            "Only an administrator of this Microsoft 365 tenant can connect it. Sign in with a Global "
            "Administrator (or Privileged Role Administrator) account of the tenant; nothing was stored."
        ),
        "state": _(
            "This sign-in answer does not belong to a sign-in started here (it may have been "
            "replayed or forged). Nothing was stored; please start again."
        ),
        "nonce": _(
            "The sign-in answer from Microsoft failed the replay check (nonce mismatch). "
            "Nothing was stored; please start again."
        ),
        "invalid_token": _(
            "The sign-in answer from Microsoft could not be verified. Nothing was stored; please start again."
        ),
        "code_rejected": _(
            "Microsoft did not accept the sign-in code (it expired or was already "
            "used). Nothing was stored; please start again."
        ),
        "tenant_taken": _(
            "This Microsoft 365 tenant is already connected to another customer. One "
            "tenant can feed only one customer; nothing was stored."
        ),
        "unreachable": _(
            "Microsoft could not be reached. Nothing was stored; please try again in a few minutes."
        ),
        "not_configured": _(
            "The M365 interface is not configured on this portal (M365_CLIENT_ID and "
            "M365_CLIENT_SECRET). Please ask your operator."
        ),
        "consent_declined": _(
            "The admin consent was declined or cancelled; nothing was stored. An M365 administrator "
            "(Global Administrator or Cloud Application Administrator) must accept the application "
            "permissions User.Read.All and GroupMember.Read.All."
        ),
        "tenant_mismatch": _(
            "The admin consent came back for another Microsoft 365 tenant than the one you signed in "
            "to. Nothing was stored; please start again and consent as an administrator of your tenant."
        ),
        "app_permissions_missing": _(
            "Microsoft 365 accepted the admin consent, but the portal still may not read all users and "
            "groups with application permissions (User.Read.All, GroupMember.Read.All). Nothing was "
            "stored. Check the app registration's application permissions, or try again in a minute."
        ),
        "failed": _("The Microsoft sign-in failed. Nothing was stored; please start again."),
    }


def fail(reason, detail="", message=None):
    """Raise SignInFailed for `reason` (a key of the message table, or with its own `message`)."""
    message = message or _messages()[reason]
    if detail:
        message = f"{message} ({detail})"
    raise SignInFailed(message, reason)


def is_configured():
    """Whether a client id and a credential (secret or certificate) are set."""
    return credentials.in_use() is not None


def check_credential():
    """Refuse to start when the portal cannot authenticate (not configured, certificate expired)."""
    credential = credentials.in_use()
    if credential is None:
        fail("not_configured")
    if credential.expired():
        fail("certificate_expired", message=credentials.CertificateExpired(credential).message)


def metadata_url():
    """{authority}/{tenant}/v2.0/.well-known/openid-configuration"""
    config = current_app.config
    return f"{config['M365_AUTHORITY']}/{config['M365_TENANT']}/v2.0/.well-known/openid-configuration"


def client():
    """This app's Authlib Flask client for Microsoft (one per app: tests build many apps).

    Built from Authlib's Flask classes rather than its global `OAuth` registry, whose clients are
    cached by name for the life of the process and would keep the first app's settings.
    """
    app = current_app._get_current_object()
    remote = app.extensions.get(_CLIENT_KEY)
    if remote is None:
        config = app.config
        auth, session_kwargs = credentials.flask_client_kwargs(app)
        remote = FlaskOAuth2App(
            FlaskIntegration("m365"),
            "m365",
            client_id=config["M365_CLIENT_ID"],
            server_metadata_url=metadata_url(),
            client_kwargs={
                "scope": DELEGATED_SCOPES,
                "code_challenge_method": "S256",
                "default_timeout": float(config["M365_GRAPH_TIMEOUT"]),
                **session_kwargs,
            },
            **auth,
        )
        app.extensions[_CLIENT_KEY] = remote
    return remote


def configured_redirect_uri():
    """M365_REDIRECT_URI when set, else this portal's /m365/callback at PORTAL_BASE_URL (portal_url);
    "" when neither is set."""
    config = current_app.config
    if config["M365_REDIRECT_URI"]:
        return config["M365_REDIRECT_URI"]
    if config["PORTAL_BASE_URL"]:
        return portal_url("m365.callback")
    return ""


def redirect_uri():
    """The redirect URI sent to Microsoft: the configured one (configured_redirect_uri).

    Development without either setting: the address the browser used (127.0.0.1 or localhost),
    so the sign-in comes back to the host whose session cookie holds its state.
    """
    return configured_redirect_uri() or url_for("m365.callback", _external=True)


def default_connection_type():
    """The connection type offered first (M365_DEFAULT_CONNECTION)."""
    return current_app.config["M365_DEFAULT_CONNECTION"]


def start_sign_in(connection_type):
    """(the redirect to Microsoft's sign-in, its state). The caller keeps what the state was
    started for on the server; Authlib keeps the PKCE verifier and the nonce in the session."""
    check_credential()
    remote = client()
    scope = DELEGATED_SCOPES if connection_type == ConnectionType.DELEGATED else OIDC_SCOPES
    try:
        data = remote.create_authorization_url(redirect_uri(), scope=scope)
    except requests.RequestException:
        fail("unreachable")
    _forget_abandoned(keep=MAX_PENDING - 1)
    # The authorize URL itself is not needed at the callback: not kept (it is most of the size).
    kept = {key: value for key, value in data.items() if key != "url"}
    remote.save_authorize_data(redirect_uri=redirect_uri(), **kept)
    return redirect(data["url"]), data["state"]


def _forget_abandoned(keep):
    """Drop all but the `keep` newest of Authlib's pending sign-ins from the session.

    Each attempt adds a few hundred bytes to the session cookie; some twenty abandoned
    "Release M365 Interface" clicks would pass the browser's 4 KB limit and break the session.
    Newest by Authlib's expiry time."""
    states = sorted(
        (key for key in session if key.startswith(STATE_PREFIX)),
        key=lambda key: (session[key] or {}).get("exp") or 0,
    )
    kept = states[-keep:] if keep else []
    for key in states:
        if key not in kept:
            session.pop(key)


def claims_options():
    """Checks on the ID token beyond the signature: aud, iss from tid, tid a GUID, nonce present."""
    authority = current_app.config["M365_AUTHORITY"]
    return {
        "iss": {
            "essential": True,
            "validate": lambda claims, value: _issuer_matches(authority, claims, value),
        },
        "aud": {"essential": True, "value": current_app.config["M365_CLIENT_ID"]},
        "tid": {"essential": True, "validate": lambda claims, value: bool(GUID.match(str(value)))},
        "nonce": {"essential": True},
    }


def _issuer_matches(authority, claims, value):
    tid = str(claims.get("tid") or "")
    return bool(GUID.match(tid)) and value == f"{authority}/{tid}/v2.0"


def finish_sign_in(connection_type=ConnectionType.DELEGATED, tenant_free=lambda tenant_id: True):
    """Complete the sign-in; return a SignIn or raise SignInFailed. Stores nothing.

    `tenant_free(tenant_id)` says whether the signed-in tenant may be connected (it may already
    feed another customer); asked before anything else is checked or read.

    For application permissions the SignIn only names who signed in and the tenant (no scopes,
    no refresh token): the admin consent comes next (portal.m365.consent).
    """
    token = _exchange_code()
    claims = token.get("userinfo")
    if not claims:
        fail("invalid_token", _("no ID token"))
    tenant_id = claims["tid"]
    if not tenant_free(tenant_id):
        fail("tenant_taken")
    account = claims.get("preferred_username") or claims.get("email") or claims.get("name") or ""
    if not may_connect(claims, connection_type):  # a tenant that consented earlier lets anybody in
        log.warning(
            "sign-in of %s for tenant %s refused: no administrator role in the ID token", account, tenant_id
        )
        fail("not_tenant_admin")
    if connection_type == ConnectionType.APPLICATION:
        return SignIn(tenant_id, _domain_of(account), account, "", "", connection_type)
    scopes = normalise_scopes(token.get("scope", ""))
    if lacks_permission(scopes):
        fail("not_admin")
    if not token.get("refresh_token"):
        fail("failed", _("no refresh token: offline_access was not granted"))
    refresh_token = _probe_read_access(token, tenant_id)
    return SignIn(
        tenant_id=tenant_id,
        tenant_domain=_domain_of(account),
        account=account,
        scopes=scopes,
        refresh_token=refresh_token,
    )


def _exchange_code():
    """Authlib: check state, redeem the code with the PKCE verifier, validate the ID token."""
    try:
        return client().authorize_access_token(claims_options=claims_options())
    except MismatchingStateError:
        fail("state")
    except OAuthError as exc:
        _fail_on_oauth_error(exc)
    except (InvalidClaimError, MissingClaimError) as exc:
        fail("nonce" if "nonce" in str(exc) else "invalid_token", exc.error)
    except JoseError as exc:
        fail("invalid_token", exc.error)
    except credentials.CertificateExpired as exc:
        fail("certificate_expired", message=exc.message)
    except requests.RequestException:
        fail("unreachable")


def _fail_on_oauth_error(exc):
    """Map an error= answer of the authorize leg, or an error of the token endpoint."""
    error, description = exc.error or "", exc.description or ""
    code = aadsts_code(description)
    log.info("Microsoft sign-in refused: %s %s", error, code)
    if code in NOT_ADMIN_CODES or error in ("admin_consent_required", "unauthorized_client_admin"):
        fail("not_admin")
    if error in ("access_denied", "consent_required"):
        fail("cancelled")
    if error == "invalid_grant":
        fail("code_rejected", code)
    if error in ("temporarily_unavailable", "server_error"):
        fail("unreachable")
    fail("failed", " ".join(filter(None, [error, code])))


def _probe_read_access(token, tenant_id):
    """The test read; returns the newest refresh token (a 401 may have rotated it)."""
    try:
        with GraphClient.for_token(token, tenant_id) as graph:
            graph.probe_read_access()
            return graph.refresh_token
    except PermissionMissing:
        fail("not_admin")
    except GraphUnavailable:
        fail("unreachable")
    except GraphError as exc:
        fail_on_graph_error(exc)


def fail_on_graph_error(exc):
    """Raise SignInFailed for a GraphError of a test read (the certificate's own message, if so)."""
    if exc.code == "certificate_expired":
        fail("certificate_expired", message=exc.message)
    fail("failed", exc.code or str(exc.status or ""))


def normalise_scopes(scope):
    """Granted scopes as short names ("https://graph.microsoft.com/User.Read.All" -> "User.Read.All")."""
    items = scope.split() if isinstance(scope, str) else list(scope or [])
    short = []
    for item in items:
        name = item[len(GRAPH_RESOURCE) :] if item.lower().startswith(GRAPH_RESOURCE) else item
        if name.lower() not in {s.lower() for s in short}:
            short.append(name)
    return " ".join(short)


def _domain_of(account):
    return account.rsplit("@", 1)[-1].lower() if "@" in account else ""
