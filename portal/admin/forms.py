"""Administration forms: accounts, passwords, customers."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from portal.accounts import MIN_PASSWORD_LENGTH
from portal.models import Role
from portal.text import SingleLineField

ROLE_LABELS = {
    Role.OPERATOR: _l("Operator"),
    Role.RESELLER: _l("Reseller admin"),
    Role.CUSTOMER: _l("Customer admin"),
}


def optional_int(value):
    """Select values: '' means none chosen."""
    if value in (None, "", "None"):
        return None
    return int(value)


PASSWORD_LENGTH = Length(
    min=MIN_PASSWORD_LENGTH,
    max=200,
    message=_l("The password must have at least %(n)s characters.", n=MIN_PASSWORD_LENGTH),
)


class AccountForm(FlaskForm):
    """A new admin account. Role, reseller and customer choices are set by the view."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    name = SingleLineField(_l("Name"), validators=[Length(max=200)])
    role = SelectField(
        _l("Role"), validators=[DataRequired()], invalid_choice_message=_l("You may not give this role.")
    )
    reseller = SelectField(
        _l("Reseller"), coerce=optional_int, invalid_choice_message=_l("Choose one of your resellers.")
    )
    customer = SelectField(
        _l("Customer"), coerce=optional_int, invalid_choice_message=_l("Choose one of your customers.")
    )
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), PASSWORD_LENGTH])

    def offer(self, roles, resellers, customers):
        """Limit the choices to what the viewer may grant and see."""
        self.role.choices = [SelectChoice(r, ROLE_LABELS[r]) for r in roles]
        self.reseller.choices = tenant_choices(resellers)
        self.customer.choices = tenant_choices(customers)


def tenant_choices(tenants):
    """Select options for resellers or customers, with an empty first option."""
    return [SelectChoice("", "—")] + [SelectChoice(t.id, t.name) for t in tenants]


class PasswordResetForm(FlaskForm):
    # Asked (and checked) only when admins change their own password: a session left open on a
    # shared computer must not be enough to take the account over.
    current_password = PasswordField(_l("Current password"))
    password = PasswordField(_l("New password"), validators=[DataRequired(), PASSWORD_LENGTH])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", _l("The passwords do not match."))],
    )


class CustomerForm(FlaskForm):
    """A new customer; the reseller choice is only offered to the operator."""

    name = SingleLineField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    reseller = SelectField(
        _l("Reseller"), coerce=optional_int, invalid_choice_message=_l("Choose one of your resellers.")
    )
