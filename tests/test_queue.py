"""The job queue: enqueue, claim with a lease, run, fail readably, recover from a dead runner."""

import threading
from datetime import timedelta

from portal import queue
from portal.extensions import db
from portal.m365.graph import GraphUnavailable
from portal.models import Job, JobStatus
from portal.models.base import utcnow
from tests.factories import reload

CALLS = []


@queue.handler("test_record")
def _record(job):
    CALLS.append(job.id)
    queue.report_progress(job, 1, 2)
    return {"seen": job.params.get("value")}


@queue.handler("test_explode")
def _explode(job):
    raise RuntimeError("the disk is full")


@queue.handler("test_graph_down")
def _graph_down(job):
    from portal.models import Contact

    db.session.add(
        Contact(
            customer_id=job.customer_id,
            first_name="Half",
            last_name="Written",
            email="half@acme.example",
            email_key="half@acme.example",
        )
    )
    db.session.flush()
    raise GraphUnavailable("Microsoft 365 did not answer (HTTP 503) after 4 attempts.")


@queue.handler("test_sets_result")
def _sets_result(job):
    job.result = {"created": 3}


def test_enqueued_job_is_queued_and_visible_as_active(world):
    job = queue.enqueue("test_record", world.acme, {"value": 7}, created_by=world.alice)
    db.session.commit()
    assert job.status == JobStatus.QUEUED
    assert queue.active_job(world.acme, "test_record").id == job.id
    assert queue.active_job(world.globex, "test_record") is None


def test_claimed_job_runs_and_records_result_and_progress(world):
    job = queue.enqueue("test_record", world.acme, {"value": 7})
    db.session.commit()
    claimed = queue.claim_next("runner-a", lease_seconds=30)
    assert claimed.id == job.id and claimed.lease_owner == "runner-a"
    assert claimed.lease_expires_at > utcnow()
    assert queue.run_job(claimed, "runner-a") is JobStatus.SUCCEEDED
    job = reload(Job, job.id)
    assert job.status == "succeeded" and job.result == {"seen": 7}
    assert job.progress_done == 2 and job.progress_total == 2 and job.percent == 100
    assert job.finished_at is not None and job.lease_expires_at is None
    assert queue.active_job(world.acme, "test_record") is None
    assert queue.claim_next("runner-b") is None


def test_handler_may_set_result_instead_of_returning_it(world):
    job = queue.enqueue("test_sets_result", world.acme)
    db.session.commit()
    queue.run_job(queue.claim_next("r"), "r")
    assert reload(Job, job.id).result == {"created": 3}


def test_failing_handler_marks_job_failed_with_readable_error(world):
    job = queue.enqueue("test_explode", world.acme)
    db.session.commit()
    assert queue.run_job(queue.claim_next("r"), "r") is JobStatus.FAILED
    job = reload(Job, job.id)
    assert job.status == "failed" and job.error == "the disk is full"


def test_graph_failure_shows_its_message_and_writes_nothing(world):
    from portal.models import Contact

    job = queue.enqueue("test_graph_down", world.acme)
    db.session.commit()
    queue.run_job(queue.claim_next("r"), "r")
    job = reload(Job, job.id)
    assert job.status == "failed"
    assert job.error == "Microsoft 365 did not answer (HTTP 503) after 4 attempts."
    assert db.session.query(Contact).filter_by(email_key="half@acme.example").count() == 0


def test_unknown_kind_fails_instead_of_looping(world):
    job = queue.enqueue("no_such_kind", world.acme)
    db.session.commit()
    queue.run_job(queue.claim_next("r"), "r")
    job = reload(Job, job.id)
    assert job.status == "failed" and "no_such_kind" in job.error


def test_jobs_are_claimed_oldest_first(world):
    first = queue.enqueue("test_record", world.acme)
    second = queue.enqueue("test_record", world.globex)
    db.session.commit()
    assert queue.claim_next("r").id == first.id
    assert queue.claim_next("r").id == second.id
    assert queue.claim_next("r") is None


def test_expired_lease_makes_job_claimable_again_and_it_completes_once(world):
    CALLS.clear()
    job = queue.enqueue("test_record", world.acme, {"value": 1})
    db.session.commit()
    dead = queue.claim_next("runner-killed", lease_seconds=1)  # this runner dies without a word
    assert queue.claim_next("runner-b", lease_seconds=30) is None  # lease still valid
    after_the_lease = utcnow() + timedelta(seconds=2)  # the clock moves on instead of a wait
    survivor = queue.claim_next("runner-b", lease_seconds=30, now=after_the_lease)
    assert survivor.id == dead.id and survivor.attempts == 2
    queue.run_job(survivor, "runner-b")
    job = reload(Job, job.id)
    assert job.status == "succeeded" and CALLS == [job.id]


def test_slow_runner_that_lost_its_lease_cannot_overwrite_the_result(app, world):
    CALLS.clear()
    job = queue.enqueue("test_record", world.acme, {"value": 1})
    db.session.commit()
    claimed, resume, outcome = threading.Event(), threading.Event(), []

    def slow_runner():
        with app.app_context():  # its own session: a stale view of the row, like another process
            mine = queue.claim_next("runner-slow", lease_seconds=1)
            claimed.set()
            resume.wait(10)
            outcome.append(queue.run_job(mine, "runner-slow"))
            db.session.remove()

    thread = threading.Thread(target=slow_runner)
    thread.start()
    claimed.wait(10)
    after_the_lease = utcnow() + timedelta(seconds=2)
    queue.run_job(queue.claim_next("runner-b", now=after_the_lease), "runner-b")
    resume.set()
    thread.join()
    assert outcome == [None]  # LeaseLost at its first progress report
    job = reload(Job, job.id)
    assert job.status == "succeeded" and job.lease_owner == "runner-b" and job.attempts == 2


def test_two_runners_competing_for_one_job_exactly_one_wins(app, world):
    job = queue.enqueue("test_record", world.acme)
    db.session.commit()
    winners = []
    barrier = threading.Barrier(2)

    def runner(name):
        with app.app_context():
            barrier.wait()
            claimed = queue.claim_next(name, lease_seconds=30)
            if claimed is not None:
                winners.append(name)
            db.session.remove()

    threads = [threading.Thread(target=runner, args=(f"runner-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert reload(Job, job.id).lease_owner == winners[0]


def test_released_job_goes_back_to_the_queue(world):
    job = queue.enqueue("test_record", world.acme)
    db.session.commit()
    queue.claim_next("r")
    queue.release(job.id, "r")
    job = reload(Job, job.id)
    assert job.status == "queued" and job.lease_owner is None
    assert queue.claim_next("r2").id == job.id


def test_every_job_kind_has_a_handler_once_the_runner_is_imported():
    from portal import runner  # noqa: F401  (imports every module with a handler)
    from portal.models import JobKind

    assert set(JobKind) <= set(queue.registered_kinds())


def test_job_kinds_keep_the_strings_existing_databases_hold():
    from portal.models import JobKind

    assert sorted(kind.value for kind in JobKind) == [
        "m365_directory_load",
        "m365_groups_load",
        "m365_import",
        "m365_preview",
        "m365_subscription_import",
        "m365_sync",
    ]
