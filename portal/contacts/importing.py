"""CSV import: hold the upload, plan what each row does, apply the plan in one transaction.

The plan uses the same rules as the contact form (services.py): a valid address, in the
customer's allowed domains, unique per customer in any letter case. A row whose address
already exists updates that contact's names and adds its groups.
"""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import aliased

from portal import attributes, book, search, smart_groups
from portal.attributes import MANAGER
from portal.book import normalize_email
from portal.contacts import csv_io, services
from portal.contacts.csv_io import GROUP_SEPARATOR, OPTIONAL_COLUMNS
from portal.extensions import db
from portal.models import Contact, ContactGroup, ContactImport, Origin, contact_group_members, utcnow
from portal.models.base import chunks
from portal.models.contacts import contact_search_text
from portal.text import email_key, name_key

CREATE, UPDATE, UNCHANGED, REJECT = "create", "update", "unchanged", "reject"
STATUSES = (CREATE, UPDATE, UNCHANGED, REJECT)
UPLOAD_LIFETIME = timedelta(hours=2)


def store_upload(customer, admin, filename, parsed):
    """Keep a parsed upload for this admin and customer; returns it (caller commits)."""
    db.session.execute(delete(ContactImport).where(ContactImport.created_at < utcnow() - UPLOAD_LIFETIME))
    upload = ContactImport(
        token=secrets.token_urlsafe(24),
        customer_id=customer.id,
        admin_id=admin.id,
        filename=(filename or "")[:255],
        encoding=parsed["encoding"],
        delimiter=parsed["delimiter"],
        row_count=len(parsed["rows"]),
        data={"rows": parsed["rows"], "columns_cut": parsed.get("columns_cut", False)},
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def load_upload(token, customer, admin):
    """The upload with this token, only for the admin and customer it was made for; else None."""
    return db.session.scalar(
        select(ContactImport).where(
            ContactImport.token == token,
            ContactImport.customer_id == customer.id,
            ContactImport.admin_id == admin.id,
            ContactImport.created_at >= utcnow() - UPLOAD_LIFETIME,
        )
    )


@dataclass
class RowPlan:
    """What one CSV row will do."""

    line: int
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    salutation: str = ""
    groups: list = field(default_factory=list)
    # {optional column: value} for the attribute and manager columns the file has ("" clears).
    values: dict = field(default_factory=dict)
    status: str = CREATE
    reason: str = ""
    contact_id: int | None = None
    existing: object = None  # the Existing contact it updates, as read by the plan


def _cell(row, index):
    return row[index].strip() if 0 <= index < len(row) else ""


def _optional_value(name, cell):
    """An optional column's value as stored: for an attribute attributes.clean, a manager's email or
    name cut to its column. The cell is on one line already (csv_io.clean_cell, and _cell strips it):
    what is left of attributes.clean is its cut, done here without cleaning 100,000 cells twice."""
    if name == MANAGER.csv_email:
        return cell[:254]
    return cell[: 210 if name == MANAGER.csv_name else attributes.VALUE_LENGTH]


def _row_plan(line, row, mapping, optional):
    groups = {}
    for name in _cell(row, mapping["group"]).split(GROUP_SEPARATOR):
        if name.strip():
            groups.setdefault(name_key(name), name.strip())
    return RowPlan(
        line=line,
        first_name=_cell(row, mapping["first_name"]),
        last_name=_cell(row, mapping["last_name"]),
        email=_cell(row, mapping["email"]),
        salutation=_cell(row, mapping["salutation"]),
        groups=list(groups.values()),
        values={name: _optional_value(name, _cell(row, index)) for name, index in optional.items()},
    )


@dataclass
class Existing:
    """The parts of an existing contact the import compares (plain rows: fast for 20,000)."""

    id: int
    first_name: str
    last_name: str
    salutation: str
    archived: bool
    values: dict = field(default_factory=dict)  # the optional columns' values
    group_ids: set = field(default_factory=set)
    group_names: set = field(default_factory=set)  # lower case


def _existing_by_key(customer, keys):
    """{email_key: Existing} for the given keys; queried in chunks."""
    found, manager = {}, aliased(Contact)
    for chunk in chunks(keys):
        rows = db.session.execute(
            select(
                Contact.id,
                Contact.email_key,
                Contact.first_name,
                Contact.last_name,
                Contact.salutation,
                Contact.archived_at,
                *(getattr(Contact, name) for name in attributes.NAMES),
                *csv_io.manager_columns(manager),
            )
            .outerjoin(manager, manager.id == Contact.manager_id)
            .where(Contact.customer_id == customer.id, Contact.email_key.in_(chunk))
        )
        by_id = {}
        for row in rows:
            by_id[row.id] = found[row.email_key] = Existing(
                row.id,
                row.first_name,
                row.last_name,
                row.salutation,
                row.archived_at is not None,
                {name: getattr(row, name) or "" for name in OPTIONAL_COLUMNS},
            )
        memberships = db.session.execute(
            select(contact_group_members.c.contact_id, ContactGroup.id, ContactGroup.name)
            .join(ContactGroup, ContactGroup.id == contact_group_members.c.group_id)
            .where(
                ContactGroup.customer_id == customer.id, contact_group_members.c.contact_id.in_(list(by_id))
            )
        )
        for contact_id, group_id, name in memberships:
            by_id[contact_id].group_ids.add(group_id)
            by_id[contact_id].group_names.add(name_key(name))
    return found


def _field_problem(plan):
    if max(len(plan.first_name), len(plan.last_name)) > services.NAME_MAX:
        return _("Name longer than %(n)s characters.", n=services.NAME_MAX)
    if len(plan.salutation) > services.SALUTATION_MAX:
        return _("Salutation longer than %(n)s characters.", n=services.SALUTATION_MAX)
    if any(len(g) > services.GROUP_NAME_MAX for g in plan.groups):
        return _("Group name longer than %(n)s characters.", n=services.GROUP_NAME_MAX)
    return None


def _check_address(customer, plan, seen):
    """Normalise the row's address; return why it is rejected, or None."""
    normalized, problem = normalize_email(plan.email)
    if problem:
        return _("Email missing.") if not plan.email else _("Invalid email address.")
    plan.email = normalized
    if not customer.allows_email(normalized):
        return _("Domain not allowed.")
    key = email_key(normalized)
    if key in seen:
        return _("Duplicate in file (same email as row %(line)s).", line=seen[key])
    seen[key] = plan.line
    return _field_problem(plan)


def _compare_with(plan, contact):
    """Mark the plan as an update of `contact`, or unchanged when nothing would change."""
    plan.contact_id, plan.existing = contact.id, contact
    if contact.archived:
        plan.status, plan.reason = (
            REJECT,
            _("A removed contact with this email address is kept for restoring."),
        )
        return
    changes = [
        (plan.first_name and plan.first_name != contact.first_name),
        (plan.last_name and plan.last_name != contact.last_name),
        (plan.salutation and plan.salutation != contact.salutation),
        bool({name_key(g) for g in plan.groups} - contact.group_names),
        any(value != contact.values[name] for name, value in plan.values.items()),
    ]
    plan.status = UPDATE if any(changes) else UNCHANGED


def plan_import(customer, rows, mapping, has_header):
    """One RowPlan per data row: create, update, unchanged or reject (with the reason).

    The optional columns (csv_io.optional_columns) are read when the file has a header row."""
    offset = 2 if has_header else 1
    optional = csv_io.optional_columns(rows[0], taken=set(mapping.values()))[0] if has_header else {}
    plans = [
        _row_plan(line, row, mapping, optional)
        for line, row in enumerate(rows[1:] if has_header else rows, start=offset)
    ]
    seen = {}
    for plan in plans:
        problem = _check_address(customer, plan, seen)
        if problem:
            plan.status, plan.reason = REJECT, problem
    existing = _existing_by_key(customer, seen)
    for plan in plans:
        if plan.status != REJECT and email_key(plan.email) in existing:
            _compare_with(plan, existing[email_key(plan.email)])
    return plans


def counts(plans):
    """{status: number of rows} for every status."""
    result = dict.fromkeys(STATUSES, 0)
    for plan in plans:
        result[plan.status] += 1
    return result


def _groups_for(customer, plans):
    """{lower-case name: ContactGroup}, creating the groups the plan needs (origin csv)."""
    groups = {g.name_key: g for g in services.customer_groups(customer)}
    for plan in plans:
        for name in plan.groups:
            if name_key(name) not in groups:
                groups[name_key(name)] = services.create_group(customer, name, origin=Origin.CSV)
    return groups


def _insert_created(customer, plans, groups, now):
    """Insert the new contacts in bulk; returns their (contact id, group id) memberships."""
    if not plans:
        return []
    rows = [
        {
            "customer_id": customer.id,
            "origin": Origin.CSV,
            "salutation": p.salutation,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "email": p.email,
            "email_key": email_key(p.email),
            "created_at": now,
            "updated_at": now,
            **dict.fromkeys(OPTIONAL_COLUMNS, ""),
            **p.values,
        }
        for p in plans
    ]
    ids = db.session.scalars(insert(Contact).returning(Contact.id, sort_by_parameter_order=True), rows).all()
    return [
        (contact_id, groups[name_key(name)].id)
        for plan, contact_id in zip(plans, ids, strict=True)
        for name in plan.groups
    ]


def _update_existing(customer, plans, groups, now):
    """Update names (non-empty cells only) in bulk; returns the memberships to add."""
    if not plans:
        return []
    # The plan read the contacts in this request and transaction (the confirm plans again).
    unread = {email_key(p.email) for p in plans if p.existing is None}
    existing = _existing_by_key(customer, unread) if unread else {}
    changes, memberships = [], []
    for plan in plans:
        contact = plan.existing or existing[email_key(plan.email)]
        values = {a: getattr(plan, a) for a in ("first_name", "last_name", "salutation") if getattr(plan, a)}
        # A bulk UPDATE passes no ORM event: the search text is written here, from the new names.
        first, last = values.get("first_name", contact.first_name), values.get("last_name", contact.last_name)
        values["search_text"] = contact_search_text(first, last, plan.email)
        values.update(plan.values)
        known = contact.values[MANAGER.csv_email]
        if plan.values.get(MANAGER.csv_email, known) != known:
            values["manager_m365_id"] = None  # the file names another manager: found by email now
        changes.append({"id": contact.id, "updated_at": now, **values})
        memberships += [
            (contact.id, groups[name_key(name)].id)
            for name in plan.groups
            if groups[name_key(name)].id not in contact.group_ids
        ]
    db.session.execute(update(Contact), changes)
    return memberships


def _planner_learns_sizes(written):
    """After many rows (STATISTICS_AFTER), PostgreSQL's planner is told the book's new size before
    book.settle: believing the table as small as before, it scanned the whole book for each contact's
    manager (10,000 new contacts: three minutes instead of a second). Inside the transaction: the
    sample includes the rows it wrote. The view refreshes every statistic after the commit."""
    if written >= search.STATISTICS_AFTER and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE contact"))


def apply_import(customer, plans):
    """Create and update contacts as planned, then book.settle (caller commits: one transaction);
    returns counts.

    Bulk statements: a 20,000-row file is written in seconds, not minutes.
    """
    todo = [p for p in plans if p.status in (CREATE, UPDATE)]
    groups = _groups_for(customer, todo)
    now = utcnow()
    memberships = _insert_created(customer, [p for p in todo if p.status == CREATE], groups, now)
    memberships += _update_existing(customer, [p for p in todo if p.status == UPDATE], groups, now)
    smart = smart_groups.smart_group_ids(customer.id)  # their rule decides, not the file
    memberships = [(c, g) for c, g in memberships if g not in smart]
    if memberships:
        db.session.execute(
            insert(contact_group_members), [{"contact_id": c, "group_id": g} for c, g in memberships]
        )
    _planner_learns_sizes(len(todo))
    book.settle(customer.id)  # managers named by email are linked to their contacts
    db.session.expire_all()  # bulk statements bypass the objects already loaded
    return counts(plans)
