"""The database is the queue: a Job row per unit of background work, claimed by a runner with a lease.

    job = enqueue(kind, customer, params=None, created_by=None, dedupe_key=None)
                                            # adds a queued Job (caller commits); None when a job
                                            # with the same dedupe_key exists
                                            # kind: a JobKind (portal.models.queue)
    @handler(JobKind.X) def run(job): ...   # registers what the runner does for a kind; the handler
                                            # reports progress with report_progress(job, done, total)
                                            # and returns a JSON-able result dict
    claim_next(owner, lease_seconds) -> Job | None   # conditional UPDATE (portal.lease); one runner wins
    run_job(job, owner)                     # runs the handler, marks succeeded/failed
    active_job(customer, kind) -> Job | None  # queued or running job of that kind, for the UI

Details a handler author needs:
- The handler runs in an app context with the runner's database session. Whatever it leaves uncommitted
  is committed together with the "succeeded" mark (one transaction, only while the lease is still ours);
  an exception rolls it back and marks the job failed with a readable error (`exc.message` for
  GraphError, else the exception text), so a failed run leaves nothing half-written behind.
- `report_progress(job, done, total)` COMMITS the session (progress is visible to the web app at once)
  and renews the lease. Call it between units of work, not in the middle of one that must be atomic.
  It raises LeaseLost when another runner took the job over (our lease expired): stop at once.
- The result is the handler's return value; a handler may instead set `job.result = {...}` and return
  None. Results are shown by the UI (e.g. the import's created/linked/... counts).
- A lease that expires (runner killed) makes the job claimable again, up to JOB_MAX_ATTEMPTS attempts
  in all (then it is marked failed): handlers must be safe to re-run. A handler's exception fails
  the job at once (no retry).
- A new kind is a JobKind member; the module with its handler is imported by portal.runner, which
  refuses to start while a JobKind has no handler.
"""

import logging
import threading
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import lease as leases
from portal.extensions import db
from portal.models.base import utcnow
from portal.models.queue import Job, JobStatus

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60
EXHAUSTED_MESSAGE = (
    "Stopped after %(attempts)s attempts: the background runner stopped while running it each time."
)

_HANDLERS = {}
_lease = threading.local()  # lease length of the job this thread is running


class LeaseLost(leases.Lost):
    """Another runner owns the job now (our lease expired); the current attempt must stop."""


JOB = leases.Kind(
    Job,
    Job.id,
    Job.lease_owner,
    Job.lease_expires_at,
    LeaseLost,
    held=(Job.status == JobStatus.RUNNING,),
)


class UnknownJobKind(Exception):
    """No handler is registered for a job's kind."""


def handler(kind):
    """Register the decorated function as what the runner does for jobs of `kind`."""

    def register(fn):
        _HANDLERS[str(kind)] = fn
        return fn

    return register


def registered_kinds():
    """The job kinds that have a handler (in the modules imported so far)."""
    return sorted(_HANDLERS)


# A dedupe key that holds only while its job is queued or running ("one import of a customer at a
# time"), where a daily sync's key stays with the job that succeeded ("one daily sync a day").
ACTIVE_KEY_PREFIX = "active:"


def active_key(kind, customer):
    """The dedupe key of "one `kind` job of `customer` at a time"."""
    return f"{ACTIVE_KEY_PREFIX}{kind}:{customer.id}"


def enqueue(kind, customer, params=None, created_by=None, dedupe_key=None):
    """Add a queued job of `kind` for `customer` (a Customer or None); the caller commits.

    With `dedupe_key`, a job with that key that already exists (queued by another runner a moment
    ago, even in a transaction not yet visible) wins: the database refuses this one, and None is
    returned. The insert runs in a savepoint, so the caller's transaction goes on.
    """
    job = Job(
        kind=str(kind),
        customer_id=customer.id if customer is not None else None,
        params=dict(params or {}),
        result={},
        error="",
        status=JobStatus.QUEUED,
        created_by_id=created_by.id if created_by is not None else None,
        dedupe_key=dedupe_key,
    )
    if dedupe_key is None:
        db.session.add(job)
        db.session.flush()
        return job
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        log.info("job %s is already queued", dedupe_key)
        return None
    return job


def _claimable(now, max_attempts):
    return or_(
        Job.status == JobStatus.QUEUED,
        and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now, Job.attempts < max_attempts),
    )


def _max_attempts():
    return current_app.config["JOB_MAX_ATTEMPTS"]


def fail_exhausted(now=None, max_attempts=None):
    """Jobs whose runner died during their last allowed attempt (lease expired, attempts used up)
    are marked failed instead of being claimed again. COMMITS; returns their ids."""
    now = now or utcnow()
    max_attempts = max_attempts or _max_attempts()
    exhausted = and_(
        Job.status == JobStatus.RUNNING, Job.lease_expires_at < now, Job.attempts >= max_attempts
    )
    ids = db.session.scalars(select(Job.id).where(exhausted)).all()
    if ids:
        db.session.execute(
            update(Job)
            .where(Job.id.in_(ids), exhausted)
            .values(
                status=JobStatus.FAILED,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
                error=EXHAUSTED_MESSAGE % {"attempts": max_attempts},
                dedupe_key=None,  # a failed job does not stand in for a later try
            )
            .execution_options(synchronize_session=False)
        )
        log.warning("jobs %s failed: their runner stopped during each of %s attempts", ids, max_attempts)
    db.session.commit()
    return ids


def claim_next(owner, lease_seconds=DEFAULT_LEASE_SECONDS, now=None, max_attempts=None):
    """Claim the oldest claimable job for `owner` and return it, or None.

    Claimable: queued, or running with an expired lease (its runner died) and fewer than
    JOB_MAX_ATTEMPTS attempts; with none left it is marked failed (fail_exhausted). The claim is
    a conditional UPDATE checked by rowcount, so of several runners exactly one wins a job.
    `now` is the clock (tests move it instead of waiting for a lease to run out).
    """
    now = now or utcnow()
    max_attempts = max_attempts or _max_attempts()
    fail_exhausted(now, max_attempts)
    candidates = db.session.scalars(
        select(Job.id).where(_claimable(now, max_attempts)).order_by(Job.created_at, Job.id).limit(10)
    ).all()
    db.session.rollback()  # end the read; the UPDATE below decides
    for job_id in candidates:
        claimed = leases.claim(
            JOB,
            job_id,
            owner,
            now + timedelta(seconds=lease_seconds),
            _claimable(now, max_attempts),
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            started_at=now,
            finished_at=None,
            error="",
        )
        db.session.commit()
        if claimed:
            job = db.session.get(Job, job_id, populate_existing=True)
            log.info("%s claimed job %s (%s, attempt %s)", owner, job.id, job.kind, job.attempts)
            return job
    return None


def report_progress(job, done, total=None):
    """Record progress (done of total) and renew the lease; COMMITS. Raises LeaseLost if not ours."""
    values = {"progress_done": int(done)}
    if total is not None:
        values["progress_total"] = int(total)
    lease_seconds = getattr(_lease, "seconds", DEFAULT_LEASE_SECONDS)
    until = utcnow() + timedelta(seconds=lease_seconds)
    if not leases.renew(JOB, job.id, job.lease_owner, until, **values):
        db.session.rollback()
        raise LeaseLost(f"job {job.id} was taken over by another runner")
    db.session.commit()
    db.session.refresh(job)


def readable_error(exc):
    """The message an admin sees for a failed job."""
    message = getattr(exc, "message", None) or str(exc)
    return message if message else exc.__class__.__name__


def run_job(job, owner, lease_seconds=DEFAULT_LEASE_SECONDS):
    """Run `job`'s handler (the job must be claimed by `owner`); mark it succeeded or failed.

    Returns the final status, or None when the lease was lost (another runner has the job).
    """
    _lease.seconds = lease_seconds
    job_id, customer_id = job.id, job.customer_id
    try:
        fn = _HANDLERS.get(job.kind)
        if fn is None:
            raise UnknownJobKind(f"No handler for job kind {job.kind!r}.")
        result = fn(job)
        if result is None:
            result = dict(job.result or {})
        return _finish(job_id, owner, JobStatus.SUCCEEDED, result=result)
    except LeaseLost:
        db.session.rollback()
        log.warning("%s lost the lease of job %s; another runner has it", owner, job_id)
        return None
    except Exception as exc:  # a job's failure must never stop the runner
        db.session.rollback()
        log.exception("job %s of customer %s failed", job_id, customer_id)
        return _finish(job_id, owner, JobStatus.FAILED, error=readable_error(exc))
    finally:
        _lease.seconds = DEFAULT_LEASE_SECONDS


def _finish(job_id, owner, status, result=None, error=""):
    """Mark the job finished, only while we hold the lease; commits the handler's work with it."""
    values = {
        "status": status,
        "finished_at": utcnow(),
        "lease_expires_at": None,
        "error": error[:4000],
    }
    if result is not None:
        values["result"] = result
    if status is JobStatus.SUCCEEDED:
        values["progress_done"] = Job.progress_total
        # A key that holds only while the job is active lets the next one in.
        values["dedupe_key"] = case(
            (Job.dedupe_key.startswith(ACTIVE_KEY_PREFIX), None), else_=Job.dedupe_key
        )
    else:
        values["dedupe_key"] = None  # a failed job does not stand in for a later try
    if not leases.while_held(JOB, job_id, owner, values):
        db.session.rollback()
        log.warning("%s lost the lease of job %s before finishing; discarded", owner, job_id)
        return None
    db.session.commit()
    db.session.get(Job, job_id, populate_existing=True)
    return status


def release(job_id, owner):
    """Give a claimed job back to the queue (the runner is stopping before it ran it)."""
    leases.release(JOB, job_id, owner, status=JobStatus.QUEUED)


def active_job(customer, kind):
    """The queued or running job of `kind` for `customer`, newest first, or None."""
    return db.session.scalar(
        select(Job)
        .where(
            Job.customer_id == customer.id,
            Job.kind == str(kind),
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        .order_by(Job.id.desc())
        .limit(1)
    )


def latest_job(customer, kind):
    """The newest job of `kind` for `customer` in any state, or None (to show the last result)."""
    return db.session.scalar(
        select(Job)
        .where(Job.customer_id == customer.id, Job.kind == str(kind))
        .order_by(Job.id.desc())
        .limit(1)
    )
