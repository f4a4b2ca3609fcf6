"""Write a SyncPlan into the contact book and record each change (SyncChange rows).

`apply_plan` adds and flushes; the caller commits, so the plan, the run record, the new delta
links and the removal report land in one transaction (or none of them do).
"""

from dataclasses import replace

from sqlalchemy import delete, select

from portal import attributes, book
from portal.extensions import db
from portal.models import Contact, ContactGroup, Origin, contact_group_members, utcnow
from portal.models.base import INSERT_CHUNK, insert_rows
from portal.models.contacts import contact_search_text
from portal.models.sync import HeldRemoval, SyncChange
from portal.models.vocabulary import ChangeKind, ChangeNote, RemovalReason
from portal.text import email_key

# An admin's decision is recorded on each change's detail: "<reason> · <admin email>".
DECIDED_BY_SEPARATOR = " · "


def split_decided_by(detail):
    """(reason, admin email or "") of a recorded change's detail."""
    reason, _sep, decided_by = (detail or "").partition(DECIDED_BY_SEPARATOR)
    return reason, decided_by


def archive_reason(removal_reason):
    """The text stored on an archived contact for a removal reason of the plan: its English label."""
    try:
        return RemovalReason(removal_reason).message
    except ValueError:
        return f"Removed by the M365 sync ({removal_reason})"


def apply_plan(plan, customer, run, now=None, decided_by="", settle=True, contacts=None):
    """Write `plan` for `customer`, recording SyncChange rows on `run`; returns the counts.

    `decided_by`: the admin's email when the plan is a decision on held removals (portal.sync.held);
    it is added to each recorded change's detail. `settle`: bring what follows from the contacts
    in step afterwards (book.settle); an import written a slice at a time does that once, at its end.
    `contacts`: the plan's contacts where the caller holds them already (Entra's deletion locked its
    one), else they are read.
    """
    now = now or utcnow()
    contacts = {c.id: c for c in contacts} if contacts is not None else _load_contacts(customer, plan)
    recorder = _Recorder(customer, run, now, decided_by)
    by_user = _create(customer, plan.creates, now)
    for change in plan.creates:
        recorder.add(change, by_user[change.user_id], detail=change.reason)
    for change in plan.links:
        contact = contacts[change.contact_id]
        contact.m365_user_id = change.user_id
        contact.linked_automatically = True
        _set_fields(contact, change.changes)
        recorder.add(change, contact.id, detail=ChangeNote.LINKED_AUTOMATICALLY)
        recorder.fields(change, contact.id)
    for change in plan.restores:
        contact = contacts[change.contact_id]
        contact.archived_at = None
        contact.archive_reason = ""
        _set_fields(contact, change.changes)
        recorder.add(change, contact.id, detail=change.reason)
        recorder.fields(change, contact.id)
    for change in plan.updates:
        _set_fields(contacts[change.contact_id], change.changes)
        recorder.fields(change, change.contact_id)
    db.session.flush()
    _add_to_groups(customer, plan, by_user, recorder)
    _remove(plan, contacts, recorder, now)
    _hold(customer, plan, run, recorder)
    _release(customer, plan, recorder)
    _keep(customer, plan, contacts, recorder)
    recorder.skips(plan.skipped)
    recorder.write()
    db.session.flush()
    if settle and not plan.is_empty:
        book.settle(customer.id, run)
    return plan.counts()


def _load_contacts(customer, plan):
    ids = {c.contact_id for c in plan.changes() if c.contact_id is not None}
    if not ids:
        return {}
    rows = db.session.scalars(
        select(Contact).where(Contact.customer_id == customer.id, Contact.id.in_(ids))
    ).all()
    return {c.id: c for c in rows}


def _create(customer, creates, now):
    """Insert the planned new contacts in bulk; -> {M365 user id: new contact id}."""
    rows = (_new_contact_row(customer, change, now) for change in creates)
    return dict(insert_rows(Contact.__table__, rows, Contact.m365_user_id, Contact.id))


def _new_contact_row(customer, change, now):
    first, last, email = change.values
    first, last, email = first[:100], last[:100], email.strip()
    values = dict(change.attributes)
    return {
        **{name: values.get(name, "") for name in attributes.NAMES},
        **_manager_columns(values.get("manager")),
        "customer_id": customer.id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "email_key": email_key(email),
        "origin": Origin.M365,
        "m365_user_id": change.user_id,
        "linked_automatically": False,
        "created_at": now,
        "updated_at": now,
        "search_text": contact_search_text(first, last, email),
    }


def _set_fields(contact, changes):
    for field, _old, new in changes:
        if field == "email":
            contact.set_email(new)
        elif field == "manager":
            for column, value in _manager_columns(new).items():
                setattr(contact, column, value)
        else:
            setattr(contact, field, new[:100])


def _manager_columns(manager):
    """The contact's manager columns for a people.ManagerRef (None: no manager); manager_id is set
    again by book.link_managers after the run's writes."""
    if manager is None:
        return {"manager_m365_id": None, "manager_name": "", "manager_email": "", "manager_id": None}
    return {
        "manager_m365_id": manager.m365_id,
        "manager_name": manager.name,
        "manager_email": manager.email,
        "manager_id": None,
    }


def _add_to_groups(customer, plan, by_user, recorder):
    own_groups = _own_group_ids(customer, {change.group_id for change in plan.group_adds})
    rows = []
    for change in plan.group_adds:
        contact_id = change.contact_id or by_user.get(change.user_id)
        if contact_id is None or change.group_id not in own_groups:
            continue
        rows.append({"contact_id": contact_id, "group_id": change.group_id})
        recorder.add(change, contact_id, detail=str(change.group_id))
    if rows:
        insert_rows(contact_group_members, rows)


def _own_group_ids(customer, group_ids):
    """The ids among `group_ids` of the customer's own ordinary contact groups (never another's)."""
    if not group_ids:
        return set()
    groups = db.session.scalars(
        select(ContactGroup).where(ContactGroup.customer_id == customer.id, ContactGroup.id.in_(group_ids))
    )
    return {group.id for group in groups if not group.is_smart}  # a smart group's rule decides


def _remove(plan, contacts, recorder, now):
    removed_ids = []
    for change in plan.removals:
        contact = contacts[change.contact_id]
        contact.archived_at = now
        contact.archive_reason = archive_reason(change.reason)
        removed_ids.append(contact.id)
        recorder.add(change, contact.id, detail=change.reason)
    if removed_ids:
        db.session.execute(
            delete(HeldRemoval).where(
                HeldRemoval.customer_id == recorder.customer.id, HeldRemoval.contact_id.in_(removed_ids)
            )
        )


def _hold(customer, plan, run, recorder):
    for change in plan.holds:
        db.session.add(
            HeldRemoval(
                customer_id=customer.id,
                contact_id=change.contact_id,
                m365_user_id=change.user_id or "",
                reason=change.reason,
                run_id=run.id,
            )
        )
        recorder.add(change, None, detail=change.reason)


def _release(customer, plan, recorder):
    ids = [c.contact_id for c in plan.releases]
    if ids:
        db.session.execute(
            delete(HeldRemoval).where(HeldRemoval.customer_id == customer.id, HeldRemoval.contact_id.in_(ids))
        )
    for change in plan.releases:
        recorder.add(change, None, detail=change.reason)


def _keep(customer, plan, contacts, recorder):
    """Held removals kept: the contact stays as an ordinary one, no longer tied to its M365 user."""
    for change in plan.kept:
        contact = contacts[change.contact_id]
        contact.m365_user_id = None
        contact.linked_automatically = False
        recorder.add(change, contact.id, detail=change.reason)
    ids = [c.contact_id for c in plan.kept]
    if ids:
        db.session.execute(
            delete(HeldRemoval).where(HeldRemoval.customer_id == customer.id, HeldRemoval.contact_id.in_(ids))
        )


class _Recorder:
    """Turns planned changes into SyncChange rows of one run, written in bulk: every INSERT_CHUNK rows, and
    the rest by write() (a large import never holds all its rows at once)."""

    def __init__(self, customer, run, now, decided_by=""):
        self.customer, self.run, self.now, self.decided_by = customer, run, now, decided_by
        self.rows = []

    def add(self, change, contact_id, field="", old="", new="", detail=""):
        if self.decided_by:
            detail = f"{detail}{DECIDED_BY_SEPARATOR}{self.decided_by}"
        self.rows.append(
            {
                "run_id": self.run.id,
                "customer_id": self.customer.id,
                "m365_user_id": change.user_id,
                "contact_id": contact_id if contact_id is not None else change.contact_id,
                "kind": change.kind,
                "contact_name": (change.name or "")[:210],
                "contact_email": (change.email or "")[:254],
                "field": field,
                "old_value": str(old or "")[:254],
                "new_value": str(new or "")[:254],
                "detail": (detail or "")[:254],
                "created_at": self.now,
            }
        )
        if len(self.rows) >= INSERT_CHUNK:
            self.write()

    def fields(self, change, contact_id):
        for field, old, new in change.changes:
            self.add(_as_update(change), contact_id, field=field, old=old, new=new)

    def skips(self, skipped):
        for change in skipped:
            self.add(change, None, detail=change.reason)

    def write(self):
        if self.rows:
            insert_rows(SyncChange.__table__, self.rows)
        self.rows = []


def _as_update(change):
    return replace(change, kind=ChangeKind.UPDATE)
