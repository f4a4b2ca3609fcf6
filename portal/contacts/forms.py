"""Forms of the contact book. The email and group-name rules live in services.py."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SelectMultipleField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.attributes import ATTRIBUTES, VALUE_LENGTH
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
    # The manager: an active contact of the book by this email (linked), else a person outside it.
    manager_email = SingleLineField(_l("Manager's email"), validators=[Optional(), Length(max=254)])
    manager_name = SingleLineField(_l("Manager's name"), validators=[Optional(), Length(max=210)])

    def attribute_fields(self):
        """The attribute fields, in attributes.ATTRIBUTES order."""
        return [self[attribute.name] for attribute in ATTRIBUTES]

    def attribute_values(self):
        """{attribute name: the value entered}."""
        return {attribute.name: self[attribute.name].data or "" for attribute in ATTRIBUTES}


# One text field per attribute, named as the attribute (and the Contact column) is.
for _attribute in ATTRIBUTES:
    setattr(
        ContactForm,
        _attribute.name,
        SingleLineField(
            _attribute.label,
            validators=[Optional(), Length(max=VALUE_LENGTH)],
            render_kw={"maxlength": VALUE_LENGTH},
        ),
    )


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
