"""Ask Microsoft what changed: delta rounds, full listings, confirmations. Network only, no writes.

A sync reads users with `/users/delta`: the stored deltaLink on a normal day (a handful of
requests), a fresh round otherwise (first run, token older than 7 days, or expired). A fresh round
is a complete listing: a synced contact absent from it counts as removed only after
`GET /users/{id}` answers 404. Any Graph error propagates: the caller then applies nothing, so a
listing interrupted half-way can never remove anyone.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from portal.i18n import N_
from portal.m365.graph import GROUP_FIELDS, NOT_FOUND, USER_DELTA_SELECT, DeltaExpired, GraphError
from portal.models.vocabulary import RemovalReason
from portal.sync.people import is_complete
from portal.sync.plan import M365Data

DELTA_MAX_AGE = timedelta(days=7)
RESYNC_FIRST = N_("first run")
RESYNC_OLD = N_("delta token older than 7 days")
RESYNC_EXPIRED = N_("delta token expired")
RESYNC_PROPERTIES = N_("the portal reads more properties of each user than the delta token tracks")


@dataclass
class Fetched:
    """What a sync fetched, and the delta links to save with the changes it leads to."""

    data: M365Data
    users_link: str = ""
    groups_link: str = ""
    resync_reason: str = ""
    notes: list = field(default_factory=list)


def resync_reason(connection, now):
    """Why the next sync must read everything, or "" when the stored delta link may be used."""
    if not connection.users_delta_link:
        return RESYNC_FIRST
    if connection.users_delta_select != USER_DELTA_SELECT:
        return RESYNC_PROPERTIES
    if connection.delta_saved_at is None or now - connection.delta_saved_at > DELTA_MAX_AGE:
        return RESYNC_OLD
    return ""


def fetch_for_sync(client, connection, contacts, subscriptions, now):
    """Users (delta or full, with confirmed removals) and the members of subscribed groups."""
    reason = resync_reason(connection, now)
    try:
        page = client.users_delta(None if reason else connection.users_delta_link)
    except DeltaExpired:
        reason = RESYNC_EXPIRED
        page = client.users_delta(None)
    users, removed = read_user_delta(page.items)
    if reason:  # a whole round: a user without `manager@delta` has no manager
        for user in users.values():
            user.setdefault("manager", None)
    data = M365Data(users=users, removed=removed, full=bool(reason))
    fetched = Fetched(data=data, users_link=page.delta_link, resync_reason=reason)
    if reason:
        _confirm_absent(client, contacts, data)
    if subscriptions:
        _fetch_members(client, connection, subscriptions, contacts, fetched, full=bool(reason))
    name_managers(client, contacts, data.users)
    return fetched


def save_users_link(connection, link, now):
    """Keep a users delta link with the properties it tracks."""
    connection.users_delta_link = link
    connection.users_delta_select = USER_DELTA_SELECT
    connection.delta_saved_at = now


def name_managers(client, contacts, users):
    """Give each user's `manager` (a delta names only its id) a name and mail: from the users at
    hand, from the book, else read from Graph (a manager outside the book whose report changed: few)."""
    unnamed = [u["manager"] for u in users.values() if u.get("manager") and "displayName" not in u["manager"]]
    if not unnamed:
        return
    wanted = {manager["id"] for manager in unnamed}
    known = {uid: (u.get("displayName"), u.get("mail")) for uid, u in users.items() if uid in wanted}
    in_book = wanted - known.keys()
    known.update((c.m365_user_id, (c.name, c.email)) for c in contacts if c.m365_user_id in in_book)
    for manager_id in wanted - known.keys():
        manager = client.get_user(manager_id) or {}
        known[manager_id] = (manager.get("displayName"), manager.get("mail"))
    for manager in unnamed:
        manager["displayName"], manager["mail"] = known[manager["id"]]


def read_user_delta(items):
    """(present users by id, removed ids -> reason) from a delta round; replays: last one wins."""
    users, removed = {}, {}
    for item in items:
        user_id = item.get("id")
        if not user_id:
            continue
        if "@removed" in item:
            gone = (item.get("@removed") or {}).get("reason")
            removed[user_id] = RemovalReason.HARD if gone == "deleted" else RemovalReason.SOFT
            users.pop(user_id, None)
        else:
            users[user_id] = {**users.get(user_id, {}), **item}
            removed.pop(user_id, None)
    return users, removed


def _confirm_absent(client, contacts, data):
    """Synced contacts missing from a complete listing: removed only when GET /users/{id} is 404."""
    for contact in contacts:
        user_id = contact.m365_user_id
        if contact.archived or not user_id or user_id in data.users or user_id in data.removed:
            continue
        user = client.get_user(user_id)
        if user is None:
            data.removed[user_id] = RemovalReason.MISSING
        else:  # replication lag: the listing missed a user that exists
            data.users[user_id] = user


def _fetch_members(client, connection, subscriptions, contacts, fetched, full):
    """Members of subscribed groups, read again when any group changed (or on a fresh start).

    A quiet day costs one `/groups/delta` request. When groups changed, each subscribed group's
    transitive members are read (nested groups included), and users we know nothing about yet
    are fetched one by one.
    """
    link = "" if full else connection.groups_delta_link
    deleted_groups = set()
    if link:
        try:
            page = client.groups_delta(link)
            fetched.groups_link = page.delta_link
            if not page.items:
                return
            deleted_groups = removed_group_ids(page.items)
        except DeltaExpired:
            link = ""
    if not link:
        # "Sync from now": a delta link without the whole directory; members are read below.
        fetched.groups_link = client.groups_delta(latest_groups_link(client)).delta_link
    for subscription in subscriptions:
        if subscription.m365_group_id in deleted_groups:
            continue
        try:
            member_ids = client.group_member_ids(subscription.m365_group_id, transitive=True)
        except GraphError as error:
            if error.code != NOT_FOUND:
                raise
            fetched.notes.append(f"group {subscription.display_name} no longer exists in M365")
            continue
        fetched.data.wanted.extend((uid, subscription.contact_group_id) for uid in member_ids)
    _fetch_unknown_members(client, contacts, fetched.data)


def removed_group_ids(items):
    """Ids of groups whose LAST entry in a delta round is `@removed` (a group restored later in
    the same round, or replayed, counts as present: last write wins)."""
    last = {}
    for item in items:
        if item.get("id"):
            last[item["id"]] = "@removed" in item
    return {group_id for group_id, removed in last.items() if removed}


def latest_groups_link(client):
    """A groups delta request that returns only a deltaLink ($deltatoken=latest)."""
    return _latest_link(client, "/groups/delta", GROUP_FIELDS + ",members")


def _latest_link(client, path, select):
    query = urlencode({"$select": select, "$deltatoken": "latest"})
    return f"{client.graph_url}{path}?{query}"


def take_baseline(client, connection, book_has_links, now, groups=False):
    """Delta links that start now, taken before a first listing; True when the users link was taken.

    The first sync after an import then reads only what changed since (one request instead of a
    whole delta round); what changed between the baseline and the listing is replayed by that sync,
    harmlessly. Only where no earlier change can be missed: the users link when the connection has
    none and no contact is linked yet; the groups link (`groups=True`) when it has none and no
    subscribed group's members were read before (the caller knows).
    """
    taken = False
    if not connection.users_delta_link and not book_has_links:
        link = _latest_link(client, "/users/delta", USER_DELTA_SELECT)
        save_users_link(connection, client.users_delta(link).delta_link, now)
        taken = True
    if groups and not connection.groups_delta_link:
        connection.groups_delta_link = client.groups_delta(latest_groups_link(client)).delta_link
    return taken


def _fetch_unknown_members(client, contacts, data):
    """Users among the members that are neither contacts nor whole users in the delta (few: one
    by one). A delta entry with only the changed properties cannot tell whether a new member is
    a guest, disabled or has a mailbox, so such a user is read in full too."""
    known = {c.m365_user_id for c in contacts if c.m365_user_id}
    known |= {uid for uid, user in data.users.items() if is_complete(user)}
    unknown = list(dict.fromkeys(uid for uid, _gid in data.wanted if uid not in known))
    for user_id in unknown:
        data.users.pop(user_id, None)  # a partial entry must not become a contact
    data.users.update(fetch_users(client, unknown))


def fetch_users(client, user_ids):
    """The given users for an import: one by one when few, else one listing filtered."""
    wanted = list(dict.fromkeys(user_ids))
    if len(wanted) <= 25:
        found = {}
        for user_id in wanted:
            user = client.get_user(user_id)
            if user is not None:
                found[user_id] = user
        return found
    ids = set(wanted)
    return {u["id"]: u for u in client.list_users() if u.get("id") in ids}
