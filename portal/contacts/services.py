"""The contacts area's services: saving a contact, contact groups and their members.

The rules the sync shares (the email rule, deleting contacts, group lookup by name) are in
portal.book. Functions here add and flush; the caller (a view, the import) commits.
"""

from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from portal import search
from portal.attributes import BY_NAME as ATTRIBUTE_BY_NAME
from portal.attributes import clean as clean_attribute
from portal.book import find_by_email, find_group_by_name, normalize_email
from portal.extensions import db
from portal.models import AuditEntry, Contact, ContactGroup, GroupSubscription, Origin, contact_group_members
from portal.text import email_key, single_line

NAME_MAX = 100
SALUTATION_MAX = 40
GROUP_NAME_MAX = 200


def customer_groups(customer):
    """The customer's contact groups by name."""
    return db.session.scalars(
        select(ContactGroup).where(ContactGroup.customer_id == customer.id).order_by(ContactGroup.name)
    ).all()


def manual_groups(customer):
    """The customer's groups whose members are chosen by hand (not smart groups), by name."""
    return [group for group in customer_groups(customer) if not group.is_smart]


def groups_by_ids(customer, ids):
    """The customer's ordinary groups among `ids` (other customers' ids and smart groups ignored)."""
    if not ids:
        return []
    groups = db.session.scalars(
        select(ContactGroup)
        .where(ContactGroup.customer_id == customer.id, ContactGroup.id.in_(ids))
        .order_by(ContactGroup.name)
    ).all()
    return [group for group in groups if not group.is_smart]


def save_contact(
    customer,
    contact,
    *,
    salutation,
    first_name,
    last_name,
    email,
    groups=None,
    origin=Origin.MANUAL,
    attributes=None,
    manager=None,
):
    """Create (contact=None) or update a contact after `email_problem` said yes; returns it.

    attributes: {name: value} of attributes.ATTRIBUTES to set (others unchanged). manager: (email,
    name) after `manager_problem` said yes, ("", "") for none; None leaves the manager as it is.
    The caller runs book.settle, which links the manager when they are in the book."""
    if contact is None:
        contact = Contact(customer_id=customer.id, origin=origin)
        db.session.add(contact)
    normalized, _problem = normalize_email(email)
    contact.set_email(normalized or email)
    contact.salutation = single_line(salutation or "")[:SALUTATION_MAX]
    contact.first_name = single_line(first_name or "")[:NAME_MAX]
    contact.last_name = single_line(last_name or "")[:NAME_MAX]
    for name, value in (attributes or {}).items():
        setattr(contact, ATTRIBUTE_BY_NAME[name].name, clean_attribute(value))
    if manager is not None:
        _set_manager(customer, contact, *manager)
    if groups is not None:  # smart groups follow their rule (book.settle), not the form
        contact.groups = [g for g in contact.groups if g.is_smart] + list(groups)
    db.session.flush()
    return contact


def _set_manager(customer, contact, email, name):
    """The manager named by the form: a contact of the book by that email (book.link_managers links
    it), or a person outside the book by name and email. Unchanged values leave the manager alone,
    so a manager known by their M365 id keeps it."""
    normalized = normalize_email(email)[0] if email else ""
    name = single_line(name or "")[:210]
    same_email = (normalized or "").lower() == (contact.manager_email or "").lower()
    if same_email and (name == contact.manager_name or contact.manager_id is not None):
        return
    in_book = find_by_email(customer, normalized) if normalized else None
    if in_book is not None and in_book.archived_at is None:
        name = in_book.full_name
    contact.manager_email, contact.manager_name = normalized or "", name if normalized else ""
    contact.manager_m365_id, contact.manager_id = None, None


def manager_problem(email, own_email):
    """Why `email` cannot name the manager of the contact whose address is `own_email` (None: it
    can, or it is empty)."""
    email = (email or "").strip()
    if not email:
        return None
    normalized, problem = normalize_email(email)
    if problem:
        return problem
    if email_key(normalized) == email_key(own_email or ""):
        return _("A contact cannot be their own manager.")
    return None


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


def create_group(customer, name, origin=Origin.MANUAL):
    """Add a contact group (after `group_name_problem` said yes)."""
    group = ContactGroup(customer_id=customer.id, name=single_line(name), origin=origin)
    db.session.add(group)
    db.session.flush()
    return group


class MemberCount(NamedTuple):
    """A group's non-archived members, and how many of them are inactive (disabled by Entra)."""

    total: int
    inactive: int

    @property
    def active(self):
        return self.total - self.inactive


def member_counts(customer):
    """{group id: MemberCount} for the customer's groups (one query)."""
    rows = db.session.execute(
        select(contact_group_members.c.group_id, func.count(), func.count(Contact.deactivated_at))
        .join(Contact, Contact.id == contact_group_members.c.contact_id)
        .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
        .group_by(contact_group_members.c.group_id)
    )
    return {group_id: MemberCount(total, inactive) for group_id, total, inactive in rows.all()}


def add_member(group, contact):
    """Put the contact into the group (no-op when already a member); both of one customer."""
    if group.customer_id != contact.customer_id:
        raise ValueError("group and contact belong to different customers")
    if group.is_smart:
        raise ValueError("a smart group's members follow its rule")
    if group not in contact.groups:
        contact.groups.append(group)
    db.session.flush()


def remove_member(group, contact):
    """Take the contact out of the group (the contact stays); a smart group's rule decides alone."""
    if group.is_smart:
        return
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
