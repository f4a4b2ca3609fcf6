"""One directory source at a time: while a customer's source is Entra provisioning, the Graph sync,
"Sync now", Manual-mode imports and Automatic-mode subscriptions leave its book alone, and the pages
say so; switching back lets the sync resume. Against the M365 emulator, through the runner."""

from sqlalchemy import select

from portal.extensions import db
from portal.models import Customer, Job, JobKind
from portal.scim import source
from portal.sync import attention, tasks
from tests.sync_helpers import automatic, book, import_users, imported, sync

ADELE = "adele.vance@contosodemo.onmicrosoft.com"


def test_sync_and_imports_leave_the_book_alone_while_entra_provisions_and_resume_after_switching_back(
    app, emulator, connected_acme, alice_client
):
    everyone = imported(app, emulator, connected_acme, names=["adele.vance"])
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"givenName": "Adela"})
    source.switch(connected_acme, "scim", "alice@acme.example")

    run = sync(app, connected_acme)
    assert run.status == "skipped" and "Entra provisioning" in run.message
    assert connected_acme not in tasks.sync_candidates()  # the daily trigger leaves it out
    job = import_users(app, connected_acme, [everyone["juergen.mueller"]["id"]])
    assert job.status == "failed" and "Entra provisioning" in job.error
    assert set(book(connected_acme)) == {ADELE} and book(connected_acme)[ADELE].first_name == "Adele"

    history = alice_client.get("/sync/history").text
    assert "Open Entra provisioning" in history and "disabled>" in history
    alice_client.post("/sync/now")
    assert db.session.scalar(select(Job).where(Job.kind == JobKind.SYNC, Job.status == "queued")) is None
    assert "Open Entra provisioning" in alice_client.get("/m365/").text

    source.switch(connected_acme, "graph", "alice@acme.example")
    assert sync(app, connected_acme).status == "succeeded"
    assert book(connected_acme)[ADELE].first_name == "Adela"


def test_manual_and_automatic_mode_point_to_entra_provisioning_and_subscribe_nothing(
    app, emulator, connected_acme, alice_client
):
    groups = automatic(connected_acme, alice_client, app)
    source.switch(connected_acme, "scim", "alice@acme.example")
    group = next(iter(groups.values()))
    assert alice_client.post(f"/m365/automatic/groups/{group.m365_id}").status_code == 404
    assert "Open Entra provisioning" in alice_client.get("/m365/automatic/").text
    assert "/m365/automatic/" not in alice_client.get("/m365/").text  # no mode panel
    manual = alice_client.get("/m365/manual/panel").text
    assert "The directory source is Entra provisioning" in manual and "/provisioning/" in manual
    assert book(connected_acme) == {}


def test_the_customer_overview_does_not_flag_an_entra_provisioned_customer_as_sync_inactive(connected, world):
    def sync_inactive():
        statement, _order = attention.facts_statement(select(Customer.id))
        return {row.id: row.sync_inactive for row in db.session.execute(statement)}[world.acme.id]

    assert sync_inactive() == 1  # connected, "Synchronization active" off
    source.switch(world.acme, "scim", "alice@acme.example")
    assert sync_inactive() == 0
