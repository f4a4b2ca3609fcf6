"""Session rules: server-side sessions (start, load, idle expiry, end), htmx-aware redirects to
sign-in, security headers.

The session cookie carries only the token of an admin_session row (Flask-Login's `_user_id`); the
row decides: deleting it (sign-out, disabling, a new password, idle expiry) ends the session even
for a copy of the cookie."""

from datetime import timedelta

from flask import current_app, flash, g, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal import htmx
from portal.auth.redirects import local_path
from portal.auth.throttle import client_address
from portal.extensions import db, login_manager
from portal.models import AdminSession


def init_app(app):
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    app.before_request(check_session)
    app.after_request(add_security_headers)


def _limits():
    """(idle, max_age): how long a session may rest, and how long it may live at all."""
    config = current_app.config
    return timedelta(minutes=config["SESSION_IDLE_MINUTES"]), timedelta(hours=config["SESSION_MAX_HOURS"])


@login_manager.user_loader
def load_user(token):
    """The admin of a live server-side session; None for an unknown or idle session or a
    disabled account (an idle one is ended by check_session)."""
    row = AdminSession.find(token)
    if row is None:
        return None
    if row.is_expired(*_limits()):
        g.expired_session = row
        return None
    admin = row.admin
    if not admin.is_enabled:
        return None
    admin.session_token = token
    g.admin_session = row
    return admin


def current_session():
    """The server-side session row of the signed-in admin (None when nobody is signed in)."""
    return g.get("admin_session") if current_user.is_authenticated else None


def start_session(user):
    """Sign `user` in with a fresh session: a new server-side row and a cookie that carries
    nothing over from before (the caller commits)."""
    session.clear()
    AdminSession.purge_expired(*_limits())  # opportunistic: sign-ins are rare, idle rows pile up
    AdminSession.start(user, user_agent=request.user_agent.string, ip_address=client_address())
    login_user(user)
    session.permanent = True


def end_session():
    """Sign out: delete this browser's session row, so a copy of the cookie is worthless too."""
    row = AdminSession.find(session.get("_user_id"))
    if row is not None:
        row.end()
        db.session.commit()
    logout_user()
    session.clear()


def sign_in_redirect():
    """Send the visitor to sign-in: a full page redirect, or HX-Redirect for htmx requests."""
    return htmx.redirect(url_for("auth.login", next=_safe_next()), htmx_status=401)


# Never a page to return to: the sign-in page itself, and Microsoft's callback, whose query carries
# an authorization code that must not travel on into a URL we build (and the logs that record it).
NEVER_NEXT = frozenset({"auth.login", "m365.callback"})


def _safe_next():
    """The page to return to after sign-in: only a plain GET of one of our own paths."""
    if request.method != "GET" or htmx.is_htmx() or request.path == "/":
        return None
    if request.endpoint in NEVER_NEXT:
        return None
    return local_path(request.full_path.rstrip("?"))


@login_manager.unauthorized_handler
def unauthorized():
    return sign_in_redirect()


def sessionless(view):
    """Mark a view that never looks at the session (health probes): check_session skips it, so
    it touches no database even when a browser sends a session cookie."""
    view.sessionless = True
    return view


def check_session():
    """Before each request: note activity of a live session (at most one write a minute);
    forget a cookie whose session the server no longer knows, and end an idle one."""
    if request.endpoint in (None, "static"):
        return None
    if getattr(current_app.view_functions.get(request.endpoint), "sessionless", False):
        return None
    if current_user.is_authenticated:
        if g.admin_session.touch():
            db.session.commit()
        session.permanent = True
        return None
    if "_user_id" not in session:
        return None
    session.clear()  # signed out elsewhere, disabled, idle: the cookie names a dead session
    idle = g.pop("expired_session", None)
    if idle is None:
        return None
    idle.end()
    db.session.commit()
    flash(_("Your session expired. Please sign in again."), "info")
    return sign_in_redirect()


def add_security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def content_security_policy():
    """Only our own scripts, styles and images; no <base> (it would redirect every relative link and
    form), no plugins, no framing by anyone (clickjacking); forms post to us, and "Release M365
    Interface" redirects a form post on to Microsoft's (or the emulator's) sign-in page."""
    return "; ".join(
        [
            "default-src 'self'",
            "img-src 'self' data:",
            "style-src 'self' 'unsafe-inline'",
            "script-src 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self' " + current_app.config["M365_AUTHORITY"],
        ]
    )
