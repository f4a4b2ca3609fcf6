"""Who a contact is beyond name and email: the one definition of the attribute set.

Every reader and writer uses ATTRIBUTES: the contact's columns (models.contacts), Microsoft Graph's
properties (m365.graph's $select, sync.people), the CSV columns (contacts.csv_io), the contact
book's columns and filters, smart groups' rules, and the SCIM paths of Entra provisioning.

    for attribute in ATTRIBUTES: attribute.name, attribute.label, attribute.graph, attribute.csv, ...
    values_from_graph(user)   -> {name: value} for the attributes the Graph user object carries

The manager is not a plain value: a contact's manager is another contact of the same customer when
that person is in the book (`Contact.manager_id`), their name and email otherwise. MANAGER names its
Graph navigation property and its CSV columns.
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from portal.text import single_line

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WORK_ADDRESS = 'addresses[type eq "work"]'
VALUE_LENGTH = 100  # every attribute column's length


@dataclass(frozen=True)
class Attribute:
    """One attribute: `name` is the contact's column, the form field and the CSV column.

    graph: the Graph user properties it comes from, the first non-empty one wins (country: `country`,
    else `usageLocation`). scim: its SCIM attribute path. filter: the contact book filters by it.
    """

    name: str
    label: object
    graph: tuple
    scim: str
    filter: bool = False


ATTRIBUTES = (
    Attribute("department", _l("Department"), ("department",), f"{ENTERPRISE}:department", filter=True),
    Attribute("job_title", _l("Job title"), ("jobTitle",), "title"),
    Attribute("office", _l("Office"), ("officeLocation",), f"{WORK_ADDRESS}.formatted", filter=True),
    Attribute("company", _l("Company"), ("companyName",), f"{ENTERPRISE}:organization"),
    Attribute("country", _l("Country"), ("country", "usageLocation"), f"{WORK_ADDRESS}.country", filter=True),
    Attribute("language", _l("Language"), ("preferredLanguage",), "preferredLanguage", filter=True),
    Attribute("employee_id", _l("Employee ID"), ("employeeId",), f"{ENTERPRISE}:employeeNumber"),
    Attribute("employee_type", _l("Employee type"), ("employeeType",), "userType"),
)
NAMES = tuple(attribute.name for attribute in ATTRIBUTES)
BY_NAME = {attribute.name: attribute for attribute in ATTRIBUTES}
FILTERS = tuple(attribute for attribute in ATTRIBUTES if attribute.filter)


@dataclass(frozen=True)
class Manager:
    """The manager relationship: Graph's navigation property, the CSV columns, the SCIM path."""

    label: object
    graph: str = "manager"
    csv_email: str = "manager_email"
    csv_name: str = "manager_name"
    scim: str = f"{ENTERPRISE}:manager"


MANAGER = Manager(_l("Manager"))

# The Graph user properties the attributes are read from, in $select order.
GRAPH_PROPERTIES = tuple(dict.fromkeys(prop for attribute in ATTRIBUTES for prop in attribute.graph))


def clean(value):
    """An attribute's stored form: one line, at most VALUE_LENGTH characters, "" for none."""
    return (single_line(value) or "")[:VALUE_LENGTH]


def values_from_graph(user):
    """{name: value} of the attributes whose Graph properties `user` carries (a delta entry that
    lists only what changed leaves the others out: they are unchanged, not cleared)."""
    values = {}
    for attribute in ATTRIBUTES:
        present = [prop for prop in attribute.graph if prop in user]
        if present:
            values[attribute.name] = next((clean(user[p]) for p in present if clean(user[p])), "")
    return values


def label(name):
    """The translated label of an attribute name, "Manager" for "manager"; the name itself otherwise."""
    if name == "manager":
        return MANAGER.label
    attribute = BY_NAME.get(name)
    return attribute.label if attribute else name
