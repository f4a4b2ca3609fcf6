"""The daily sync and the Manual-mode import, against the M365 emulator over HTTP, through the runner."""

import re
import threading
from collections import Counter
from contextlib import contextmanager

from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import Contact, JobKind, M365Connection, SyncSettings
from portal.models.sync import HeldRemoval, SyncChange, SyncRun
from portal.queue import enqueue
from portal.runner import Runner
from portal.sync import import_slices, lock, service, tasks
from tests.factories import hold_removal
from tests.sync_helpers import SALES, age_delta, book, import_users, imported, outbox, run_job, sync, users


def changes_of(run, kind=None):
    query = select(SyncChange).where(SyncChange.run_id == run.id)
    if kind:
        query = query.where(SyncChange.kind == kind)
    return db.session.scalars(query.order_by(SyncChange.id)).all()


# --- import (Manual mode) -------------------------------------------------------------------


def test_import_creates_contacts_with_m365_origin_and_user_id(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    contacts = book(connected_acme)
    adele = contacts["adele.vance@contosodemo.onmicrosoft.com"]
    assert (adele.first_name, adele.last_name, adele.origin) == ("Adele", "Vance", "m365")
    assert adele.m365_user_id == everyone["adele.vance"]["id"]
    assert "günther.groß@contosodemo.onmicrosoft.com" not in contacts  # the proxy address is used
    assert any(c.m365_user_id == everyone["guenther.gross"]["id"] for c in contacts.values())


def test_import_reports_skipped_users_with_their_reason(app, emulator, connected_acme):
    everyone = users(emulator)
    names = ["nestor.wilke", "lars.lindqvist", "maria.garcia_fabrikam.com#EXT#", "adele.vance"]
    job = import_users(app, connected_acme, [everyone[n]["id"] for n in names] + ["no-such-user"])
    reasons = {s["name"]: s["reason"] for s in job.result["skipped"]}
    assert reasons["Nestor Wilke"] == "no mailbox address"
    assert reasons["Lars Lindqvist"] == "disabled account"
    assert any(r == "guest" for r in reasons.values())
    assert "not found in Microsoft 365" in reasons.values()
    assert job.result["created"] == 1 and len(book(connected_acme)) == 1


def test_import_links_existing_contact_with_other_case_when_link_active(app, emulator, connected_acme):
    db.session.add(_manual_contact(connected_acme, "ADELE.Vance@ContosoDemo.onmicrosoft.com"))
    SyncSettings.for_customer(connected_acme).link_active = True
    db.session.commit()
    job = import_users(app, connected_acme, [users(emulator)["adele.vance"]["id"]])
    assert (job.result["linked"], job.result["created"]) == (1, 0)
    contact = book(connected_acme)["adele.vance@contosodemo.onmicrosoft.com"]
    assert contact.linked_automatically and contact.m365_user_id and contact.origin == "manual"


def test_import_leaves_existing_contact_alone_without_link_active(app, emulator, connected_acme):
    db.session.add(_manual_contact(connected_acme, "ADELE.Vance@ContosoDemo.onmicrosoft.com"))
    db.session.commit()
    job = import_users(app, connected_acme, [users(emulator)["adele.vance"]["id"]])
    assert (job.result["already_present"], job.result["linked"], job.result["created"]) == (1, 0, 0)
    contact = book(connected_acme)["adele.vance@contosodemo.onmicrosoft.com"]
    assert contact.m365_user_id is None and contact.email == "ADELE.Vance@ContosoDemo.onmicrosoft.com"


def test_importing_twice_creates_nothing_new(app, emulator, connected_acme):
    imported(app, emulator, connected_acme)
    everyone = users(emulator)
    job = import_users(app, connected_acme, [everyone[n]["id"] for n in SALES])
    assert job.result["created"] == 0 and job.result["already_present"] == len(SALES)
    assert len(book(connected_acme)) == len(SALES)


def test_import_whose_graph_calls_fail_ends_failed_and_imports_nothing(app, emulator, connected_acme, faults):
    faults("/v1.0/users/*", 503, times=None)
    everyone = users(emulator)
    job = import_users(app, connected_acme, [everyone[n]["id"] for n in SALES])
    assert job.status == "failed" and "Microsoft 365" in job.error
    assert book(connected_acme) == {}
    run = db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id))
    assert run.status == "failed"


def test_an_import_larger_than_one_slice_reports_and_writes_what_one_plan_would(
    app, emulator, connected_acme, monkeypatch
):
    monkeypatch.setattr(import_slices, "SLICE", 2)
    everyone = users(emulator)
    # Two new users with one address, four slices apart: both are duplicates, neither is created.
    emulator.control("PATCH", f"users/{everyone['isaiah.langer']['id']}", {"mail": "Shared@contoso.example"})
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"mail": "shared@contoso.example"})
    names = ["isaiah.langer", "nestor.wilke", "juergen.mueller", "lars.lindqvist", "siobhan.obrien"]
    names += ["guenther.gross", "adele.vance"]
    job = import_users(app, connected_acme, [everyone[n]["id"] for n in names] + ["no-such-user"])
    assert job.status == "succeeded", job.error
    reasons = {s["name"] or "?": s["reason"] for s in job.result["skipped"]}
    assert reasons == {
        "Isaiah Langer": "duplicate email in M365",
        "Nestor Wilke": "no mailbox address",
        "Lars Lindqvist": "disabled account",
        "Adele Vance": "duplicate email in M365",
        "?": "not found in Microsoft 365",
    }
    assert (job.result["created"], job.result["already_present"]) == (3, 0)
    created = {c.m365_user_id for c in book(connected_acme).values()}
    assert created == {everyone[n]["id"] for n in ("juergen.mueller", "siobhan.obrien", "guenther.gross")}
    run = db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id))
    assert run.counts == {"creates": 3, "skipped": 5}
    assert len(changes_of(run, "create")) == 3 and len(changes_of(run, "skip")) == 5


def test_an_import_failing_after_some_slices_were_written_changes_nothing(
    app, emulator, connected_acme, monkeypatch
):
    monkeypatch.setattr(import_slices, "SLICE", 2)
    written, apply_plan = [], import_slices.apply_plan

    def apply_then_fail(plan, customer, run, **options):
        if written:
            raise RuntimeError("the database went away")
        written.append(apply_plan(plan, customer, run, **options))
        return written[-1]

    monkeypatch.setattr(import_slices, "apply_plan", apply_then_fail)
    everyone = users(emulator)
    job = import_users(app, connected_acme, [everyone[n]["id"] for n in SALES])
    assert job.status == "failed" and written[0]["creates"] == 2
    assert book(connected_acme) == {}
    run = db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id))
    assert run.status == "failed" and changes_of(run) == []


def _manual_contact(customer, email):
    contact = Contact(customer_id=customer.id, first_name="Adele", last_name="Vance", origin="manual")
    contact.set_email(email)
    return contact


# --- the daily sync -------------------------------------------------------------------------


def forget_delta_links(customer):
    """The connection as an installation kept it before imports took a delta baseline."""
    connection = db.session.scalar(select(M365Connection).where(M365Connection.customer_id == customer.id))
    connection.users_delta_link = connection.groups_delta_link = ""
    db.session.commit()


def test_the_first_sync_after_an_import_reads_the_changes_since_the_import(app, emulator, connected_acme):
    imported(app, emulator, connected_acme)
    first = sync(app, connected_acme)
    assert first.status == "succeeded" and not first.full_resync
    assert first.graph_requests == 1 and changes_of(first) == []


def test_without_a_delta_link_a_sync_reads_everything_then_uses_the_delta(app, emulator, connected_acme):
    imported(app, emulator, connected_acme)
    forget_delta_links(connected_acme)
    first = sync(app, connected_acme)
    assert first.status == "succeeded" and first.full_resync and first.resync_reason == "first run"
    second = sync(app, connected_acme)
    assert second.status == "succeeded" and not second.full_resync
    assert second.graph_requests <= 2 and changes_of(second) == []


def test_name_and_email_changes_in_m365_update_the_contact(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    adele = everyone["adele.vance"]["id"]
    emulator.control(
        "PATCH",
        f"users/{adele}",
        {"surname": "Vance-Miller", "mail": "Adele.Miller@contosodemo.onmicrosoft.com"},
    )
    run = sync(app, connected_acme)
    contact = db.session.scalar(select(Contact).where(Contact.m365_user_id == adele))
    assert (contact.last_name, contact.email) == ("Vance-Miller", "Adele.Miller@contosodemo.onmicrosoft.com")
    fields = {(c.field, c.old_value, c.new_value) for c in changes_of(run, "update")}
    assert ("last_name", "Vance", "Vance-Miller") in fields
    assert (
        "email",
        "adele.vance@contosodemo.onmicrosoft.com",
        "Adele.Miller@contosodemo.onmicrosoft.com",
    ) in fields


def test_deleted_user_removes_the_contact_and_reports_it_by_email(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("DELETE", f"users/{everyone['siobhan.obrien']['id']}")
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}?hard=1")
    run = sync(app, connected_acme)
    archived = book(connected_acme, archived=True)
    assert set(archived) == {
        "siobhan.obrien@contosodemo.onmicrosoft.com",
        "isaiah.langer@contosodemo.onmicrosoft.com",
    }
    assert (
        archived["isaiah.langer@contosodemo.onmicrosoft.com"].archive_reason
        == "Deleted permanently in Microsoft 365"
    )
    assert len(changes_of(run, "remove")) == 2
    report = [m for m in outbox(connected_acme) if m.kind == "removal_report"]
    assert len(report) == 1 and report[0].recipients == ["it@acme.example", "boss@acme.example"]
    assert (
        "Siobhán O'Brien" in report[0].body_text
        and "isaiah.langer@contosodemo.onmicrosoft.com" in report[0].body_text
    )


def test_user_restored_in_m365_brings_the_contact_back(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    adele = everyone["adele.vance"]["id"]
    emulator.control("DELETE", f"users/{adele}")
    sync(app, connected_acme)
    assert "adele.vance@contosodemo.onmicrosoft.com" in book(connected_acme, archived=True)
    emulator.control("POST", f"users/{adele}/restore")
    run = sync(app, connected_acme)
    contact = book(connected_acme)["adele.vance@contosodemo.onmicrosoft.com"]
    assert contact.archived_at is None and len(changes_of(run, "restore")) == 1


def test_error_in_the_middle_of_a_full_listing_removes_nobody(app, emulator, connected_acme, faults):
    everyone = imported(app, emulator, connected_acme)
    forget_delta_links(connected_acme)  # a full listing
    emulator.control("DELETE", f"users/{everyone['adele.vance']['id']}?hard=1")
    emulator.control("POST", "settings", {"users_delta_page_size": 50})
    faults("/v1.0/users/delta", 503, after=2, times=None)
    job = run_job(app, "m365_sync", connected_acme, {"trigger": "manual"})
    assert job.status == "failed"
    run = db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id))
    assert run.status == "failed" and "no contact was removed" in run.message
    assert "adele.vance@contosodemo.onmicrosoft.com" in book(connected_acme)
    assert db.session.get(type(connected_acme), connected_acme.id).reseller is not None
    emulator.control("DELETE", "faults")
    sync(app, connected_acme)
    assert "adele.vance@contosodemo.onmicrosoft.com" in book(connected_acme, archived=True)


def test_throttled_request_is_retried_after_retry_after(app, emulator, connected_acme, faults):
    imported(app, emulator, connected_acme)
    faults("/v1.0/users/delta", 429, retry_after=0.3, times=1)
    run = sync(app, connected_acme)
    assert run.status == "succeeded"
    assert any(entry["status"] == 429 for entry in emulator.log())


def test_delta_token_older_than_seven_days_means_a_full_resync_with_the_same_end_state(
    app, emulator, connected_acme
):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"givenName": "Adela"})
    emulator.control("DELETE", f"users/{everyone['siobhan.obrien']['id']}")
    emulator.advance_clock(days=8)
    connection = age_delta(connected_acme, days=8)
    run = sync(app, connected_acme)
    assert run.full_resync and run.resync_reason == "delta token older than 7 days"
    assert book(connected_acme)["adele.vance@contosodemo.onmicrosoft.com"].first_name == "Adela"
    assert "siobhan.obrien@contosodemo.onmicrosoft.com" in book(connected_acme, archived=True)
    assert connection is not None


def test_expired_delta_token_answered_by_microsoft_means_a_full_resync(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("PATCH", f"users/{everyone['juergen.mueller']['id']}", {"surname": "Mueller"})
    emulator.control("POST", "delta/gone", {"kind": "users"})
    run = sync(app, connected_acme)
    assert run.full_resync and run.resync_reason == "delta token expired"
    assert book(connected_acme)["juergen.mueller@contosodemo.onmicrosoft.com"].last_name == "Mueller"
    assert sync(app, connected_acme).full_resync is False


def test_running_the_sync_twice_changes_nothing_the_second_time(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"surname": "V."})
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}")
    assert changes_of(sync(app, connected_acme))
    second = sync(app, connected_acme)
    assert changes_of(second) == [] and second.status == "succeeded"


def test_preview_shows_what_the_run_then_does_and_writes_nothing(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"givenName": "Ada"})
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}")
    preview = service.preview_sync(connected_acme)
    planned = {(c.kind, c.user_id) for c in preview.plan.changes()}
    assert len(book(connected_acme)) == len(SALES)  # nothing written
    assert book(connected_acme)["adele.vance@contosodemo.onmicrosoft.com"].first_name == "Adele"
    run = sync(app, connected_acme)
    done = {(c.kind, c.m365_user_id) for c in changes_of(run)}
    assert (
        planned
        == done
        == {("update", everyone["adele.vance"]["id"]), ("remove", everyone["isaiah.langer"]["id"])}
    )


def test_preview_job_result_lists_the_planned_changes(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"givenName": "Ada"})
    job = run_job(app, JobKind.PREVIEW, connected_acme)
    assert job.result["counts"]["updates"] == 1
    assert job.result["updates"][0]["changes"] == [["first_name", "Adele", "Ada"]]


def test_mass_deletion_is_held_until_an_admin_allows_it(app, emulator, connected_acme, alice_client):
    everyone = users(emulator)
    members = sorted(
        n
        for n, u in everyone.items()
        if u.get("mail") and u["userType"] == "Member" and u["accountEnabled"] and not u["_admin"]
    )[:40]
    import_users(app, connected_acme, [everyone[n]["id"] for n in members])
    sync(app, connected_acme)
    for name in members[:12]:
        emulator.control("DELETE", f"users/{everyone[name]['id']}")
    emulator.control("PATCH", f"users/{everyone[members[20]]['id']}", {"surname": "Renamed"})
    run = sync(app, connected_acme)
    assert run.status == "held" and len(changes_of(run, "hold")) == 12
    assert len(book(connected_acme)) == 40  # nobody removed ...
    assert any(c.last_name == "Renamed" for c in book(connected_acme).values())  # ... the rest applied
    assert [m.kind for m in outbox(connected_acme)] == ["deletions_held"]
    page = alice_client.get("/sync/held").get_data(as_text=True)
    assert "Allow deletions" in page and "Keep contacts" in page
    assert alice_client.post("/sync/held/allow").status_code == 302
    assert len(book(connected_acme)) == 28 and len(book(connected_acme, archived=True)) == 12
    assert db.session.scalar(select(func.count()).select_from(HeldRemoval)) == 0
    assert [m.kind for m in outbox(connected_acme)] == ["deletions_held", "removal_report"]
    assert changes_of(sync(app, connected_acme)) == []


def test_keep_contacts_unlinks_the_held_contacts(app, emulator, connected_acme, alice_client):
    everyone = users(emulator)
    members = sorted(
        n
        for n, u in everyone.items()
        if u.get("mail") and u["userType"] == "Member" and u["accountEnabled"] and not u["_admin"]
    )[:20]
    import_users(app, connected_acme, [everyone[n]["id"] for n in members])
    SyncSettings.for_customer(connected_acme).delete_threshold_min = 3
    db.session.commit()
    sync(app, connected_acme)
    for name in members[:5]:
        emulator.control("DELETE", f"users/{everyone[name]['id']}")
    assert sync(app, connected_acme).status == "held"
    alice_client.post("/sync/held/keep")
    contacts = book(connected_acme)
    assert len(contacts) == 20 and sum(1 for c in contacts.values() if c.m365_user_id is None) == 5


def test_two_runners_never_sync_the_same_customer_at_once(app, emulator, connected_acme):
    imported(app, emulator, connected_acme)
    from portal.queue import enqueue

    enqueue("m365_sync", connected_acme, {"trigger": "manual"})
    enqueue("m365_sync", connected_acme, {"trigger": "daily"})
    db.session.commit()
    emulator.control("POST", "latency", {"ms": 30})
    threads = [threading.Thread(target=Runner(app, periodic=[]).run_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.session.expire_all()
    statuses = sorted(r.status for r in db.session.scalars(select(SyncRun).where(SyncRun.kind == "sync")))
    done = db.session.scalars(
        select(SyncRun.id).where(SyncRun.kind == "sync", SyncRun.status == "succeeded")
    ).all()
    assert len(done) == 1, statuses


def test_a_held_lock_makes_the_sync_skip_instead_of_running_twice(app, emulator, connected_acme):
    assert lock.acquire(connected_acme.id, "someone-else")
    run = sync(app, connected_acme)
    assert run.status == "skipped" and "Another sync" in run.message
    lock.release(connected_acme.id, "someone-else")
    assert sync(app, connected_acme).status == "succeeded"


def test_missed_daily_run_is_caught_up_when_the_runner_starts(app, emulator, connected_acme):
    assert tasks.upkeep()["queued"]  # never synced: caught up
    Runner(app, periodic=[]).run_once()
    assert tasks.upkeep()["queued"] == []  # synced a moment ago
    assert tasks.enqueue_daily_syncs() == []


def test_customer_without_sync_active_is_not_synced(app, emulator, connected_acme):
    SyncSettings.for_customer(connected_acme).sync_active = False
    db.session.commit()
    assert tasks.enqueue_daily_syncs() == []
    run = sync(app, connected_acme)
    assert run.status == "skipped"


def test_sync_history_shows_each_run_and_its_changes_filtered_by_kind(
    app, emulator, connected_acme, alice_client
):
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"givenName": "Ada"})
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}")
    run = sync(app, connected_acme)
    page = alice_client.get("/sync/history").get_data(as_text=True)
    assert "Sync history" in page and "Graph requests" in page and "Sync now" in page
    detail = alice_client.get(f"/sync/history/{run.id}").get_data(as_text=True)
    assert "Adele" in detail and "Ada" in detail and "Isaiah" in detail
    only_updates = alice_client.get(
        f"/sync/history/{run.id}?kind=update", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "Ada" in only_updates and "Isaiah" not in only_updates


def test_sync_now_queues_one_job_and_other_customers_runs_are_hidden(
    app, emulator, connected_acme, alice_client, world
):
    from portal.models import Job

    alice_client.post("/sync/now")
    alice_client.post("/sync/now")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "m365_sync")) == 1
    run = sync(app, connected_acme)
    bob = app.test_client().sign_in_as(world.bob)
    assert bob.get(f"/sync/history/{run.id}").status_code == 404


def test_cli_sync_run_prints_a_summary(app, emulator, connected_acme):
    imported(app, emulator, connected_acme)
    result = app.test_cli_runner().invoke(args=["sync", "run", "--customer", str(connected_acme.id)])
    assert result.exit_code == 0, result.output
    assert "Acme GmbH" in result.output and "succeeded" in result.output and "Graph requests" in result.output


# --- protocol robustness of the fetch step ---------------------------------------------------


def test_new_member_known_only_from_a_partial_delta_entry_is_read_in_full(app, emulator, connected_acme):
    """A delta entry with only changed properties cannot prove a user is a member, not a guest."""
    from portal.sync import fetch, plan
    from portal.sync.connection import connection_for_sync, graph_client

    guest = users(emulator)["maria.garcia_fabrikam.com#EXT#"]
    data = plan.M365Data(
        users={guest["id"]: {"id": guest["id"], "mail": "maria@fabrikam.com"}}, wanted=[(guest["id"], None)]
    )
    with graph_client(connection_for_sync(connected_acme)) as graph:
        fetch._fetch_unknown_members(graph, [], data)
    result = plan.build([], data)
    assert result.creates == [] and [s.reason for s in result.skipped] == ["guest"]


def test_group_deleted_and_restored_in_one_delta_round_counts_as_present():
    from portal.sync.fetch import removed_group_ids

    items = [
        {"id": "g1", "@removed": {"reason": "changed"}},
        {"id": "g2", "displayName": "B"},
        {"id": "g1", "displayName": "A"},
        {"id": "g2", "@removed": {"reason": "deleted"}},
    ]
    assert removed_group_ids(items) == {"g2"}


# --- decisions on held removals go through the sync's apply code ----------------------------


def test_allow_deletions_archives_and_records_like_a_sync_removal(world):
    from portal.sync import held

    contact = hold_removal(world.acme.id, "gone@acme.example")
    run = held.allow_deletions(world.acme, world.alice)
    assert (run.kind, run.status, run.counts) == ("decision", "succeeded", {"removals": 1})
    assert contact.archived_at is not None and contact.archive_reason == "Deleted in Microsoft 365"
    [change] = changes_of(run)
    assert (change.kind, change.contact_id, change.m365_user_id) == (
        "remove",
        contact.id,
        "user-gone@acme.example",
    )
    assert (change.contact_email, change.detail) == ("gone@acme.example", f"deleted · {world.alice.email}")
    assert db.session.scalar(select(func.count()).select_from(HeldRemoval)) == 0


def test_keep_contacts_unlinks_and_records_a_keep_change(world):
    from portal.sync import held

    contact = hold_removal(world.acme.id, "kept@acme.example")
    run = held.keep_contacts(world.acme, world.alice)
    assert run.counts == {"kept": 1} and run.message == f"Keep contacts by {world.alice.email}"
    assert contact.m365_user_id is None and contact.archived_at is None
    [change] = changes_of(run)
    assert (change.kind, change.detail) == ("keep", f"deleted · {world.alice.email}")
    assert held.held_removals(world.acme) == []


# --- what a run reads -------------------------------------------------------------------------


@contextmanager
def selects_from(tables):
    """Counts the SELECTs whose FROM names one of `tables`, by table."""
    counted = Counter()
    pattern = re.compile(r"\s*SELECT\b.*?\bFROM (\w+)", re.S | re.I)

    def count(conn, cursor, statement, params, context, executemany):
        match = pattern.match(statement)
        if match and match.group(1) in tables:
            counted[match.group(1)] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_a_sync_reads_its_customer_settings_and_connection_once(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"surname": "Vance-Smith"})
    job = enqueue(JobKind.SYNC, connected_acme, {"trigger": "manual"})
    db.session.commit()
    with selects_from(("customer", "sync_settings", "m365_connection")) as counted:
        assert Runner(app, periodic=[]).run_once()  # the job: claim, sync, finish
    run = db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id))
    assert run.status == "succeeded" and run.counts == {"updates": 1}, run.message
    assert counted == {"customer": 1, "sync_settings": 1, "m365_connection": 1}


def test_a_preview_older_than_the_book_is_marked_outdated_with_one_click_to_refresh(
    app, emulator, connected_acme, alice_client
):
    """Issue 21: after a sync (or any change to the book) "Preview next sync" still listed a
    contact the sync had already removed."""
    everyone = imported(app, emulator, connected_acme)
    sync(app, connected_acme)
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}")
    run_job(app, JobKind.PREVIEW, connected_acme)
    fresh = alice_client.get("/sync/preview").get_data(as_text=True)
    assert (
        "isaiah.langer@contosodemo.onmicrosoft.com" in fresh and "has changed since this preview" not in fresh
    )
    sync(app, connected_acme)  # removes Isaiah
    stale = alice_client.get("/sync/preview").get_data(as_text=True)
    assert "The contact book has changed since this preview was made" in stale
    assert "isaiah.langer@contosodemo.onmicrosoft.com" not in stale and "Preview again" in stale
    run_job(app, JobKind.PREVIEW, connected_acme)
    again = alice_client.get("/sync/preview").get_data(as_text=True)
    assert "has changed since this preview" not in again and "would change nothing" in again
