"""One lease helper (portal.lease) for job claims and customer locks: one renewal thread per unit of
work, a lease lost on that thread is reported without ending the others' renewals."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal import lease
from portal.extensions import db
from portal.models import Job, JobKind, utcnow
from portal.models.sync import SyncLock, SyncRun
from portal.queue import JOB, claim_next, enqueue
from portal.runner import Runner
from portal.sync import lock
from tests.sync_helpers import imported


def renewal_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith(lease.THREAD_PREFIX)]


def test_a_sync_job_renews_its_lease_and_its_customer_lock_on_one_thread(app, emulator, connected_acme):
    imported(app, emulator, connected_acme)
    app.config["SYNC_LOCK_RENEW_SECONDS"] = 0.02
    job = enqueue(JobKind.SYNC, connected_acme, {"trigger": "manual"})
    db.session.commit()
    emulator.control("POST", "latency", {"ms": 300})  # a slow sync: several renewals while it reads
    runner = threading.Thread(target=Runner(app, owner="slow", periodic=[], lease_seconds=1).run_once)
    seen, lock_expiries = [], set()
    try:
        runner.start()
        while runner.is_alive():
            seen.append(renewal_threads())
            db.session.expire_all()
            row = db.session.get(SyncLock, connected_acme.id)
            if row is not None and row.owner is not None:
                lock_expiries.add(row.expires_at)
            db.session.rollback()
            time.sleep(0.02)
        runner.join()
    finally:
        emulator.control("POST", "latency", {"ms": 0})

    run = db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id))
    assert run.status == "succeeded", run.message
    assert max(len(names) for names in seen) == 1  # the job's lease and the lock: one thread
    assert {name for names in seen for name in names} == {f"{lease.THREAD_PREFIX}-job-{job.id}"}
    assert len(lock_expiries) > 2  # the lock was renewed on it while the sync ran
    assert renewal_threads() == []  # and the thread ended with the job


def test_a_lease_lost_on_the_renewal_thread_does_not_end_the_others(app, world):
    app.config["SYNC_LOCK_RENEW_SECONDS"] = 0.02
    job = enqueue("lease_test", world.acme)
    db.session.commit()
    assert claim_next("worker", lease_seconds=60).id == job.id
    now = [utcnow()]
    with lease.renewing(app, "unit") as renewer:
        job_lease = renewer.hold(JOB, job.id, "worker", 60, lambda: now[0], every=0.02)
        with lock.held(world.acme.id, clock=lambda: now[0]) as customer_lock:
            assert lease.current() is renewer and renewal_threads() == [f"{lease.THREAD_PREFIX}-unit"]
            _take_over(world.acme.id, "took-over")  # as after our renewals stalled past the lease
            assert customer_lock.lost.wait(5)
            with pytest.raises(lock.LockLost):
                customer_lock.confirm()
            db.session.rollback()
            now[0] += timedelta(seconds=30)
            _until(lambda: _job_expiry(job.id) >= now[0] + timedelta(seconds=59))  # still renewed
        assert not job_lease.lost.is_set()
        job_lease.confirm()
        db.session.commit()
    assert renewal_threads() == []
    assert db.session.get(SyncLock, world.acme.id).owner == "took-over"  # the loser released nothing


def _take_over(customer_id, owner):
    db.session.execute(update(SyncLock).where(SyncLock.customer_id == customer_id).values(owner=owner))
    db.session.commit()


def _job_expiry(job_id):
    db.session.expire_all()
    expiry = db.session.get(Job, job_id).lease_expires_at
    db.session.rollback()
    return expiry


def _until(check, seconds=10):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.01)
