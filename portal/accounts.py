"""Rules for admin accounts, shared by the CLI, the seed and the administration pages."""
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AdminUser, Customer, Reseller, Role

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """An account cannot be created as asked; the message says why."""


def new_admin(*, email, password, role, name="", reseller_id=None, customer_id=None):
    """Add a new admin account to the session (caller commits)."""
    email = email.strip()
    if db.session.scalar(select(AdminUser.id).where(func.lower(AdminUser.email) == email.lower())):
        raise AccountError(f"An account with the email {email} already exists.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if role == Role.RESELLER.value:
        if reseller_id is None or db.session.get(Reseller, reseller_id) is None:
            raise AccountError("A reseller admin needs an existing --reseller id.")
        customer_id = None
    elif role == Role.CUSTOMER.value:
        if customer_id is None or db.session.get(Customer, customer_id) is None:
            raise AccountError("A customer admin needs an existing --customer id.")
        reseller_id = None
    elif role == Role.OPERATOR.value:
        reseller_id = customer_id = None
    else:
        raise AccountError(f"Unknown role {role!r}.")
    admin = AdminUser(email=email, name=name, role=role, reseller_id=reseller_id, customer_id=customer_id)
    admin.set_password(password)
    db.session.add(admin)
    db.session.flush()
    return admin
