"""Session rules: user loading, idle expiry, htmx-aware redirects to sign-in, security headers."""
from datetime import datetime, timezone

from flask import Response, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from portal.auth.redirects import local_path
from portal.extensions import db, login_manager


def init_app(app):
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    app.before_request(expire_idle_session)
    app.after_request(add_security_headers)


@login_manager.user_loader
def load_user(identity):
    """Find the account for a session; a changed session token or a disabled account ends it."""
    from portal.models import AdminUser

    user_id, _sep, token = identity.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(AdminUser, int(user_id))
    if user is None or not user.is_enabled or user.session_token != token:
        return None
    return user


def sign_in_redirect():
    """Send the visitor to sign-in: a full page redirect, or HX-Redirect for htmx requests."""
    target = url_for("auth.login", next=_safe_next())
    if request.headers.get("HX-Request"):
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def _safe_next():
    """The page to return to after sign-in: only a plain GET of one of our own paths."""
    if request.method != "GET" or request.headers.get("HX-Request") or request.path == "/":
        return None
    if request.endpoint == "auth.login":
        return None
    return local_path(request.full_path.rstrip("?"))


@login_manager.unauthorized_handler
def unauthorized():
    return sign_in_redirect()


def expire_idle_session():
    """Sign out a session that has been idle longer than SESSION_IDLE_MINUTES."""
    if request.endpoint in (None, "static") or not current_user.is_authenticated:
        return None
    now = datetime.now(timezone.utc).timestamp()
    last_seen = session.get("last_seen", now)
    if now - last_seen > current_app.config["SESSION_IDLE_MINUTES"] * 60:
        logout_user()
        session.clear()
        flash(_("Your session expired. Please sign in again."), "info")
        return sign_in_redirect()
    session["last_seen"] = now
    session.permanent = True
    return None


def add_security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; form-action 'self' " + _form_targets(),
    )
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _form_targets():
    # The emulator's and Microsoft's sign-in pages are reached by redirect from our forms.
    return current_app.config["M365_AUTHORITY"]
