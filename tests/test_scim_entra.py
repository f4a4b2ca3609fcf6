"""Microsoft Entra ID's documented request sequences against /scim/v2, in both of its flag modes,
with the contact book checked after each step (graph-protocol.md §9).

Without `aadOptscim062020` Entra capitalises ops, sends "False" for booleans and removes members
by a value list; with it, ops are lower case, booleans real and member removal a filtered path.
Both modes send no-path replaces with dotted keys, emails[type eq "work"] paths and filters, and
the manager as a bare id.
"""

import uuid

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contact, ContactGroup, ScimActivity, ScimOperation
from portal.scim import activity
from tests.scim_helpers import ENTERPRISE, GROUP_SCHEMA, Scim, entra_user, provisioned

OLD, NEW = "without aadOptscim062020", "with aadOptscim062020"


def contact(customer, email):
    return db.session.scalar(
        select(Contact).where(Contact.customer_id == customer.id, Contact.email == email)
    )


def listed(response):
    assert response.status_code == 200 and response.content_type == "application/scim+json"
    return response.json["Resources"] if response.json["totalResults"] else []


def members(group_id):
    return sorted(c.email for c in db.session.get(ContactGroup, group_id).contacts)


def test_a_manager_patched_alone_is_set_as_when_patched_with_other_attributes(app, world):
    """Entra's manager PATCH (the manager alone) takes a shorter way than a PATCH of several
    attributes; both leave the contact and its answer alike, for a manager in the book and for an id
    the book does not know."""
    acme = world.acme
    scim = Scim(app, provisioned(acme))
    ids = {}
    for name in ("bo", "ann", "ben"):
        email = f"{name}@acme.example"
        ids[name] = scim.post("/Users", entra_user(email, email, f"oid-{name}", name.title(), "Doe")).json[
            "id"
        ]
    title = {"op": "Replace", "path": "title", "value": "Clerk"}

    def manager(value):
        return {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": value}

    def state(user_id):
        row = db.session.get(Contact, int(user_id))
        answer = scim.get(f"/Users/{user_id}").json[ENTERPRISE]["manager"]
        return row.manager_id, row.manager_name, row.manager_email, row.manager_m365_id, answer

    for value, linked in ((ids["bo"], int(ids["bo"])), (" oid-outside ", None)):
        assert scim.patch(f"/Users/{ids['ann']}", [manager(value)]).status_code == 200
        assert scim.patch(f"/Users/{ids['ben']}", [manager(value), title]).status_code == 200
        ann, ben = state(ids["ann"]), state(ids["ben"])
        assert ann == ben and ann[0] == linked
        assert ann[4]["value"] == value.strip()


@pytest.mark.parametrize("mode", [OLD, NEW])
def test_entra_provisioning_cycle(app, world, mode):
    acme, old = world.acme, mode == OLD
    scim = Scim(app, provisioned(acme))
    flag = "aadOptscim062020&" if not old else ""
    op = (lambda name: name.capitalize()) if old else (lambda name: name)
    false = "False" if old else False

    # Test Connection: a random userName is not found, and that is an empty list, not a 404.
    empty = scim.get(f'/Users?{flag}filter=userName eq "{uuid.uuid4()}"')
    assert listed(empty) == [] and empty.json["totalResults"] == 0

    # The initial cycle: not found by the matching attribute, so created.
    assert listed(scim.get(f'/Users?{flag}filter=userName eq "ann@acme.example"')) == []
    body = entra_user("ann@acme.example", "ann@acme.example", "oid-ann", "Ann", "Lee")
    body[ENTERPRISE] = {"department": "Sales", "employeeNumber": "E-1"}
    body["title"] = "Account manager"
    created = scim.post("/Users", body)
    assert created.status_code == 201 and created.headers["Location"].endswith(
        f"/scim/v2/Users/{created.json['id']}"
    )
    ann = contact(acme, "ann@acme.example")
    assert (ann.origin, ann.user_name, ann.external_id, ann.first_name, ann.last_name) == (
        "scim",
        "ann@acme.example",
        "oid-ann",
        "Ann",
        "Lee",
    )
    assert (ann.department, ann.employee_id, ann.job_title, ann.is_active) == (
        "Sales",
        "E-1",
        "Account manager",
        True,
    )
    boss = scim.post("/Users", entra_user("bo@acme.example", "bo@acme.example", "oid-bo", "Bo", "Chef")).json

    # Matching by the email and by externalId find the same user.
    found = listed(scim.get(f'/Users?{flag}filter=emails[type eq "work"].value eq "Ann@acme.example"'))
    assert [user["id"] for user in found] == [str(ann.id)]
    assert [u["id"] for u in listed(scim.get('/Users?filter=externalId eq "oid-ann"'))] == [str(ann.id)]

    # The manager arrives in a later PATCH, as a bare id.
    manager = boss["id"] if old else {"value": boss["id"]}
    assert (
        scim.patch(
            f"/Users/{ann.id}", [{"op": op("add"), "path": f"{ENTERPRISE}:manager", "value": manager}]
        ).status_code
        == 200
    )
    ann = contact(acme, "ann@acme.example")
    assert ann.manager_id == int(boss["id"]) and ann.manager_name == "Bo Chef"
    assert scim.get(f"/Users/{ann.id}").json[ENTERPRISE]["manager"]["value"] == boss["id"]

    # A no-path replace keyed by attribute paths, the enterprise extension's included.
    values = {"name.givenName": "Anna", f"{ENTERPRISE}:department": "Finance", "title": "CFO"}
    answer = scim.patch(f"/Users/{ann.id}", [{"op": op("replace"), "value": values}])
    assert answer.status_code == 200, answer.json
    ann = contact(acme, "ann@acme.example")
    assert (ann.first_name, ann.last_name, ann.department, ann.job_title) == ("Anna", "Lee", "Finance", "CFO")
    assert ann.manager_id == int(boss["id"])  # what the PATCH did not name is unchanged

    # The email by its filtered path.
    path = 'emails[type eq "work"].value'
    assert (
        scim.patch(
            f"/Users/{ann.id}", [{"op": op("replace"), "path": path, "value": "anna@acme.example"}]
        ).status_code
        == 200
    )
    ann = db.session.get(Contact, ann.id)
    assert ann.email == "anna@acme.example" and contact(acme, "ann@acme.example") is None

    # Disabled: kept, inactive, still found by GET and by the matching filter.
    assert (
        scim.patch(f"/Users/{ann.id}", [{"op": op("replace"), "path": "active", "value": false}]).status_code
        == 200
    )
    ann = db.session.get(Contact, ann.id)
    assert ann.deactivated_at is not None and ann.archived_at is None
    assert scim.get(f"/Users/{ann.id}").json["active"] is False
    assert [u["active"] for u in listed(scim.get('/Users?filter=userName eq "ann@acme.example"'))] == [False]

    # Groups: looked up without members, created empty, members added several at once.
    lookup = f'/Groups?{flag}excludedAttributes=members&filter=displayName eq "Finance"'
    assert listed(scim.get(lookup)) == []
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Finance", "externalId": "g-1"})
    assert group.status_code == 201
    gid = int(group.json["id"])
    assert db.session.get(ContactGroup, gid).origin == "scim"
    both = [{"value": str(ann.id)}, {"value": boss["id"]}]
    assert (
        scim.patch(f"/Groups/{gid}", [{"op": op("add"), "path": "members", "value": both}]).status_code == 204
    )
    assert members(gid) == ["anna@acme.example", "bo@acme.example"]
    assert "members" not in listed(scim.get(lookup))[0]

    # Removing one member removes only that one (a value list, or a filtered path).
    if old:
        removal = {"op": "Remove", "path": "members", "value": [{"value": str(ann.id)}]}
    else:
        removal = {"op": "remove", "path": f'members[value eq "{ann.id}"]'}
    assert scim.patch(f"/Groups/{gid}", [removal]).status_code == 204
    assert members(gid) == ["bo@acme.example"]
    rename = {"op": op("replace"), "path": "displayName", "value": "Finance team"}
    assert scim.patch(f"/Groups/{gid}", [rename]).status_code == 204
    assert db.session.get(ContactGroup, gid).name == "Finance team"

    # The activity log names what each request did; the page's counts read the cycle.
    operations = db.session.scalars(select(ScimActivity.operation).order_by(ScimActivity.id)).all()
    assert operations.count(ScimOperation.CREATE) == 2 and ScimOperation.DISABLE in operations
    assert {ScimOperation.MEMBERS_ADD, ScimOperation.MEMBERS_REMOVE, ScimOperation.GROUP_CREATE} <= set(
        operations
    )
    assert activity.last_cycle_counts(acme) == {"created": 2, "updated": 3, "disabled": 1, "deleted": 0}
    assert activity.recent(acme, limit=1)[0].operation == ScimOperation.GROUP_UPDATE


def test_groups_entra_did_not_provision_stay_out_of_reach(app, world):
    acme = world.acme
    manual = ContactGroup(customer_id=acme.id, name="Sales", origin="manual")
    smart = ContactGroup(customer_id=acme.id, name="Munich", origin="scim", rule={"all": []})
    db.session.add_all([manual, smart])
    db.session.commit()
    scim = Scim(app, provisioned(acme))

    assert listed(scim.get("/Groups")) == []
    assert scim.get(f"/Groups/{smart.id}").status_code == 404
    assert scim.delete(f"/Groups/{manual.id}").status_code == 404
    clash = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "sales"})
    assert clash.status_code == 409 and "did not provision" in clash.json["detail"]
    assert db.session.get(ContactGroup, manual.id).name == "Sales"


def test_the_activity_log_keeps_the_newest_rows(app, world):
    for n in range(5):
        activity.record(world.acme.id, None, "GET", ScimOperation.QUERY, 200, detail=str(n))
    activity.record(world.globex.id, None, "GET", ScimOperation.QUERY, 200)
    activity.prune(world.acme.id, keep=2)
    assert [row.detail for row in activity.recent(world.acme)] == ["4", "3"]
    assert len(activity.recent(world.globex)) == 1


def test_the_service_provider_config_announces_what_entra_uses(app, world):
    config = Scim(app, provisioned(world.acme)).get("/ServiceProviderConfig").json
    supported = {
        key: config[key]["supported"] for key in ("patch", "filter", "bulk", "sort", "etag", "changePassword")
    }
    assert supported == {
        "patch": True,
        "filter": True,
        "bulk": False,
        "sort": False,
        "etag": False,
        "changePassword": False,
    }
    assert config["filter"]["maxResults"] == 200
    assert [scheme["type"] for scheme in config["authenticationSchemes"]] == ["oauthbearertoken"]


def test_each_attribute_sits_where_scim2_models_path_finds_it():
    """users.PLACES (read once from the attribute set's SCIM paths) against scim2-models' own Path,
    on a User as Entra sends it: a home address before the work one, the enterprise extension."""
    from scim2_models import Path

    from portal import attributes
    from portal.scim.discovery import USER
    from portal.scim.users import attribute_values

    payload = entra_user("ana@acme.example", "ana@acme.example", "o-ana")
    payload["title"], payload["preferredLanguage"], payload["userType"] = "Buyer", "de-DE", "Contractor"
    payload["addresses"] = [
        {"type": "home", "formatted": "Home street", "country": "FR"},
        {"type": "work", "formatted": "Munich", "country": "DE"},
    ]
    payload[ENTERPRISE] = {"department": "Finance", "organization": "Acme", "employeeNumber": "42"}
    user = USER.model_validate(payload)
    held = attribute_values(user)
    for attribute in attributes.ATTRIBUTES:
        by_path = Path[USER](attribute.scim).get(user)
        if isinstance(by_path, list):
            by_path = next((value for value in by_path if value), None)
        assert held[attribute.name] == by_path, attribute.name
    assert held["office"] == "Munich" and held["department"] == "Finance"


def _contact_shapes():
    """Contacts of every shape a User answer has: names or none, attributes or none, a manager in the
    book (with and without a name) or only Microsoft's id, inactive, no externalId."""
    from datetime import UTC, datetime

    from portal.models import Contact

    def contact(contact_id, **fields):
        fields = {"first_name": "", "last_name": "", **fields}  # the columns' defaults
        made = Contact(id=contact_id, customer_id=1, email=f"c{contact_id}@acme.example", **fields)
        made.created_at = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
        made.updated_at = datetime(2026, 12, 6, 9, 30, 15, 250_000, tzinfo=UTC)
        return made

    full = {name: f"{name} value ✓" for name in ("department", "job_title", "office", "company")}
    full |= {"country": "DE", "language": "de-DE", "employee_id": "42", "employee_type": "Contractor"}
    return [
        contact(1, user_name="", first_name="", last_name=""),
        contact(2, user_name="ann@acme.example", first_name="Ann", last_name="", external_id="oid-2"),
        contact(3, user_name="bo@acme.example", first_name="Bö", last_name="Lee", **full),
        contact(4, first_name="", last_name="Only", manager_id=3, manager_name="Bö Lee"),
        contact(5, first_name="Cy", manager_id=3, manager_name=""),
        contact(6, first_name="Di", manager_m365_id="oid-boss", office="Munich"),
        contact(7, first_name="Ed", department="Finance", deactivated_at=datetime(2026, 12, 5, tzinfo=UTC)),
    ]


def test_a_user_answer_made_directly_is_what_scim2_models_would_say(app):
    """users.user_json (the answers to Entra's writes and lists) against scim2-models' own dump of
    the validated User (to_user), for every shape of contact."""
    from portal.scim import users
    from portal.scim.discovery import USER
    from portal.scim.routes import LISTS, _dump, list_json

    base = "https://portal.example/scim/v2"
    shapes = _contact_shapes()
    for contact in shapes:
        assert users.user_json(contact, base) == _dump(users.to_user(contact, base)), contact.id
    for page in (shapes, shapes[:1], []):
        modelled = [users.to_user(contact, base) for contact in page]
        listed = LISTS[USER](total_results=9, start_index=2, items_per_page=len(page), resources=modelled)
        assert list_json(9, 2, [users.user_json(contact, base) for contact in page]) == _dump(listed)
