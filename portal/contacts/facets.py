"""What the contact book's filters offer and what the contact page says about a person's place.

    value_counts(customer)           {attribute name: [(value, count), ...]} for the filter menus
    in_team(statement, customer_id, manager_id)   `statement` narrowed to the manager's direct reports
    filtered_count(customer_id, values, manager_id)  active contacts with these values (in that team)
    team(contact, limit)             (the first `limit` direct reports by name, how many there are)
    manager_in_book(contact)         the contact's manager when linked in the same book, else None

The menus' counts are the customer's totals (active contacts), not narrowed by the other filters
or the search: one grouped read per filter, on the full page only, so a filter or a search answers
as fast as the search alone (bench/filters.py) and the menus do not change under the admin's hand.
"""

from collections import Counter

from sqlalchemy import func, intersect, select
from sqlalchemy.sql.selectable import Join

from portal import attributes, book, search
from portal.extensions import db
from portal.models import Contact

TEAM_SHOWN = 50  # direct reports listed on the contact page; the list shows all of them
# value_counts per customer id: (book.state when counted, the counts); in each process, bounded.
_COUNTS = {}
_COUNTS_KEPT = 1000


def value_counts(customer):
    """{name: [(value, number of active contacts with it), ...] by value} for each filter attribute;
    contacts without a value are left out (there is nothing to pick for them).

    Kept per customer until the book changes (book.state, a few ms): counting all four menus reads
    every contact's entry in four indexes, 35 ms at 100,000 contacts, on every full page load."""
    state = book.state(customer)
    kept = _COUNTS.get(customer.id)
    if kept is None or kept[0] != state:
        if len(_COUNTS) >= _COUNTS_KEPT:
            _COUNTS.clear()
        kept = _COUNTS[customer.id] = (state, _counted(customer))
    return kept[1]


def _counted(customer):
    """value_counts, read from the database. Each attribute's counts come from its index alone
    (ix_contact_customer_<name>, read in value order: no table rows, no sort), over every contact;
    the archived ones (few, their own index) are then taken off. Counting only the active ones
    read the table row of every contact, 375 ms at 100,000 contacts."""
    archived = _archived_counts(customer)
    counts = {}
    for attribute in attributes.FILTERS:
        column = getattr(Contact, attribute.name)
        rows = db.session.execute(
            select(column, func.count())
            .where(Contact.customer_id == customer.id, column != "")
            .group_by(column)
            .order_by(column)
        ).all()
        less = archived[attribute.name]
        counts[attribute.name] = [
            (value, number - less[value]) for value, number in rows if number > less[value]
        ]
    return counts


def _archived_counts(customer):
    """{name: Counter(value: number of archived contacts with it)} for each filter attribute."""
    columns = [getattr(Contact, attribute.name) for attribute in attributes.FILTERS]
    rows = db.session.execute(
        select(*columns).where(Contact.customer_id == customer.id, Contact.archived_at.is_not(None))
    ).all()
    return {
        attribute.name: Counter(row[index] for row in rows)
        for index, attribute in enumerate(attributes.FILTERS)
    }


def in_team(statement, customer_id, manager_id):
    """`statement` (a select of contacts) narrowed to the direct reports of `manager_id`.

    On SQLite the team's entries in ix_contact_customer_manager drive the query, whatever the planner
    knows: a database that never ran ANALYZE (every user's) otherwise walks the name index for the
    sort and tests every contact, 164 ms at 100,000 contacts for a team of ten. A statement that a
    search's FTS table already drives (a join) keeps that plan: its matches are the fewer rows."""
    statement = statement.where(Contact.manager_id == manager_id)
    if db.session.get_bind().dialect.name != "sqlite":
        return statement
    if any(isinstance(source, Join) for source in statement.get_final_froms()):
        return statement
    team = (
        select(Contact.id)
        .where(Contact.customer_id == customer_id, Contact.manager_id == manager_id)
        .subquery("team")
    )
    return statement.select_from(search.driving_join(team, Contact.__table__, team.c.id == Contact.id))


def filtered_count(customer_id, values, manager_id=None):
    """The number of active contacts with every attribute value in `values` ({name: value}) and, for
    a `manager_id`, in that manager's team: counted from the attributes' indexes alone on SQLite.

    Each equality's ids come from its index (ix_contact_customer_<name>, covering), intersected; the
    archived ones among them (few, driven by their own index) are taken off. Reading each match's
    row for its archived_at took 27 ms for a department of 10,000 and 58 ms with a country."""
    conditions = [getattr(Contact, name) == value for name, value in values.items()]
    if manager_id is not None:
        conditions.append(Contact.manager_id == manager_id)
    ids = [select(Contact.id).where(Contact.customer_id == customer_id, c) for c in conditions]
    matching = ids[0] if len(ids) == 1 else intersect(*ids)
    total = db.session.scalar(select(func.count()).select_from(matching.subquery()))
    archived = (
        select(Contact.id)
        .where(Contact.customer_id == customer_id, Contact.archived_at.is_not(None))
        .subquery("archived")
    )
    driving = search.driving_join(archived, Contact.__table__, archived.c.id == Contact.id)
    return total - db.session.scalar(select(func.count()).select_from(driving).where(*conditions))


def team(contact, limit=TEAM_SHOWN):
    """(the first `limit` active direct reports of `contact` by name, the number of them all)."""
    active = select(Contact).where(Contact.customer_id == contact.customer_id, Contact.archived_at.is_(None))
    statement = in_team(active, contact.customer_id, contact.id)
    reports = db.session.scalars(
        statement.order_by(Contact.last_name, Contact.first_name, Contact.id).limit(limit)
    ).all()
    if len(reports) < limit:
        return reports, len(reports)
    return reports, db.session.scalar(select(func.count()).select_from(statement.subquery()))


def manager_in_book(contact):
    """The contact's manager when linked to a contact of the same customer, else None (then the
    manager's name and email as last known are what there is to show)."""
    if contact.manager_id is None:
        return None
    return db.session.scalar(
        select(Contact).where(Contact.id == contact.manager_id, Contact.customer_id == contact.customer_id)
    )
