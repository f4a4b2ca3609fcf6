"""What the contact book's filters offer and what the contact page says about a person's place.

    value_counts(customer)           {attribute name: [(value, count), ...]} for the filter menus
    team(contact, limit)             (the first `limit` direct reports by name, how many there are)
    manager_in_book(contact)         the contact's manager when linked in the same book, else None

The menus' counts are the customer's totals (active contacts), not narrowed by the other filters
or the search: one grouped read per filter, on the full page only, so a filter or a search answers
as fast as the search alone (bench/filters.py) and the menus do not change under the admin's hand.
"""

from sqlalchemy import func, select

from portal import attributes
from portal.extensions import db
from portal.models import Contact

TEAM_SHOWN = 50  # direct reports listed on the contact page; the list shows all of them


def value_counts(customer):
    """{name: [(value, number of active contacts with it), ...] by value} for each filter attribute;
    contacts without a value are left out (there is nothing to pick for them)."""
    counts = {}
    for attribute in attributes.FILTERS:
        column = getattr(Contact, attribute.name)
        rows = db.session.execute(
            select(column, func.count())
            .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None), column != "")
            .group_by(column)
            .order_by(column)
        ).all()
        counts[attribute.name] = [(value, number) for value, number in rows]
    return counts


def team(contact, limit=TEAM_SHOWN):
    """(the first `limit` active direct reports of `contact` by name, the number of them all)."""
    where = (
        Contact.customer_id == contact.customer_id,
        Contact.manager_id == contact.id,
        Contact.archived_at.is_(None),
    )
    reports = db.session.scalars(
        select(Contact).where(*where).order_by(Contact.last_name, Contact.first_name, Contact.id).limit(limit)
    ).all()
    if len(reports) < limit:
        return reports, len(reports)
    return reports, db.session.scalar(select(func.count()).select_from(Contact).where(*where))


def manager_in_book(contact):
    """The contact's manager when linked to a contact of the same customer, else None (then the
    manager's name and email as last known are what there is to show)."""
    if contact.manager_id is None:
        return None
    return db.session.scalar(
        select(Contact).where(Contact.id == contact.manager_id, Contact.customer_id == contact.customer_id)
    )
