"""Master data rules the pages share: who may view or edit a reseller, the customer's sync choice."""
from flask import abort
from flask_login import current_user

from portal.auth import access
from portal.extensions import db
from portal.models import Reseller, Role

SYNC_CHOICES = {"inherit": None, "on": True, "off": False}


def reseller_for_viewing(reseller_id):
    """(reseller, editable): a customer admin may view, not edit, their own reseller; else 404."""
    if current_user.role == Role.CUSTOMER.value:
        own = current_user.customer.reseller_id if current_user.customer else None
        if reseller_id != own:
            abort(404)
        return db.session.get(Reseller, reseller_id), False
    return access.get_reseller_or_404(reseller_id), True


def sync_choice(customer):
    """The customer form's value for Customer.ms_user_sync (None/True/False)."""
    return {None: "inherit", True: "on", False: "off"}[customer.ms_user_sync]


def form_data(customer):
    """The customer's master data as the form's initial values."""
    fields = ("name", "street", "postal_code", "city", "country", "notification_recipients",
              "allowed_domains")
    data = {name: getattr(customer, name) for name in fields}
    data["ms_user_sync"] = sync_choice(customer)
    return data


def apply_master_data(tenant, values):
    """Copy cleaned master data values onto a Reseller or Customer."""
    for key, value in values.items():
        setattr(tenant, key, value)
