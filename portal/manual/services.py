"""Manual mode: load the tenant's directory into a local cache, search it, keep the selection, import.

    enqueue_load(customer, admin)        "Load Users from Microsoft" (job LOAD_KIND; caller commits)
    store_directory(customer, users, groups)   replace the customer's cache (the job's last step)
    search_users(customer, term)         a select() over the cache (name, email, department, UPN)
    toggle(customer, row) / select_all(customer, on) / select_group(customer, group)
    selected_count(customer), selected_ids(customer), selected_on_page(customer, rows)
    enqueue_import(customer, admin)      "Import N users" (job IMPORT_KIND, params {"user_ids": [...]})

The import itself (create / link / already present / skip) is the sync engine's handler for
IMPORT_KIND (portal/sync); this module only hands it the selected user ids.
"""
from flask_babel import gettext as _
from sqlalchemy import and_, delete, exists, func, insert, select, true

from portal import jobs
from portal.contacts.listing import search_condition
from portal.extensions import db
from portal.models import Contact, Customer
from portal.models.base import utcnow
from portal.models.directory import (
    DirectoryGroup, DirectoryMembership, DirectorySelection, DirectorySelectionFlip, DirectoryUser,
)
from portal.sync.people import SKIP_DUPLICATE, group_name, person_from_graph

LOAD_KIND = "m365_directory_load"
IMPORT_KIND = "m365_import"
CHUNK = 2000


class ManualError(Exception):
    """Something the admin must fix first; `message` says what."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def like_words(column, term):
    """Conditions matching every word of `term` anywhere in the lower-cased `column`."""
    return and_(true(), *[column.contains(word, autoescape=True) for word in term.lower().split()])


# --- loading -------------------------------------------------------------------------------------
def enqueue_load(customer, admin):
    """Queue a directory load unless one is already queued or running; returns the job."""
    return jobs.active_job(customer, LOAD_KIND) or jobs.enqueue(LOAD_KIND, customer, created_by=admin)


@jobs.handler(LOAD_KIND)
def run_load(job):
    """The load job: users and groups through the Graph client, then one replace of the cache."""
    from portal.m365.connection import NOT_CONNECTED, connection_for_sync
    from portal.m365.graph import GraphClient

    customer = db.session.get(Customer, job.customer_id)
    connection = connection_for_sync(customer)
    if connection is None:
        raise ManualError(_(NOT_CONNECTED))
    jobs.report_progress(job, 0, 3)
    with GraphClient.for_connection(connection) as client:
        users = client.list_users()
        jobs.report_progress(job, 1, 3)
        groups = client.list_groups()
        jobs.report_progress(job, 2, 3)
    return store_directory(customer, users, groups)


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


def _user_rows(customer, users, now):
    people = [person_from_graph(user) for user in users if user.get("id")]
    seen = {}
    for person in people:
        if person.email_key:
            seen[person.email_key] = seen.get(person.email_key, 0) + 1
    domains = customer.effective_domains
    for person, user in zip(people, (u for u in users if u.get("id"))):
        reason = person.skip_reason(domains) or ""
        if not reason and seen.get(person.email_key, 0) > 1:
            reason = SKIP_DUPLICATE
        text = " ".join([person.display_name, person.email or "", person.department,
                         user.get("userPrincipalName") or "", person.first_name, person.last_name])
        yield {
            "customer_id": customer.id, "m365_id": person.m365_id,
            "display_name": person.display_name[:255], "given_name": person.first_name[:100],
            "surname": person.last_name[:100], "email": person.email,
            "upn": (user.get("userPrincipalName") or "")[:254], "department": person.department[:255],
            "enabled": person.enabled, "guest": person.guest, "skip_reason": reason,
            "sort_key": person.display_name.lower()[:255], "search_text": text.lower(),
            "loaded_at": now,
        }


def _group_rows(customer, groups, now):
    for group in groups:
        if not group.get("id"):
            continue
        name = group_name(group)
        yield {
            "customer_id": customer.id, "m365_id": group["id"], "display_name": name[:255],
            "description": group.get("description") or "", "kind": group_kind(group),
            "sort_key": name.lower()[:255],
            "search_text": " ".join([name, group.get("mail") or "", group.get("description") or ""]).lower(),
            "loaded_at": now,
        }


def _insert_chunked(model, rows):
    """Bulk insert through the Core table: the ORM splits batches wherever a value is None."""
    statement, batch = insert(model.__table__), []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            db.session.execute(statement, batch)
            batch = []
    if batch:
        db.session.execute(statement, batch)


def clear_directory(customer):
    """Remove the customer's cached users, groups and memberships (caller commits)."""
    group_ids = select(DirectoryGroup.id).where(DirectoryGroup.customer_id == customer.id)
    db.session.execute(delete(DirectoryMembership).where(DirectoryMembership.group_id.in_(group_ids)))
    db.session.execute(delete(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id))
    db.session.execute(delete(DirectoryUser).where(DirectoryUser.customer_id == customer.id))
    _reset_selection(customer, all_selected=True)


def store_directory(customer, users, groups):
    """Replace the customer's cache with these Graph users and groups; all users start selected."""
    now = utcnow()
    clear_directory(customer)
    _insert_chunked(DirectoryUser, _user_rows(customer, users, now))
    _insert_chunked(DirectoryGroup, _group_rows(customer, groups, now))
    return {"users": directory_count(customer), "groups": len([g for g in groups if g.get("id")])}


# --- reading ---------------------------------------------------------------------------------------
def directory_count(customer):
    """How many users are loaded for the customer."""
    return db.session.scalar(select(func.count()).select_from(DirectoryUser)
                             .where(DirectoryUser.customer_id == customer.id))


def search_users(customer, term=""):
    """The loaded users matching every word of `term` (name, email, department, UPN), by name."""
    query = select(DirectoryUser).where(DirectoryUser.customer_id == customer.id)
    if term.strip():
        # Measured (bench/manual_load.py): walking the name-ordered index to filter 50,000 rows is
        # 4x slower on SQLite than reading the customer's rows and sorting the few matches.
        query = query.where(like_words(DirectoryUser.search_text, term)).with_hint(
            DirectoryUser, "INDEXED BY ix_directory_user_customer", "sqlite")
    return query.order_by(DirectoryUser.sort_key, DirectoryUser.id)


def search_groups(customer, term="", limit=20):
    """Loaded groups whose name, mail or description matches `term`, by name."""
    query = select(DirectoryGroup).where(DirectoryGroup.customer_id == customer.id)
    if term.strip():
        query = query.where(like_words(DirectoryGroup.search_text, term))
    return db.session.scalars(query.order_by(DirectoryGroup.sort_key).limit(limit)).all()


def group_count(customer):
    """How many groups are loaded for the customer."""
    return db.session.scalar(select(func.count()).select_from(DirectoryGroup)
                             .where(DirectoryGroup.customer_id == customer.id))


def _selection(customer):
    """The customer's selection row (created on first use: everyone selected)."""
    state = db.session.get(DirectorySelection, customer.id)
    if state is None:
        state = DirectorySelection(customer_id=customer.id, all_selected=True)
        db.session.add(state)
        db.session.flush()
    return state


def _reset_selection(customer, all_selected):
    _selection(customer).all_selected = all_selected
    db.session.execute(delete(DirectorySelectionFlip).where(DirectorySelectionFlip.customer_id == customer.id))


def _flipped():
    """Correlated: this directory_user row is flipped away from the default."""
    return exists().where(DirectorySelectionFlip.customer_id == DirectoryUser.customer_id,
                          DirectorySelectionFlip.m365_id == DirectoryUser.m365_id)


def _selected_condition(customer):
    return ~_flipped() if _selection(customer).all_selected else _flipped()


def selected_count(customer):
    """N of "Import N users" (flips only ever name loaded users: a load clears them)."""
    flips = db.session.scalar(select(func.count()).select_from(DirectorySelectionFlip)
                              .where(DirectorySelectionFlip.customer_id == customer.id))
    return directory_count(customer) - flips if _selection(customer).all_selected else flips


def selected_ids(customer):
    """M365 ids of the selected users, in list order."""
    return db.session.scalars(
        select(DirectoryUser.m365_id).where(DirectoryUser.customer_id == customer.id,
                                            _selected_condition(customer))
        .order_by(DirectoryUser.sort_key, DirectoryUser.id)).all()


def selected_on_page(customer, rows):
    """The M365 ids among `rows` that are selected (for the rows' switches)."""
    ids = [row.m365_id for row in rows]
    if not ids:
        return set()
    flipped = set(db.session.scalars(select(DirectorySelectionFlip.m365_id).where(
        DirectorySelectionFlip.customer_id == customer.id, DirectorySelectionFlip.m365_id.in_(ids))).all())
    return set(ids) - flipped if _selection(customer).all_selected else flipped


def contacts_query(customer, term=""):
    """The customer's contact book (not archived), searchable by name and email."""
    query = select(Contact).where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
    condition = search_condition(term)
    if condition is not None:
        query = query.where(condition)
    return query.order_by(Contact.last_name, Contact.first_name, Contact.id)


def known_user_ids(customer, m365_ids):
    """Which of these M365 ids already have a contact in the book (for an "in book" mark)."""
    if not m365_ids:
        return set()
    return set(db.session.scalars(select(Contact.m365_user_id).where(
        Contact.customer_id == customer.id, Contact.m365_user_id.in_(list(m365_ids)))).all())


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


def select_all(customer, on=True):
    """Select (or deselect) every loaded user."""
    _reset_selection(customer, all_selected=on)


def select_group(customer, group):
    """Select exactly the transitive members of `group`; returns how many loaded users that is.

    The members are fetched from Microsoft the first time the group is picked after a load
    (GraphClient.group_member_ids, transitive) and kept with the cache until the next load.
    """
    if group.members_loaded_at is None:
        member_ids = _fetch_member_ids(customer, group)
        db.session.execute(delete(DirectoryMembership).where(DirectoryMembership.group_id == group.id))
        _insert_chunked(DirectoryMembership,
                        ({"group_id": group.id, "user_m365_id": m} for m in dict.fromkeys(member_ids)))
        group.members_loaded_at = utcnow()
        group.member_count = len(set(member_ids))
    _reset_selection(customer, all_selected=False)
    loaded_members = (
        select(DirectoryUser.customer_id, DirectoryUser.m365_id)
        .join(DirectoryMembership, and_(DirectoryMembership.user_m365_id == DirectoryUser.m365_id,
                                        DirectoryMembership.group_id == group.id))
        .where(DirectoryUser.customer_id == customer.id)
    )
    db.session.execute(insert(DirectorySelectionFlip).from_select(["customer_id", "m365_id"], loaded_members))
    return selected_count(customer)


def _fetch_member_ids(customer, group):
    from portal.m365.connection import NOT_CONNECTED, connection_for_sync
    from portal.m365.graph import GraphClient

    connection = connection_for_sync(customer)
    if connection is None:
        raise ManualError(_(NOT_CONNECTED))
    with GraphClient.for_connection(connection) as client:
        return client.group_member_ids(group.m365_id, transitive=True)


# --- import ------------------------------------------------------------------------------------------
def enqueue_import(customer, admin):
    """Queue "Import N users" with the selected ids; returns the job (an active one if any)."""
    running = jobs.active_job(customer, IMPORT_KIND)
    if running is not None:
        return running
    user_ids = selected_ids(customer)
    if not user_ids:
        raise ManualError(_("Select at least one user to import."))
    return jobs.enqueue(IMPORT_KIND, customer, {"user_ids": user_ids}, created_by=admin)
