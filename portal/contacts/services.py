"""The contact book's rules, shared by the web views, the CSV import and the M365 sync.

Email addresses are unique per customer, compared case-insensitively (`Contact.email_key`),
and must lie in the customer's allowed domains when the master data names any. Functions
here add and flush; the caller (a view, the import, the sync) commits.
"""

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from portal import search
from portal.extensions import db
from portal.models import AuditEntry, Contact, ContactGroup, GroupSubscription, Origin, contact_group_members
from portal.models.sync import HeldRemoval, SyncChange
from portal.text import single_line

NAME_MAX = 100
SALUTATION_MAX = 40
GROUP_NAME_MAX = 200


# A plain ASCII dot-atom local part (RFC 5322): email_validator accepts it as it is.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


@lru_cache(maxsize=4096)
def _normalized_domain(domain):
    """email_validator's normalised domain, or None when invalid; cached because a CSV file or an
    M365 tenant repeats a handful of domains thousands of times."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalize_email(email):
    """(normalized address, None) for a valid address, else (None, the reason)."""
    email = (email or "").strip()
    if not email:
        return None, _("Email address is missing.")
    local, _at, domain = email.rpartition("@")
    if local and len(email.encode()) <= 254 and len(local) <= 64 and _DOT_ATOM.match(local):
        normalized_domain = _normalized_domain(domain)
        if normalized_domain is None:
            return None, _("This is not a valid email address.")
        return f"{local}@{normalized_domain}", None
    try:  # quoted or international local parts: the full check
        return validate_email(email, check_deliverability=False).normalized, None
    except EmailNotValidError:
        return None, _("This is not a valid email address.")


def find_by_email(customer, email):
    """The customer's contact with this address in any letter case (archived ones too), or None."""
    key = (email or "").strip().lower()
    return db.session.scalar(
        select(Contact).where(Contact.customer_id == customer.id, Contact.email_key == key)
    )


def email_problem(customer, email, exclude_contact_id=None):
    """Why `email` cannot be a contact's address for `customer`, or None when it can."""
    normalized, problem = normalize_email(email)
    if problem:
        return problem
    if not customer.allows_email(normalized):
        return _(
            "Email addresses must belong to one of these domains: %(domains)s.",
            domains=", ".join(customer.effective_domains),
        )
    existing = find_by_email(customer, normalized)
    if existing is not None and existing.id != exclude_contact_id:
        if existing.archived_at is not None:
            return _(
                "A removed contact with this email address is kept for restoring; "
                "restore it instead of adding it again."
            )
        return _("A contact with this email address already exists.")
    return None


def customer_groups(customer):
    """The customer's contact groups by name."""
    return db.session.scalars(
        select(ContactGroup).where(ContactGroup.customer_id == customer.id).order_by(ContactGroup.name)
    ).all()


def groups_by_ids(customer, ids):
    """The customer's groups among `ids` (ids of other customers are ignored)."""
    if not ids:
        return []
    return db.session.scalars(
        select(ContactGroup)
        .where(ContactGroup.customer_id == customer.id, ContactGroup.id.in_(ids))
        .order_by(ContactGroup.name)
    ).all()


def save_contact(
    customer, contact, *, salutation, first_name, last_name, email, groups=None, origin=Origin.MANUAL
):
    """Create (contact=None) or update a contact after `email_problem` said yes; returns it."""
    if contact is None:
        contact = Contact(customer_id=customer.id, origin=origin)
        db.session.add(contact)
    normalized, _problem = normalize_email(email)
    contact.set_email(normalized or email)
    contact.salutation = single_line(salutation or "")[:SALUTATION_MAX]
    contact.first_name = single_line(first_name or "")[:NAME_MAX]
    contact.last_name = single_line(last_name or "")[:NAME_MAX]
    if groups is not None:
        contact.groups = list(groups)
    db.session.flush()
    return contact


def delete_contact(contact):
    """Remove the contact row with everything that refers to it (see delete_contacts)."""
    delete_contacts(contact.customer_id, [contact.id])


def delete_contacts(customer_id, contact_ids):
    """Delete the customer's contacts among `contact_ids` and detach what refers to them.

    Done here, not left to ON DELETE: a row left pointing at a freed id would belong to whichever
    contact (of any customer) gets that id next. Group memberships and held removals go; the
    sync history keeps its lines without the link. Returns the number of contacts deleted.
    """
    deleted = 0
    for start in range(0, len(contact_ids), 500):
        ids = select(Contact.id).where(
            Contact.customer_id == customer_id, Contact.id.in_(contact_ids[start : start + 500])
        )
        ids = db.session.scalars(ids).all()
        if not ids:
            continue
        db.session.execute(delete(contact_group_members).where(contact_group_members.c.contact_id.in_(ids)))
        db.session.execute(
            delete(HeldRemoval).where(HeldRemoval.customer_id == customer_id, HeldRemoval.contact_id.in_(ids))
        )
        db.session.execute(
            update(SyncChange)
            .where(SyncChange.customer_id == customer_id, SyncChange.contact_id.in_(ids))
            .values(contact_id=None)
        )
        deleted += db.session.execute(
            delete(Contact).where(Contact.customer_id == customer_id, Contact.id.in_(ids))
        ).rowcount
    return deleted


def group_subscriptions(group):
    """The M365 group subscriptions that feed `group` (Automatic mode)."""
    return db.session.scalars(
        select(GroupSubscription).where(
            GroupSubscription.customer_id == group.customer_id, GroupSubscription.contact_group_id == group.id
        )
    ).all()


def delete_group(customer, group, actor):
    """Delete a contact group; its contacts stay. Subscriptions that fed it end with it (audited),
    so no subscription is left pointing at an id a later group (of any customer) may get."""
    for subscription in group_subscriptions(group):
        AuditEntry.record(
            customer,
            actor,
            "group_unsubscribed",
            f"{subscription.display_name} (contact group {group.name} deleted)",
        )
        db.session.delete(subscription)
    db.session.execute(delete(contact_group_members).where(contact_group_members.c.group_id == group.id))
    db.session.delete(group)
    db.session.flush()


def group_name_problem(customer, name, exclude_group_id=None):
    """Why `name` cannot name a new/renamed group of `customer` (case-insensitive), or None."""
    name = single_line(name or "")
    if not name:
        return _("Enter a name.")
    if len(name) > GROUP_NAME_MAX:
        return _("At most %(n)s characters.", n=GROUP_NAME_MAX)
    existing = find_group_by_name(customer, name)
    if existing is not None and existing.id != exclude_group_id:
        return _("A contact group with this name already exists.")
    return None


def find_group_by_name(customer, name):
    """The customer's group of that name in any letter case, or None."""
    return db.session.scalar(
        select(ContactGroup)
        .where(
            ContactGroup.customer_id == customer.id,
            func.lower(ContactGroup.name) == single_line(name).lower(),
        )
        .limit(1)
    )


def create_group(customer, name, origin=Origin.MANUAL):
    """Add a contact group (after `group_name_problem` said yes)."""
    group = ContactGroup(customer_id=customer.id, name=single_line(name), origin=origin)
    db.session.add(group)
    db.session.flush()
    return group


def member_counts(customer):
    """{group id: number of non-archived members} for the customer's groups."""
    rows = db.session.execute(
        select(contact_group_members.c.group_id, func.count())
        .join(Contact, Contact.id == contact_group_members.c.contact_id)
        .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
        .group_by(contact_group_members.c.group_id)
    )
    return dict(rows.all())


def add_member(group, contact):
    """Put the contact into the group (no-op when already a member); both of one customer."""
    if group.customer_id != contact.customer_id:
        raise ValueError("group and contact belong to different customers")
    if group not in contact.groups:
        contact.groups.append(group)
    db.session.flush()


def remove_member(group, contact):
    """Take the contact out of the group (the contact stays)."""
    if group in contact.groups:
        contact.groups.remove(group)
    db.session.flush()


def member_candidates(group, term, limit=10):
    """Non-archived contacts of the group's customer matching `term` that are not yet members,
    exact and prefix matches first, then by name."""
    members = select(contact_group_members.c.contact_id).where(contact_group_members.c.group_id == group.id)
    query = select(Contact).where(
        Contact.customer_id == group.customer_id,
        Contact.archived_at.is_(None),
        Contact.id.not_in(members),
    )
    by_name = (Contact.last_name, Contact.first_name, Contact.id)
    return db.session.scalars(search.ranked(query, Contact, term, *by_name).limit(limit)).all()
