"""Smart groups: contact groups whose members are exactly the active contacts matching a rule.

    validate(rule)                      the rule cleaned, or RuleError (in the admin's language)
    matches(customer_id, rule)          a where-clause over Contact: the rule's attribute conditions
    matching_ids(customer_id, rule)     the ids of the contacts matching the whole rule, managers included
    preview(customer_id, rule)          (how many contacts match, the first few of them)
    refresh(customer_id, run=None)      memberships brought in step with the rules, set-based
    describe(rule)                      the rule in words

A rule (ContactGroup.rule) is {"conditions": [...]}, combined with AND. A condition is
{"attribute": <an attributes.ATTRIBUTES name>, "operator": is | is_not | starts_with | empty |
not_empty, "value": text}, compared case-insensitively, or {"attribute": "manager", "operator":
direct | indirect, "value": <the manager's email>}: the contacts that report to the active contact
with that email, directly or through others (team_ids walks Contact.manager_id in memory). The manager
is kept by email so a rule can name someone not imported yet; it is found at refresh time.

book.settle calls refresh after every write to the book. Joins and leaves are recorded as changes
of the run that wrote (SyncChange, kind group_join / group_leave, detail: the group's id; field,
old_value, new_value: the reason), or of a run recording an admin's edit when no run wrote.
"""

import heapq
from collections import defaultdict

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, delete, except_, exists, func, insert, literal, not_, select
from sqlalchemy.orm import aliased

from portal import attributes
from portal.extensions import db
from portal.models import Contact, ContactGroup, Customer, contact_group_members, utcnow
from portal.models.base import chunks
from portal.models.sync import SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind, RunKind

MANAGER = "manager"
OPERATORS = {
    "is": _l("is"),
    "is_not": _l("is not"),
    "starts_with": _l("starts with"),
    "empty": _l("is empty"),
    "not_empty": _l("is not empty"),
}
MANAGER_OPERATORS = {"direct": _l("directly"), "indirect": _l("including indirect reports")}
WITHOUT_VALUE = ("empty", "not_empty")
MAX_CONDITIONS = 10
PREVIEW_NAMES = 10
NAMES_BY_ID_UP_TO = 5000  # a manager rule's preview looks its first names up by id up to this many


class RuleError(ValueError):
    """The rule cannot be used; the message (in the admin's language) says why."""


def attribute_choices():
    """(name, label) of everything a condition can test: the attributes, then the manager."""
    return [(a.name, a.label) for a in attributes.ATTRIBUTES] + [(MANAGER, attributes.MANAGER.label)]


def validate(rule):
    """The rule with its conditions cleaned (values on one line, no value where none is needed);
    RuleError when it has no condition, an unknown attribute or operator, or a value missing."""
    conditions = (rule or {}).get("conditions") if isinstance(rule, dict) else None
    if not conditions or not isinstance(conditions, list):
        raise RuleError(_("Add at least one condition."))
    if len(conditions) > MAX_CONDITIONS:
        raise RuleError(_("At most %(n)s conditions.", n=MAX_CONDITIONS))
    return {"conditions": [_clean(condition) for condition in conditions]}


def _clean(condition):
    if not isinstance(condition, dict):
        raise RuleError(_("A condition is not readable."))
    name, operator = condition.get("attribute"), condition.get("operator")
    value = attributes.clean(condition.get("value") if isinstance(condition.get("value"), str) else "")
    if name != MANAGER and name not in attributes.BY_NAME:
        raise RuleError(_("Unknown attribute: %(name)s.", name=str(name)[:40]))
    allowed = MANAGER_OPERATORS if name == MANAGER else OPERATORS
    if operator not in allowed:
        raise RuleError(
            _("Choose how to compare %(attribute)s.", attribute=attributes.label(name)),
        )
    if operator in WITHOUT_VALUE:
        value = ""
    elif not value:
        raise RuleError(_("Enter a value for %(attribute)s.", attribute=attributes.label(name)))
    if name == MANAGER:
        value = value.lower()
    return {"attribute": name, "operator": operator, "value": value}


def matches(customer_id, rule):
    """The where-clause over Contact of the customer's active contacts matching the rule's attribute
    conditions (validated); manager conditions are not in it (team_ids answers those)."""
    conditions = [_condition(condition) for condition in rule["conditions"] if not _is_team(condition)]
    return and_(Contact.customer_id == customer_id, _active(), *conditions)


def _active():
    """In the book and not disabled by Entra provisioning: only such contacts are smart group members."""
    return and_(Contact.archived_at.is_(None), Contact.deactivated_at.is_(None))


def _is_team(condition):
    return condition["attribute"] == MANAGER


def _condition(condition):
    operator, value = condition["operator"], condition["value"]
    column = func.coalesce(getattr(Contact, condition["attribute"]), "")
    # lower() on both sides: the database folds the value as it folds the column.
    folded, wanted = func.lower(column), func.lower(literal(value))
    if operator == "is":
        return folded == wanted
    if operator == "is_not":
        return folded != wanted
    if operator == "starts_with":
        return func.substr(folded, 1, len(value)) == wanted
    return column == "" if operator == "empty" else column != ""


def team_ids(customer_id, rule):
    """The ids of the active contacts meeting every manager condition of `rule`, or None when it has
    none. The book's manager links are read once and walked here, not by a recursive query: a query
    planner that has no statistics yet (a book just imported) scans the whole book at each step of
    the recursion, and a team of 14,000 in a book of 100,000 took over 30 minutes on PostgreSQL."""
    teams = [condition for condition in rule["conditions"] if _is_team(condition)]
    if not teams:
        return None
    rows = db.session.execute(
        select(Contact.id, Contact.manager_id).where(
            Contact.customer_id == customer_id, Contact.archived_at.is_(None), Contact.manager_id.is_not(None)
        )
    )
    reports = defaultdict(list)
    for contact_id, manager_id in rows:
        reports[manager_id].append(contact_id)
    found = None
    for condition in teams:
        ids = _reports(customer_id, reports, condition["value"], condition["operator"] == "indirect")
        found = ids if found is None else found & ids
    return found


def _reports(customer_id, reports, manager_email, indirect):
    """The ids of the active contacts reporting to the active contact with `manager_email`, directly
    or (indirect) through any chain of managers; a cycle ends where it meets a contact seen before."""
    manager_id = _manager_id(customer_id, manager_email)
    found, frontier = set(), [manager_id] if manager_id is not None else []
    while frontier:
        step = [report for manager in frontier for report in reports.get(manager, ()) if report not in found]
        found.update(step)
        frontier = step if indirect else []
    return found


def _manager_id(customer_id, manager_email):
    """The id of the active contact a manager condition names (by email), or None."""
    return db.session.scalar(
        select(Contact.id).where(
            Contact.customer_id == customer_id,
            Contact.archived_at.is_(None),
            Contact.email_key == manager_email.lower(),
        )
    )


def matching_ids(customer_id, rule, teams=None):
    """The ids of the customer's active contacts matching the validated `rule` (`teams`: its
    team_ids when already read). Each part is one pass over the book, whatever the planner knows."""
    teams = team_ids(customer_id, rule) if teams is None else teams
    if teams is not None and (not teams or all(_is_team(condition) for condition in rule["conditions"])):
        disabled = select(Contact.id).where(
            Contact.customer_id == customer_id,
            Contact.archived_at.is_(None),
            Contact.deactivated_at.is_not(None),
        )
        return teams - set(db.session.scalars(disabled))
    found = set(db.session.scalars(select(Contact.id).where(matches(customer_id, rule))))
    return found if teams is None else found & teams


def _has_team(rule):
    return any(_is_team(condition) for condition in rule["conditions"])


def preview(customer_id, rule, limit=PREVIEW_NAMES):
    """(number of the customer's contacts matching the validated `rule`, the first `limit` by name)."""
    by_name = (Contact.last_name, Contact.first_name, Contact.id)
    if not _has_team(rule):
        where = matches(customer_id, rule)
        count = db.session.scalar(select(func.count()).select_from(Contact).where(where))
        return count, db.session.scalars(select(Contact).where(where).order_by(*by_name).limit(limit)).all()
    ids = matching_ids(customer_id, rule)
    if len(ids) <= NAMES_BY_ID_UP_TO:  # a team: its names by primary key
        names = (
            row
            for part in chunks(sorted(ids))
            for row in db.session.execute(select(*by_name).where(Contact.id.in_(part)))
        )
    else:  # most of the book: one pass
        names = (
            row
            for row in db.session.execute(select(*by_name).where(matches(customer_id, rule)))
            if row.id in ids
        )
    first = [row.id for row in heapq.nsmallest(limit, names)]
    contacts = {
        contact.id: contact for contact in db.session.scalars(select(Contact).where(Contact.id.in_(first)))
    }
    return len(ids), [contacts[contact_id] for contact_id in first]


_WITH_RULES = select(ContactGroup).where(  # built once: every write to a book asks
    ContactGroup.customer_id == bindparam("customer_id"), ContactGroup.rule.is_not(None)
)


# Whether a customer has groups with a rule (a JSON null aside: smart_groups tells), as a column of
# a query of Customer (Customer.has_smart_groups): a writer that read it need not ask smart_groups.
ANY_RULE = (
    exists()
    .where(ContactGroup.customer_id == Customer.id, ContactGroup.rule.is_not(None))
    .correlate(Customer)
)


def smart_groups(customer_id):
    """The customer's smart groups (the rule is JSON: SQL NULL is no rule, and neither is a JSON null,
    tested in Python). Every write to a book asks: the other groups are not loaded."""
    groups = db.session.scalars(_WITH_RULES, {"customer_id": customer_id}).all()
    return [group for group in groups if group.is_smart]


def smart_group_ids(customer_id):
    """The ids of the customer's smart groups (never fed by hand, CSV or subscription)."""
    return {group.id for group in smart_groups(customer_id)}


def describe(customer_id, rule):
    """The rule in words, in the admin's language: "Department is Finance and Office is Munich"."""
    return _(" and ").join(
        _phrase(customer_id, condition) for condition in (rule or {}).get("conditions", [])
    )


def _phrase(customer_id, condition):
    name, operator, value = condition.get("attribute"), condition.get("operator"), condition.get("value", "")
    if name == MANAGER:
        manager = db.session.scalar(
            select(Contact).where(
                Contact.customer_id == customer_id,
                Contact.archived_at.is_(None),
                Contact.email_key == value.lower(),
            )
        )
        who = manager.full_name or manager.email if manager is not None else value
        if operator == "indirect":
            return _("Manager is %(who)s, including indirect reports", who=who)
        return _("Manager is %(who)s (direct reports)", who=who)
    label = attributes.label(name)
    if operator in WITHOUT_VALUE:
        return f"{label} {OPERATORS.get(operator, operator)}"
    return f"{label} {OPERATORS.get(operator, operator)} „{value}“"


class WholeBook(Exception):
    """A write to a few contacts needs the whole book after all (book.settle with `widen` False)."""


def refresh(
    customer_id, run=None, record=True, now=None, only=None, managers_moved=False, widen=True, groups=None
):
    """Bring every smart group of the customer in step with its rule: members that no longer match
    (or were removed from the book) leave, matching active contacts join: the two set differences
    are read first (a refresh that moves no one costs those two queries per group), then written
    an IN list at a time. With `record`, joins and leaves become changes of `run` (or of a run recording
    an admin's edit, made when something changed). Returns how many joined and left. Caller commits.

    `only`: just these contacts were written (book.settle's `only`); `managers_moved`: a manager link
    of theirs changed. Rules then look at them alone (a manager condition walks up each one's chain
    of managers), except rules with a manager condition after a manager moved: a move can take a
    whole team along, so those read the book (WholeBook instead when `widen` is False). `groups`:
    the customer's smart groups where the caller knows them already (none: Customer.has_smart_groups)."""
    now = now or utcnow()
    moved = 0
    for group in smart_groups(customer_id) if groups is None else groups:
        member = contact_group_members.c
        narrow = only if only is not None and not (managers_moved and _has_team(group.rule)) else None
        if narrow is None and only is not None and not widen:
            raise WholeBook(f"smart group {group.id} follows a manager who moved")
        leaving_ids, joining_ids, team = _moving(customer_id, group, narrow)
        if not leaving_ids and not joining_ids:
            continue
        if record:
            run = run or _edit_run(customer_id, now)
            for kind, ids in ((ChangeKind.GROUP_LEAVE, leaving_ids), (ChangeKind.GROUP_JOIN, joining_ids)):
                for part in chunks(ids):
                    _record(run, group, kind, part, team, now)
            moved += len(leaving_ids) + len(joining_ids)
        for part in chunks(leaving_ids):
            db.session.execute(
                delete(contact_group_members).where(member.group_id == group.id, member.contact_id.in_(part))
            )
        for part in chunks(joining_ids):
            db.session.execute(
                insert(contact_group_members).from_select(
                    ["contact_id", "group_id"],
                    select(Contact.id, literal(group.id)).where(_among(customer_id, part)),
                )
            )
    return moved


def record_leaving(customer_id, ids, now=None):
    """Record that the contacts `ids` (one IN list), about to be deleted, leave their smart groups
    ("no longer an active contact"), in a run recording an admin's edit. Caller deletes and commits."""
    member = contact_group_members.c
    run = None
    for group in smart_groups(customer_id):
        leaving = db.session.scalars(
            select(member.contact_id).where(member.group_id == group.id, member.contact_id.in_(ids))
        ).all()
        if leaving:
            run = run or _edit_run(customer_id, now or utcnow())
            _record(run, group, ChangeKind.GROUP_LEAVE, leaving, None, now or utcnow())


def _moving(customer_id, group, only=None):
    """(ids of the members leaving `group`, ids of the contacts joining it, its team_ids), read once:
    on a quiet refresh (most writes touch no rule) these reads are all it costs; the writes and
    records then name the few contacts that move. `only`: among these contacts (an attribute rule)."""
    members = select(contact_group_members.c.contact_id).where(contact_group_members.c.group_id == group.id)
    if only is not None:
        members = members.where(contact_group_members.c.contact_id.in_(only))
        current = set(db.session.scalars(members))
        matching = set(
            db.session.scalars(
                select(Contact.id).where(matches(customer_id, group.rule), Contact.id.in_(only))
            )
        )
        for condition in (c for c in group.rule["conditions"] if _is_team(c)):
            matching = {
                contact_id for contact_id in matching if _reports_to(customer_id, contact_id, condition)
            }
        return sorted(current - matching), sorted(matching - current), None
    if _has_team(group.rule):
        team = team_ids(customer_id, group.rule)
        matching, current = matching_ids(customer_id, group.rule, team), set(db.session.scalars(members))
        return sorted(current - matching), sorted(matching - current), team
    matching = select(Contact.id).where(matches(customer_id, group.rule))
    # EXCEPT, not NOT IN: both databases hash a set difference; PostgreSQL's NOT IN over a large
    # subquery falls back to a scan per row once the set outgrows work_mem.
    leaving = db.session.scalars(except_(members, matching)).all()
    return leaving, db.session.scalars(except_(matching, members)).all(), None


def _reports_to(customer_id, contact_id, condition):
    """Whether the contact meets the manager `condition`: its chain of managers walked upwards, one
    lookup a level (a cycle ends it), for a write to a few contacts whose managers did not move."""
    boss = _manager_id(customer_id, condition["value"])
    seen, current = {contact_id}, _manager_of(contact_id)
    while boss is not None and current is not None and current not in seen:
        if current == boss:
            return True
        if condition["operator"] != "indirect":
            return False
        seen.add(current)
        current = _manager_of(current)
    return boss is not None and current == boss


def _manager_of(contact_id):
    return db.session.scalar(
        select(Contact.manager_id).where(Contact.id == contact_id, Contact.archived_at.is_(None))
    )


def _among(customer_id, ids):
    """The customer's contacts with these ids (one SQL IN list: models.base.chunks)."""
    return and_(Contact.customer_id == customer_id, Contact.id.in_(ids))


def _count(where):
    return db.session.scalar(select(func.count()).select_from(Contact).where(where))


def _edit_run(customer_id, now):
    """The run that records joins and leaves caused by an admin's edit of the book (form, CSV)."""
    run = SyncRun(
        customer_id=customer_id,
        kind=RunKind.EDIT,
        trigger="manual",
        started_at=now,
        finished_at=now,
        status="succeeded",
        counts={},
        message="Smart groups followed a change in the contact book",
    )
    db.session.add(run)
    db.session.flush()
    return run


# Above this many field updates in one run, the reason leaves out the old value: looking it up
# per joining or leaving contact would cost more than it tells.
OLD_VALUES_UP_TO = 2000


def _record(run, group, kind, ids, team, now):
    """Insert one SyncChange per contact of `ids`, with the reason: the condition it no longer meets
    (leave) or meets (join), its value now and, when the run changed it, before. `team`: the rule's
    team_ids (None: no manager condition)."""
    with_old = 0 < _count_updates(run) <= OLD_VALUES_UP_TO  # a run without updates has no old values
    off_team = [contact_id for contact_id in ids if team is not None and contact_id not in team]
    field, old, new = _reason(run, group.rule, kind, with_old, off_team)
    where = _among(group.customer_id, ids)
    name = func.trim(func.coalesce(Contact.first_name, "") + " " + func.coalesce(Contact.last_name, ""))
    rows = select(
        literal(run.id),
        literal(group.customer_id),
        Contact.id,
        Contact.m365_user_id,
        literal(str(kind)),
        name,
        Contact.email,
        field,
        old,
        new,
        literal(str(group.id)),
        literal(now, SyncChange.created_at.type),
    ).where(where)
    columns = [
        "run_id", "customer_id", "contact_id", "m365_user_id", "kind", "contact_name", "contact_email",
        "field", "old_value", "new_value", "detail", "created_at",
    ]  # fmt: skip
    db.session.execute(insert(SyncChange).from_select(columns, rows))
    run.counts = {**(run.counts or {}), kind.plural: (run.counts or {}).get(kind.plural, 0) + _count(where)}


def _count_updates(run):
    return db.session.scalar(
        select(func.count())
        .select_from(SyncChange)
        .where(SyncChange.run_id == run.id, SyncChange.kind == ChangeKind.UPDATE)
    )


def _reason(run, rule, kind, with_old, off_team):
    """(field, old value, new value) expressions over Contact: which condition explains the move.
    `off_team`: the ids (of those recorded) outside the rule's manager conditions."""
    conditions = rule["conditions"]
    names = [condition["attribute"] for condition in conditions]
    if kind is ChangeKind.GROUP_LEAVE:
        whens = [(not_(_active()), None)]
        whens += [
            (Contact.id.in_(off_team) if _is_team(c) else not_(_condition(c)), c["attribute"])
            for c in conditions
        ]
        fallback = None
    else:
        whens = [(_updated(run, name), name) for name in names] if with_old else []
        fallback = names[0]
    return tuple(
        case(*[(when, expression(name)) for when, name in whens], else_=expression(fallback))
        if whens
        else expression(fallback)
        for expression in (
            lambda name: literal(name or ""),
            lambda name: _old_value(run, name) if with_old and name else literal(""),
            _value,
        )
    )


def _value(name):
    if not name:
        return literal("")
    if name == MANAGER:
        return func.coalesce(func.nullif(Contact.manager_name, ""), Contact.manager_email, "")
    return func.coalesce(getattr(Contact, name), "")


def _updated(run, name):
    change = aliased(SyncChange)
    return exists().where(
        change.run_id == run.id,
        change.kind == ChangeKind.UPDATE,
        change.contact_id == Contact.id,
        change.field == name,
    )


def _old_value(run, name):
    change = aliased(SyncChange)
    found = (
        select(change.old_value)
        .where(
            change.run_id == run.id,
            change.kind == ChangeKind.UPDATE,
            change.contact_id == Contact.id,
            change.field == name,
        )
        .order_by(change.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(found, "")


RECENT_CHANGES = 20


def recent_changes(group, limit=RECENT_CHANGES):
    """The latest joins and leaves of a smart group (SyncChange rows), newest first."""
    return db.session.scalars(
        select(SyncChange)
        .where(
            SyncChange.customer_id == group.customer_id,
            SyncChange.kind.in_([ChangeKind.GROUP_JOIN, ChangeKind.GROUP_LEAVE]),
            SyncChange.detail == str(group.id),
        )
        .order_by(SyncChange.id.desc())
        .limit(limit)
    ).all()
