"""Issue 22: who people are — the attributes and the manager come from Microsoft 365 through the
Manual import and the daily delta sync, against the emulator over HTTP, through the runner."""

from sqlalchemy import select

from portal import attributes
from portal.extensions import db
from portal.models import Contact, M365Connection
from portal.models.sync import SyncChange
from portal.sync.fetch import RESYNC_PROPERTIES
from tests.sync_helpers import SALES, book, imported, sync, users

ADELE = "adele.vance@contosodemo.onmicrosoft.com"
JUERGEN = "juergen.mueller@contosodemo.onmicrosoft.com"
SIOBHAN = "siobhan.obrien@contosodemo.onmicrosoft.com"

# A value for every attribute, by the Graph property it comes from.
GRAPH_VALUES = {
    "department": "Finance",
    "jobTitle": "Controller",
    "officeLocation": "Munich",
    "companyName": "Contoso Demo GmbH",
    "country": "Germany",
    "preferredLanguage": "de-DE",
    "employeeId": "E-4711",
    "employeeType": "Contractor",
}
# The attribute each Graph property fills (portal.attributes).
COLUMNS = {attribute.graph[0]: attribute.name for attribute in attributes.ATTRIBUTES}


def column(graph_property):
    return COLUMNS[graph_property]


def changes_of(run):
    rows = db.session.scalars(select(SyncChange).where(SyncChange.run_id == run.id).order_by(SyncChange.id))
    return {(c.contact_email, c.field, c.old_value, c.new_value) for c in rows}


def patch(emulator, user, **properties):
    emulator.control("PATCH", f"users/{user['id']}", properties)


def test_the_graph_properties_are_the_attribute_definitions():
    """One definition: every attribute's Graph property is read, each contact column exists."""
    assert {column(p) for p in GRAPH_VALUES} == set(attributes.NAMES)
    assert all(hasattr(Contact, name) for name in attributes.NAMES)


def test_an_import_brings_every_attribute_and_the_manager(app, emulator, connected_acme):
    everyone = users(emulator)
    patch(emulator, everyone["adele.vance"], **GRAPH_VALUES)
    patch(emulator, everyone["adele.vance"], manager=everyone["juergen.mueller"]["id"])
    patch(emulator, everyone["juergen.mueller"], manager=everyone["admin"]["id"])
    imported(app, emulator, connected_acme, ["adele.vance", "juergen.mueller"])
    contacts = book(connected_acme)
    adele, juergen = contacts[ADELE], contacts[JUERGEN]
    assert {p: getattr(adele, column(p)) for p in GRAPH_VALUES} == GRAPH_VALUES
    assert adele.manager_id == juergen.id  # the manager is in the book: a link
    # Demo Administrator was not imported: the name and email from Microsoft stand in for the link.
    assert juergen.manager_id is None and juergen.manager_name == "Demo Administrator"
    assert juergen.manager_email == "admin@contosodemo.onmicrosoft.com"


def test_the_daily_sync_updates_attributes_and_says_what_changed(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    patch(emulator, everyone["adele.vance"], department="Finance", officeLocation="Berlin", country="DE")
    run = sync(app, connected_acme)
    adele = book(connected_acme)[ADELE]
    assert (adele.department, adele.office, adele.country) == ("Finance", "Berlin", "DE")
    changed = {(field, new) for email, field, _old, new in changes_of(run) if email == ADELE}
    assert {("department", "Finance"), ("office", "Berlin"), ("country", "DE")} <= changed
    assert run.graph_requests == 1  # one delta page: the attributes cost no extra request


def test_a_value_cleared_in_microsoft_is_cleared_here(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    patch(emulator, everyone["adele.vance"], jobTitle="Account Executive")
    sync(app, connected_acme)
    assert book(connected_acme)[ADELE].job_title == "Account Executive"
    patch(emulator, everyone["adele.vance"], jobTitle=None)
    run = sync(app, connected_acme)
    assert book(connected_acme)[ADELE].job_title == ""
    assert (ADELE, "job_title", "Account Executive", "") in changes_of(run)


def test_country_falls_back_to_the_usage_location(app, emulator, connected_acme):
    everyone = users(emulator)
    patch(emulator, everyone["adele.vance"], country=None, usageLocation="FR")
    imported(app, emulator, connected_acme, ["adele.vance"])
    assert book(connected_acme)[ADELE].country == "FR"


def test_a_manager_change_in_microsoft_follows_with_names_in_the_history(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    contacts = book(connected_acme)
    assert contacts[ADELE].manager_id == contacts[JUERGEN].id  # the demo tenant's tree
    patch(emulator, everyone["adele.vance"], manager=everyone["siobhan.obrien"]["id"])
    run = sync(app, connected_acme)
    contacts = book(connected_acme)
    assert contacts[ADELE].manager_id == contacts[SIOBHAN].id
    siobhan = f"Siobhán O'Brien <{SIOBHAN}>"
    assert (ADELE, "manager", f"Jürgen Müller <{JUERGEN}>", siobhan) in changes_of(run)
    # Outside the book: the delta names only an id; the sync reads the manager's name once.
    patch(emulator, everyone["adele.vance"], manager=everyone["admin"]["id"])
    run = sync(app, connected_acme)
    adele = book(connected_acme)[ADELE]
    assert adele.manager_id is None and adele.manager_name == "Demo Administrator"
    assert run.graph_requests == 2  # the delta page and the manager outside the book
    patch(emulator, everyone["adele.vance"], manager=None)
    run = sync(app, connected_acme)
    adele = book(connected_acme)[ADELE]
    assert (adele.manager_id, adele.manager_m365_id, adele.manager_name) == (None, None, "")
    assert any(field == "manager" and new == "" for _e, field, _o, new in changes_of(run))


def test_managers_who_manage_each_other_are_both_linked(app, emulator, connected_acme):
    everyone = users(emulator)
    patch(emulator, everyone["adele.vance"], manager=everyone["juergen.mueller"]["id"])
    patch(emulator, everyone["juergen.mueller"], manager=everyone["adele.vance"]["id"])
    imported(app, emulator, connected_acme, ["adele.vance", "juergen.mueller"])
    contacts = book(connected_acme)
    assert contacts[ADELE].manager_id == contacts[JUERGEN].id
    assert contacts[JUERGEN].manager_id == contacts[ADELE].id
    assert sync(app, connected_acme).status == "succeeded"


def test_a_removed_manager_is_unlinked_and_a_restored_one_linked_again(app, emulator, connected_acme):
    everyone = users(emulator)
    patch(emulator, everyone["adele.vance"], manager=everyone["siobhan.obrien"]["id"])
    imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("DELETE", f"users/{everyone['siobhan.obrien']['id']}")
    sync(app, connected_acme)
    assert book(connected_acme)[ADELE].manager_id is None


def test_a_delta_link_made_before_the_attributes_is_replaced_by_one_fresh_round(
    app, emulator, connected_acme
):
    """An installation upgraded to this release holds a delta link that tracks no attribute: its next
    sync reads everything once (saying why), then the delta again."""
    everyone = imported(app, emulator, connected_acme, SALES)
    patch(emulator, everyone["adele.vance"], department="Finance")
    connection = db.session.scalar(
        select(M365Connection).where(M365Connection.customer_id == connected_acme.id)
    )
    connection.users_delta_select = ""  # as the migration leaves an existing connection
    db.session.commit()
    first = sync(app, connected_acme)
    assert first.full_resync and first.resync_reason == RESYNC_PROPERTIES
    assert book(connected_acme)[ADELE].department == "Finance"
    second = sync(app, connected_acme)
    assert not second.full_resync and second.graph_requests == 1
