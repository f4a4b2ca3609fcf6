"""Manual mode: load the tenant's directory into a local cache, search it, keep the selection, import.

    enqueue_load(customer, admin)        "Load Users from Microsoft" (job DIRECTORY_LOAD; caller commits)
    store_directory(customer, users, groups)   replace the customer's cache (the job's last step)
    listed_users(customer, shown) / facet_counts(customer, name)   the list, filtered (Shown)
    toggle(customer, row) / select_all(customer, on, shown) / select_group(customer, group)
    selected_count(customer), selected_ids(customer), selected_on_page(customer, rows)
    enqueue_import(customer, admin)      "Import N users" (job IMPORT, params {"user_ids": [...]})

The import itself (create / link / already present / skip) is the sync engine's handler for
JobKind.IMPORT (portal/sync/tasks.py); this module only hands it the selected user ids. The cache
itself (store, search, counts) is portal.sync.directory, shared with Automatic mode.
"""

import itertools
from contextlib import closing
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, delete, exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from portal import queue, search
from portal.extensions import db
from portal.models import Contact, Customer, JobKind
from portal.models.base import insert_rows, utcnow
from portal.models.directory import (
    DirectoryGroup,
    DirectoryMembership,
    DirectorySelection,
    DirectorySelectionFlip,
    DirectoryUser,
)
from portal.sync import directory, fetch
from portal.sync.connection import NOT_CONNECTED, connection_for_sync, graph_client
from portal.sync.service import book_has_links


class ManualError(Exception):
    """Something the admin must fix first; `message` says what."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# --- loading -------------------------------------------------------------------------------------
def enqueue_load(customer, admin):
    """Queue a directory load unless one is already queued or running; returns the job."""
    return queue.active_job(customer, JobKind.DIRECTORY_LOAD) or queue.enqueue(
        JobKind.DIRECTORY_LOAD, customer, created_by=admin
    )


@queue.handler(JobKind.DIRECTORY_LOAD)
def run_load(job):
    """The load job: users and groups through the Graph client, then one replace of the cache.

    Before the first listing of a tenant it takes the users delta baseline (portal.sync.fetch), so
    the first daily sync after the import reads only what changed since. The users are written as
    their pages arrive (bounded memory); a Graph error half-way rolls the replacement back."""
    customer = db.session.get(Customer, job.customer_id)
    connection = connection_for_sync(customer)
    if connection is None:
        raise ManualError(_(NOT_CONNECTED))
    queue.report_progress(job, 0, 2)
    with graph_client(connection) as client:
        fetch.take_baseline(client, connection, book_has_links(customer), utcnow())
        groups = client.list_groups()
        queue.report_progress(job, 1, 2)  # commits: nothing of the cache is written before this
        # Users stream into the cache page by page, in one transaction with the job's end; the
        # next page is fetched while this one is written (closing: an error stops the fetching).
        with closing(client.iter_users_ahead()) as pages:
            return store_directory(customer, itertools.chain.from_iterable(pages), groups)


def store_directory(customer, users, groups):
    """Replace the customer's cache with these Graph users and groups; all users start selected."""
    _reset_selection(customer, all_selected=True)
    return directory.store(customer, users, groups)


# --- reading ---------------------------------------------------------------------------------------
def _selection(customer):
    """The customer's selection row (created on first use: everyone selected)."""
    state = db.session.get(DirectorySelection, customer.id)
    if state is None:
        try:  # two requests at once (a double click reaching two workers) both find none
            with db.session.begin_nested():
                state = DirectorySelection(customer_id=customer.id, all_selected=True)
                db.session.add(state)
        except IntegrityError:
            state = db.session.get(DirectorySelection, customer.id, populate_existing=True)
    return state


def _reset_selection(customer, all_selected):
    _selection(customer).all_selected = all_selected
    db.session.execute(
        delete(DirectorySelectionFlip).where(DirectorySelectionFlip.customer_id == customer.id)
    )


def _flipped():
    """Correlated: this directory_user row is flipped away from the default."""
    return exists().where(
        DirectorySelectionFlip.customer_id == DirectoryUser.customer_id,
        DirectorySelectionFlip.m365_id == DirectoryUser.m365_id,
    )


def selected_condition(customer):
    """The condition on DirectoryUser rows: selected for import."""
    return ~_flipped() if _selection(customer).all_selected else _flipped()


def selected_count(customer):
    """N of "Import N users" (flips only ever name loaded users: a load clears them)."""
    flips = db.session.scalar(
        select(func.count())
        .select_from(DirectorySelectionFlip)
        .where(DirectorySelectionFlip.customer_id == customer.id)
    )
    return directory.user_count(customer) - flips if _selection(customer).all_selected else flips


def selected_ids(customer):
    """M365 ids of the selected users, in list order."""
    return db.session.scalars(
        select(DirectoryUser.m365_id)
        .where(DirectoryUser.customer_id == customer.id, selected_condition(customer))
        .order_by(DirectoryUser.sort_key, DirectoryUser.id)
    ).all()


def selected_on_page(customer, rows):
    """The M365 ids among `rows` that are selected (for the rows' switches)."""
    ids = [row.m365_id for row in rows]
    if not ids:
        return set()
    flipped = set(
        db.session.scalars(
            select(DirectorySelectionFlip.m365_id).where(
                DirectorySelectionFlip.customer_id == customer.id, DirectorySelectionFlip.m365_id.in_(ids)
            )
        ).all()
    )
    return set(ids) - flipped if _selection(customer).all_selected else flipped


# The loaded users' fields the list filters by (a select each, with how many users have each value).
FACETS = ("department", "country")


@dataclass(frozen=True)
class Shown:
    """What the user list shows: the users matching the search, the chosen department and country
    (FACETS), the members of a group (its members loaded: load_members), and only the selected ones
    when `only_selected`."""

    term: str = ""
    facets: tuple = ()  # ((name, value), ...) for the facets chosen
    only_selected: bool = False
    group: DirectoryGroup | None = None

    @property
    def filtered(self):
        """True when the list shows fewer than all loaded users (some filter is chosen)."""
        return bool(self.term.strip() or self.facets or self.only_selected or self.group)


def listed_users(customer, shown):
    """The loaded users the list shows (a select of DirectoryUser, in list order)."""
    query = directory.search_users(customer, shown.term)
    for name, value in shown.facets:
        query = query.where(getattr(DirectoryUser, name) == value)
    if shown.group is not None:
        members = select(DirectoryMembership.user_m365_id).where(
            DirectoryMembership.group_id == shown.group.id
        )
        query = query.where(DirectoryUser.m365_id.in_(members))
    if shown.only_selected:
        query = query.where(selected_condition(customer))
    return query


def load_members(customer, group):
    """Fetch a group's transitive members from Microsoft unless loaded since the last load (caller
    commits); GraphError or ManualError when Microsoft cannot be asked."""
    if group.members_loaded_at is None:
        directory.store_members(group, _fetch_member_ids(customer, group))


def facet_counts(customer, name):
    """[(value, number of loaded users)] of a facet's values, by value; users without one are left out."""
    column = getattr(DirectoryUser, name)
    return db.session.execute(
        select(column, func.count())
        .where(DirectoryUser.customer_id == customer.id, column != "")
        .group_by(column)
        .order_by(column)
    ).all()


def contacts_query(customer, term=""):
    """The customer's contact book (not archived), searchable by name and email (exact and prefix
    matches first, then by name)."""
    query = select(Contact).where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
    return search.ranked(query, Contact, term, Contact.last_name, Contact.first_name, Contact.id)


def known_user_ids(customer, m365_ids):
    """Which of these M365 ids already have a contact in the book (for an "in book" mark)."""
    if not m365_ids:
        return set()
    return set(
        db.session.scalars(
            select(Contact.m365_user_id).where(
                Contact.customer_id == customer.id, Contact.m365_user_id.in_(list(m365_ids))
            )
        ).all()
    )


# --- selection (caller commits) -------------------------------------------------------------------
def toggle(customer, row):
    """Deselect a selected user, or select it again; returns whether it is selected now."""
    flip = db.session.get(DirectorySelectionFlip, (customer.id, row.m365_id))
    if flip is None:
        db.session.add(DirectorySelectionFlip(customer_id=customer.id, m365_id=row.m365_id))
    else:
        db.session.delete(flip)
    db.session.flush()
    return row.m365_id in selected_on_page(customer, [row])


def select_all(customer, on=True, shown=None):
    """Select exactly the users the list shows (or take them out of the selection); with no filter
    (`shown` None or unfiltered), select or deselect every loaded user."""
    if shown is None or not shown.filtered:
        _reset_selection(customer, all_selected=on)
        return
    users = listed_users(customer, shown).order_by(None)
    members = users.with_only_columns(DirectoryUser.customer_id, DirectoryUser.m365_id)
    if on:
        _select_only(customer, members, frozen=shown.only_selected)
    else:  # from everyone a flip means "deselected", from nobody "selected"
        _flip(customer, members, on=_selection(customer).all_selected)


def _select_only(customer, members, frozen):
    """Select exactly `members`. frozen: they depend on the selection being replaced ("Show selected
    only"), so their ids are read before it is reset."""
    ids = db.session.scalars(members.with_only_columns(DirectoryUser.m365_id)).all() if frozen else None
    _reset_selection(customer, all_selected=False)
    if ids is None:
        _flip(customer, members, on=True)  # from nobody: a flip means "selected"
    else:
        rows = ({"customer_id": customer.id, "m365_id": m365_id} for m365_id in ids)
        insert_rows(DirectorySelectionFlip.__table__, rows)


# What a click on a group in "Group_Users" did (select_group).
GROUP_ONLY, GROUP_ADDED, GROUP_REMOVED = "only", "added", "removed"


def select_group(customer, group):
    """A click on a group in "Group_Users": (what it did, the group's loaded members).

    While the selection starts from everyone (after a load or "Select all", some perhaps deselected)
    it selects exactly the group's members; once the selection is built up (from a group, or from
    "Select none") a group adds its members, and a group whose members are all selected already
    takes them out again (a second click undoes the first).
    The members are fetched from Microsoft the first time the group is picked after a load
    (GraphClient.group_member_ids, transitive) and kept with the cache until the next load.
    """
    load_members(customer, group)
    members = _loaded_members(customer, group)
    count = db.session.scalar(select(func.count()).select_from(members.subquery()))
    if _selection(customer).all_selected:
        _reset_selection(customer, all_selected=False)
        _flip(customer, members, on=True)
        return GROUP_ONLY, count
    chosen = db.session.scalar(
        select(func.count())
        .select_from(DirectoryUser)
        .where(DirectoryUser.customer_id == customer.id, selected_condition(customer))
        .where(DirectoryUser.m365_id.in_(members.with_only_columns(DirectoryUser.m365_id)))
    )
    action = GROUP_REMOVED if count and chosen == count else GROUP_ADDED
    _flip(customer, members, on=action == GROUP_ADDED)  # from nobody: a flip means "selected"
    return action, count


def _loaded_members(customer, group):
    """(customer id, M365 id) of the loaded users among the group's transitive members."""
    return (
        select(DirectoryUser.customer_id, DirectoryUser.m365_id)
        .join(
            DirectoryMembership,
            and_(
                DirectoryMembership.user_m365_id == DirectoryUser.m365_id,
                DirectoryMembership.group_id == group.id,
            ),
        )
        .where(DirectoryUser.customer_id == customer.id)
    )


def _flip(customer, members, on):
    """Give every user of `members` a flip (on) or none (off)."""
    ids = members.with_only_columns(DirectoryUser.m365_id)
    db.session.execute(
        delete(DirectorySelectionFlip).where(
            DirectorySelectionFlip.customer_id == customer.id, DirectorySelectionFlip.m365_id.in_(ids)
        )
    )
    if on:
        db.session.execute(insert(DirectorySelectionFlip).from_select(["customer_id", "m365_id"], members))


def import_summary(customer):
    """(how many selected users the import would import, {skip reason: how many selected it leaves
    out}): "Import N users" counts only the users it can import (not disabled accounts, guests, users
    without a mailbox...)."""
    rows = db.session.execute(
        select(DirectoryUser.skip_reason, func.count())
        .where(DirectoryUser.customer_id == customer.id, selected_condition(customer))
        .group_by(DirectoryUser.skip_reason)
    ).all()
    left_out = {reason: count for reason, count in rows if reason}
    return sum(count for reason, count in rows if not reason), left_out


def _fetch_member_ids(customer, group):
    connection = connection_for_sync(customer)
    if connection is None:
        raise ManualError(_(NOT_CONNECTED))
    with graph_client(connection) as client:
        return client.group_member_ids(group.m365_id, transitive=True)


# --- import ------------------------------------------------------------------------------------------
def enqueue_import(customer, admin):
    """Queue "Import N users" with the selected ids; returns the job (an active one if any)."""
    running = queue.active_job(customer, JobKind.IMPORT)
    if running is not None:
        return running
    user_ids = selected_ids(customer)
    if not user_ids:
        raise ManualError(_("Select at least one user to import."))
    key = queue.active_key(JobKind.IMPORT, customer)  # a double click in two workers: one import
    job = queue.enqueue(JobKind.IMPORT, customer, {"user_ids": user_ids}, created_by=admin, dedupe_key=key)
    return job or queue.active_job(customer, JobKind.IMPORT)
