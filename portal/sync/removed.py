"""Removed contacts: the archive the sync keeps for 30 days, and "Restore".

    removed_page(customer, q, page, per_page)   one page of archived contacts, newest removal first,
                                                each with who removed it, why and when it goes for good
    restore_contact(customer, contact_id, admin)   back into the book, recorded as a run; commits

A removed contact is archived (`archived_at`), never deleted at once; portal.sync.service
.purge_expired deletes it ARCHIVE_DAYS after its removal. Restoring goes through the sync's own
apply code under the customer's sync lock, like the decisions on held removals (portal.sync.held).

A restored contact is unlinked from its M365 user: it was removed because that user is gone, and
a link to a missing user would make the next full listing remove it again. If the user exists
again, the sync or an import links it by email as any other existing contact ("Link active",
portal.sync.plan._link_or_leave); until then it is an ordinary contact no sync removes.
"""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal import search
from portal.book import email_problem, settle
from portal.extensions import db
from portal.models import Contact, utcnow
from portal.models.sync import SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind, ChangeNote, RemovalReason, RunKind
from portal.sync import lock
from portal.sync.apply import apply_plan, split_decided_by
from portal.sync.plan import Change, SyncPlan

ARCHIVE_DAYS = 30  # a removed contact is kept this long, then portal.sync.service.purge_expired deletes it


def deleted_for_good_on(archived_at):
    """When purge_expired deletes a contact archived at `archived_at`."""
    return archived_at + timedelta(days=ARCHIVE_DAYS)


class NotRestored(Exception):
    """The contact was not restored; the message (in the admin's language) says why."""


@dataclass
class RemovedContact:
    """An archived contact as the "Removed contacts" page shows it."""

    contact: Contact
    reason: str  # the stored archive reason (English; shown as `reason_label`)
    decided_by: str  # the admin who allowed the removal ("Allow deletions"); "" for the sync
    run_id: int | None  # the run that removed it, while the history keeps it
    by_provisioning: bool = False  # removed by Entra provisioning (a SCIM DELETE), not the M365 sync

    @property
    def reason_label(self):
        """The archive reason in the admin's language."""
        return RemovalReason.archive_label(self.reason)

    @property
    def removed_at(self):
        return self.contact.archived_at

    @property
    def deleted_on(self):
        return deleted_for_good_on(self.contact.archived_at)


def archived_query(customer, q=""):
    """The customer's archived contacts (matching `q`), newest removal first."""
    query = (
        select(Contact)
        .where(Contact.customer_id == customer.id, Contact.archived_at.is_not(None))
        .order_by(Contact.archived_at.desc(), Contact.id.desc())
    )
    return search.narrowed(query, Contact, q)


def removed_page(customer, q="", page=1, per_page=50):
    """One page (Flask-SQLAlchemy Pagination) of RemovedContact rows."""
    pagination = db.paginate(archived_query(customer, q), page=page, per_page=per_page, error_out=False)
    removals = _last_removals(customer, [c.id for c in pagination.items])
    pagination.items = [_removed(contact, removals.get(contact.id)) for contact in pagination.items]
    return pagination


def removed_count(customer):
    """How many archived contacts the customer has (for "Removed contacts (N)")."""
    return db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.customer_id == customer.id, Contact.archived_at.is_not(None))
    )


def _last_removals(customer, contact_ids):
    """{contact id: (its latest removal (SyncChange), the kind of its run)} among `contact_ids` (one
    query)."""
    if not contact_ids:
        return {}
    rows = db.session.execute(
        select(SyncChange, SyncRun.kind)
        .join(SyncRun, SyncRun.id == SyncChange.run_id)
        .where(
            SyncChange.customer_id == customer.id,
            SyncChange.kind == ChangeKind.REMOVE,
            SyncChange.contact_id.in_(contact_ids),
        )
        .order_by(SyncChange.id)
    )
    return {change.contact_id: (change, run_kind) for change, run_kind in rows}


def _removed(contact, removal):
    change, run_kind = removal if removal is not None else (None, None)
    decided_by = split_decided_by(change.detail)[1] if change is not None else ""
    return RemovedContact(
        contact=contact,
        reason=contact.archive_reason,
        decided_by=decided_by,
        run_id=change.run_id if change is not None else None,
        by_provisioning=run_kind == RunKind.PROVISIONING,
    )


def restore_contact(customer, contact_id, admin, now=None, wait_seconds=None):
    """Put the customer's archived contact back into the book, unlinked; returns it. Commits.

    Raises NotRestored (nothing changed) when the contact is not archived (any more), when its
    email cannot be a contact's address now (taken, or outside the allowed domains), or when a
    sync holds the customer's lock for longer than `wait_seconds` (default SYNC_LOCK_WEB_WAIT).
    """
    if wait_seconds is None:
        wait_seconds = current_app.config["SYNC_LOCK_WEB_WAIT"]
    try:
        with lock.held(customer.id, wait_seconds) as lease:
            contact = db.session.scalar(
                select(Contact).where(Contact.customer_id == customer.id, Contact.id == contact_id)
            )
            if contact is None or contact.archived_at is None:
                raise NotRestored(_("This contact is not among the removed contacts."))
            problem = email_problem(customer, contact.email, exclude_contact_id=contact.id)
            if problem:
                raise NotRestored(problem)
            _restore(customer, contact, admin, now or utcnow())
            lease.confirm()
            db.session.commit()
            return contact
    except lock.CustomerBusy:
        raise NotRestored(_(lock.BUSY_MESSAGE)) from None


def _restore(customer, contact, admin, now):
    """Write the restore through the sync's apply code, record it as a run, then unlink."""
    run = SyncRun.admin_action(
        customer, RunKind.RESTORE, f"Restore by {admin.email}", now, {ChangeKind.RESTORE.plural: 1}
    )
    reason = ChangeNote.RESTORED_UNLINKED if contact.m365_user_id else ChangeNote.RESTORED
    change = Change.of_contact(ChangeKind.RESTORE, contact, reason)
    apply_plan(SyncPlan(restores=[change]), customer, run, now, decided_by=admin.email)
    contact.m365_user_id = None
    contact.linked_automatically = False
    db.session.flush()
    settle(customer.id, run)  # the restored contact's reports find their manager again
