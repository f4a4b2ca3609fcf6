"""The sign-in and consent page: `/{tenant}/oauth2/v2.0/authorize` and the admin-consent endpoints.

GET renders one form (choose an account, tick consent, Accept/Cancel) that posts back to the same
URL with the original query parameters in hidden fields. Request problems that have no trusted
redirect target (unknown client, unregistered redirect URI) are shown as an error page; everything
else goes back to the redirect URI as Microsoft does.
"""

import datetime
import urllib.parse
import uuid

from flask import Blueprint, redirect, render_template, request

from .app import base_url, get_state
from .identity import error_page, unknown_tenant
from .scopes import ADMIN_ONLY, ScopeError, parse_scopes
from .state import Grant, utc

bp = Blueprint("signin", __name__)

AUTH_PARAMS = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "response_mode",
    "nonce",
    "prompt",
    "login_hint",
    "domain_hint",
    "code_challenge",
    "code_challenge_method",
]
PROMPTS = {"login", "none", "consent", "select_account"}
MAX_LISTED_ACCOUNTS = 60
SCOPE_TEXT = {
    "User.Read": "Sign you in and read your profile",
    "User.ReadBasic.All": "Read all users' basic profiles",
    "User.Read.All": "Read all users' full profiles",
    "GroupMember.Read.All": "Read all group memberships",
    "Group.Read.All": "Read all groups",
    "Directory.Read.All": "Read directory data",
    "Device.Read.All": "Read all devices",
    "OrgContact.Read.All": "Read organizational contacts",
    "Member.Read.Hidden": "Read all hidden memberships",
    "offline_access": "Maintain access to data you have given it access to",
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
}


class FlowError(Exception):
    """A request problem answered by an error redirect (or an error page when `page`)."""

    def __init__(self, error, code, description, page=False):
        super().__init__(description)
        self.error, self.code, self.description, self.page = error, code, description, page


class Flow:
    """A validated authorize / admin-consent request."""

    def __init__(self, mode, tenant, params):
        self.mode, self.tenant, self.params = mode, tenant, params
        self.state = get_state()
        self.app = self.state.apps.get(params.get("client_id", ""))
        self.redirect_uri = params.get("redirect_uri")
        self.response_mode = "query"
        self.oidc, self.graph = [], []
        self.prompt = params.get("prompt")

    def validate(self):
        """Check the request like the identity platform does; raises FlowError."""
        p = self.params
        if self.app is None:
            raise FlowError(
                "unauthorized_client",
                700016,
                (
                    f"Application with identifier '{p.get('client_id', '')}' was not found in the "
                    f"directory '{self.state.directory.name}'. This can happen if the application has "
                    f"not been installed by the administrator of the tenant or consented to by any "
                    f"user in the tenant. You may have sent your authentication request to the wrong "
                    f"tenant."
                ),
                page=True,
            )
        if not self.redirect_uri or self.redirect_uri not in self.app["redirect_uris"]:
            raise FlowError(
                "invalid_request",
                50011,
                (
                    f"The redirect URI '{self.redirect_uri or ''}' specified in the request does not "
                    f"match the redirect URIs configured for the application "
                    f"'{self.app['client_id']}'. Make sure the redirect URI sent in the request "
                    f"matches one added to your application in the Azure portal."
                ),
                page=True,
            )
        if self.mode == "authorize":
            self._validate_authorize()
        else:
            self._validate_admin_consent()

    def _validate_authorize(self):
        p = self.params
        self.response_mode = p.get("response_mode") or "query"
        if self.response_mode not in ("query", "fragment", "form_post"):
            raise FlowError("invalid_request", 900144, "The response_mode is not supported.")
        response_type = p.get("response_type")
        if not response_type:
            raise FlowError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'response_type'.",
            )
        if response_type != "code":
            if set(response_type.split()) <= {"code", "id_token", "token"}:
                raise FlowError(
                    "unauthorized_client",
                    700054,
                    (f"response_type '{response_type}' is not enabled for the application."),
                )
            raise FlowError(
                "unsupported_response_type",
                70005,
                "The provided value for the 'response_type' is not supported.",
            )
        if not p.get("scope"):
            raise FlowError(
                "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
            )
        self._parse_scopes(p["scope"])
        if not self.graph:
            self.graph = ["User.Read"]
        if self.prompt and self.prompt not in PROMPTS:
            raise FlowError("invalid_request", 90023, f"Invalid prompt value '{self.prompt}'.")
        if self.prompt == "select_account" and p.get("login_hint"):
            raise FlowError(
                "invalid_request", 90023, "prompt=select_account can't be combined with login_hint."
            )
        method = p.get("code_challenge_method")
        if p.get("code_challenge") and method not in (None, "", "S256", "plain"):
            raise FlowError("invalid_request", 501491, f"Invalid code_challenge_method '{method}'.")

    def _validate_admin_consent(self):
        if self.mode == "adminconsent_v2":
            if not self.params.get("scope"):
                raise FlowError(
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'scope'.",
                )
            self._parse_scopes(self.params["scope"])
        else:
            self.graph = list(self.app.get("permissions", []))

    def _parse_scopes(self, text):
        try:
            self.oidc, self.graph = parse_scopes(text, self.app.get("permissions", []))
        except ScopeError as exc:
            raise FlowError(
                "invalid_scope",
                70011,
                (
                    f"The provided value for the input parameter 'scope' is not valid. The scope "
                    f"'{exc}' does not exist."
                ),
            ) from exc

    # -- consent rules ---------------------------------------------------------------------
    def missing_scopes(self):
        """Requested Graph permissions the tenant hasn't consented to yet."""
        granted = set(self.state.grants.get(self.app["client_id"], []))
        return [s for s in self.graph if s not in granted]

    def needs_consent(self):
        """Whether this sign-in must show (and get) consent."""
        return self.mode != "authorize" or self.prompt == "consent" or bool(self.missing_scopes())

    def needs_admin(self):
        """Whether only an administrator can complete the consent."""
        return self.mode != "authorize" or any(s in ADMIN_ONLY for s in self.missing_scopes())


# -- responses -------------------------------------------------------------------------------
def _deliver(flow, values):
    """Send response values to the client per response mode (302 query/fragment or form_post)."""
    values = {k: v for k, v in values.items() if v is not None}
    if flow.params.get("state") is not None:
        values["state"] = flow.params["state"]
    if flow.response_mode == "form_post":
        return render_template("form_post.html", action=flow.redirect_uri, values=values)
    encoded = urllib.parse.urlencode(values, quote_via=urllib.parse.quote)
    if flow.response_mode == "fragment":
        return redirect(f"{flow.redirect_uri}#{encoded}")
    joiner = "&" if "?" in flow.redirect_uri else "?"
    return redirect(f"{flow.redirect_uri}{joiner}{encoded}")


def _error_values(flow, error, code, description):
    now = utc(flow.state.now())
    text = (
        f"AADSTS{code}: {description}\r\nTrace ID: {uuid.uuid4()}\r\n"
        f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: {now}"
    )
    values = {"error": error, "error_description": text, "error_uri": f"{base_url()}/error?code={code}"}
    if flow.mode == "adminconsent_v1":
        values = {"error": "permission_denied", "error_description": "The admin canceled the request"}
    elif flow.mode == "adminconsent_v2":
        values = {"admin_consent": "True", **values}
    return values


def _redirect_error(flow, exc):
    if exc.page:
        return error_page(exc.code, exc.description)
    return _deliver(flow, _error_values(flow, exc.error, exc.code, exc.description))


def _render(flow, error=None, status=200):
    directory = flow.state.directory
    accounts = [directory.users[uid] for uid in directory.admins if uid in directory.users]
    accounts += [u for u in directory.users.values() if u["id"] not in directory.admins]
    hint = (flow.params.get("login_hint") or "").lower()
    listed = accounts[:MAX_LISTED_ACCOUNTS]
    hinted = directory.find_user(hint) if hint else None
    if hinted and hinted not in listed:
        listed.insert(0, hinted)
    scopes = [(s, SCOPE_TEXT.get(s, s)) for s in flow.graph + flow.oidc]
    return render_template(
        "signin.html",
        flow=flow,
        app=flow.app,
        tenant=directory,
        accounts=listed,
        more=len(accounts) - len(listed),
        selected=request.form.get("account") or hint,
        scopes=scopes,
        needs_consent=flow.needs_consent(),
        error=error,
        hidden={k: v for k, v in flow.params.items() if v is not None},
    ), status


def _issue_code(flow, user):
    state = flow.state
    now = state.now()
    code = state.new_secret("1.AX")
    state.codes[code] = Grant(
        flow.app["client_id"],
        user["id"],
        flow.oidc + flow.graph,
        now,
        now + datetime.timedelta(seconds=state.settings["code_lifetime"]),
        {
            "redirect_uri": flow.redirect_uri,
            "nonce": flow.params.get("nonce"),
            "code_challenge": flow.params.get("code_challenge"),
            "code_challenge_method": flow.params.get("code_challenge_method") or "plain",
            "used": False,
        },
    )
    return _deliver(flow, {"code": code, "session_state": str(uuid.uuid4())})


def _consent_granted(flow, user):
    state = flow.state
    granted = state.grants.setdefault(flow.app["client_id"], [])
    granted.extend(s for s in flow.graph if s not in granted)
    if flow.mode == "authorize":
        return _issue_code(flow, user)
    if flow.mode == "adminconsent_v1":
        return _deliver(flow, {"tenant": state.directory.id, "admin_consent": "True"})
    return _deliver(
        flow,
        {
            "admin_consent": "True",
            "tenant": state.directory.id,
            "scope": " ".join(f"https://graph.microsoft.com/{s}" for s in flow.graph),
        },
    )


def _prompt_none(flow):
    user = flow.state.directory.find_user(flow.params.get("login_hint") or "")
    if user is None or not user["accountEnabled"]:
        return _redirect_error(
            flow,
            FlowError(
                "login_required", 50058, ("A silent sign-in request was sent but no user is signed in.")
            ),
        )
    if flow.needs_consent():
        return _redirect_error(
            flow,
            FlowError(
                "consent_required",
                65001,
                (
                    f"The user or administrator has not consented to use the application with ID "
                    f"'{flow.app['client_id']}'. Send an interactive authorization request for this user "
                    f"and resource."
                ),
            ),
        )
    return _issue_code(flow, user)


def _handle(tenant, mode):
    state = get_state()
    if not state.resolve_tenant(tenant):
        return unknown_tenant(tenant)
    source = request.form if request.method == "POST" else request.args
    params = {k: source.get(k) for k in AUTH_PARAMS if source.get(k) is not None}
    with state.lock:
        flow = Flow(mode, tenant, params)
        try:
            flow.validate()
        except FlowError as exc:
            return _redirect_error(flow, exc)
        if request.method == "GET":
            return _prompt_none(flow) if flow.prompt == "none" else _render(flow)
        return _submit(flow)


def _submit(flow):
    if request.form.get("action") != "accept":
        return _redirect_error(
            flow, FlowError("access_denied", 65004, "User declined to consent to access the app.")
        )
    user = flow.state.directory.find_user(request.form.get("account", "").strip())
    if user is None:
        return _render(flow, "Choose an account of this organization to sign in.", 400)
    if not user["accountEnabled"]:
        return _render(flow, "AADSTS50057: The user account is disabled.", 400)
    if flow.needs_consent() and flow.needs_admin() and user["id"] not in flow.state.directory.admins:
        return render_template("need_admin.html", flow=flow, app=flow.app, user=user, hidden=flow.params), 200
    if flow.needs_consent() and request.form.get("consent") != "on":
        return _render(
            flow, "Tick “Consent on behalf of your organization” to accept, or choose Cancel.", 400
        )
    return _consent_granted(flow, user) if flow.needs_consent() else _issue_code(flow, user)


@bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant):
    """Sign-in + consent page (GET) and its form submission (POST)."""
    return _handle(tenant, "authorize")


@bp.route("/<tenant>/v2.0/adminconsent", methods=["GET", "POST"])
def admin_consent_v2(tenant):
    """Admin consent (v2): grants the scopes asked for (`/.default` = the app's permissions)."""
    return _handle(tenant, "adminconsent_v2")


@bp.route("/<tenant>/adminconsent", methods=["GET", "POST"])
def admin_consent_v1(tenant):
    """Admin consent (v1 style, no scope): grants the app's configured permissions."""
    return _handle(tenant, "adminconsent_v1")
