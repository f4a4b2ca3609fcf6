"""Decide what a sync or an import would change: a pure function, no database, no network.

    plan = build(contacts, m365, rules)

`contacts` is a snapshot of the customer's book (ContactSnap, archived ones included), `m365` what
the fetch step learned from Microsoft (M365Data), `rules` the customer's settings (Rules). The
result (SyncPlan) lists creates, updates (field: old -> new), links, group additions, removals,
restores, held removals and skipped users with their reason. The preview shows it, `apply`
writes it: both come from this one function.

Removals are only ever planned from `m365.removed`, which the fetch step fills from delta
`@removed` or from a listing that completed without error and a confirming 404 ("never delete on
doubt"). The deletion threshold is applied here so that the preview shows what would be held.
"""

from dataclasses import dataclass, field

from portal.models.tenancy import domain_allowed
from portal.models.vocabulary import PLANNED_KINDS, ChangeKind, ChangeNote, SkipReason
from portal.sync.people import person_from_graph

FIELDS = ("first_name", "last_name", "email")


@dataclass(frozen=True)
class ContactSnap:
    """What the plan needs to know about one contact."""

    id: int
    first_name: str
    last_name: str
    email: str
    m365_user_id: str | None = None
    archived: bool = False
    group_ids: frozenset = frozenset()
    attributes: tuple = ()  # ((name, value), ...) of portal.attributes.NAMES
    manager: object = None  # a people.ManagerRef, or None

    @property
    def email_key(self):
        return self.email.lower()

    @property
    def name(self):
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class M365Data:
    """What Microsoft said. `users`: id -> Graph user (present users; a delta's changed ones, or the
    full listing). `removed`: id -> RemovalReason (trusted removals only). `wanted`: (user id, contact
    group id or None) pairs that should be contacts: import targets and subscribed groups' members.
    `full`: users is a complete listing (every synced contact's user present or removed)."""

    users: dict = field(default_factory=dict)
    removed: dict = field(default_factory=dict)
    wanted: list = field(default_factory=list)
    full: bool = False


@dataclass(frozen=True)
class Rules:
    """The customer's settings as the plan uses them."""

    link_active: bool = False
    skip_disabled: bool = True
    skip_guests: bool = True
    allowed_domains: tuple = ()
    threshold_percent: int = 10
    threshold_min: int = 10
    # Sync: check every synced contact whose user is in the data. Import: only the wanted ones.
    update_all: bool = True
    held_contact_ids: frozenset = frozenset()


@dataclass(frozen=True)
class Change:
    """One planned change to one contact (or one skipped user).

    kind: a ChangeKind; reason: a RemovalReason (remove, hold, keep), a SkipReason (skip) or a
    ChangeNote (portal.models.vocabulary). `changes`: ((field, old, new), ...) for create/update/link/restore.
    """

    kind: str
    user_id: str | None
    name: str
    email: str
    contact_id: int | None = None
    changes: tuple = ()
    group_id: int | None = None
    reason: str = ""
    values: tuple = ()  # create: (first, last, email)
    attributes: tuple = ()  # create: ((name, value), ...) and ("manager", ManagerRef or None)

    @classmethod
    def of_contact(cls, kind, contact, reason=""):
        """A change of `kind` to the contact as it is now (restore, remove: no field changes)."""
        return cls(
            kind, contact.m365_user_id, contact.full_name, contact.email, contact_id=contact.id, reason=reason
        )


@dataclass
class SyncPlan:
    """Everything a run would do, in the order `apply` does it."""

    creates: list = field(default_factory=list)
    links: list = field(default_factory=list)
    restores: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    group_adds: list = field(default_factory=list)
    removals: list = field(default_factory=list)
    holds: list = field(default_factory=list)
    releases: list = field(default_factory=list)
    kept: list = field(default_factory=list)  # held removals the admin decided to keep: unlink them
    skipped: list = field(default_factory=list)
    present: list = field(default_factory=list)  # import: already a contact, nothing to change
    synced_count: int = 0
    threshold_exceeded: bool = False

    KINDS = PLANNED_KINDS  # the lists of writes, in apply order

    def changes(self):
        """Every planned write, in apply order."""
        return [c for kind in self.KINDS for c in getattr(self, kind)]

    @property
    def is_empty(self):
        return not self.changes()

    def counts(self):
        """{kind: number} for the history and the preview."""
        counts = {kind: len(getattr(self, kind)) for kind in self.KINDS}
        counts[ChangeKind.SKIP.plural] = len(self.skipped)
        counts[ChangeKind.PRESENT.plural] = len(self.present)
        return counts


def build(contacts, m365, rules=Rules()):
    """The plan that brings `contacts` in line with `m365` under `rules` (pure)."""
    state = _State(contacts, rules)
    plan = SyncPlan(synced_count=state.synced_count())
    wanted_ids = {uid for uid, _gid in m365.wanted}
    _plan_removals(plan, state, m365)
    _plan_present_users(plan, state, m365, wanted_ids)
    _plan_wanted(plan, state, m365)
    _apply_threshold(plan, rules)
    return plan


class ImportPlanner:
    """build() of an import (no removals, no threshold), in parts: the same decisions as one
    build() over all the users, but only a slice of the users and of the planned changes is held
    at a time. build() decides updates and restores of users that have a contact before the
    creates and links of new users (an email one takes is taken for the other), and skips new
    users that share an email key with another new user. So, in this order:

        planner = ImportPlanner(contacts, rules)
        planner.count_emails(users)       every new user's email (a Graph user with at least "mail")
        planner.present(users)  -> plan   for every slice of the users that have a contact
        planner.wanted(users, wanted) -> plan   for every slice of `wanted`, in order; `users`:
                                          at least the slice's new users
    Each returned plan is applied before the next is asked for.
    """

    def __init__(self, contacts, rules):
        self.state = _State(contacts, rules)
        self._owners = _EmailOwners()

    def is_new(self, user_id):
        """True when no contact is linked to this user (it would be created or linked)."""
        return user_id not in self.state.by_user

    def count_emails(self, users):
        for user_id, user in users.items():
            if self.is_new(user_id):
                self._owners.add(person_from_graph(user))

    def present(self, users):
        plan = SyncPlan()
        _plan_present_users(plan, self.state, M365Data(users=users), set(users))
        return plan

    def wanted(self, users, wanted):
        plan = SyncPlan()
        _plan_wanted(plan, self.state, M365Data(users=users, wanted=wanted), self._owners.shared)
        return plan


class _State:
    """Indexes over the snapshot, and the email keys already taken (by contacts or planned writes)."""

    def __init__(self, contacts, rules):
        self.rules = rules
        self.contacts = list(contacts)
        self.by_user = {}
        for contact in self.contacts:
            if contact.m365_user_id:
                # An active contact wins over an archived one with the same user id.
                known = self.by_user.get(contact.m365_user_id)
                if known is None or (known.archived and not contact.archived):
                    self.by_user[contact.m365_user_id] = contact
        self.by_email = {c.email_key: c for c in self.contacts}
        self.taken = {c.email_key: c.id for c in self.contacts}
        self.handled = set()  # user ids already planned (create/link/skip) by _plan_wanted
        self.touched = set()  # user ids with a planned update or restore
        self.targets = {}  # user id -> what a group addition points at (contact id/user id)
        self.skipped = set()
        self.in_group = {(c.id, gid) for c in self.contacts for gid in c.group_ids}

    def synced_count(self):
        return sum(1 for c in self.contacts if c.m365_user_id and not c.archived)

    def take(self, key, owner):
        """Claim an email key for `owner` (a contact id or a user id); False when someone has it."""
        holder = self.taken.get(key)
        if holder is not None and holder != owner:
            return False
        self.taken[key] = owner
        return True


def _plan_removals(plan, state, m365):
    """Active synced contacts whose user is gone (trusted sources only)."""
    for user_id, reason in m365.removed.items():
        contact = state.by_user.get(user_id)
        if contact is None or contact.archived or user_id in m365.users:
            continue
        if contact.id in state.rules.held_contact_ids:
            continue  # already waiting for an admin's decision
        plan.removals.append(
            Change(
                ChangeKind.REMOVE, user_id, contact.name, contact.email, contact_id=contact.id, reason=reason
            )
        )


def _plan_present_users(plan, state, m365, wanted_ids):
    """Updates and restores for contacts whose M365 user is present."""
    for user_id, user in m365.users.items():
        contact = state.by_user.get(user_id)
        if contact is None:
            continue
        if contact.id in state.rules.held_contact_ids:
            plan.releases.append(
                Change(
                    ChangeKind.RELEASE,
                    user_id,
                    contact.name,
                    contact.email,
                    contact_id=contact.id,
                    reason=ChangeNote.USER_PRESENT,
                )
            )
        if contact.archived:
            changes = _field_changes(plan, state, contact, person_from_graph(user, contact))
            plan.restores.append(
                Change(
                    ChangeKind.RESTORE,
                    user_id,
                    contact.name,
                    contact.email,
                    contact_id=contact.id,
                    changes=changes,
                )
            )
            state.touched.add(user_id)
        elif state.rules.update_all or user_id in wanted_ids:
            changes = _field_changes(plan, state, contact, person_from_graph(user, contact))
            if changes:
                plan.updates.append(
                    Change(
                        ChangeKind.UPDATE,
                        user_id,
                        contact.name,
                        contact.email,
                        contact_id=contact.id,
                        changes=changes,
                    )
                )
                state.touched.add(user_id)


def _field_changes(plan, state, contact, person):
    """(field, old, new) for names and email that differ; email problems are reported, not applied."""
    changes = []
    if not person.name_missing:
        for name, new in (("first_name", person.first_name), ("last_name", person.last_name)):
            old = getattr(contact, name)
            if old != new:
                changes.append((name, old, new))
    if person.email != contact.email:
        problem = _email_problem(state, contact, person)
        if problem:
            _skip(plan, state, person.m365_id, contact.name, contact.email, problem, force=True)
        else:
            changes.append(("email", contact.email, person.email))
    return tuple(changes) + _attribute_changes(contact, person)


def _attribute_changes(contact, person):
    """(attribute, old, new) for the attributes and the manager that differ ("manager": ManagerRefs
    or None; a manager whose name or email changed elsewhere is the same manager)."""
    current = dict(contact.attributes)
    changes = [(name, current.get(name, ""), new) for name, new in person.attributes]
    changes = [change for change in changes if change[1] != change[2]]
    if _manager_id(contact.manager) != _manager_id(person.manager):
        changes.append(("manager", contact.manager, person.manager))
    return tuple(changes)


def _manager_id(manager):
    return manager.m365_id if manager is not None else None


def _email_problem(state, contact, person):
    if person.email_invalid:
        return SkipReason.EMAIL_INVALID
    if not person.email:
        return SkipReason.EMAIL_NO_MAILBOX
    if not domain_allowed(person.email_key, state.rules.allowed_domains):
        return SkipReason.EMAIL_DOMAIN
    if person.email_key != contact.email_key and not state.take(person.email_key, contact.id):
        return SkipReason.EMAIL_CONFLICT
    return None


def _plan_wanted(plan, state, m365, duplicates=None):
    """Import targets and group members: create, link, or add to the group. `duplicates`: the email
    keys shared by new wanted users, when they were counted beyond `m365` (ImportPlanner)."""
    persons = _new_persons(state, m365)
    if duplicates is None:
        duplicates = _duplicate_emails(persons)
    for user_id, group_id in m365.wanted:
        contact = state.by_user.get(user_id)
        if contact is not None:
            _note_present(plan, state, contact, user_id)
            _group_add(plan, state, contact.id, user_id, contact.name, contact.email, group_id)
            continue
        if user_id in state.skipped:
            continue
        user = m365.users.get(user_id)
        if user is None:
            _skip(plan, state, user_id, "", "", SkipReason.NOT_FOUND)
            continue
        person = persons[user_id]
        target = _create_or_link(plan, state, person, duplicates)
        if target is not None:
            _group_add(plan, state, target, user_id, person.display_name, person.email, group_id)


def _note_present(plan, state, contact, user_id):
    """Import: an already imported user counts as present unless it is updated or restored."""
    if user_id in state.handled:
        return
    state.handled.add(user_id)
    if user_id not in state.touched:
        plan.present.append(
            Change(ChangeKind.PRESENT, user_id, contact.name, contact.email, contact_id=contact.id)
        )


def _create_or_link(plan, state, person, duplicates):
    """Plan a create or a link for a new user; returns the contact id or user id to group, or None."""
    if person.m365_id in state.handled:
        return state.targets.get(person.m365_id)
    state.handled.add(person.m365_id)
    reason = _skip_reason(person, state.rules, duplicates)
    if reason:
        _skip(plan, state, person.m365_id, person.display_name, person.email or "", reason)
        return None
    existing = state.by_email.get(person.email_key)
    if existing is not None:
        return _link_or_leave(plan, state, existing, person)
    if not state.take(person.email_key, person.m365_id):
        _skip(plan, state, person.m365_id, person.display_name, person.email, SkipReason.EMAIL_TAKEN)
        return None
    plan.creates.append(
        Change(
            ChangeKind.CREATE,
            person.m365_id,
            f"{person.first_name} {person.last_name}".strip(),
            person.email,
            changes=tuple(
                (f, "", v)
                for f, v in zip(FIELDS, (person.first_name, person.last_name, person.email), strict=True)
            ),
            values=(person.first_name, person.last_name, person.email),
            attributes=(*person.attributes, ("manager", person.manager)),
            reason=ChangeNote.NAME_MISSING if person.name_missing else "",
        )
    )
    state.targets[person.m365_id] = person.m365_id
    return person.m365_id


def _link_or_leave(plan, state, existing, person):
    """An existing contact has the user's email: link it ("Link active") or leave it alone."""
    if existing.archived:
        _skip(plan, state, person.m365_id, person.display_name, person.email, SkipReason.ARCHIVED)
        return None
    if existing.m365_user_id:
        _skip(plan, state, person.m365_id, person.display_name, person.email, SkipReason.LINKED_ELSEWHERE)
        return None
    if not state.rules.link_active:
        plan.present.append(
            Change(
                ChangeKind.PRESENT,
                person.m365_id,
                existing.name,
                existing.email,
                contact_id=existing.id,
                reason=ChangeNote.NOT_LINKED,
            )
        )
        return None
    changes = _field_changes(plan, state, existing, person)
    plan.links.append(
        Change(
            ChangeKind.LINK,
            person.m365_id,
            existing.name,
            existing.email,
            contact_id=existing.id,
            changes=changes,
        )
    )
    state.targets[person.m365_id] = existing.id
    return existing.id


def _skip_reason(person, rules, duplicates):
    reason = person.skip_reason(rules.allowed_domains)
    if reason == SkipReason.DISABLED and not rules.skip_disabled:
        reason = None
    if reason == SkipReason.GUEST and not rules.skip_guests:
        reason = None
    if reason is None and person.email_key in duplicates:
        reason = SkipReason.DUPLICATE
    return reason


def _new_persons(state, m365):
    """The wanted users that are not linked to a contact yet, as Persons (by user id)."""
    return {
        user_id: person_from_graph(m365.users[user_id])
        for user_id, _gid in m365.wanted
        if user_id not in state.by_user and user_id in m365.users
    }


def _duplicate_emails(persons):
    """Email keys shared by several new (not yet linked) wanted users: ambiguous, so skipped."""
    owners = _EmailOwners()
    for person in persons.values():
        owners.add(person)
    return owners.shared


class _EmailOwners:
    """The email keys that more than one user has (users seen one at a time)."""

    def __init__(self):
        self.first, self.shared = {}, set()

    def add(self, person):
        if person.email_key and self.first.setdefault(person.email_key, person.m365_id) != person.m365_id:
            self.shared.add(person.email_key)


def _group_add(plan, state, target, user_id, name, email, group_id):
    """Put the contact (an id, or the user id of a planned create) into the contact group."""
    if group_id is None or (target, group_id) in state.in_group:
        return
    state.in_group.add((target, group_id))
    contact_id = target if isinstance(target, int) else None
    plan.group_adds.append(
        Change(ChangeKind.GROUP_ADD, user_id, name, email or "", contact_id=contact_id, group_id=group_id)
    )


def _skip(plan, state, user_id, name, email, reason, force=False):
    if user_id in state.skipped and not force:
        return
    state.skipped.add(user_id)
    plan.skipped.append(Change(ChangeKind.SKIP, user_id, name, email or "", reason=reason))


def exceeds_threshold(count, synced_count, percent, minimum):
    """The deletion threshold: `count` removals out of `synced_count` contacts are held when they
    exceed BOTH the share (`percent`) and the count (`minimum`). Entra provisioning counts its
    deletions of the last hour the same way (portal.scim.writes)."""
    return count * 100 > synced_count * percent and count >= minimum


def _apply_threshold(plan, rules):
    """Hold every removal of this run when they exceed BOTH the share and the count."""
    count = len(plan.removals)
    if count and exceeds_threshold(count, plan.synced_count, rules.threshold_percent, rules.threshold_min):
        plan.threshold_exceeded = True
        plan.holds = [
            Change(ChangeKind.HOLD, c.user_id, c.name, c.email, contact_id=c.contact_id, reason=c.reason)
            for c in plan.removals
        ]
        plan.removals = []
