"""Notifications: the working customer's outbox — sent and pending mails, and a test message."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from portal import htmx, mail
from portal.auth import access
from portal.boundary import positive_int
from portal.extensions import db
from portal.models.outbox import OutboxMail

bp = Blueprint("outbox", __name__, url_prefix="/notifications")

PER_PAGE = 50


@bp.route("/")
@login_required
def index():
    """The working customer's notifications, newest first, with delivery state."""
    customer = access.current_customer()
    query = (
        select(OutboxMail)
        .where(OutboxMail.customer_id == customer.id)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
    )
    page = db.paginate(
        query, page=request.args.get("page", 1, type=positive_int), per_page=PER_PAGE, error_out=False
    )
    return htmx.render("outbox/index.html", "outbox/_table.html", page=page, customer=customer)


@bp.route("/<int:mail_id>")
@login_required
def detail(mail_id):
    """One notification: recipients, state, and the message text."""
    message = access.owned_by_current_customer(OutboxMail, mail_id)
    return render_template("outbox/detail.html", message=message)


@bp.route("/test", methods=["POST"])
@login_required
def send_test():
    """Queue a test message to the signed-in admin, to check the mail setup."""
    customer = access.current_customer()
    mail.send_email(
        "test",
        [current_user.email],
        {"admin": current_user.email, "customer": customer.name},
        customer=customer,
    )
    db.session.commit()
    flash(_("A test message to %(email)s was queued.", email=current_user.email), "success")
    return redirect(url_for("outbox.index"))
