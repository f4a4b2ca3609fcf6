"""Entra provisioning's lifecycle through the contact book's rules: disable and enable, DELETE as the
daily sync removes (removal report, Restore), mass deletions held by the deletion threshold, a user
provisioned again brought back, and contacts pulled from Microsoft Graph adopted without duplicates."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import mail, smart_groups
from portal.extensions import db
from portal.models import Contact, ContactGroup, SyncSettings, utcnow
from portal.models.sync import HeldRemoval, SyncChange, SyncRun
from portal.runner import Runner
from portal.scim import reports as scim_reports
from portal.sync.service import HISTORY_DAYS, purge_expired
from tests.factories import add_contact
from tests.scim_helpers import ENTERPRISE, Scim, entra_user, provisioned
from tests.sync_helpers import outbox


def _post(scim, name, oid=None):
    email = f"{name}@acme.example"
    response = scim.post("/Users", entra_user(email, email, oid or f"oid-{name}", name.title(), "Doe"))
    assert response.status_code == 201, response.json
    return int(response.json["id"])


def test_disable_enable_delete_restore_and_provision_again(mail_app, world, smtp_server, alice_client):
    acme = world.acme
    acme.notification_recipients = "it@acme.example"
    scim = Scim(mail_app, provisioned(acme))
    ids = [_post(scim, name) for name in ("ann", "ben", "cid", "dan", "eve")]
    ann = ids[0]

    assert (
        scim.patch(f"/Users/{ann}", [{"op": "Replace", "path": "active", "value": "False"}]).status_code
        == 200
    )
    assert not db.session.get(Contact, ann).is_active
    assert (
        scim.patch(f"/Users/{ann}", [{"op": "Replace", "value": {"active": "True"}}]).json["active"] is True
    )
    assert db.session.get(Contact, ann).is_active

    # DELETE: archived through the sync's removal path, reported, restorable; SCIM no longer knows it.
    assert scim.delete(f"/Users/{ann}").status_code == 204
    archived = db.session.get(Contact, ann)
    assert archived.archived_at is not None and archived.archive_reason
    assert scim.get(f"/Users/{ann}").status_code == 404
    run = db.session.scalar(
        select(SyncRun).where(SyncRun.customer_id == acme.id, SyncRun.kind == "provisioning")
    )
    assert run.counts == {"removals": 1} and "goes out with the other removals" in run.message
    assert scim_reports.send_pending_removal_reports(utcnow() + scim_reports.QUIET) == 1  # the cycle's report
    assert mail.deliver_outbox()["sent"] == 1
    [(recipients, message)] = smtp_server.inbox.messages
    assert (
        recipients == ["it@acme.example"] and "ann@acme.example" in message.get_body(("plain",)).get_content()
    )
    db.session.refresh(run)
    assert "removal report was queued for 1 recipient. It lists 1 removal of the cycle." in run.message
    removed_page = alice_client.get("/contacts/removed").get_data(as_text=True)
    assert "By Entra provisioning" in removed_page and "By the M365 sync" not in removed_page
    assert alice_client.post(f"/contacts/removed/{ann}/restore").status_code in (200, 302)
    assert db.session.get(Contact, ann).archived_at is None

    # Deleted again, then provisioned again with the same userName: brought back, not a 409.
    assert scim.delete(f"/Users/{ann}").status_code == 204
    again = scim.post("/Users", entra_user("ann@acme.example", "ann@acme.example", "oid-ann-2", "Ann", "New"))
    assert again.status_code == 201 and again.json["id"] == str(ann)
    back = db.session.get(Contact, ann)
    assert (back.archived_at, back.last_name, back.external_id) == (None, "New", "oid-ann-2")
    duplicate = scim.post("/Users", entra_user("ann@acme.example", "x@acme.example", "oid-x"))
    assert duplicate.status_code == 409 and duplicate.json["scimType"] == "uniqueness"


def test_mass_deletions_above_the_threshold_are_held_and_still_answer_204(app, world, alice_client):
    acme = world.acme
    db.session.add(SyncSettings(customer_id=acme.id, delete_threshold_percent=10, delete_threshold_min=3))
    acme.notification_recipients = "it@acme.example"
    scim = Scim(app, provisioned(acme))
    ids = [_post(scim, f"user{n}") for n in range(10)]
    assert scim.set_manager(ids[9], ids[3]).status_code == 200

    answers = [scim.delete(f"/Users/{user_id}").status_code for user_id in ids[:5]]
    assert answers == [204] * 5
    archived = [db.session.get(Contact, i).archived_at is not None for i in ids[:5]]
    held = set(db.session.scalars(select(HeldRemoval.contact_id)))
    # 1 and 2 deletions of 10 stay under the minimum of 3; from the 3rd on, 3 of 10 > 10 %: held.
    assert archived == [True, True, False, False, False] and held == set(ids[2:5])
    assert db.session.get(Contact, ids[9]).manager_id == ids[3]  # a held manager's report keeps its link
    runs = db.session.scalars(select(SyncRun.status).order_by(SyncRun.id)).all()
    assert runs == ["succeeded"] * 2 + ["held"] * 3
    mails = outbox(acme)  # one notice for the batch held at once; one removal report for the cycle's
    assert [message.kind for message in mails] == ["deletions_held"]
    assert "would remove 1 of 10 synchronized contacts" in mails[0].body_text
    assert scim_reports.send_pending_removal_reports(utcnow() + scim_reports.QUIET) == 1
    report = outbox(acme)[1]
    assert report.kind == "removal_report"
    assert "user0@acme.example" in report.body_text and "user1@acme.example" in report.body_text
    assert "user2@acme.example" not in report.body_text  # held, not removed
    assert scim.get(f"/Users/{ids[2]}").status_code == 200  # a held user is still there
    assert scim.delete(f"/Users/{ids[2]}").status_code == 204  # asked again: still held, once
    assert len(db.session.scalars(select(HeldRemoval)).all()) == 3

    assert alice_client.post("/sync/held/allow").status_code == 302
    assert all(db.session.get(Contact, i).archived_at is not None for i in ids[2:5])
    assert not db.session.scalars(select(HeldRemoval)).all()


@pytest.mark.parametrize(("percent", "users", "archived"), [(10, 20, 2), (30, 14, 4), (0, 5, 1)])
def test_past_the_minimum_the_share_of_the_book_decides(app, world, percent, users, archived):
    """With a minimum of 2, deletions are archived while they are not more than `percent` of the
    book (exactly that share is archived: 2 of 20 at 10 %, 4 of 14 at 30 %; at 0 % only what stays
    under the minimum), and the next one is held."""
    acme = world.acme
    db.session.add(
        SyncSettings(customer_id=acme.id, delete_threshold_percent=percent, delete_threshold_min=2)
    )
    scim = Scim(app, provisioned(acme))
    ids = [_post(scim, f"user{n}") for n in range(users)]

    assert [scim.delete(f"/Users/{user_id}").status_code for user_id in ids[: archived + 1]] == [204] * (
        archived + 1
    )
    gone = [db.session.get(Contact, i).archived_at is not None for i in ids[: archived + 1]]
    assert gone == [True] * archived + [False]
    assert set(db.session.scalars(select(HeldRemoval.contact_id))) == {ids[archived]}


def test_a_cycles_removals_are_reported_together_once_entra_paused(app, world):
    """Entra deletes one user a request: the removal report lists the cycle's removals in one email,
    once Entra has removed no one for QUIET (its cycles are about 40 minutes apart), or LATEST after
    the first when removals never pause; each is reported once."""
    acme = world.acme
    acme.notification_recipients = "it@acme.example"
    scim = Scim(app, provisioned(acme))
    ids = [_post(scim, f"user{n}") for n in range(4)]
    for user_id in ids[:2]:
        assert scim.delete(f"/Users/{user_id}").status_code == 204
    now = utcnow()

    assert scim_reports.send_pending_removal_reports(now + scim_reports.QUIET / 2) == 0  # the cycle goes on
    assert outbox(acme) == []
    assert scim_reports.send_pending_removal_reports(now + scim_reports.QUIET) == 1
    [report] = outbox(acme)
    assert report.subject == "2 contacts were removed by Entra provisioning (Acme GmbH)"
    assert "Entra provisioning removed these employee contacts of Acme GmbH" in report.body_text
    assert "a user Entra provisions again brings the contact back" in report.body_text
    assert "user0@acme.example" in report.body_text and "user1@acme.example" in report.body_text
    assert scim_reports.send_pending_removal_reports(now + scim_reports.QUIET) == 0  # reported once

    # Removals that never pause for QUIET are reported LATEST after the first of them.
    assert scim.delete(f"/Users/{ids[2]}").status_code == 204
    first = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    first.started_at = now - scim_reports.LATEST
    db.session.commit()
    assert scim.delete(f"/Users/{ids[3]}").status_code == 204
    assert scim_reports.send_pending_removal_reports(utcnow()) == 1
    report = outbox(acme)[-1]
    assert "user2@acme.example" in report.body_text and "user3@acme.example" in report.body_text
    assert "user0@acme.example" not in report.body_text


def test_the_runner_sends_the_report_of_a_cycle_that_ended(app, world):
    acme = world.acme
    acme.notification_recipients = "it@acme.example"
    scim = Scim(app, provisioned(acme))
    assert scim.delete(f"/Users/{_post(scim, 'ann')}").status_code == 204
    run = db.session.scalars(select(SyncRun)).one()
    run.started_at = utcnow() - scim_reports.QUIET  # the cycle ended QUIET ago
    db.session.commit()
    Runner(app).run_all_periodic()
    assert [message.kind for message in outbox(acme)] == ["removal_report"]


def test_a_removal_still_to_be_reported_outlives_the_history(app, world):
    """A runner that was stopped longer than the history is kept reports the removal before its run
    is purged (upkeep purges at the runner's start)."""
    acme = world.acme
    acme.notification_recipients = "it@acme.example"
    scim = Scim(app, provisioned(acme))
    assert scim.delete(f"/Users/{_post(scim, 'ann')}").status_code == 204
    run = db.session.scalars(select(SyncRun)).one()
    run.started_at = utcnow() - timedelta(days=HISTORY_DAYS + 1)
    db.session.commit()
    assert purge_expired()["runs"] == 0
    assert scim_reports.send_pending_removal_reports() == 1
    assert "ann@acme.example" in outbox(acme)[0].body_text
    assert purge_expired()["runs"] == 1  # reported: now the run goes as any other


def test_a_contact_pulled_from_graph_is_adopted_not_duplicated(app, world):
    acme = world.acme
    pulled = add_contact(acme, "gus@acme.example", "Gus", "Old", origin="m365", m365_user_id="object-id-gus")
    by_email = add_contact(
        acme, "hal@acme.example", "Hal", "Old", origin="m365", m365_user_id="object-id-hal"
    )
    scim = Scim(app, provisioned(acme))

    adopted = scim.post(
        "/Users", entra_user("gus@acme.example", "gus@acme.example", "object-id-gus", "Gus", "New")
    )
    assert adopted.status_code == 201 and adopted.json["id"] == str(pulled.id)
    assert db.session.get(Contact, pulled.id).last_name == "New"

    # Matched by email only while "Link active" is on; otherwise the address is taken.
    taken = scim.post("/Users", entra_user("hal@acme.example", "hal@acme.example", "mail-nickname-hal"))
    assert taken.status_code == 409 and "email" in taken.json["detail"]
    assert '"Link active"' in taken.json["detail"]
    assert db.session.get(Contact, by_email.id).first_name == "Hal"
    db.session.add(SyncSettings(customer_id=acme.id, link_active=True))
    db.session.commit()
    linked = scim.post("/Users", entra_user("hal@acme.example", "hal@acme.example", "mail-nickname-hal"))
    assert linked.status_code == 201 and linked.json["id"] == str(by_email.id)
    count = db.session.scalar(
        select(db.func.count()).select_from(Contact).where(Contact.customer_id == acme.id)
    )
    assert count == 2
    assert not db.session.scalars(select(SyncChange)).all()  # adopting is no removal or restore

    # A contact whose manager was not in the book finds them once Entra provisions them (book.settle).
    ivy = add_contact(acme, "ivy@acme.example", "Ivy", "Report", manager_email="Max@acme.example")
    max_id = _post(scim, "max")
    assert db.session.get(Contact, ivy.id).manager_id == max_id


def test_smart_groups_follow_what_entra_writes(app, world):
    acme = world.acme
    rule = smart_groups.validate(
        {"conditions": [{"attribute": "department", "operator": "is", "value": "Finance"}]}
    )
    finance = ContactGroup(customer_id=acme.id, name="Finance", rule=rule)
    db.session.add(finance)
    db.session.commit()
    scim = Scim(app, provisioned(acme))
    ann = _post(scim, "ann")
    assert db.session.get(ContactGroup, finance.id).contacts == []
    department = {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Finance"}
    assert scim.patch(f"/Users/{ann}", [department]).status_code == 200
    assert [c.id for c in db.session.get(ContactGroup, finance.id).contacts] == [ann]


def test_a_deleted_manager_leaves_its_reports_and_its_smart_groups(app, world):
    """Entra deletes a manager: the contacts reporting to it keep the manager's name but no link to a
    contact outside the book, and the smart groups drop it and its former team (joins and leaves
    recorded on the deletion's run)."""
    acme = world.acme
    finance = smart_groups.validate(
        {"conditions": [{"attribute": "department", "operator": "is", "value": "Finance"}]}
    )
    team = smart_groups.validate(
        {"conditions": [{"attribute": "manager", "operator": "direct", "value": "max@acme.example"}]}
    )
    groups = [
        ContactGroup(customer_id=acme.id, name=name, rule=rule)
        for name, rule in (("F", finance), ("T", team))
    ]
    db.session.add_all(groups)
    db.session.commit()
    scim = Scim(app, provisioned(acme))
    max_id, ann, ben, cid = (_post(scim, name) for name in ("max", "ann", "ben", "cid"))
    department = {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Finance"}
    assert scim.patch(f"/Users/{max_id}", [department]).status_code == 200
    for report in (ann, ben):
        assert scim.set_manager(report, max_id).status_code == 200

    def members(group):
        return sorted(c.id for c in db.session.get(ContactGroup, group.id).contacts)

    assert (members(groups[0]), members(groups[1])) == ([max_id], sorted([ann, ben]))

    assert scim.delete(f"/Users/{max_id}").status_code == 204
    for report in (ann, ben):
        contact = db.session.get(Contact, report)
        assert (contact.manager_id, contact.manager_email) == (None, "max@acme.example")
    assert db.session.get(Contact, cid).manager_id is None
    assert (members(groups[0]), members(groups[1])) == ([], [])
    run = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    leaves = db.session.scalars(
        select(SyncChange).where(SyncChange.run_id == run.id, SyncChange.kind == "group_leave")
    )
    assert sorted(change.contact_id for change in leaves) == sorted([max_id, ann, ben])
