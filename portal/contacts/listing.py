"""One page of the contact book: search, group and attribute filters, sorting and keyset pagination.

Keyset ("seek") pagination keeps every page as fast as the first at 100,000 contacts: a page
continues after (or before) a cursor contact's sort values instead of skipping N rows. Each
sort follows an index: name -> ix_contact_customer_name, email -> uq_contact_customer_email,
updated -> ix_contact_customer_updated. A search finds its rows through the search index
(portal.search) and puts exact and prefix matches first: the rank leads the keyset columns.
The attribute filters (attributes.FILTERS: department, office, country, language) and "team of"
(manager_id, direct reports) are equalities that ix_contact_customer_<attribute> serves; they
combine with the search and with each other. On SQLite "team of" is driven by its index and the
filters' totals are counted from the indexes (facets.in_team, facets.filtered_count). `columns`
are the optional columns the admin chose (attribute names and "manager"); they change what a row
shows, not which rows.
"""

from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import func, select, tuple_

from portal import attributes, search
from portal.boundary import SortedBy, positive_int, sort_arg
from portal.contacts import facets
from portal.extensions import db
from portal.models import Contact, ContactGroup, contact_group_members

SORTS = {
    "name": (Contact.last_name, Contact.first_name, Contact.id),
    "email": (Contact.email_key,),
    "updated": (Contact.updated_at, Contact.id),
}
DEFAULT_SORT = "name"
# The optional columns of the list, in the order they show: every attribute, then the manager.
COLUMNS = (*attributes.NAMES, "manager")
FILTER_NAMES = tuple(attribute.name for attribute in attributes.FILTERS)


@dataclass
class ContactQuery(SortedBy):
    """What the viewer asked for: search text, group, attribute and team filters, sort, cursor and
    the optional columns (None: the request named none, the admin's remembered choice applies)."""

    q: str = ""
    group_id: int | None = None
    sort: str = DEFAULT_SORT  # "name", "-name", "email", "-email", "updated", "-updated"
    after: int | None = None
    before: int | None = None
    values: dict = field(default_factory=dict)  # attribute name (FILTER_NAMES) -> value it must have
    manager_id: int | None = None  # "team of": the direct reports of this contact
    columns: tuple | None = None

    @classmethod
    def from_args(cls, args):
        """Parse request args leniently: unknown sorts fall back to the default, and a group or
        cursor that is no id (out of range, negative, not a number) is ignored: the first page.
        `col` names the chosen columns (unknown ones are dropped); an empty `col` alone says "none"."""
        sort = sort_arg(args, SORTS, DEFAULT_SORT)
        values = {name: attributes.clean(args.get(name)) for name in FILTER_NAMES}
        return cls(
            q=(args.get("q") or "").strip()[:100],
            group_id=args.get("group", type=positive_int),
            sort=sort,
            after=args.get("after", type=positive_int),
            before=args.get("before", type=positive_int),
            values={name: value for name, value in values.items() if value},
            manager_id=args.get("manager", type=positive_int),
            columns=chosen_columns(args.getlist("col")) if "col" in args else None,
        )

    def filters(self, **changes):
        """URL args for this query without the cursor, with `changes` applied (for links)."""
        args = {"q": self.q or None, "group": self.group_id, **self.values, "manager": self.manager_id}
        args.update(sort=self.sort, col=list(self.columns or ()) or None)
        args.update(changes)
        return {k: v for k, v in args.items() if v not in (None, "")}


def chosen_columns(names):
    """The known optional columns among `names`, in the list's order."""
    return tuple(name for name in COLUMNS if name in names)


@dataclass
class ContactPage:
    contacts: list
    total: int
    has_next: bool = False
    has_prev: bool = False
    next_after: int | None = None
    prev_before: int | None = None
    query: ContactQuery = field(default_factory=ContactQuery)
    group_names: dict = field(default_factory=dict)  # contact id -> its groups' names, by name
    managers: dict = field(default_factory=dict)  # manager id -> (name, email) for the manager column


def _sqlite():
    return db.session.get_bind().dialect.name == "sqlite"


def _sort_columns(query):
    """The keyset columns: while searching, the search rank first (exact, then prefix matches),
    negated for a descending sort so that they still come first; then the sort's columns."""
    columns = SORTS[query.sort_key]
    if not query.q.strip():
        return columns
    rank = search.rank(Contact, query.q)
    return (-rank if query.descending else rank, *columns)


def _filtered(customer, query):
    stmt = select(Contact).where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
    stmt = search.narrowed(stmt, Contact, query.q)
    if query.group_id is not None:
        members = select(contact_group_members.c.contact_id).where(
            contact_group_members.c.group_id == query.group_id
        )
        stmt = stmt.where(Contact.id.in_(members))
    for name, value in query.values.items():
        stmt = stmt.where(getattr(Contact, name) == value)
    if query.manager_id is not None:
        stmt = facets.in_team(stmt, customer.id, query.manager_id)
    return stmt


def _cursor_values(customer, contact_id, columns):
    """The sort values of the cursor contact (only one of this customer), or None."""
    if contact_id is None:
        return None
    row = db.session.execute(
        select(*columns).where(Contact.id == contact_id, Contact.customer_id == customer.id)
    ).first()
    return tuple(row) if row else None


def _seek(stmt, columns, values, forward):
    """Rows strictly after (forward) or before the cursor values in the column order."""
    if len(columns) == 1:
        return stmt.where(columns[0] > values[0] if forward else columns[0] < values[0])
    keys, cursor = tuple_(*columns), tuple_(*values)
    return stmt.where(keys > cursor if forward else keys < cursor)


def _count(customer, query, base):
    """The number of contacts `base` (the query without cursor) finds. On SQLite the attribute and
    team filters alone are counted from their indexes (facets.filtered_count): the plain count read
    the row of every match."""
    if _sqlite() and not query.q.strip() and query.group_id is None and (query.values or query.manager_id):
        return facets.filtered_count(customer.id, query.values, query.manager_id)
    return db.session.scalar(select(func.count()).select_from(base.subquery()))


def _read(stmt, order, per_page, first_page, searching, count):
    """(the page's rows, the total). A first page that is not full holds every match: it is its
    own count. On PostgreSQL a search's first page is faster (bench/search.py) when one
    statement searches the index and counts (_ranked_page_counted; a window count is right only
    without a cursor, which narrows the rows); SQLite copies every matching row for such a window,
    slower than searching its FTS table twice. The plain book's count reads an index: apart."""
    if first_page and searching and not _sqlite():
        return _ranked_page_counted(stmt, order)
    rows = db.session.scalars(stmt).all()
    if first_page and len(rows) <= per_page:
        return rows, len(rows)
    return rows, count()


def _ranked_page_counted(stmt, order):
    """(the rows, the total) of `stmt` in one statement: the window counts over ids and sort values
    only (less work than over whole rows), then the page's rows are joined by id
    and put in `order` again."""
    page = stmt.with_only_columns(Contact.id, func.count().over().label("total")).subquery()
    joined = select(Contact, page.c.total).join(page, page.c.id == Contact.id).order_by(*order)
    result = db.session.execute(joined).all()
    return [row[0] for row in result], result[0][1] if result else 0


def contact_page(customer, query, per_page=50):
    """The page of the customer's contacts that `query` asks for, with its total count."""
    base = _filtered(customer, query)
    columns = _sort_columns(query)
    backwards = query.before is not None and query.after is None
    cursor_id = query.before if backwards else query.after
    values = _cursor_values(customer, cursor_id, columns)
    # Going backwards reads the preceding rows in reverse order, then flips them.
    ascending = query.descending == backwards
    stmt = base
    if values is not None:
        stmt = _seek(stmt, columns, values, forward=ascending)
    order = [c.asc() if ascending else c.desc() for c in columns]
    stmt = stmt.order_by(*order).limit(per_page + 1)
    searching = bool(query.q.strip())
    count = partial(_count, customer, query, base)  # the total, when the page does not tell it
    rows, total = _read(stmt, order, per_page, values is None, searching, count)
    more = len(rows) > per_page
    rows = rows[:per_page]
    page = ContactPage(contacts=rows, total=total, query=query)
    if backwards and values is not None:
        page.contacts = list(reversed(rows))
        page.has_prev, page.has_next = more, True
    else:
        page.has_prev, page.has_next = values is not None, more
    if page.contacts:
        page.next_after = page.contacts[-1].id if page.has_next else None
        page.prev_before = page.contacts[0].id if page.has_prev else None
    page.group_names = _group_names(page.contacts)
    if "manager" in (query.columns or ()):
        page.managers = _manager_names(customer, page.contacts)
    return page


def _group_names(contacts):
    """{contact id: the names of its groups, by name} for these contacts, in one query of names
    (loading the groups as objects was a visible share of a search answer's CPU)."""
    if not contacts:
        return {}
    rows = db.session.execute(
        select(contact_group_members.c.contact_id, ContactGroup.name)
        .join(ContactGroup, ContactGroup.id == contact_group_members.c.group_id)
        .where(contact_group_members.c.contact_id.in_([c.id for c in contacts]))
        .order_by(ContactGroup.name, ContactGroup.id)
    ).all()
    names = {}
    for contact_id, name in rows:
        names.setdefault(contact_id, []).append(name)
    return names


def _manager_names(customer, contacts):
    """{manager id: (name, email)} of the managers in the book of these contacts, in one query."""
    ids = {c.manager_id for c in contacts if c.manager_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email).where(
            Contact.customer_id == customer.id, Contact.id.in_(ids)
        )
    ).all()
    return {row.id: (f"{row.first_name} {row.last_name}".strip(), row.email) for row in rows}


def customer_has_contacts(customer):
    """True when the book has at least one non-archived contact (to choose the empty state)."""
    return (
        db.session.scalar(
            select(Contact.id)
            .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
            .limit(1)
        )
        is not None
    )
