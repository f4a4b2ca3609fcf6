""" "Removed contacts": the sync's archive (30 days) listed with when, why and by whom, and "Restore"
(portal.sync.removed): back into the book, unlinked, recorded in the history; other customers 404."""

import re
from datetime import timedelta

from flask_babel import format_date
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contact, SyncSettings
from portal.models.sync import SyncChange, SyncRun
from portal.sync import held, lock, service
from portal.sync.removed import NotRestored, restore_contact
from tests.factories import hold_removal, removed_by_sync, text
from tests.sync_helpers import age_delta, book, import_users, sync, users


def row(page, contact):
    match = re.search(rf'<tr id="removed-{contact.id}">.*?</tr>', page, re.S)
    return match.group(0) if match else ""


def test_page_lists_when_why_by_whom_and_the_day_each_goes_for_good(app, alice_client, world):
    gone = removed_by_sync(world.acme, "gone@acme.example", reason="deleted permanently", days_ago=3)
    allowed = hold_removal(world.acme.id, "allowed@acme.example")
    held.allow_deletions(world.acme, world.alice)
    removed_by_sync(world.globex, "other@globex.example")
    book = text(alice_client.get("/contacts/"))
    assert 'href="/contacts/removed">Removed contacts (2)</a>' in book

    page = text(alice_client.get("/contacts/removed"))
    assert "gone@acme.example" in page and "allowed@acme.example" in page
    assert "other@globex.example" not in page
    gone_row = row(page, gone)
    assert "Deleted permanently in Microsoft 365" in gone_row and "By the M365 sync" in gone_row
    with app.test_request_context():
        deleted_on = format_date(gone.archived_at + timedelta(days=30), "medium")
    assert deleted_on in gone_row
    run_id = db.session.scalar(select(SyncChange.run_id).where(SyncChange.contact_id == gone.id))
    assert f'href="/sync/history/{run_id}"' in gone_row
    assert "Allowed by alice@acme.example" in row(page, allowed)
    assert 'action="/contacts/removed/' in gone_row and "hx-confirm=" in gone_row


def test_search_and_pages_use_the_book_s_rules(app, alice_client, world):
    app.config["CONTACTS_PER_PAGE"] = 2
    for number, name in enumerate(("Meier", "Mueller", "Schmidt")):
        removed_by_sync(world.acme, f"{name.lower()}@acme.example", last=name, days_ago=number)
    first = text(alice_client.get("/contacts/removed"))
    assert "meier@acme.example" in first and "mueller@acme.example" in first  # newest removals first
    assert "schmidt@acme.example" not in first and 'href="/contacts/removed?page=2"' in first
    assert "schmidt@acme.example" in text(alice_client.get("/contacts/removed?page=2"))
    found = alice_client.get("/contacts/removed?q=SCHMI", headers={"HX-Request": "true"})
    assert "schmidt@acme.example" in text(found) and "meier@" not in text(found)
    assert "<html" not in text(found)  # the results fragment for the active search
    assert "No removed contacts match your search." in text(alice_client.get("/contacts/removed?q=nobody"))
    for args in ("page=abc", "page=0", "page=99999999999", "q=%00%1b"):
        assert alice_client.get(f"/contacts/removed?{args}").status_code == 200


def test_restore_brings_the_contact_back_unlinked_and_the_history_says_who(alice_client, world):
    contact = removed_by_sync(world.acme, "back@acme.example")
    response = alice_client.post(f"/contacts/removed/{contact.id}/restore")
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{contact.id}"
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert contact.archived_at is None and contact.archive_reason == ""
    assert contact.m365_user_id is None and contact.linked_automatically is False
    assert "back@acme.example" in text(alice_client.get("/contacts/"))
    run = db.session.scalar(select(SyncRun).where(SyncRun.kind == "restore"))
    assert (run.customer_id, run.status, run.counts) == (world.acme.id, "succeeded", {"restores": 1})
    [change] = run.changes
    assert (change.kind, change.contact_id) == ("restore", contact.id)
    assert change.m365_user_id == "user-back@acme.example"  # the user it was linked to, kept in the history
    history = text(alice_client.get("/sync/history"))
    assert "Restore by an admin" in history and "Restore by alice@acme.example" in history
    details = text(alice_client.get(f"/sync/history/{run.id}"))
    assert "restored by an admin; unlinked from its M365 user · alice@acme.example" in details


def test_restore_with_htmx_swaps_the_row(alice_client, world):
    contact = removed_by_sync(world.acme, "row@acme.example")
    response = alice_client.post(f"/contacts/removed/{contact.id}/restore", headers={"HX-Request": "true"})
    assert response.status_code == 200
    swapped = text(response)
    assert f'<tr id="removed-{contact.id}">' in swapped and "<html" not in swapped
    assert "Restored" in swapped and f'href="/contacts/{contact.id}"' in swapped


def test_restoring_twice_or_an_active_contact_changes_nothing_and_says_why(alice_client, world):
    contact = removed_by_sync(world.acme, "twice@acme.example")
    alice_client.post(f"/contacts/removed/{contact.id}/restore")
    again = alice_client.post(f"/contacts/removed/{contact.id}/restore", follow_redirects=True)
    assert again.status_code == 200 and "This contact is not among the removed contacts." in text(again)
    assert len(db.session.scalars(select(SyncRun).where(SyncRun.kind == "restore")).all()) == 1


def test_restore_refuses_an_email_the_book_no_longer_allows(alice_client, world):
    contact = removed_by_sync(world.acme, "old@acme.example")
    world.acme.allowed_domains = "acme-new.example"
    db.session.commit()
    response = alice_client.post(f"/contacts/removed/{contact.id}/restore", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'role="alert"' in text(response) and "acme-new.example" in text(response)
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert contact.archived_at is not None and contact.m365_user_id == "user-old@acme.example"
    assert db.session.scalars(select(SyncRun).where(SyncRun.kind == "restore")).all() == []


def test_restore_waits_for_a_running_sync_and_then_gives_up(world):
    contact = removed_by_sync(world.acme, "busy@acme.example")
    assert lock.acquire(world.acme.id, "a-running-sync")
    try:
        restore_contact(world.acme, contact.id, world.alice, wait_seconds=0)
        raise AssertionError("restored while a sync held the lock")
    except NotRestored as problem:
        assert "synchronization of this customer is running" in str(problem)
    finally:
        lock.release(world.acme.id, "a-running-sync")
    assert db.session.get(Contact, contact.id).archived_at is not None


def test_another_customers_removed_contact_answers_404(app, world, alice_client):
    contact = removed_by_sync(world.acme, "mine@acme.example")
    for persona in (world.bob, world.charlie):
        client = app.test_client().sign_in_as(persona)
        assert "mine@acme.example" not in text(client.get("/contacts/removed"))
        assert client.post(f"/contacts/removed/{contact.id}/restore").status_code == 404
    for bad in ("99999999999", "0", "-1", "x"):
        assert alice_client.post(f"/contacts/removed/{bad}/restore").status_code == 404
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).archived_at is not None


def test_purge_deletes_every_contact_archived_30_days_ago_linked_or_not(world):
    linked = removed_by_sync(world.acme, "linked@acme.example", days_ago=31)
    unlinked = removed_by_sync(world.acme, "unlinked@acme.example", days_ago=31)
    unlinked.m365_user_id = None  # as a connection to another tenant leaves it
    recent = removed_by_sync(world.acme, "recent@acme.example", days_ago=29)
    db.session.commit()
    ids = (linked.id, unlinked.id, recent.id)
    assert service.purge_expired()["contacts"] == 2
    db.session.expire_all()
    assert [db.session.get(Contact, i) is not None for i in ids] == [False, False, True]


def test_restored_contact_survives_a_full_resync_and_is_linked_again_when_its_user_returns(
    app, emulator, connected_acme, alice_client
):
    siobhan = users(emulator)["siobhan.obrien"]["id"]
    assert import_users(app, connected_acme, [siobhan]).status == "succeeded"
    sync(app, connected_acme)
    emulator.control("DELETE", f"users/{siobhan}")
    sync(app, connected_acme)
    [contact] = book(connected_acme, archived=True).values()
    assert alice_client.post(f"/contacts/removed/{contact.id}/restore").status_code == 302
    age_delta(connected_acme, 8)  # the next run reads every user: she is still missing
    run = sync(app, connected_acme)
    assert run.full_resync and run.status == "succeeded"
    contact = book(connected_acme)[contact.email_key]
    assert contact.archived_at is None and contact.m365_user_id is None
    # She is back in Microsoft 365: an import links her by email ("Link active").
    emulator.control("POST", f"users/{siobhan}/restore")
    SyncSettings.for_customer(connected_acme).link_active = True
    db.session.commit()
    assert import_users(app, connected_acme, [siobhan]).result["linked"] == 1
    assert book(connected_acme)[contact.email_key].m365_user_id == siobhan
