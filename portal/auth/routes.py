"""Sign-in, sign-out and the customer switcher."""

from math import ceil

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from portal import i18n
from portal.auth import access, throttle
from portal.auth.forms import LoginForm
from portal.auth.redirects import redirect_target
from portal.auth.session import end_session, start_session
from portal.boundary import positive_int
from portal.extensions import db
from portal.models import AdminUser, Customer, utcnow

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password; failures are throttled per account and per address."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = form.email.data.strip().lower()
    attempt, until = throttle.begin_attempt(email)
    if until is not None:
        return _locked_out(form, until)
    user = AdminUser.authenticate(email, form.password.data)
    if user is None:  # the attempt's rows stay: they are its failure
        form.password.errors.append(_("Email or password is not correct."))
        return render_template("auth/login.html", form=form)
    throttle.succeeded(email, attempt)
    start_session(user)
    user.last_login_at = utcnow()
    if user.language is None:  # the first sign-in: the browser's language becomes the account's
        user.language = i18n.browser_locale()
    db.session.commit()
    return redirect(redirect_target(request.args.get("next")))


@bp.route("/account/language", methods=["POST"])
@login_required
def language():
    """The account menu's language switch: the admin's pages (and nothing else) in that language."""
    chosen = request.form.get("language", "")
    if chosen not in current_app.config["BABEL_SUPPORTED_LOCALES"]:
        abort(400)
    current_user.language = chosen
    db.session.commit()
    return redirect(redirect_target(request.form.get("next")))


def _locked_out(form, until):
    """429 with the form again (email kept) and when the next attempt will be heard."""
    seconds = max(1, ceil((until - utcnow()).total_seconds()))
    minutes = ceil(seconds / 60)
    form.password.errors.append(
        ngettext(
            "Too many failed sign-ins. Please try again in %(num)d minute.",
            "Too many failed sign-ins. Please try again in %(num)d minutes.",
            minutes,
        )
    )
    response = make_response(render_template("auth/login.html", form=form), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: the server forgets the session (a copy of the cookie stops working too)."""
    end_session()
    flash(_("You have been signed out."), "info")
    response = redirect(url_for("auth.login"))
    # The browser drops what it kept of the signed-in pages (its cache and the page storage).
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.route("/switch-customer", methods=["POST"])
@login_required
def switch_customer():
    """Make another visible customer the working customer."""
    customer = access.choose_customer(request.form.get("customer_id", type=positive_int))
    flash(_("Now working on %(name)s.", name=customer.name), "info")
    return redirect(redirect_target(request.form.get("next")))


@bp.route("/customers/search")
@login_required
def customer_search():
    """The switcher's searchable customer list (htmx fragment)."""
    term = (request.args.get("q") or "").strip()
    query = access.customers_query()
    if term:
        query = query.where(Customer.name.ilike(f"%{term}%"))
    customers = db.session.scalars(query.limit(20)).all()
    return render_template("auth/_customer_options.html", customers=customers, term=term)
