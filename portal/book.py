"""The contact book's shared rules, below both the contacts area and the sync engine.

    normalize_email(email)                    (normalized address, None) or (None, why not): the email rule
    valid_address(email)                      the normalized address, or None (the rule, without a message)
    find_by_email(customer, email)            the contact with this address in any letter case, or None
    email_problem(customer, email, ...)       why an address cannot be a contact's, or None
    delete_contacts(customer_id, ids)         delete contacts and detach what refers to them
    state(customer)                           a fingerprint of the book (is a preview older than it?)
    find_group_by_name(customer, name)        a contact group by name, in any letter case
    link_managers(customer_id)                each contact's manager_id: the manager, when in the book

Email addresses are unique per customer, compared case-insensitively (text.email_key, stored as
`Contact.email_key`), and must lie in the customer's allowed domains when the master data names
any. The contact form, the CSV import, the sync and "Restore" all use these. Functions here add
and flush; the caller (a view, the import, the sync) commits.
"""

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.orm.util import identity_key

from portal import smart_groups
from portal.extensions import db
from portal.models import Contact, ContactGroup, contact_group_members
from portal.models.base import chunks
from portal.models.sync import HeldRemoval, SyncChange, SyncRun
from portal.text import email_key, name_key

# A plain ASCII dot-atom local part (RFC 5322): email_validator accepts it as it is.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


@lru_cache(maxsize=4096)
def _normalized_domain(domain):
    """email_validator's normalised domain, or None when invalid; cached because a CSV file repeats
    a handful of domains thousands of times."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalize_email(email):
    """(normalized address, None) for a valid address, else (None, the reason)."""
    email = (email or "").strip()
    if not email:
        return None, _("Email address is missing.")
    normalized = valid_address(email)
    if normalized is None:
        return None, _("This is not a valid email address.")
    return normalized, None


def valid_address(email):
    """The normalized address when `email` is one address and nothing else, else None. Every way in
    (form, CSV, Microsoft 365) goes through this: `a@b.example\r\nBcc: x@y` is no address."""
    local, _at, domain = email.rpartition("@")
    if local and len(email.encode()) <= 254 and len(local) <= 64 and _DOT_ATOM.match(local):
        normalized_domain = _normalized_domain(domain)
        return None if normalized_domain is None else f"{local}@{normalized_domain}"
    try:  # quoted or international local parts: the full check
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


# Built once: every contact written (a form, an import row, each user Entra provisions) asks it.
_BY_EMAIL = select(Contact).where(
    Contact.customer_id == bindparam("customer_id"), Contact.email_key == bindparam("email_key")
)


def find_by_email(customer, email):
    """The customer's contact with this address in any letter case (archived ones too), or None."""
    return db.session.scalar(_BY_EMAIL, {"customer_id": customer.id, "email_key": email_key(email)})


def email_problem(customer, email, exclude_contact_id=None, holders=None):
    """Why `email` cannot be a contact's address for `customer`, or None when it can. `holders`:
    {email_key: the customer's contact with that address, or None} where the caller looked already
    (a key not in it is looked up)."""
    normalized, problem = normalize_email(email)
    if problem:
        return problem
    if not customer.allows_email(normalized):
        return _(
            "Email addresses must belong to one of these domains: %(domains)s.",
            domains=", ".join(customer.effective_domains),
        )
    key = email_key(normalized)
    existing = holders[key] if holders and key in holders else find_by_email(customer, normalized)
    if existing is not None and existing.id != exclude_contact_id:
        if existing.archived_at is not None:
            return _(
                "A removed contact with this email address is kept for restoring; "
                "restore it instead of adding it again."
            )
        return _("A contact with this email address already exists.")
    return None


def delete_contact(contact):
    """Remove the contact row with everything that refers to it (see delete_contacts)."""
    delete_contacts(contact.customer_id, [contact.id])


def delete_contacts(customer_id, contact_ids):
    """Delete the customer's contacts among `contact_ids` and detach what refers to them.

    Done here, not left to ON DELETE: a row left pointing at a freed id would belong to whichever
    contact (of any customer) gets that id next. Group memberships and held removals go (leaving a
    smart group is recorded); the sync history keeps its lines without the link. Returns the number
    of contacts deleted.
    """
    deleted = 0
    for chunk in chunks(contact_ids):
        ids = db.session.scalars(
            select(Contact.id).where(Contact.customer_id == customer_id, Contact.id.in_(chunk))
        ).all()
        if not ids:
            continue
        smart_groups.record_leaving(customer_id, ids)
        db.session.execute(delete(contact_group_members).where(contact_group_members.c.contact_id.in_(ids)))
        db.session.execute(
            delete(HeldRemoval).where(HeldRemoval.customer_id == customer_id, HeldRemoval.contact_id.in_(ids))
        )
        db.session.execute(
            update(SyncChange)
            .where(SyncChange.customer_id == customer_id, SyncChange.contact_id.in_(ids))
            .values(contact_id=None)
        )
        db.session.execute(
            update(Contact)
            .where(Contact.customer_id == customer_id, Contact.manager_id.in_(ids))
            .values(manager_id=None)
        )
        deleted += db.session.execute(
            delete(Contact).where(Contact.customer_id == customer_id, Contact.id.in_(ids))
        ).rowcount
    return deleted


def state(customer):
    """A fingerprint of the customer's book: it differs as soon as a contact was added, changed,
    removed, restored or deleted, or a sync ran. A preview keeps the one it was made with, and is
    outdated when the book's differs (a preview is never older than the book)."""
    # One aggregate per statement: each reads its own index (a count, the last entry of the others);
    # together in one statement SQLite read every contact's row, 155 ms at 100,000 contacts.
    mine = Contact.customer_id == customer.id
    aggregates = (
        func.count(),
        func.max(Contact.id),
        func.max(Contact.updated_at),
        func.max(Contact.archived_at),
    )
    contacts = [db.session.scalar(select(aggregate).where(mine)) for aggregate in aggregates]
    last_run = db.session.scalar(select(func.max(SyncRun.id)).where(SyncRun.customer_id == customer.id))
    return [str(value) for value in (*contacts, last_run)]


def find_group_by_name(customer, name):
    """The customer's group of that name in any letter case (text.name_key), or None."""
    return db.session.scalar(
        select(ContactGroup).where(
            ContactGroup.customer_id == customer.id, ContactGroup.name_key == name_key(name)
        )
    )


def link_managers(customer_id):
    """Point each contact's manager_id at its manager when that person is an active contact of the
    same customer (by the manager's M365 user id when known, else by their email), and at no one
    otherwise; the name and email stay as the way to show a manager outside the book. Only rows
    that change are written; returns their number. Every write that can change who is in the book
    or who manages whom calls this (through settle).

    The book is read once and matched in memory: a correlated UPDATE depended on the planner
    knowing the book's size, and PostgreSQL right after a bulk insert scanned the whole book once
    per contact (minutes at 10,000)."""
    rows = db.session.execute(
        select(
            Contact.id,
            Contact.archived_at.is_(None),
            Contact.m365_user_id,
            Contact.email_key,
            Contact.manager_m365_id,
            Contact.manager_email,
            Contact.manager_id,
        )
        .where(Contact.customer_id == customer_id)
        .order_by(Contact.id)
    ).all()
    by_m365, by_email = {}, {}
    for contact_id, active, m365_user_id, key, *_manager in rows:
        if active:
            if m365_user_id:
                by_m365.setdefault(m365_user_id, contact_id)
            by_email.setdefault(key, contact_id)
    changes = []
    for contact_id, _active, _m365, _key, manager_m365_id, manager_email, manager_id in rows:
        if manager_m365_id:
            found = by_m365.get(manager_m365_id)
        else:
            found = by_email.get(email_key(manager_email)) if manager_email else None
        found = None if found == contact_id else found
        if found != manager_id:
            changes.append({"b_id": contact_id, "b_manager": found})
    table = Contact.__table__
    statement = update(table).where(table.c.id == bindparam("b_id")).values(manager_id=bindparam("b_manager"))
    for part in chunks(changes, 5000):
        db.session.execute(statement, part)
    return len(changes)


def settle(customer_id, run=None, only=None, widen=True, groups=None):
    """After any write to a customer's book (the sync, an import, the CSV import, the contact form,
    Restore, a held removal decided): what follows from the contacts is brought in step with them.
    Managers are linked (link_managers), then smart groups follow (smart_groups.refresh, which records
    joins and leaves on `run`). `run`: the SyncRun that wrote, if any. The caller commits.

    `only`: the ids of the contacts written, when the write changed nothing by which another contact
    finds them (their email, their M365 id, whether they are in the book), or a contact that left the
    book with those linked to it as their manager: their own managers are linked and smart groups
    follow them alone, a few indexed reads instead of the whole book. With `widen` False, a smart
    group that must then read the whole book raises WholeBook instead (the caller redoes its write
    where it may change the whole book). `groups`: the customer's smart groups where the caller
    knows them (smart_groups.refresh)."""
    if only is None:
        link_managers(customer_id)
        smart_groups.refresh(customer_id, run, groups=groups)
        return
    relinked = link_own_managers(customer_id, only)
    smart_groups.refresh(customer_id, run, only=only, managers_moved=relinked > 0, widen=widen, groups=groups)


def link_own_managers(customer_id, contact_ids):
    """link_managers for the contacts `contact_ids` alone (their own manager_id; not who they manage):
    each manager looked up by M365 id or email among the active contacts. Returns how many changed.
    A contact that left the book keeps the manager it had: leaving changed who it names, not who
    they are (so Entra's deletion of a report does not wait for its manager's deletion in flight)."""
    changed = 0
    for contact in _contacts_by_id(customer_id, contact_ids):
        if contact.archived_at is not None:
            continue
        manager_id = _own_manager(customer_id, contact)
        manager_id = None if manager_id == contact.id else manager_id
        if manager_id != contact.manager_id:
            contact.manager_id, changed = manager_id, changed + 1
    db.session.flush()
    return changed


def _contacts_by_id(customer_id, ids):
    """The customer's contacts of these ids: those the session holds already as they are (a write
    to one contact has it at hand), the others read."""
    held = [db.session.identity_map.get(identity_key(Contact, i)) for i in ids]
    found = [c for c in held if c is not None and c.customer_id == customer_id]
    missing = [i for i, c in zip(ids, held, strict=True) if c is None]
    if missing:
        found += db.session.scalars(
            select(Contact).where(Contact.customer_id == customer_id, Contact.id.in_(missing))
        ).all()
    return found


def _own_manager(customer_id, contact):
    """The id of the active contact `contact` names as its manager (by M365 id, else by email), or
    None. The manager it is linked to already is taken as it stands when the session holds it and
    its email still is the one named (emails are unique in a book: the lookup would find it)."""
    if not contact.manager_m365_id and not contact.manager_email:
        return None
    linked = (
        db.session.identity_map.get(identity_key(Contact, contact.manager_id)) if contact.manager_id else None
    )
    if (
        linked is not None
        and not contact.manager_m365_id
        and contact.manager_email
        and linked.customer_id == customer_id
        and linked.archived_at is None
        and linked.email_key == email_key(contact.manager_email)
    ):
        return linked.id
    active = and_(Contact.customer_id == customer_id, Contact.archived_at.is_(None))
    if contact.manager_m365_id:
        found = select(Contact.id).where(active, Contact.m365_user_id == contact.manager_m365_id)
    else:
        found = select(Contact.id).where(active, Contact.email_key == email_key(contact.manager_email))
    # FOR KEY SHARE (PostgreSQL): a deletion of the manager in flight beside this write (Entra's,
    # portal.scim.writes) is waited for and then seen, so no contact is linked to one who left.
    return db.session.scalar(found.order_by(Contact.id).limit(1).with_for_update(read=True, key_share=True))
