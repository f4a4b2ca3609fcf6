"""A SCIM Group is a contact group provisioned by Entra (origin "scim"); smart groups never are.

provisioned(customer_id)       the query of the customer's provisioned groups
to_group(row, base, members)   the group as a SCIM Group (members: users, by contact id)
"""

from scim2_models import Group, GroupMember, Meta
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contact, ContactGroup, Origin, contact_group_members
from portal.scim.users import location as user_location


def location(base, group_id):
    return f"{base}/Groups/{group_id}"


def provisioned(customer_id):
    return select(ContactGroup).where(
        ContactGroup.customer_id == customer_id,
        ContactGroup.origin == Origin.SCIM,
        ContactGroup.rule.is_(None),
    )


def to_group(row, base, members=True):
    group = Group(
        id=str(row.id),
        display_name=row.name,
        external_id=row.external_id or None,
        meta=Meta(resource_type="Group", created=row.created_at, location=location(base, row.id)),
    )
    if members:
        group.members = [
            GroupMember(value=str(cid), ref=user_location(base, cid), type="User", display=_name(first, last))
            for cid, first, last in _members(row)
        ] or None
    return group


def _name(first, last):
    return f"{first} {last}".strip() or None


def _members(row):
    member = contact_group_members.c
    return db.session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name)
        .join(contact_group_members, member.contact_id == Contact.id)
        .where(
            member.group_id == row.id, Contact.customer_id == row.customer_id, Contact.archived_at.is_(None)
        )
        .order_by(Contact.id)
    ).all()
