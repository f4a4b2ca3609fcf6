"""Removals held by the deletion threshold, and the admin's decision: "Allow deletions" or "Keep contacts".

    held_removals(customer)             the waiting list (HeldRemoval rows with their contacts)
    allow_deletions(customer, admin)    archive them now, record the run, send the removal report
    keep_contacts(customer, admin)      keep them as ordinary contacts, no longer tied to M365 users

Both take the customer's sync lock and commit one transaction.
"""
from sqlalchemy import delete, select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import utcnow
from portal.models.sync import HeldRemoval, RunStatus, SyncChange, SyncRun
from portal.sync import lock, reports
from portal.sync.apply import archive_reason
from portal.sync.plan import Change


class Busy(Exception):
    """A sync of the customer is running; try again in a moment."""


def held_removals(customer):
    """The customer's held removals, oldest first, with their (still active) contacts."""
    return db.session.scalars(
        select(HeldRemoval).join(HeldRemoval.contact).options(contains_eager(HeldRemoval.contact))
        .where(HeldRemoval.customer_id == customer.id).order_by(HeldRemoval.id)).all()


def allow_deletions(customer, admin):
    """Archive every held contact now; returns the recording SyncRun (or None when nothing waits)."""
    return _decide(customer, admin, "remove")


def keep_contacts(customer, admin):
    """Keep every held contact: unlink it from its (deleted) M365 user so no sync removes it."""
    return _decide(customer, admin, "keep")


def _decide(customer, admin, kind):
    owner = lock.new_owner()
    if not lock.acquire(customer.id, owner, wait_seconds=10):
        raise Busy()
    try:
        held = held_removals(customer)
        if not held:
            return None
        now = utcnow()
        run = SyncRun(customer_id=customer.id, kind="decision", trigger="manual", started_at=now,
                      finished_at=now, status=RunStatus.SUCCEEDED.value, counts={},
                      message=f"{'Allow deletions' if kind == 'remove' else 'Keep contacts'} by {admin.email}")
        db.session.add(run)
        db.session.flush()
        changes = [_resolve(run, item, kind, now, admin) for item in held]
        db.session.execute(delete(HeldRemoval).where(HeldRemoval.customer_id == customer.id,
                                                     HeldRemoval.id.in_([h.id for h in held])))
        run.counts = {"removals" if kind == "remove" else "kept": len(changes)}
        if kind == "remove":
            notice = reports.send_removal_report(customer, changes, now, run=run)
            run.message += "\n" + notice.note(reports.REMOVAL_REPORT)
        db.session.commit()
        return run
    finally:
        lock.release(customer.id, owner)


def _resolve(run, item, kind, now, admin):
    contact = item.contact
    change = Change(kind, item.m365_user_id, contact.full_name, contact.email,
                    contact_id=contact.id, reason=item.reason)
    if kind == "remove":
        contact.archived_at = now
        contact.archive_reason = archive_reason(item.reason)
    else:
        contact.m365_user_id = None
        contact.linked_automatically = False
    db.session.add(SyncChange(run_id=run.id, customer_id=run.customer_id, contact_id=contact.id,
                              m365_user_id=item.m365_user_id, kind=kind,
                              contact_name=contact.full_name[:210], contact_email=contact.email,
                              detail=f"{item.reason} · {admin.email}"[:254], created_at=now))
    return change

