"""The one place that decides what the signed-in admin may see.

Every view that touches tenant data goes through these helpers. Objects of
another tenant answer 404 (never 403): we do not confirm they exist.
"""

from flask import abort, g, session
from flask_login import current_user
from sqlalchemy import select, true

from portal.extensions import db
from portal.models import AdminUser, Customer, Reseller, Role


def is_operator():
    return current_user.role == Role.OPERATOR


def resellers_query():
    """Resellers the viewer may see."""
    query = select(Reseller).order_by(Reseller.name)
    if is_operator():
        return query
    if current_user.role == Role.RESELLER:
        return query.where(Reseller.id == current_user.reseller_id)
    return query.where(Reseller.id == -1)


def customer_scope():
    """The condition on Customer rows the viewer may see (for queries that select more than customers)."""
    if is_operator():
        return true()
    if current_user.role == Role.RESELLER:
        return Customer.reseller_id == current_user.reseller_id
    return Customer.id == current_user.customer_id


def customers_query():
    """Customers the viewer may see."""
    return select(Customer).where(customer_scope()).order_by(Customer.name)


def admins_query():
    """Admin accounts the viewer may manage."""
    query = select(AdminUser).order_by(AdminUser.email)
    if is_operator():
        return query
    if current_user.role == Role.RESELLER:
        own_customers = select(Customer.id).where(Customer.reseller_id == current_user.reseller_id)
        return query.where(
            (AdminUser.reseller_id == current_user.reseller_id) | AdminUser.customer_id.in_(own_customers)
        )
    return query.where(AdminUser.customer_id == current_user.customer_id)


def get_reseller_or_404(reseller_id):
    return db.session.scalar(resellers_query().where(Reseller.id == reseller_id)) or abort(404)


def reseller_for_viewing_or_404(reseller_id):
    """(reseller, editable): customer admins may view (not edit) their own reseller's master data."""
    if current_user.role == Role.CUSTOMER:
        own = current_user.customer.reseller_id if current_user.customer else None
        if reseller_id != own:
            abort(404)
        return db.session.get(Reseller, reseller_id), False
    return get_reseller_or_404(reseller_id), True


def get_customer_or_404(customer_id):
    return db.session.scalar(customers_query().where(Customer.id == customer_id)) or abort(404)


def get_admin_or_404(admin_id):
    return db.session.scalar(admins_query().where(AdminUser.id == admin_id)) or abort(404)


def current_customer(required=True):
    """The customer the viewer is working on: their own, or the one chosen in the switcher."""
    if "current_customer" in g:
        return g.current_customer
    customer = None
    chosen = session.get("customer_id")
    if chosen is not None:
        customer = db.session.scalar(customers_query().where(Customer.id == chosen))
    if customer is None:
        customer = db.session.scalar(customers_query().limit(1))
    g.current_customer = customer
    if customer is None and required:
        abort(404)
    return customer


def choose_customer(customer_id):
    """Switch the working customer (must be visible to the viewer)."""
    customer = get_customer_or_404(customer_id)
    session["customer_id"] = customer.id
    g.current_customer = customer
    return customer


def owned_by_current_customer(model, object_id):
    """Load `model` by id, only when it belongs to the current customer; else 404."""
    customer = current_customer()
    obj = db.session.scalar(select(model).where(model.id == object_id, model.customer_id == customer.id))
    return obj or abort(404)
