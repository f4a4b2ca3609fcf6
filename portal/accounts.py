"""Rules for admin accounts and tenants, shared by the CLI, the seed and the administration pages.

Which objects a viewer may *see* is decided by `portal.auth.access`; the rules here decide what a
viewer may *do* with what they see (which roles they may grant, who may be disabled).
"""

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AdminUser, Customer, Reseller, Role
from portal.text import single_line

MIN_PASSWORD_LENGTH = 10

# Which roles each role may hand out.
GRANTABLE = {
    Role.OPERATOR: (Role.RESELLER, Role.CUSTOMER, Role.OPERATOR),
    Role.RESELLER: (Role.CUSTOMER, Role.RESELLER),
    Role.CUSTOMER: (Role.CUSTOMER,),
}


class AccountError(ValueError):
    """An account or tenant cannot be changed as asked; the message says why, `field` says where."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def normalized_email(email):
    """The address as we store it, or AccountError when it is not a valid email address."""
    try:
        return validate_email((email or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AccountError(
            _("%(email)s is not a valid email address: %(reason)s", email=email, reason=str(exc)),
            field="email",
        ) from None


def check_password_rule(password):
    """AccountError unless the password is long enough."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _("The password must have at least %(n)s characters.", n=MIN_PASSWORD_LENGTH), field="password"
        )


def new_admin(*, email, password, role, name="", reseller_id=None, customer_id=None):
    """Add a new admin account to the session (caller commits)."""
    email = normalized_email(email)
    if db.session.scalar(select(AdminUser.id).where(func.lower(AdminUser.email) == email.lower())):
        raise AccountError(
            _("An account with the email %(email)s already exists.", email=email), field="email"
        )
    check_password_rule(password)
    if role == Role.RESELLER:
        if reseller_id is None or db.session.get(Reseller, reseller_id) is None:
            raise AccountError(
                _("A reseller admin needs an existing reseller (--reseller id)."), field="reseller"
            )
        customer_id = None
    elif role == Role.CUSTOMER:
        if customer_id is None or db.session.get(Customer, customer_id) is None:
            raise AccountError(
                _("A customer admin needs an existing customer (--customer id)."), field="customer"
            )
        reseller_id = None
    elif role == Role.OPERATOR:
        reseller_id = customer_id = None
    else:
        raise AccountError(_("Unknown role %(role)r.", role=role), field="role")
    admin = AdminUser(
        email=email, name=single_line(name or ""), role=role, reseller_id=reseller_id, customer_id=customer_id
    )
    admin.set_password(password)
    db.session.add(admin)
    db.session.flush()
    return admin


def grantable_roles(viewer):
    """The roles `viewer` may give to an account they create."""
    return GRANTABLE.get(viewer.role, ())


def create_account(viewer, *, email, password, role, name="", reseller=None, customer=None):
    """Create an account on behalf of `viewer`, within what they may grant (caller commits).

    `reseller` and `customer` are objects the view already loaded through the scoping helper;
    a reseller admin's colleagues always belong to the viewer's own reseller.
    """
    if role not in grantable_roles(viewer):
        raise AccountError(_("You may not create accounts with this role."), field="role")
    if role == Role.RESELLER and viewer.role == Role.RESELLER:
        reseller = viewer.reseller
    if role == Role.CUSTOMER and viewer.role == Role.CUSTOMER:
        customer = viewer.customer
    if role == Role.RESELLER and reseller is None:
        raise AccountError(_("Choose the reseller this admin works for."), field="reseller")
    if role == Role.CUSTOMER and customer is None:
        raise AccountError(_("Choose the customer this admin works for."), field="customer")
    _check_in_scope(
        viewer,
        reseller if role == Role.RESELLER else None,
        customer if role == Role.CUSTOMER else None,
    )
    return new_admin(
        email=email,
        password=password,
        role=role,
        name=name,
        reseller_id=reseller.id if role == Role.RESELLER else None,
        customer_id=customer.id if role == Role.CUSTOMER else None,
    )


def _check_in_scope(viewer, reseller, customer):
    """Defence in depth: the tenant of a new account must be the viewer's own (operators: any)."""
    if viewer.role == Role.OPERATOR:
        return
    own_reseller = viewer.reseller_id if viewer.role == Role.RESELLER else None
    if reseller is not None and reseller.id != own_reseller:
        raise AccountError(_("Choose the reseller this admin works for."), field="reseller")
    if customer is not None:
        allowed = (
            customer.reseller_id == own_reseller
            if own_reseller is not None
            else customer.id == viewer.customer_id
        )
        if not allowed:
            raise AccountError(_("Choose the customer this admin works for."), field="customer")


def set_enabled(viewer, account, enabled):
    """Enable or disable `account`; disabling ends its sessions. Nobody disables themselves."""
    if not enabled and account.id == viewer.id:
        raise AccountError(_("You cannot disable your own account."))
    account.is_enabled = enabled
    if not enabled:
        account.end_sessions()


def reset_password(account, password):
    """Give `account` a new password and end its sessions (caller commits)."""
    check_password_rule(password)
    account.set_password(password)
    account.end_sessions()


def _clean_name(name):
    """The company name on one line (it ends up in email subjects); AccountError when empty."""
    name = single_line(name or "")
    if not name:
        raise AccountError(_("A company name is required."), field="name")
    return name


def new_reseller(name, **master_data):
    """Add a reseller to the session (caller commits)."""
    reseller = Reseller(name=_clean_name(name), **master_data)
    db.session.add(reseller)
    db.session.flush()
    return reseller


def new_customer(reseller, name, **master_data):
    """Add a customer of `reseller` to the session (caller commits)."""
    customer = Customer(name=_clean_name(name), reseller_id=reseller.id, **master_data)
    db.session.add(customer)
    db.session.flush()
    return customer
