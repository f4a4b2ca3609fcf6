"""Sign-in, sign-out and the customer switcher."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth import access
from portal.auth.forms import LoginForm
from portal.auth.redirects import redirect_target
from portal.auth.session import end_session, start_session
from portal.extensions import db, limiter
from portal.models import AdminUser, Customer, utcnow

bp = Blueprint("auth", __name__)


def _login_email_key():
    return "login:" + (request.form.get("email") or "").strip().lower()


def _failed_sign_in(response):
    """Only failed attempts count towards the sign-in rate limits (success redirects)."""
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"], deduct_when=_failed_sign_in,
               error_message="Too many sign-in attempts.")
@limiter.limit("5 per minute", key_func=_login_email_key, methods=["POST"],
               deduct_when=_failed_sign_in, error_message="Too many sign-in attempts.")
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = AdminUser.authenticate(form.email.data, form.password.data)
        if user is not None:
            start_session(user)
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(redirect_target(request.args.get("next")))
        form.password.errors.append(_("Email or password is not correct."))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out: the server forgets the session (a copy of the cookie stops working too)."""
    end_session()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/switch-customer", methods=["POST"])
@login_required
def switch_customer():
    """Make another visible customer the working customer."""
    customer = access.choose_customer(request.form.get("customer_id", type=int))
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
