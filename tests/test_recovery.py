"""Unattended operation: the customer's lock as a lease, interrupted runs, job attempts, one daily sync
per customer and day, web changes that wait for the sync, and periodic work that survives one customer.

(The real SIGKILL of a sync process is in tests/test_sync_kill.py.)
"""

import logging
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.m365 import tokens
from portal.models import (
    AuditEntry,
    Contact,
    Customer,
    Job,
    JobKind,
    M365Connection,
    SyncSettings,
    utcnow,
)
from portal.models.sync import INTERRUPTED_MESSAGE, HeldRemoval, SyncLock, SyncRun
from portal.queue import claim_next, enqueue
from portal.runner import Every, Runner
from portal.sync import lock, tasks
from tests import m365_helpers as m365
from tests.factories import acme_contacts, add_contact, confirm, hold_removal, preview_url, upload
from tests.sync_helpers import book

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
BUSY = "A synchronization of this customer is running; please try again in a minute."


def running_run(customer, started_at=None):
    run = SyncRun(
        customer_id=customer.id,
        kind="sync",
        trigger="daily",
        status="running",
        started_at=started_at or utcnow(),
        counts={},
    )
    db.session.add(run)
    db.session.commit()
    return run


def status_of(run):
    db.session.expire_all()
    return db.session.get(SyncRun, run.id).status


def at(moment):
    return lambda: moment


# --- the lock is a lease ------------------------------------------------------------------------


def test_a_dead_holders_lock_is_taken_over_after_its_lease_and_its_runs_are_interrupted(app, world):
    t0 = utcnow()
    assert lock.acquire(world.acme.id, "killed-process", clock=at(t0))
    acme_run, globex_run = running_run(world.acme, t0), running_run(world.globex, t0)

    assert not lock.acquire(world.acme.id, "next-sync", clock=at(t0 + timedelta(seconds=59)))
    assert status_of(acme_run) == "running"

    assert lock.acquire(world.acme.id, "next-sync", clock=at(t0 + timedelta(seconds=61)))
    db.session.expire_all()
    taken = db.session.get(SyncRun, acme_run.id)
    assert (taken.status, taken.message) == ("interrupted", INTERRUPTED_MESSAGE)
    assert taken.finished_at is not None
    assert db.session.get(SyncLock, world.acme.id).owner == "next-sync"
    assert status_of(globex_run) == "running"  # another customer's run is not touched


def _expiry(customer_id):
    db.session.expire_all()
    return db.session.get(SyncLock, customer_id).expires_at


def _eventually(check, seconds=10):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.01)


def test_a_holder_working_longer_than_the_lease_keeps_its_lock(app, world):
    app.config["SYNC_LOCK_RENEW_SECONDS"] = 0.02  # the renewing thread runs often; the clock decides
    now = [utcnow()]
    with lock.held(world.acme.id, clock=lambda: now[0]) as lease:
        for _ in range(6):  # five minutes of work, 50 seconds at a time
            now[0] += timedelta(seconds=50)
            _eventually(lambda: _expiry(world.acme.id) >= now[0] + timedelta(seconds=59))
            assert not lock.acquire(world.acme.id, "intruder", clock=at(now[0]))
        lease.confirm()
    assert lock.acquire(world.acme.id, "next", clock=at(now[0]))  # released at the end


def _renewal_waits_for_the_row():
    """On PostgreSQL: the renewing thread's UPDATE of sync_lock waits for a row lock."""
    with db.engine.connect() as connection:
        waiting = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'UPDATE sync_lock%%'"
        ).scalar()
    return waiting > 0


def test_a_holder_leaving_with_its_confirmation_uncommitted_releases_the_lock(app, world):
    # confirm() locks the row in the session's transaction; a renewal started then waits for that
    # lock. Leaving the block (an error before the commit) must not wait for the renewal: it hung.
    app.config["SYNC_LOCK_RENEW_SECONDS"] = 0.01
    with pytest.raises(RuntimeError):
        with lock.held(world.acme.id) as lease:
            lease.confirm()
            if db.engine.dialect.name == "postgresql":
                _eventually(_renewal_waits_for_the_row)
            else:
                time.sleep(0.1)
            raise RuntimeError("the final commit failed")
    assert lock.acquire(world.acme.id, "next")  # released


def test_a_holder_whose_lock_was_taken_over_cannot_commit(app, world):
    t0 = utcnow()
    with pytest.raises(lock.LockLost):
        with lock.held(world.acme.id, clock=at(t0)) as lease:
            assert lock.acquire(world.acme.id, "took-over", clock=at(t0 + timedelta(seconds=61)))
            add_contact_uncommitted = Contact(customer_id=world.acme.id, first_name="Late", origin="manual")
            add_contact_uncommitted.set_email("late@acme.example")
            db.session.add(add_contact_uncommitted)
            lease.confirm()
            db.session.commit()
    db.session.rollback()
    assert "late@acme.example" not in book(world.acme)
    assert db.session.get(SyncLock, world.acme.id).owner == "took-over"  # not released by the loser


def test_upkeep_interrupts_runs_left_running_whose_lock_is_free_or_expired(app, world):
    t0 = utcnow()
    assert lock.acquire(world.acme.id, "died-long-ago", clock=at(t0 - timedelta(seconds=100)))
    assert lock.acquire(world.globex.id, "still-working", clock=at(t0))
    acme_run, globex_run, initech_run = (
        running_run(c, t0) for c in (world.acme, world.globex, world.initech)
    )

    result = tasks.upkeep(now=t0 + timedelta(seconds=30))

    assert result["interrupted"] == {world.acme.id: [acme_run.id], world.initech.id: [initech_run.id]}
    assert (status_of(acme_run), status_of(initech_run)) == ("interrupted", "interrupted")
    assert status_of(globex_run) == "running"


def test_history_shows_an_interrupted_run_translated(app, world, alice_client):
    running_run(world.acme)
    lock.interrupt_orphaned_runs()
    english = alice_client.get("/sync/history").get_data(as_text=True)
    assert "interrupted" in english and INTERRUPTED_MESSAGE in english
    german = alice_client.get("/sync/history", headers=GERMAN).get_data(as_text=True)
    assert "unterbrochen" in german and "wird wiederholt" in german
    run_id = db.session.scalar(select(SyncRun.id))
    detail = alice_client.get(f"/sync/history/{run_id}", headers=GERMAN).get_data(as_text=True)
    assert "unterbrochen" in detail and "wird wiederholt" in detail


# --- jobs: attempts and one daily sync per customer and day ----------------------------------


def test_a_job_whose_runner_keeps_dying_is_claimed_up_to_the_maximum_then_failed(app, world):
    job_id = enqueue(JobKind.PREVIEW, world.acme).id
    db.session.commit()
    now = utcnow()
    for attempt in (1, 2, 3):
        claimed = claim_next(f"runner-{attempt}", lease_seconds=60, now=now)
        assert (claimed.id, claimed.attempts) == (job_id, attempt)
        now += timedelta(seconds=61)  # the runner died: its lease runs out

    assert claim_next("runner-4", lease_seconds=60, now=now) is None
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.status == "failed" and job.lease_owner is None
    assert job.error == "Stopped after 3 attempts: the background runner stopped while running it each time."


def _due_customers(world, count):
    """`count` customers of Northwind, each connected and with "Synchronization active" on."""
    world.northwind.ms_user_sync = True
    customers = [Customer(name=f"Due {n}", reseller_id=world.northwind.id) for n in range(count)]
    db.session.add_all(customers)
    db.session.flush()
    for customer in customers:
        db.session.add(
            M365Connection(
                customer_id=customer.id,
                tenant_id=f"tenant-{customer.id}",
                refresh_token_encrypted=tokens.encrypt("refresh"),
            )
        )
        SyncSettings.for_customer(customer).sync_active = True
    db.session.commit()
    return [c.id for c in customers]


def test_runners_triggering_the_daily_sync_at_once_queue_one_job_per_customer(app, world):
    customer_ids = _due_customers(world, 12)
    runners = [Runner(app, periodic=[Every(3600, tasks.enqueue_daily_syncs)]) for _ in range(4)]
    start = threading.Barrier(len(runners))
    errors = []

    def trigger(runner):
        try:
            start.wait(10)
            runner.run_all_periodic()
        except Exception as error:  # pragma: no cover - shown by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=trigger, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    tasks.enqueue_daily_syncs()  # and once more later the same day

    db.session.expire_all()
    per_customer = dict(
        db.session.execute(
            select(Job.customer_id, func.count()).where(Job.kind == JobKind.SYNC).group_by(Job.customer_id)
        ).all()
    )
    assert not errors
    assert per_customer == {customer_id: 1 for customer_id in customer_ids}


def test_a_daily_sync_already_queued_by_another_runner_is_refused_by_the_database(app, world):
    (customer_id,) = _due_customers(world, 1)
    customer = db.session.get(Customer, customer_id)
    key = tasks.daily_key(customer_id, utcnow())
    assert enqueue(JobKind.SYNC, customer, {"trigger": "daily"}, dedupe_key=key) is not None
    db.session.commit()
    assert enqueue(JobKind.SYNC, customer, {"trigger": "daily"}, dedupe_key=key) is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Job)) == 1


def test_a_daily_sync_that_failed_is_tried_again_by_the_upkeep_the_same_day(app, world):
    # Its stored token reaches no Microsoft (a closed local port, asked once): the sync fails.
    app.config.update(M365_AUTHORITY="http://127.0.0.1:9", M365_GRAPH_MAX_ATTEMPTS=1)
    (customer_id,) = _due_customers(world, 1)
    assert len(tasks.enqueue_daily_syncs()) == 1
    assert Runner(app, periodic=[]).run_once()
    failed = db.session.scalar(select(Job).where(Job.customer_id == customer_id))
    assert failed.status == "failed"
    retried = tasks.upkeep()["queued"]
    assert len(retried) == 1 and retried[0] != failed.id  # a failure does not hold the day's key
    assert tasks.enqueue_daily_syncs() == []  # while the retry waits, the day's key is taken


# --- web changes wait for the sync -----------------------------------------------------------


@pytest.fixture
def sync_running(app, world):
    """A sync (another process) holds Acme's lock; the web does not wait for it."""
    app.config["SYNC_LOCK_WEB_WAIT"] = 0
    assert lock.acquire(world.acme.id, "sync-in-another-process")
    yield world.acme
    lock.release(world.acme.id, "sync-in-another-process")


def test_held_decision_during_a_sync_changes_nothing_and_says_why(app, world, alice_client, sync_running):
    contact = hold_removal(world.acme.id, "leaver@acme.example")
    response = alice_client.post("/sync/held/allow", follow_redirects=True)
    assert response.status_code == 200 and BUSY in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).archived_at is None
    assert db.session.scalar(select(func.count()).select_from(HeldRemoval)) == 1
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 0

    lock.release(world.acme.id, "sync-in-another-process")
    alice_client.post("/sync/held/allow")
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).archived_at is not None


def test_link_active_off_during_a_sync_changes_nothing_and_says_why(
    app,
    world,
    alice_client,
    connected,
    sync_running,  # noqa: F811
):
    auto = add_contact(world.acme, "auto@acme.example", m365_user_id="u-1", linked_automatically=True)
    SyncSettings.for_customer(world.acme).link_active = True
    db.session.commit()

    response = alice_client.post(
        "/m365/settings/link_active", data={"value": "off", "confirm": "yes"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and BUSY in response.get_data(as_text=True)
    assert 'aria-checked="true"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SyncSettings, world.acme.id).link_active is True
    assert db.session.get(Contact, auto.id).m365_user_id == "u-1"
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0

    page = alice_client.post("/m365/settings/link_active", data={"value": "off", "confirm": "yes"})
    assert page.status_code == 302
    assert BUSY in alice_client.get("/m365/").get_data(as_text=True)  # without htmx: the flash


def test_csv_import_confirmed_during_a_sync_imports_nothing_and_says_why(app, world, alice_client):
    preview = preview_url(upload(alice_client, "First;Last;Email\nAnna;Schmidt;anna@acme.example\n"))
    app.config["SYNC_LOCK_WEB_WAIT"] = 0
    assert lock.acquire(world.acme.id, "sync-in-another-process")  # the sync starts after the upload
    response = confirm(alice_client, preview)
    assert response.status_code == 302 and "/contacts/import/" in response.headers["Location"]
    page = alice_client.get(response.headers["Location"]).get_data(as_text=True)
    assert BUSY in page and "anna@acme.example" in page  # the preview again, with the message
    assert acme_contacts(world) == {}

    lock.release(world.acme.id, "sync-in-another-process")
    confirm(alice_client, preview)
    assert set(acme_contacts(world)) == {"anna@acme.example"}


# --- one customer's failure stops nobody else ------------------------------------------------


@pytest.fixture
def broken_acme(app, world, emulator):
    """Acme's stored token cannot be decrypted (a real non-Graph failure); Globex is connected to the
    emulator's demo tenant. Both have "Synchronization active" on; Acme comes first."""
    db.session.add(
        M365Connection(customer_id=world.acme.id, tenant_id="acme-tenant", refresh_token_encrypted="garbage")
    )
    m365.connect_customer(app, emulator, world.globex, world.bob, SYNC_LOCK_WAIT=1)
    for customer in (world.acme, world.globex):
        SyncSettings.for_customer(customer).sync_active = True
    db.session.commit()
    assert [c.id for c in tasks.sync_candidates()] == [world.acme.id, world.globex.id]
    return world.acme


def _runs(customer):
    db.session.expire_all()
    return db.session.scalars(select(SyncRun).where(SyncRun.customer_id == customer.id)).all()


def test_sync_run_cli_reports_each_failure_goes_on_and_exits_non_zero(app, world, broken_acme, caplog):
    caplog.set_level(logging.WARNING)
    result = app.test_cli_runner().invoke(args=["sync", "run"])

    assert result.exit_code == 1
    assert f"Acme GmbH (#{world.acme.id}): failed: TokenDecryptError" in result.output
    assert f"Globex AG (#{world.globex.id}): succeeded" in result.output
    assert [r.status for r in _runs(world.globex)] == ["succeeded"]  # synced after the failure
    (failed,) = _runs(world.acme)
    assert failed.status == "failed"  # recorded, not left "running"
    assert any(
        f"customer {world.acme.id}" in r.getMessage() and str(failed.id) in r.getMessage()
        for r in caplog.records
    )


def test_daily_sync_jobs_of_other_customers_run_when_one_fails(app, world, broken_acme, caplog):
    caplog.set_level(logging.WARNING)
    assert len(tasks.enqueue_daily_syncs()) == 2
    runner = Runner(app, periodic=[])
    assert runner.run_once() and runner.run_once()

    db.session.expire_all()
    jobs = {j.customer_id: j for j in db.session.scalars(select(Job))}
    assert jobs[world.acme.id].status == "failed" and "decrypted" in jobs[world.acme.id].error
    assert jobs[world.globex.id].status == "succeeded"
    assert [r.status for r in _runs(world.globex)] == ["succeeded"]
    assert any(f"customer {world.acme.id}" in r.getMessage() for r in caplog.records)
