"""Automatic mode: "Subscribe to Groups". A subscribed M365 group feeds a contact group of the same name.

    groups_overview(customer, term)        the tenant's groups (from the directory cache) with
                                           kind, member count and whether subscribed
    subscribe(customer, admin, group)      contact group + subscription + import job (caller commits)
    unsubscribe(customer, admin, m365_id)  only the subscription goes: the contact group and its
                                           employees stay (caller commits)
    enqueue_groups_load(customer, admin)   refresh the group list with member counts (a job)
    reach(customer, term)                  what "select all" brings in: groups, distinct people

The group list comes from the directory cache shared with Manual mode (portal.sync.directory), filled
by the JobKind.GROUPS_LOAD job here, which also keeps each group's transitive members.
"""

import logging

from sqlalchemy import func, select

from portal.book import find_group_by_name
from portal.extensions import db
from portal.m365.graph import GraphError
from portal.models import AuditEntry, ContactGroup, Customer, GroupSubscription, JobKind, Origin
from portal.models.directory import DirectoryMembership
from portal.queue import active_job, enqueue, handler, report_progress
from portal.sync import directory
from portal.sync.connection import NOT_CONNECTED, connection_for_sync, graph_client
from portal.text import single_line

logger = logging.getLogger(__name__)


def groups_overview(customer, term=""):
    """[(DirectoryGroup, subscribed?)] matching `term`, by name."""
    subscribed = set(
        db.session.scalars(
            select(GroupSubscription.m365_group_id).where(GroupSubscription.customer_id == customer.id)
        )
    )
    return [(group, group.m365_id in subscribed) for group in directory.search_groups(customer, term)]


def subscription_count(customer):
    return db.session.scalar(
        select(func.count())
        .select_from(GroupSubscription)
        .where(GroupSubscription.customer_id == customer.id)
    )


def subscribe(customer, admin, group):
    """Subscribe to `group` (a DirectoryGroup): its contact group, the subscription, the import job."""
    existing = db.session.scalar(
        select(GroupSubscription).where(
            GroupSubscription.customer_id == customer.id, GroupSubscription.m365_group_id == group.m365_id
        )
    )
    if existing is not None:
        return existing
    contact_group = _contact_group_for(customer, group)
    subscription = GroupSubscription(
        customer_id=customer.id,
        m365_group_id=group.m365_id,
        display_name=group.display_name,
        contact_group_id=contact_group.id,
        created_by_id=admin.id if admin else None,
    )
    db.session.add(subscription)
    db.session.flush()
    AuditEntry.record(customer, admin.email if admin else "", "group_subscribed", group.display_name)
    enqueue(JobKind.SUBSCRIPTION_IMPORT, customer, {"subscription_id": subscription.id}, created_by=admin)
    return subscription


def _contact_group_for(customer, group):
    """The contact group of the same name: the one already linked to the M365 group, else by name."""
    contact_group = db.session.scalar(
        select(ContactGroup).where(
            ContactGroup.customer_id == customer.id, ContactGroup.m365_group_id == group.m365_id
        )
    )
    contact_group = contact_group or find_group_by_name(customer, group.display_name)
    if contact_group is None:
        contact_group = ContactGroup(
            customer_id=customer.id, name=single_line(group.display_name)[:200], origin=Origin.M365
        )
        db.session.add(contact_group)
    contact_group.m365_group_id = contact_group.m365_group_id or group.m365_id
    db.session.flush()
    return contact_group


def unsubscribe(customer, admin, m365_id):
    """End a subscription; the contact group and its employees stay. True when there was one."""
    subscription = db.session.scalar(
        select(GroupSubscription).where(
            GroupSubscription.customer_id == customer.id, GroupSubscription.m365_group_id == m365_id
        )
    )
    if subscription is None:
        return False
    AuditEntry.record(customer, admin.email if admin else "", "group_unsubscribed", subscription.display_name)
    db.session.delete(subscription)
    db.session.flush()
    return True


def set_all(customer, admin, on, term=""):
    """Subscribe to every group the search `term` shows, or end their subscriptions: a bulk
    selection never reaches past what the admin sees."""
    for group, subscribed in groups_overview(customer, term):
        if on and not subscribed:
            subscribe(customer, admin, group)
        elif not on and subscribed:
            unsubscribe(customer, admin, group.m365_id)


# Groups whose members a confirmation may fetch from Microsoft while the admin waits (each one
# Graph listing); past that the confirmation says "at least".
MEMBER_LOADS_PER_CONFIRMATION = 25


def reach(customer, term=""):
    """What subscribing to every group `term` shows brings in: (groups not yet subscribed, distinct
    people, exact?). A person in several of the groups counts once. The members come from the cache
    (the group load keeps them); a group whose members are not loaded (the cache came from Manual
    mode's load) is listed from Microsoft now, as Manual mode's group pick does. Only when that is not
    possible (Microsoft unreachable, very many such groups) is the figure a lower bound (exact False)."""
    groups = [group for group, subscribed in groups_overview(customer, term) if not subscribed]
    unloaded = [g for g in groups if g.members_loaded_at is None]
    if unloaded and len(unloaded) <= MEMBER_LOADS_PER_CONFIRMATION:
        _load_members(customer, unloaded)
    loaded = [g.id for g in groups if g.members_loaded_at is not None]
    people = 0
    if loaded:
        people = db.session.scalar(
            select(func.count(func.distinct(DirectoryMembership.user_m365_id))).where(
                DirectoryMembership.group_id.in_(loaded)
            )
        )
    missing = [g.member_count or 0 for g in groups if g.members_loaded_at is None]
    return len(groups), max([people, *missing]), not missing


def _load_members(customer, groups):
    """Fetch and keep the transitive members of `groups`; a Graph failure leaves them unloaded."""
    connection = connection_for_sync(customer)
    if connection is None:
        return
    try:
        with graph_client(connection) as client:
            for group in groups:
                directory.store_members(group, client.group_member_ids(group.m365_id, transitive=True))
    except GraphError:
        logger.warning("members of %d groups not loaded for the confirmation", len(groups), exc_info=True)
    db.session.flush()


def enqueue_groups_load(customer, admin):
    """Queue a refresh of the group list (unless one is queued or running); caller commits."""
    return active_job(customer, JobKind.GROUPS_LOAD) or enqueue(
        JobKind.GROUPS_LOAD, customer, created_by=admin
    )


@handler(JobKind.GROUPS_LOAD)
def groups_load_job(job):
    """List the tenant's groups and each one's transitive members; replace the cached groups (with
    their member counts and memberships)."""
    customer = db.session.get(Customer, job.customer_id)
    connection = connection_for_sync(customer)
    if connection is None:
        raise RuntimeError(NOT_CONNECTED)
    with graph_client(connection) as client:
        groups = [g for g in client.list_groups() if g.get("id")]
        report_progress(job, 0, len(groups))
        members = {}
        for done, group in enumerate(groups, 1):
            # Kept with the cache, so "select all" counts distinct people without asking Graph again.
            members[group["id"]] = list(dict.fromkeys(client.group_member_ids(group["id"], transitive=True)))
            if done % 20 == 0:
                report_progress(job, done, len(groups))
    directory.replace_groups(customer, groups, members)
    return {"groups": len(groups)}
