"""The start page after sign-in."""

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import func, select

from portal.auth import access
from portal.extensions import db
from portal.models import Contact, ContactGroup
from portal.sync.attention import problems

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def index():
    """Overview of the working customer, with what needs an admin's attention first."""
    customer = access.current_customer(required=False)
    counts = {}
    if customer is not None:
        counts["contacts"] = db.session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
        )
        counts["groups"] = db.session.scalar(
            select(func.count()).select_from(ContactGroup).where(ContactGroup.customer_id == customer.id)
        )
    found = problems(customer) if customer is not None else []
    return render_template("dashboard.html", customer=customer, counts=counts, problems=found)
