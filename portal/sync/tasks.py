"""The sync's background work: job handlers and the runner's periodic triggers.

Job handlers (kinds from portal.models.queue.JobKind):
    SYNC                 params {"trigger": "daily" | "manual" | "subscription"}
    IMPORT               params {"user_ids": [...]}; result {"created", "linked",
                         "already_present", "updated", "skipped": [{"name", "email", "reason"}]}
    SUBSCRIPTION_IMPORT  params {"subscription_id": id}; same result
    PREVIEW              no params; result: counts and the changes the next run would make
Periodic (portal.runner.PERIODIC): enqueue_daily_syncs at SYNC_DAILY_AT, upkeep hourly and at start
(marks runs a stopped process left "running" as interrupted; catches up a daily run missed while no
runner was up; purges expired archives and history). One customer's failure is logged with its id
and never stops the others.
"""

import logging
from datetime import timedelta

from sqlalchemy import select

from portal import book, health, search
from portal.extensions import db
from portal.models import Customer, GroupSubscription, JobKind, M365Connection, SyncSettings, utcnow
from portal.models.sync import RunStatus, SyncRun
from portal.models.vocabulary import RunKind
from portal.queue import active_job, enqueue, handler, report_progress
from portal.sync import lock, service

log = logging.getLogger(__name__)
DAILY_MIN_GAP = timedelta(hours=12)
CATCH_UP_AFTER = timedelta(hours=24)


def _customer(job):
    return db.session.get(Customer, job.customer_id)


@handler(JobKind.SYNC)
def sync_job(job):
    """One sync pass; skipped when a sync that started after this job was queued already succeeded."""
    covered = db.session.scalar(
        select(SyncRun.id)
        .where(
            SyncRun.customer_id == job.customer_id,
            SyncRun.kind == RunKind.SYNC,
            SyncRun.started_at >= job.created_at,
            SyncRun.status.in_([RunStatus.SUCCEEDED, RunStatus.HELD]),
        )
        .limit(1)
    )
    if covered:
        return {"run_id": covered, "status": "skipped", "message": "A sync ran since this one was queued."}
    run = service.run_sync(job.customer_id, job.params.get("trigger", "manual"), job=job)
    return {"run_id": run.id, "status": run.status, "counts": run.counts, "message": run.message}


@handler(JobKind.IMPORT)
def import_job(job):
    """Manual mode: import the selected users."""
    user_ids = list(job.params.get("user_ids") or [])
    report_progress(job, 0, len(user_ids))
    run, outcome = service.import_users(_customer(job), user_ids, trigger="manual", job=job)
    return service.import_result(run, outcome)


@handler(JobKind.SUBSCRIPTION_IMPORT)
def subscription_import_job(job):
    """Automatic mode: import the members of a group just subscribed into its contact group."""
    customer = _customer(job)
    subscription = db.session.scalar(
        select(GroupSubscription).where(
            GroupSubscription.id == job.params.get("subscription_id"),
            GroupSubscription.customer_id == customer.id,
        )
    )
    if subscription is None or subscription.contact_group is None:
        return {"message": "The subscription was removed before its import ran."}
    report_progress(job, 0, 1)
    run, outcome = service.import_users(customer, trigger="subscription", job=job, subscription=subscription)
    return service.import_result(run, outcome)


def request_sync(customer, trigger="manual", created_by=None):
    """Queue a sync unless one is already queued or running; returns the job. Caller commits."""
    return active_job(customer, JobKind.SYNC) or enqueue(
        JobKind.SYNC, customer, {"trigger": trigger}, created_by
    )


def sync_candidates():
    """Customers the daily sync covers: connected, healthy, prerequisite on, "Synchronization active".

    A customer whose check fails (its data, a database error) is logged and left out; the others stay.
    """
    rows = db.session.scalars(
        select(Customer)
        .join(M365Connection, M365Connection.customer_id == Customer.id)
        .join(SyncSettings, SyncSettings.customer_id == Customer.id)
        .where(SyncSettings.sync_active.is_(True))
        .order_by(Customer.id)
    ).all()
    return [c for c in rows if _ready(c)]


def _ready(customer):
    try:
        return service.sync_blocker(customer) is None
    except Exception:
        log.exception("customer %s: could not tell whether it is due for a sync", customer.id)
        return False


def daily_key(customer_id, now):
    """The dedupe key of a customer's daily sync: one per customer and (UTC) day."""
    return f"daily-sync:{customer_id}:{now.date().isoformat()}"


def _enqueue_stale(min_age, now=None):
    """Queue a daily sync for each candidate not synced within `min_age`; each customer is its own
    transaction, so one that fails is logged and the others are queued. Returns the new job ids."""
    now = now or utcnow()
    queued = []
    for customer_id in [c.id for c in sync_candidates()]:
        try:
            job = _enqueue_if_stale(db.session.get(Customer, customer_id), min_age, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("customer %s: the daily sync could not be queued", customer_id)
            continue
        if job is not None:
            queued.append(job.id)
    return queued


def _enqueue_if_stale(customer, min_age, now):
    last = service.last_successful_sync(customer.id)
    if last is not None and now - last < min_age:
        return None
    if active_job(customer, JobKind.SYNC) is not None:
        return None
    return enqueue(JobKind.SYNC, customer, {"trigger": "daily"}, dedupe_key=daily_key(customer.id, now))


def enqueue_daily_syncs(now=None):
    """The daily trigger: queue a sync for every candidate not synced in the last 12 hours.

    Safe on several runners at once: the daily job's dedupe key lets the database keep one.
    """
    return _enqueue_stale(DAILY_MIN_GAP, now)


def upkeep(now=None):
    """Hourly and at runner start: runs left "running" by a stopped process are marked interrupted,
    missed daily syncs (> 24 h) caught up, expired data and week-old runner heartbeats purged. Each
    step runs even if another fails."""
    clock = (lambda: now) if now is not None else utcnow
    steps = {
        "interrupted": lambda: lock.interrupt_orphaned_runs(clock),
        "queued": lambda: _enqueue_stale(CATCH_UP_AFTER, now),
        "purged": lambda: service.purge_expired(now),
        "heartbeats": lambda: health.forget_old_heartbeats(now),
        "statistics": lambda: search.refresh_statistics(search.SEARCHED),
    }
    result = {}
    for name, step in steps.items():
        try:
            result[name] = step()
        except Exception:
            db.session.rollback()
            log.exception("upkeep step %s failed", name)
    return result


PREVIEW_LIMIT = 500


@handler(JobKind.PREVIEW)
def preview_job(job):
    """ "Preview next sync": what the next run would do, computed by the same code, nothing written."""
    customer = _customer(job)
    preview = service.preview_sync(customer)
    return {**preview_result(preview), "book_state": book.state(customer)}


def preview_result(preview):
    """A JSON-able view of a Preview: counts and up to PREVIEW_LIMIT changes per kind."""
    plan = preview.plan
    result = {
        "counts": plan.counts(),
        "resync_reason": preview.resync_reason,
        "graph_requests": preview.graph_requests,
        "notes": preview.notes,
        "threshold_exceeded": plan.threshold_exceeded,
        "synced": plan.synced_count,
    }
    for kind in plan.KINDS + ("skipped",):
        result[kind] = [
            {
                "name": c.name,
                "email": c.email,
                "reason": c.reason,
                "changes": [list(f) for f in c.changes],
                "group_id": c.group_id,
            }
            for c in getattr(plan, kind)[:PREVIEW_LIMIT]
        ]
    return result
