"""What a SCIM write does to the contact book, through the book's own rules.

    create_user(customer, user)            -> (contact, ScimOperation): a new contact, or an archived
                                              one brought back, or a contact pulled from Graph adopted
    update_user(customer, contact, user)   -> ScimOperation (PUT and PATCH: the user after the change)
    change_manager(customer, contact, id)  -> ScimOperation (a PATCH of the manager alone)
    delete_user(customer, contact)         -> ScimOperation: archived as the daily sync removes, or held
    create_group / update_group / delete_group

Every function works in the caller's transaction (portal.scim.routes takes the customer's lock
first, shared among user upserts, commits after, rolls back on any error) and raises scim2-models'
SCIMException subclasses for the answer. Email addresses follow book.email_problem; managers and
smart groups follow book.settle; removals and restores go through portal.sync.apply like the sync's.
"""

from datetime import timedelta

from flask_babel import force_locale
from scim2_models import InvalidValueException, UniquenessException
from sqlalchemy import Integer, String, bindparam, delete, func, insert, or_, select, union, update

from portal import attributes
from portal.book import email_problem, find_by_email, find_group_by_name, normalize_email, settle
from portal.contacts.services import delete_group as delete_contact_group
from portal.extensions import db
from portal.models import (
    Contact,
    ContactGroup,
    Origin,
    ScimOperation,
    contact_group_members,
    utcnow,
)
from portal.models.base import chunks
from portal.models.sync import HeldRemoval, RunStatus, SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind, ChangeNote, RemovalReason, RunKind
from portal.scim.reports import PENDING_NOTE
from portal.scim.users import values as user_values
from portal.smart_groups import WholeBook
from portal.sync import reports
from portal.sync.apply import apply_plan
from portal.sync.plan import Change, Rules, SyncPlan, exceeds_threshold
from portal.text import email_key, name_key, single_line

DELETION_WINDOW = timedelta(hours=1)  # SCIM deletions counted together against the deletion threshold
GROUP_NAME_LENGTH = 200
ENTRA_TRIGGER = "entra"


# --- users ------------------------------------------------------------------------------------------


def create_user(customer, user, shared=False):
    """POST /Users: (contact, operation). `shared`: the caller holds the customer's lock shared with
    other upserts (lock.shared_in_transaction): WholeBook when this one must change more than its
    own contact (a restore, a manager others wait for)."""
    wanted = user_values(user)
    _require(wanted)
    if shared:
        _claim(customer, wanted)
    match, holders = _match(customer, wanted)
    if match is None:
        contact = Contact(customer_id=customer.id, origin=Origin.SCIM, email="", email_key="")
        manager = _write(customer, contact, wanted, new=True, holders=holders)  # noqa: F841 (held, as in update_user)
        db.session.add(contact)
        db.session.flush()
        _settle(customer, contact, shared=shared)
        return contact, ScimOperation.CREATE
    if match.archived_at is not None:
        if shared:
            raise WholeBook("a restore settles the whole book")
        _restore(customer, match)
        _write(customer, match, wanted)
        settle(customer.id, groups=_known_smart_groups(customer))
        return match, ScimOperation.RESTORE
    manager = _write(customer, match, wanted)  # noqa: F841 (a contact pulled from Graph: provisioned now)
    _settle(customer, match, shared=shared)
    return match, ScimOperation.CREATE


def update_user(customer, contact, user, shared=False):
    """PUT or PATCH /Users/{id}: write what changed; the operation says what it was. `shared`: as
    for create_user."""
    was_active, email = contact.deactivated_at is None, contact.email_key
    wanted = user_values(user)
    _require(wanted)
    if shared and _keys_change(contact, wanted):
        _claim(customer, wanted)
    manager = _write(customer, contact, wanted)  # noqa: F841 (held: book.settle finds it in the session)
    _settle(customer, contact, named_anew=contact.email_key != email, shared=shared)
    if was_active and contact.deactivated_at is not None:
        return ScimOperation.DISABLE
    if not was_active and contact.deactivated_at is None:
        return ScimOperation.ENABLE
    return ScimOperation.UPDATE


def change_manager(customer, contact, manager, shared=False):
    """PATCH /Users/{id} of the enterprise manager alone (`manager`: its SCIM id, or None): what
    update_user does for that one field, without the whole User. `shared`: as for create_user."""
    held = _set_manager(customer, contact, manager)  # noqa: F841 (held, as in update_user)
    _settle(customer, contact, named_anew=False, shared=shared)
    return ScimOperation.UPDATE


def _keys_change(contact, wanted):
    """Whether the user gets another userName or externalId (checked for uniqueness by _write)."""
    return email_key(wanted["user_name"]) != contact.user_name_key or (
        wanted["external_id"] is not None and wanted["external_id"] != contact.external_id
    )


def _claim(customer, wanted):
    """Upserts sharing the customer's lock (lock.shared_in_transaction, PostgreSQL only) take turns
    per userName and externalId: a transaction lock on each, so the uniqueness checks of two
    requests naming the same user see each other's result (email addresses have the book's unique
    key)."""
    keys = [f"userName {email_key(wanted['user_name'])}"]
    if wanted["external_id"]:
        keys.append(f"externalId {wanted['external_id']}")
    _take_turns(customer, keys)


def _take_turn_to_delete(customer, shared):
    """A DELETE sharing the customer's lock with the upserts waits for the customer's other
    deletions: each counts those before it against the deletion threshold."""
    if shared:
        _take_turns(customer, ["deletions"])


def _take_turns(customer, keys):
    """A transaction lock on each key (one or two) of the customer's: held until the commit."""
    parameters = {f"key{n}": key for n, key in enumerate(sorted(keys))}
    db.session.connection().execute(_CLAIMS[len(keys)], {"customer_id": customer.id, **parameters})


_CLAIMS = {  # built once: one or two keys, in the order of their names
    count: select(
        *(
            func.pg_advisory_xact_lock(
                func.hashtextextended(
                    bindparam(f"key{n}", type_=String), bindparam("customer_id", type_=Integer)
                )
            )
            for n in range(count)
        )
    )
    for count in (1, 2)
}


def _require(wanted):
    if not wanted["user_name"]:
        raise InvalidValueException(detail="userName is required.")
    if not wanted["email"]:
        raise InvalidValueException(detail='A work email address (emails[type eq "work"].value) is required.')


def _match(customer, wanted):
    """(The contact a new user is, {its email's key: the contact with that address, or None}): an
    archived one with its externalId or userName (brought back), a contact pulled from Microsoft
    Graph with externalId = its object id, or with its email while "Link active" is on.
    UniquenessException when an active provisioned contact already is it. The second part spares
    book.email_problem its own lookup of the address."""
    external_id, key, address = (
        wanted["external_id"],
        email_key(wanted["user_name"]),
        email_key(wanted["email"]),
    )
    parameters = {"customer_id": customer.id, "key": key, "external_id": external_id, "email_key": address}
    rows = db.session.execute(_MATCHES[bool(external_id)], parameters).all()
    holders = {address: next((row.Contact for row in rows if row.same_email), None)}
    link_active = _link_active(customer)
    found = [row.Contact for row in rows if row.known or (link_active and row.same_email)]
    for contact in found:
        same_user = (external_id and contact.external_id == external_id) or contact.user_name_key == key
        if contact.archived_at is None and same_user:
            raise UniquenessException(
                detail=f"A user with this userName or externalId exists already (id {contact.id})."
            )
    active = [c for c in found if c.archived_at is None]
    if active:
        return active[0], holders
    return (found[-1] if found else None), holders


def _matching(by_external_id):
    """The contacts a new user may be (see _match), for one shape of what is known of it: rows of
    (Contact, known: by userName [or externalId / Microsoft id], same_email: it has the address).
    Each condition finds its ids by its own index (a union): as one OR, SQLite's planner walked
    every contact of the customer for each new user (Microsoft ids, NULL for provisioned contacts,
    looked unselective)."""
    known = [Contact.user_name_key == bindparam("key")]
    if by_external_id:
        external_id = bindparam("external_id")
        known += [Contact.external_id == external_id, Contact.m365_user_id == external_id]
    same_email = Contact.email_key == bindparam("email_key")
    customer = Contact.customer_id == bindparam("customer_id")
    ids = union(*(select(Contact.id).where(customer, condition) for condition in (*known, same_email)))
    return (
        select(Contact, or_(*known).label("known"), same_email.label("same_email"))
        .where(Contact.id.in_(ids))
        .order_by(Contact.id)
    )


# Built once (every new user asks): by userName [and externalId / Microsoft id], and its email.
_MATCHES = {by_external_id: _matching(by_external_id) for by_external_id in (False, True)}


def _settle(customer, contact, named_anew=True, shared=False):
    """book.settle after a write to one contact: for this contact alone (its manager, the smart
    groups that read it) unless another contact can find it anew (`named_anew`: it is new, back, or
    has a new email) and one names it as its manager without being linked yet; then the whole book
    (WholeBook when `shared`). So Entra's initial cycle does not read the whole book once per user."""
    groups = _known_smart_groups(customer)
    if named_anew and _awaited_as_manager(customer, contact):
        if shared:
            raise WholeBook("a contact others name as their manager arrived")
        settle(customer.id, groups=groups)
    else:
        settle(customer.id, only=[contact.id], widen=not shared, groups=groups)


def _known_smart_groups(customer):
    """None (book.settle reads them), or no smart groups where the customer was read with
    Customer.has_smart_groups (portal.scim.routes) and has none: a query less for each write."""
    return [] if customer.has_smart_groups is False else None


_CONTACTS = Contact.__table__


def _awaiting(named):
    """Built once per shape (every new user asks): another contact naming a manager `named`, unlinked."""
    return (
        select(_CONTACTS.c.id)
        .where(
            _CONTACTS.c.customer_id == bindparam("customer_id"),
            _CONTACTS.c.manager_id.is_(None),
            _CONTACTS.c.id != bindparam("contact_id"),
            named,
        )
        .limit(1)
    )


_AWAITED_BY_EMAIL = _awaiting(func.lower(_CONTACTS.c.manager_email) == bindparam("email_key"))
_AWAITED_BY_EMAIL_OR_ID = _awaiting(
    or_(
        func.lower(_CONTACTS.c.manager_email) == bindparam("email_key"),
        _CONTACTS.c.manager_m365_id == bindparam("m365_id"),
    )
)


def _awaited_as_manager(customer, contact):
    """Whether another contact names `contact` as its manager (by email or M365 id), unlinked."""
    statement = _AWAITED_BY_EMAIL_OR_ID if contact.m365_user_id else _AWAITED_BY_EMAIL
    found = db.session.connection().execute(
        statement,
        {
            "customer_id": customer.id,
            "contact_id": contact.id,
            "email_key": contact.email_key,
            "m365_id": contact.m365_user_id,
        },
    )
    return found.first() is not None


def _link_active(customer):
    """The customer's "Link active" (Synchronize contacts); routes reads the settings with the customer."""
    settings = customer.sync_settings
    return bool(settings is not None and settings.link_active)


def _write(customer, contact, wanted, new=False, holders=None):
    """Set the contact's fields from `wanted`; only what differs is written (a PATCH changing the
    department touches nothing else). Returns the manager contact it linked, if any: the caller holds
    it until book.settle, which takes a linked manager the session holds as it stands (the session
    keeps unchanged objects only while someone refers to them). `holders`: as for book.email_problem."""
    if new or email_key(wanted["email"]) != contact.email_key:
        email = _check_email(customer, contact, wanted["email"], holders)
        old_email = contact.email
        contact.set_email(email)
        if contact.id and old_email:
            _follow_email(customer, contact)
    if wanted["user_name"] != contact.user_name:
        if not new:  # a new contact's userName and externalId were matched already (_match)
            _check_unique(
                customer, contact, Contact.user_name_key == email_key(wanted["user_name"]), "userName"
            )
        contact.set_user_name(wanted["user_name"])
    if wanted["external_id"] != contact.external_id:
        if wanted["external_id"] and not new:
            _check_unique(customer, contact, Contact.external_id == wanted["external_id"], "externalId")
        contact.external_id = wanted["external_id"]
    for field in ("first_name", "last_name", *attributes.NAMES):
        if getattr(contact, field) != wanted[field]:
            setattr(contact, field, wanted[field])
    if wanted["active"] != (contact.deactivated_at is None):
        contact.deactivated_at = None if wanted["active"] else utcnow()
    return _set_manager(customer, contact, wanted["manager"])


# Why a user whose address an existing contact has is refused, and what the customer's admin can do.
TAKE_OVER = (
    ' To take existing contacts over by email, an admin of the portal turns on "Link active"'
    " (Synchronize contacts), then Entra's next cycle links them."
)


def _check_email(customer, contact, email, holders=None):
    """The normalised address (book.email_problem's rule); 409 when another contact has it."""
    with force_locale("en"):
        problem = email_problem(customer, email, exclude_contact_id=contact.id, holders=holders)
    if problem is None:
        return normalize_email(email)[0]
    other = find_by_email(customer, email)
    if other is not None and other.id != contact.id:
        if other.archived_at is None and not _link_active(customer):
            problem += TAKE_OVER
        raise UniquenessException(detail=problem)
    raise InvalidValueException(detail=problem)


def _check_unique(customer, contact, condition, attribute):
    other = db.session.scalar(
        select(Contact.id).where(
            Contact.customer_id == customer.id,
            Contact.archived_at.is_(None),
            Contact.id != (contact.id or 0),
            condition,
        )
    )
    if other is not None:
        raise UniquenessException(detail=f"Another user (id {other}) has this {attribute}.")


def _follow_email(customer, contact):
    """The contacts this one manages keep pointing at it after its email changed (link_managers
    matches a manager outside Microsoft 365 by email)."""
    db.session.execute(
        update(Contact)
        .where(Contact.customer_id == customer.id, Contact.manager_id == contact.id)
        .values(manager_email=contact.email)
    )


# Built once: the customer's contact of an id, not archived (every request about one user, and every
# manager PATCH, reads one; parameters customer_id and contact_id).
ACTIVE_CONTACT = select(Contact).where(
    Contact.customer_id == bindparam("customer_id"),
    Contact.id == bindparam("contact_id"),
    Contact.archived_at.is_(None),
)
# Row locks (PostgreSQL) for writers that share the customer's lock (portal.scim.routes):
# - a user changed (PUT, PATCH): FOR NO KEY UPDATE, so two changes of one user take turns;
# - a user deleted: FOR UPDATE, which also waits for the writers linking it as a manager;
# - a manager linked: FOR KEY SHARE, so a deletion of it in flight is waited for and then seen (a
#   contact is never linked to a manager who left the book), while the manager's own changes and
#   the links of its other reports go on beside it.
CONTACT_TO_CHANGE = ACTIVE_CONTACT.with_for_update(key_share=True)
CONTACT_TO_DELETE = ACTIVE_CONTACT.with_for_update()
_MANAGER_TO_LINK = ACTIVE_CONTACT.with_for_update(read=True, key_share=True)


def _set_manager(customer, contact, value):
    """The enterprise manager by its SCIM id: a contact of the customer (linked by book.settle
    through its email or Microsoft id; returned), else the value is kept as the manager's Microsoft id."""
    current = str(contact.manager_id) if contact.manager_id else contact.manager_m365_id
    if value == current:
        return None
    manager = None
    if value and value.isdigit() and len(value) < 18:
        manager = db.session.scalar(_MANAGER_TO_LINK, {"customer_id": customer.id, "contact_id": int(value)})
    if manager is not None:
        contact.manager_m365_id, contact.manager_email = manager.m365_user_id, manager.email
        contact.manager_name, contact.manager_id = manager.full_name[:210], manager.id
    else:
        contact.manager_m365_id, contact.manager_email, contact.manager_name = value, "", ""
        contact.manager_id = None
    return manager


# --- removal and restore: the sync's apply code, recorded as runs of Entra provisioning ------------------


def _run(customer, now, message):
    return SyncRun.admin_action(customer, RunKind.PROVISIONING, message, now, trigger=ENTRA_TRIGGER)


def _restore(customer, contact):
    now = utcnow()
    run = _run(customer, now, "A user deleted earlier was provisioned again by Entra")
    change = Change.of_contact(ChangeKind.RESTORE, contact, ChangeNote.RESTORED)
    _apply(SyncPlan(restores=[change]), customer, run, now)


def _apply(plan, customer, run, now, **options):
    """apply_plan (`options`: its settle and contacts), its counts other than 0 recorded on the run."""
    counts = apply_plan(plan, customer, run, now, **options)
    run.counts = {key: number for key, number in counts.items() if number}


def delete_user(customer, contact, shared=False):
    """DELETE /Users/{id}: archive the contact (in the cycle's removal report, 30 days of Restore),
    or hold the removal when the deletions of the last hour exceed the deletion threshold. `shared`:
    the caller holds the customer's lock shared with the upserts and locked the contact
    (CONTACT_TO_DELETE); WholeBook when a smart group must read the whole book.

    The removal is written first, in a savepoint; then, beside other deletions, the deletion takes
    its turn (_take_turn_to_delete, held until the commit) and counts itself with those committed
    before it. Over the threshold, the savepoint is rolled back and the removal held instead. So
    the turn is as short as the count: 13 deletions that arrived together waited 60-70 ms for it
    while each wrote its removal holding it. Holding the turn, a deletion waits for no row another
    deletion may lock: the turns cannot deadlock."""
    if db.session.scalar(select(HeldRemoval.id).where(HeldRemoval.contact_id == contact.id)) is not None:
        return ScimOperation.DELETE_HELD
    managed = _managed_by(customer, contact)
    now = utcnow()
    run = _run(customer, now, "A user was deleted in Microsoft Entra ID")
    removal = db.session.begin_nested()
    _remove(customer, contact, managed, run, now, shared)
    _take_turn_to_delete(customer, shared)
    synced = _over_threshold(customer, now)
    if synced is None:
        removal.commit()
        return ScimOperation.DELETE
    removal.rollback()
    _hold(customer, contact, run, now, synced)
    return ScimOperation.DELETE_HELD


def _remove(customer, contact, managed, run, now, shared):
    """Archive the contact as the sync removes (apply_plan), then what follows: its own smart groups
    and the managers of the contacts linked to it (`managed`), looked up anew (book.settle's
    `only`), not a read of the whole book. The removal report goes out with the cycle's others
    (portal.scim.reports)."""
    plan = SyncPlan(removals=[Change.of_contact(ChangeKind.REMOVE, contact, RemovalReason.HARD)])
    _apply(plan, customer, run, now, settle=False, contacts=[contact])
    settle(
        customer.id, run, only=[contact.id, *managed], widen=not shared, groups=_known_smart_groups(customer)
    )
    run.message += "\n" + PENDING_NOTE
    run.report_pending = True
    db.session.flush()


def _hold(customer, contact, run, now, synced):
    """Hold the contact's removal for an admin's decision (the book is unchanged); the notice of
    held removals goes out once per batch, not once per request."""
    change = Change.of_contact(ChangeKind.HOLD, contact, RemovalReason.HARD)
    plan = SyncPlan(holds=[change], threshold_exceeded=True, synced_count=synced)
    already_held = _has_held(customer)
    _apply(plan, customer, run, now, settle=False, contacts=[contact])
    if not already_held:
        run.message += "\n" + "\n".join(reports.send_reports(customer, plan, run, now))
    run.status = RunStatus.HELD


def _managed_by(customer, contact):
    """The ids of the contacts whose manager is `contact` (their link goes when it leaves the book),
    locked as CONTACT_TO_CHANGE: a change of one of them in flight is waited for, then seen."""
    return db.session.scalars(
        select(Contact.id)
        .where(Contact.customer_id == customer.id, Contact.manager_id == contact.id)
        .with_for_update(key_share=True)
    ).all()


def _over_threshold(customer, now):
    """None, or the number of contacts the deletions are a share of when the deletions of the last
    DELETION_WINDOW, this one's removal (written) among them, exceed the deletion threshold (the
    sync's rule, plan.exceeds_threshold)."""
    settings = customer.sync_settings
    percent, minimum = (
        (settings.delete_threshold_percent, settings.delete_threshold_min)
        if settings
        else (Rules.threshold_percent, Rules.threshold_min)
    )
    count = _recent_deletions(customer, now)
    if count < minimum:  # below the minimum no share is exceeded: the book is not counted
        return None
    synced = _synced(customer, count, _enough(count, percent))
    return synced if exceeds_threshold(count, synced, percent, minimum) else None


def _enough(count, percent):
    """The fewest contacts of which `count` removals are not more than `percent` (exceeds_threshold);
    None at 0 %, where no number is enough."""
    return -(-count * 100 // percent) if percent > 0 else None


def _recent_deletions(customer, now):
    return db.session.scalar(
        select(func.count())
        .select_from(SyncChange)
        .join(SyncRun, SyncRun.id == SyncChange.run_id)
        .where(
            SyncChange.customer_id == customer.id,
            SyncChange.kind.in_([ChangeKind.REMOVE, ChangeKind.HOLD]),
            SyncChange.created_at >= now - DELETION_WINDOW,
            SyncRun.kind == RunKind.PROVISIONING,
        )
    )


def _synced(customer, recent, enough):
    """The book the deletions are a share of: the `recent` deletions (archived already) and the
    customer's active contacts, these counted only until there are `enough` in all (None: all). The threshold
    asks only whether there are that many (a deletion in a book of 10,000 counted them all, 2 ms a
    request); where there are fewer (held), the held notice's number is exact."""
    active = select(Contact.id).where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
    if enough is not None:
        active = active.limit(max(enough - recent, 0))
    return recent + db.session.scalar(select(func.count()).select_from(active.subquery()))


def _has_held(customer):
    return (
        db.session.scalar(select(HeldRemoval.id).where(HeldRemoval.customer_id == customer.id).limit(1))
        is not None
    )


# --- groups ---------------------------------------------------------------------------------------------


def create_group(customer, group):
    """POST /Groups: a contact group provisioned by Entra (its members are added by PATCH)."""
    name = _group_name(customer, group.display_name)
    row = ContactGroup(customer_id=customer.id, name=name, origin=Origin.SCIM, external_id=_external(group))
    db.session.add(row)
    db.session.flush()
    _set_members(customer, row, {_member_id(m.value) for m in group.members or ()})
    return row


def update_group(customer, row, group):
    """PUT or PATCH /Groups/{id}: the group after the change; returns the members (added, removed)."""
    if name_key(group.display_name or "") != row.name_key or group.display_name != row.name:
        row.name = _group_name(customer, group.display_name, row.id)
    row.external_id = _external(group)
    return _set_members(customer, row, {_member_id(m.value) for m in group.members or ()})


def delete_group(customer, row):
    delete_contact_group(customer, row, "Entra provisioning")


def member_ids(row):
    return set(
        db.session.scalars(
            select(contact_group_members.c.contact_id)
            .join(Contact, Contact.id == contact_group_members.c.contact_id)
            .where(contact_group_members.c.group_id == row.id, Contact.archived_at.is_(None))
        )
    )


def change_members(customer, row, add, remove):
    """Entra's member PATCH (Add / Remove of listed members): only these contacts are looked at, not
    the whole group (9,000 members took seconds a request). Returns the members (added, removed)."""
    add, remove = {_member_id(value) for value in add}, {_member_id(value) for value in remove}
    member = contact_group_members.c
    present = set()
    for part in chunks(sorted(add | remove)):
        listed = select(member.contact_id).where(member.group_id == row.id, member.contact_id.in_(part))
        present.update(db.session.scalars(listed))
    return _apply_members(customer, row, add - present, remove & present)


def _set_members(customer, row, wanted):
    wanted.discard(None)
    current = member_ids(row)
    return _apply_members(customer, row, wanted - current, current - wanted)


def _apply_members(customer, row, added, removed):
    """Add the contacts `added` (the customer's active ones only: 400 otherwise) and remove `removed`."""
    for part in chunks(sorted(added)):
        known = set(
            db.session.scalars(
                select(Contact.id).where(
                    Contact.customer_id == customer.id, Contact.id.in_(part), Contact.archived_at.is_(None)
                )
            )
        )
        unknown = sorted(set(part) - known)
        if unknown:
            raise InvalidValueException(detail=f"No user with the id {unknown[0]} (members must be users).")
    if added:
        db.session.execute(
            insert(contact_group_members), [{"contact_id": i, "group_id": row.id} for i in sorted(added)]
        )
    for part in chunks(sorted(removed)):
        db.session.execute(
            delete(contact_group_members).where(
                contact_group_members.c.group_id == row.id, contact_group_members.c.contact_id.in_(part)
            )
        )
    return added, removed


def _member_id(value):
    text = str(value or "").strip()
    if not (text.isdigit() and len(text) < 18):
        raise InvalidValueException(detail=f"No user with the id {text[:40]!r} (members must be users).")
    return int(text)


def _external(group):
    return (group.external_id or "").strip()[:255] or None


def _group_name(customer, display_name, own_id=None):
    name = single_line(display_name or "").strip()
    if not name:
        raise InvalidValueException(detail="displayName is required.")
    if len(name) > GROUP_NAME_LENGTH:
        raise InvalidValueException(detail=f"displayName may have at most {GROUP_NAME_LENGTH} characters.")
    existing = find_group_by_name(customer, name)
    if existing is not None and existing.id != own_id:
        if existing.origin == Origin.SCIM and not existing.is_smart:
            raise UniquenessException(
                detail=f"A provisioned group with this displayName exists (id {existing.id})."
            )
        raise UniquenessException(
            detail=f'The contact book has a group named "{name}" that Entra did not provision; '
            "rename it in the portal or the group in Entra."
        )
    return name
