"""A SCIM User is a contact of the token's customer: the mapping both ways.

    to_user(contact, base)   the contact as a SCIM User (id = str(contact.id))
    values(user)             {field: value} a SCIM User says about a contact (FIELDS)

userName ↔ user_name, emails (the primary or "work" one) ↔ email, name.givenName/familyName ↔
first/last name, displayName ← the full name (read-only; it fills the name when Entra sends no
given and family name), externalId, active ↔ deactivated_at, the attribute set by its SCIM paths
(portal.attributes.ATTRIBUTES[].scim) and the enterprise manager by its SCIM id.
"""

from scim2_models import Address, Email, EnterpriseUser, Manager, Meta, Name

from portal import attributes
from portal.scim.discovery import USER
from portal.text import single_line

FIELDS = (
    "user_name",
    "external_id",
    "first_name",
    "last_name",
    "email",
    "active",
    *attributes.NAMES,
    "manager",
)
NAME_LENGTH = 100


def _place(scim_path):
    """Where an attribute of the attribute set sits in a User: ("user" | "enterprise" | "work
    address", model field). Its SCIM path has one of these three shapes (a test holds the places to
    scim2-models' Path); resolving a Path per attribute and request cost more than the rest of an
    answer."""
    enterprise, work_address = f"{attributes.ENTERPRISE}:", f"{attributes.WORK_ADDRESS}."
    if scim_path.startswith(enterprise):
        return "enterprise", _field(EnterpriseUser, scim_path.removeprefix(enterprise))
    if scim_path.startswith(work_address):
        return "work address", _field(Address, scim_path.removeprefix(work_address))
    return "user", _field(USER, scim_path)


def _field(model, scim_name):
    return next(name for name, info in model.model_fields.items() if info.serialization_alias == scim_name)


PLACES = {attribute.name: _place(attribute.scim) for attribute in attributes.ATTRIBUTES}
_MODELS = {"user": USER, "enterprise": EnterpriseUser, "work address": Address}
# The same places by the attribute's name in a User's JSON (user_json).
JSON_NAMES = {
    name: (holder, _MODELS[holder].model_fields[field].serialization_alias)
    for name, (holder, field) in PLACES.items()
}


def attribute_values(user):
    """{name: value} of the attribute set as the User holds it (None where it has none); a work
    address's attribute from the first work address that has it."""
    enterprise = user[EnterpriseUser]
    work = [a for a in user.addresses or () if str(a.type or "").lower() == "work"]
    found = {}
    for name, (holder, field) in PLACES.items():
        if holder == "user":
            found[name] = getattr(user, field)
        elif holder == "enterprise":
            found[name] = getattr(enterprise, field) if enterprise else None
        else:
            found[name] = next((value for value in (getattr(a, field) for a in work) if value), None)
    return found


def location(base, contact_id):
    return f"{base}/Users/{contact_id}"


def _placed(contact, places):
    """The contact's values of the attribute set by where they sit in a User: {holder: {name: value}}
    with the names of `places` (PLACES: the models' fields, JSON_NAMES: the JSON's)."""
    placed = {"user": {}, "enterprise": {}, "work address": {}}
    for name, (holder, key) in places.items():
        value = getattr(contact, name)
        if value:
            placed[holder][key] = value
    return placed


def to_user(contact, base, patching=False):
    """The contact as a SCIM User[EnterpriseUser]; `patching`: without the derived displayName, so
    what a PATCH does to the name and displayName is seen as it is. Each part is made once with its
    values (a pydantic model validates every assignment)."""
    placed = _placed(contact, PLACES)
    manager = _manager_value(contact)
    if manager:
        placed["enterprise"]["manager"] = Manager(
            value=manager,
            ref=location(base, manager) if contact.manager_id else None,
            display_name=(contact.manager_name or None) if contact.manager_id else None,
        )
    work_address = placed["work address"]
    user = USER(
        id=str(contact.id),
        external_id=contact.external_id or None,
        user_name=contact.user_name or contact.email,
        name=Name(given_name=contact.first_name or None, family_name=contact.last_name or None)
        if contact.first_name or contact.last_name
        else None,
        display_name=None if patching else contact.full_name or None,
        active=contact.deactivated_at is None,
        emails=[Email(value=contact.email, type=Email.Type.work)],
        addresses=[Address(type=Address.Type.work, **work_address)] if work_address else None,
        meta=Meta(
            resource_type="User",
            created=contact.created_at,
            last_modified=contact.updated_at,
            location=location(base, contact.id),
        ),
        **placed["user"],
    )
    if placed["enterprise"]:
        user[EnterpriseUser] = EnterpriseUser(**placed["enterprise"])
    return user


def user_json(contact, base):
    """The contact's User as its answer says it: what scim2-models' dump of to_user(contact, base)
    gives, made directly (a validated User and its dump cost more than the rest of a write's answer;
    a test holds the two equal over the shapes a contact can have)."""
    placed = _placed(contact, JSON_NAMES)
    manager = _manager_value(contact)
    if manager:
        placed["enterprise"]["manager"] = {"value": manager}
        if contact.manager_id:
            placed["enterprise"]["manager"]["$ref"] = location(base, manager)
            if contact.manager_name:
                placed["enterprise"]["manager"]["displayName"] = contact.manager_name
    user = {
        "schemas": [USER_SCHEMA, attributes.ENTERPRISE] if placed["enterprise"] else [USER_SCHEMA],
        "id": str(contact.id),
        "meta": {
            "resourceType": "User",
            "created": _json_time(contact.created_at),
            "lastModified": _json_time(contact.updated_at),
            "location": location(base, contact.id),
        },
        "userName": contact.user_name or contact.email,
        **placed["user"],
        "active": contact.deactivated_at is None,
        "emails": [{"value": contact.email, "type": "work"}],
    }
    if contact.external_id:
        user["externalId"] = contact.external_id
    name = {"familyName": contact.last_name, "givenName": contact.first_name}
    if any(name.values()):
        user["name"] = {key: value for key, value in name.items() if value}
    if contact.full_name:
        user["displayName"] = contact.full_name
    if placed["work address"]:
        user["addresses"] = [{**placed["work address"], "type": "work"}]
    if placed["enterprise"]:
        user[attributes.ENTERPRISE] = placed["enterprise"]
    return user


USER_SCHEMA = str(USER.__schema__)


def _json_time(moment):
    return moment.isoformat().replace("+00:00", "Z")


def _manager_value(contact):
    """The manager's SCIM id when the manager is in the book; the id Entra sent otherwise."""
    if contact.manager_id:
        return str(contact.manager_id)
    return contact.manager_m365_id or None


def values(user):
    """{field: value} for every field of FIELDS (absent ones as "" or None): what the user says."""
    first = _text((user.name.given_name if user.name else None) or "")
    last = _text((user.name.family_name if user.name else None) or "")
    if not first and not last:
        last = _text(user.display_name or "")
    found = {
        "user_name": (user.user_name or "").strip()[:254] or None,
        "external_id": (user.external_id or "").strip()[:255] or None,
        "first_name": first,
        "last_name": last,
        "email": _email(user),
        "active": user.active is not False,
    }
    for name, value in attribute_values(user).items():
        found[name] = attributes.clean(value if isinstance(value, str) else "")
    enterprise = user[EnterpriseUser]
    manager = enterprise.manager if enterprise else None
    found["manager"] = manager_reference(manager.value) if manager else None
    return found


def manager_reference(value):
    """The manager's SCIM id as the book keeps it (None: none)."""
    return (value or "").strip()[:64] or None


def _text(value):
    return (single_line(value) or "")[:NAME_LENGTH]


def _email(user):
    """The primary email, else the work one, else the first; "" when none."""
    emails = [email for email in user.emails or () if email.value]
    chosen = (
        next((e for e in emails if e.primary), None)
        or next((e for e in emails if str(e.type or "").lower() == "work"), None)
        or (emails[-1] if emails else None)
    )
    return (chosen.value or "").strip() if chosen else ""
