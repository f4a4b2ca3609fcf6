"""The tenant's directory cache: users and groups loaded from Microsoft, for Manual and Automatic mode.

    store(customer, users, groups)        replace the cached users and groups (Manual mode's load)
    replace_groups(customer, groups, members)   replace the cached groups only, with each one's
                                          transitive members when given (Automatic mode's load)
    store_members(group, member_ids)      a group's transitive members, kept until the next load
    clear(customer)                       remove users, groups and memberships (interface ended)
    user_count / group_count / search_users / search_groups / find_group     reading
    graph_users / mailboxes               cached users as Graph user objects (an import's source)

The one owner of the DirectoryUser/DirectoryGroup/DirectoryMembership rows; the Manual selection
(portal.manual.services) and the subscriptions (portal.sync.subscriptions) build on it. Callers commit.
"""

from sqlalchemy import delete, func, select, update

from portal import attributes, search
from portal.extensions import db
from portal.models.base import chunks, insert_rows, utcnow
from portal.models.directory import (
    DirectoryGroup,
    DirectoryMembership,
    DirectorySelection,
    DirectorySelectionFlip,
    DirectoryUser,
)
from portal.models.vocabulary import SkipReason
from portal.sync.people import group_name, person_from_graph


# --- writing ---------------------------------------------------------------------------------------
def clear(customer):
    """Remove the customer's cached users, groups and memberships, and the selection made in them."""
    _delete_groups(customer)
    db.session.execute(delete(DirectoryUser).where(DirectoryUser.customer_id == customer.id))
    db.session.execute(
        delete(DirectorySelectionFlip).where(DirectorySelectionFlip.customer_id == customer.id)
    )
    db.session.execute(delete(DirectorySelection).where(DirectorySelection.customer_id == customer.id))


def store(customer, users, groups):
    """Replace the customer's cache with these Graph users and groups; -> {"users": n, "groups": n}.

    `users` may be an iterator (GraphClient.iter_users, flattened): rows are written chunk by chunk
    as it yields, so a large tenant is never held in memory. All in the caller's transaction: an
    error half-way (Graph, database) rolls the whole replacement back."""
    now = utcnow()
    clear(customer)
    insert_rows(DirectoryGroup.__table__, _group_rows(customer, groups, now))
    emails = _EmailCounter()
    insert_rows(DirectoryUser.__table__, _user_rows(customer, users, now, emails))
    _mark_duplicates(customer, emails.duplicates)
    return {"users": user_count(customer), "groups": len([g for g in groups if g.get("id")])}


def replace_groups(customer, groups, members=None):
    """Replace the customer's cached groups (and their memberships) with these Graph groups.

    `members` ({group id: transitive member ids}) is kept as each group's loaded membership (what
    store_members keeps), so counting distinct people across groups needs no further Graph call."""
    now, members = utcnow(), members or {}
    _delete_groups(customer)
    counts = {group_id: len(set(ids)) for group_id, ids in members.items()}
    new_ids = insert_rows(
        DirectoryGroup.__table__,
        _group_rows(customer, groups, now, counts),
        DirectoryGroup.id,
        DirectoryGroup.m365_id,
    )
    insert_rows(
        DirectoryMembership.__table__,
        (
            {"group_id": row.id, "user_m365_id": user_id}
            for row in new_ids
            if row.m365_id in members
            for user_id in dict.fromkeys(members[row.m365_id])
        ),
    )


def store_members(group, member_ids):
    """Keep `group`'s (transitive) member ids with the cache, until the next load."""
    db.session.execute(delete(DirectoryMembership).where(DirectoryMembership.group_id == group.id))
    insert_rows(
        DirectoryMembership.__table__,
        ({"group_id": group.id, "user_m365_id": m} for m in dict.fromkeys(member_ids)),
    )
    group.members_loaded_at = utcnow()
    group.member_count = len(set(member_ids))


def _delete_groups(customer):
    group_ids = select(DirectoryGroup.id).where(DirectoryGroup.customer_id == customer.id)
    db.session.execute(delete(DirectoryMembership).where(DirectoryMembership.group_id.in_(group_ids)))
    db.session.execute(delete(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id))


def group_kind(group):
    """Microsoft 365 / Team / Dynamic / Security / Distribution, from a Graph group object."""
    types = group.get("groupTypes") or []
    if "Team" in (group.get("resourceProvisioningOptions") or []):
        return "Team"
    if "DynamicMembership" in types:
        return "Dynamic"
    if "Unified" in types:
        return "Microsoft 365"
    if group.get("securityEnabled"):
        return "Security"
    return "Distribution" if group.get("mailEnabled") else "Other"


class _EmailCounter:
    """Which users share a mailbox address with another user (seen in one pass over the tenant)."""

    def __init__(self):
        self.first, self.duplicates = {}, set()

    def add(self, person):
        if not person.email_key:
            return
        first = self.first.setdefault(person.email_key, person.m365_id)
        if first != person.m365_id:
            self.duplicates.update((first, person.m365_id))


def _user_rows(customer, users, now, emails):
    domains = customer.effective_domains
    for user in users:
        if not user.get("id"):
            continue
        person = person_from_graph(user)
        emails.add(person)
        values = attributes.values_from_graph(user)
        text = search.document(
            person.display_name,
            person.email,
            person.department,
            user.get("userPrincipalName"),
            person.first_name,
            person.last_name,
        )
        yield {
            "customer_id": customer.id,
            "m365_id": person.m365_id,
            "display_name": person.display_name[:255],
            "given_name": person.first_name[:100],
            "surname": person.last_name[:100],
            "email": person.email,
            "upn": (user.get("userPrincipalName") or "")[:254],
            "department": values.get("department", ""),
            "country": values.get("country", ""),
            "attributes": _graph_attributes(user),
            "enabled": person.enabled,
            "guest": person.guest,
            "skip_reason": person.skip_reason(domains) or "",
            "sort_key": person.display_name.lower()[:255],
            "search_text": text,
            "loaded_at": now,
        }


def _graph_attributes(user):
    """The attribute properties and the manager of a Graph user, as Graph gave them (an import from
    the cache hands them to portal.sync.people as an import from Graph would)."""
    kept = {prop: user[prop] for prop in (*attributes.GRAPH_PROPERTIES, "manager") if prop in user}
    return kept or None


def _mark_duplicates(customer, m365_ids):
    """Users not skipped for another reason whose mailbox address another user has too."""
    for chunk in chunks(sorted(m365_ids)):
        db.session.execute(
            update(DirectoryUser)
            .where(
                DirectoryUser.customer_id == customer.id,
                DirectoryUser.m365_id.in_(chunk),
                DirectoryUser.skip_reason == "",
            )
            .values(skip_reason=SkipReason.DUPLICATE)
            .execution_options(synchronize_session=False)
        )


def _group_rows(customer, groups, now, member_counts=None):
    for group in groups:
        if not group.get("id"):
            continue
        name = group_name(group)
        yield {
            "customer_id": customer.id,
            "m365_id": group["id"],
            "display_name": name[:255],
            "description": group.get("description") or "",
            "kind": group_kind(group),
            "sort_key": name.lower()[:255],
            "search_text": search.document(name, group.get("mail"), group.get("description")),
            "member_count": (member_counts or {}).get(group["id"]),
            # Counted groups had their members listed: they are kept (replace_groups).
            "members_loaded_at": now if group["id"] in (member_counts or {}) else None,
            "loaded_at": now,
        }


# --- reading ---------------------------------------------------------------------------------------
def user_count(customer):
    """How many users are loaded for the customer."""
    return db.session.scalar(
        select(func.count()).select_from(DirectoryUser).where(DirectoryUser.customer_id == customer.id)
    )


def group_count(customer):
    """How many groups are loaded for the customer."""
    return db.session.scalar(
        select(func.count()).select_from(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id)
    )


def search_users(customer, term=""):
    """The loaded users matching every word of `term` (name, email, department, UPN; folded, see
    portal.search): exact and prefix matches first, then by name."""
    query = select(DirectoryUser).where(DirectoryUser.customer_id == customer.id)
    return search.ranked(query, DirectoryUser, term, DirectoryUser.sort_key, DirectoryUser.id)


def search_groups(customer, term="", limit=None):
    """Loaded groups whose name, mail or description matches every word of `term` (folded):
    exact and prefix matches first, then by name."""
    query = select(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id)
    by_name = (DirectoryGroup.sort_key, DirectoryGroup.id)
    return db.session.scalars(search.ranked(query, DirectoryGroup, term, *by_name).limit(limit)).all()


def graph_users(customer, user_ids, loaded_after):
    """The cached users among `user_ids` loaded after `loaded_after`, as Graph user objects (by id).

    An import reads the users the admin just picked from here instead of listing the tenant again;
    the objects carry what the import's rules read (portal.sync.people), as they were loaded.
    """
    columns = (
        DirectoryUser.m365_id,
        DirectoryUser.display_name,
        DirectoryUser.given_name,
        DirectoryUser.surname,
        DirectoryUser.email,
        DirectoryUser.upn,
        DirectoryUser.enabled,
        DirectoryUser.guest,
        DirectoryUser.department,
        DirectoryUser.attributes,
    )
    return {
        row.m365_id: _as_graph_user(row) for row in _fresh_rows(customer, user_ids, loaded_after, columns)
    }


def mailboxes(customer, user_ids, loaded_after):
    """graph_users() with only each user's id and mailbox address ("mail"): a light first look at
    the users of a large import (which are cached, and which emails they have)."""
    columns = (DirectoryUser.m365_id, DirectoryUser.email)
    return {
        row.m365_id: {"id": row.m365_id, "mail": row.email}
        for row in _fresh_rows(customer, user_ids, loaded_after, columns)
    }


def _fresh_rows(customer, user_ids, loaded_after, columns):
    for chunk in chunks(dict.fromkeys(user_ids)):
        yield from db.session.execute(
            select(*columns).where(
                DirectoryUser.customer_id == customer.id,
                DirectoryUser.m365_id.in_(chunk),
                DirectoryUser.loaded_at >= loaded_after,
            )
        )


def _as_graph_user(row):
    return {
        "id": row.m365_id,
        "displayName": row.display_name,
        "givenName": row.given_name,
        "surname": row.surname,
        "mail": row.email,
        "userPrincipalName": row.upn,
        "accountEnabled": row.enabled,
        "userType": "Guest" if row.guest else "Member",
        "department": row.department,
        **(row.attributes or {}),
    }


def find_group(customer, m365_id):
    """The customer's loaded group with this M365 id, or None."""
    return db.session.scalar(
        select(DirectoryGroup).where(
            DirectoryGroup.customer_id == customer.id, DirectoryGroup.m365_id == m365_id
        )
    )
