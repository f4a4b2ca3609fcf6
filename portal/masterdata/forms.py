"""Master data forms: address, notification recipients, allowed domains, Microsoft User Synchronization."""

import re

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.accounts import MIN_PASSWORD_LENGTH
from portal.text import SingleLineField


def split_entries(text):
    """The entries of a list field (separated by commas, semicolons, spaces or lines), as typed."""
    seen, entries = set(), []
    for entry in re.split(r"[,;\s]+", text or ""):
        if entry and entry.lower() not in seen:
            seen.add(entry.lower())
            entries.append(entry)
    return entries


def validate_recipients(form, field):
    """Every entry must be an email address; each wrong one gets its own error at the field."""
    for entry in split_entries(field.data):
        try:
            validate_email(entry, check_deliverability=False)
        except EmailNotValidError as exc:
            field.errors.append(
                _l("“%(entry)s” is not a valid email address: %(reason)s", entry=entry, reason=str(exc))
            )


def validate_domains(form, field):
    """Every entry must be a domain name (a leading @ is allowed); each wrong one gets an error."""
    for entry in split_entries(field.data):
        domain = entry.lstrip("@")
        try:
            if "@" in domain:
                raise EmailNotValidError("contains @")
            validate_email(f"postmaster@{domain}", check_deliverability=False)
        except EmailNotValidError:
            field.errors.append(_l("“%(entry)s” is not a valid domain name.", entry=entry))


class MasterDataForm(FlaskForm):
    """Fields reseller and customer master data share."""

    name = SingleLineField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    street = SingleLineField(_l("Street"), validators=[Length(max=200)])
    postal_code = SingleLineField(_l("Postal code"), validators=[Length(max=20)])
    city = SingleLineField(_l("City"), validators=[Length(max=100)])
    country = SingleLineField(_l("Country"), validators=[Length(max=100)])
    notification_recipients = TextAreaField(
        _l("Notification recipients"), validators=[Length(max=5000), validate_recipients]
    )
    allowed_domains = TextAreaField(
        _l("Allowed email domains"), validators=[Length(max=5000), validate_domains]
    )

    def master_data(self):
        """The cleaned values, ready to set on a Reseller or Customer."""
        return {
            "name": self.name.data.strip(),
            "street": (self.street.data or "").strip(),
            "postal_code": (self.postal_code.data or "").strip(),
            "city": (self.city.data or "").strip(),
            "country": (self.country.data or "").strip(),
            "notification_recipients": "\n".join(
                e.lower() for e in split_entries(self.notification_recipients.data)
            ),
            "allowed_domains": "\n".join(
                e.lstrip("@").lower() for e in split_entries(self.allowed_domains.data)
            ),
        }


class ResellerMasterDataForm(MasterDataForm):
    ms_user_sync = BooleanField(_l("Microsoft User Synchronization"))


class CustomerMasterDataForm(MasterDataForm):
    ms_user_sync = RadioField(
        _l("Microsoft User Synchronization"),
        default="inherit",
        choices=[
            SelectChoice("inherit", _l("Inherit from reseller")),
            SelectChoice("on", _l("On")),
            SelectChoice("off", _l("Off")),
        ],
    )

    email_language = SelectField(
        _l("Language of notification emails"),
        choices=[
            SelectChoice("", _l("Portal default (English)")),
            SelectChoice("en", "English", render_kw={"lang": "en"}),  # each language in its own words
            SelectChoice("de", "Deutsch", render_kw={"lang": "de"}),
        ],
    )

    def describe_inherit_choice(self, reseller_setting):
        """Say on the "inherit" choice what the reseller's setting currently is."""
        current = _l("On") if reseller_setting else _l("Off")
        self.ms_user_sync.choices = [
            SelectChoice("inherit", _l("Inherit from reseller (currently %(state)s)", state=current)),
            SelectChoice("on", _l("On")),
            SelectChoice("off", _l("Off")),
        ]


class NewResellerForm(ResellerMasterDataForm):
    """A reseller and, optionally, its first reseller admin."""

    admin_email = EmailField(_l("Email"), validators=[Optional(), Length(max=254)])
    admin_name = SingleLineField(_l("Name"), validators=[Length(max=200)])
    admin_password = PasswordField(
        _l("Initial password"),
        validators=[
            Optional(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("The password must have at least %(n)s characters.", n=MIN_PASSWORD_LENGTH),
            ),
        ],
    )

    def validate_admin_password(self, field):
        """A first admin needs an initial password."""
        if self.admin_email.data and not field.data:
            raise ValidationError(_l("Give the first admin an initial password."))
