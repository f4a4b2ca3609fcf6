"""Forms of the contact book. The email and group-name rules live in services.py."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SelectMultipleField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.contacts.services import GROUP_NAME_MAX, NAME_MAX, SALUTATION_MAX
from portal.text import SingleLineField


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes; only the offered choices are accepted."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ContactForm(FlaskForm):
    salutation = SingleLineField(_l("Salutation"), validators=[Optional(), Length(max=SALUTATION_MAX)])
    first_name = SingleLineField(_l("First name"), validators=[Optional(), Length(max=NAME_MAX)])
    last_name = SingleLineField(_l("Last name"), validators=[Optional(), Length(max=NAME_MAX)])
    email = SingleLineField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    groups = MultiCheckboxField(_l("Contact groups"), coerce=int, validators=[Optional()])


class GroupForm(FlaskForm):
    name = SingleLineField(_l("Name"), validators=[DataRequired(), Length(max=GROUP_NAME_MAX)])


class MembershipForm(FlaskForm):
    """Add the contact to one of the customer's groups (choices set by the view)."""

    group_id = SelectField(_l("Add to group"), coerce=int, validate_choice=True)


class UploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class MappingForm(FlaskForm):
    """Which column holds which field; choices are the file's columns (set by the view)."""

    class Meta:
        csrf = False  # a GET form that only changes the preview; confirm is a separate POST

    has_header = BooleanField(_l("The first row holds column names"))
    first_name = SelectField(_l("First name"), coerce=int)
    last_name = SelectField(_l("Last name"), coerce=int)
    email = SelectField(_l("Email"), coerce=int)
    group = SelectField(_l("Contact group"), coerce=int)
    salutation = SelectField(_l("Salutation"), coerce=int)
