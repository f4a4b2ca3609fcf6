"""Removals held by the deletion threshold, and the admin's decision: "Allow deletions" or "Keep contacts".

    held_removals(customer)             the waiting list (HeldRemoval rows with their contacts)
    allow_deletions(customer, admin)    archive them now, record the run, send the removal report
    keep_contacts(customer, admin)      keep them as ordinary contacts, no longer tied to M365 users

Both take the customer's sync lock (lock.CustomerBusy when a sync holds it: nothing changes) and
commit one transaction. The decision is a SyncPlan written by the sync's own apply code
(portal.sync.apply), so archiving and the run's SyncChange rows are the same.
"""

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import utcnow
from portal.models.sync import HeldRemoval, SyncRun
from portal.models.vocabulary import ChangeKind, RunKind
from portal.sync import lock, reports
from portal.sync.apply import apply_plan
from portal.sync.plan import Change, SyncPlan


def held_removals(customer):
    """The customer's held removals, oldest first, with their (still active) contacts."""
    return db.session.scalars(
        select(HeldRemoval)
        .join(HeldRemoval.contact)
        .options(contains_eager(HeldRemoval.contact))
        .where(HeldRemoval.customer_id == customer.id)
        .order_by(HeldRemoval.id)
    ).all()


def allow_deletions(customer, admin):
    """Archive every held contact now; returns the recording SyncRun (or None when nothing waits)."""
    return _decide(customer, admin, ChangeKind.REMOVE)


def keep_contacts(customer, admin):
    """Keep every held contact: unlink it from its (deleted) M365 user so no sync removes it."""
    return _decide(customer, admin, ChangeKind.KEEP)


def _decide(customer, admin, kind):
    """Raises lock.CustomerBusy (nothing changed) while a sync or another change holds the book."""
    with lock.held(customer.id, current_app.config["SYNC_LOCK_WEB_WAIT"]) as lease:
        held = held_removals(customer)
        if not held:
            return None
        now = utcnow()
        decision = "Allow deletions" if kind is ChangeKind.REMOVE else "Keep contacts"
        run = SyncRun.admin_action(customer, RunKind.DECISION, f"{decision} by {admin.email}", now)
        plan = decision_plan(held, kind)
        counts = apply_plan(plan, customer, run, now, decided_by=admin.email)
        run.counts = {key: number for key, number in counts.items() if number}
        if plan.removals:
            notice = reports.send_removal_report(customer, plan.removals, now, run=run)
            run.message += "\n" + notice.note(reports.REMOVAL_REPORT)
        lease.confirm()
        db.session.commit()
        return run


def decision_plan(held, kind):
    """The plan of a decision on `held` removals: ChangeKind.REMOVE archives them, KEEP unlinks them."""
    changes = [
        Change(
            kind,
            item.m365_user_id,
            item.contact.full_name,
            item.contact.email,
            contact_id=item.contact_id,
            reason=item.reason,
        )
        for item in held
    ]
    return SyncPlan(removals=changes) if kind is ChangeKind.REMOVE else SyncPlan(kept=changes)
