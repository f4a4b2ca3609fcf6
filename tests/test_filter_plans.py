"""Issue 22: the contact book's filters stay as fast as its search at 100,000 contacts (bench/filters.py)
on a database that never ran ANALYZE: "team of" is driven by its index, the totals and the filter
menus' counts read the attributes' indexes alone, and they still count what the admin sees."""

import pytest
from sqlalchemy import event, select
from sqlalchemy import text as sql_text

from portal import book
from portal.contacts import facets
from portal.contacts.listing import ContactQuery, contact_page
from portal.extensions import db
from portal.models import Contact, utcnow
from tests.factories import add_contact, text

HX = {"HX-Request": "true"}


@pytest.fixture
def team(world):
    """Acme: the manager Lynne with 60 reports in Finance (every third in Munich, two archived),
    30 others in Sales; Globex has a Finance contact of its own."""
    lynne = add_contact(world.acme, "lynne@acme.example", "Lynne", "Kühn", department="Finance")
    for n in range(60):
        add_contact(
            world.acme, f"r{n}@acme.example", "Report", f"Person{n:02}", department="Finance",
            office="Munich" if n % 3 == 0 else "Paris", manager_email="lynne@acme.example",
            archived_at=utcnow() if n in (0, 1) else None,
        )  # fmt: skip
    for n in range(30):
        add_contact(world.acme, f"s{n}@acme.example", "Sales", f"Person{n:02}", department="Sales")
    add_contact(world.globex, "gina@globex.example", "Gina", "Globex", department="Finance")
    book.settle(world.acme.id)
    db.session.commit()
    return lynne


def _without_statistics():
    """As a user's database is: SQLite never gathered statistics for its planner. True on SQLite,
    whose plans the tests read (PostgreSQL's has its statistics: bench/filters.py measures it)."""
    if db.engine.dialect.name != "sqlite":
        return False
    db.session.execute(sql_text("DROP TABLE IF EXISTS sqlite_stat1"))
    db.session.commit()
    return True


def _plans(action):
    """(the result of `action()`, SQLite's plan of each statement it ran on a contact: its detail
    lines); on PostgreSQL no plans."""
    if db.engine.dialect.name != "sqlite":
        return action(), None
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    connection = db.session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    plans = [
        [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
        for statement, parameters in statements
    ]
    return result, [plan for plan in plans if "contact" in " ".join(plan)]  # not the reloaded customer


def test_team_of_is_driven_by_the_team_index_and_counts_only_active_reports(world, team):
    _without_statistics()
    query = ContactQuery(manager_id=team.id)
    page, plans = _plans(lambda: contact_page(world.acme, query, per_page=50))
    assert page.total == 58 and len(page.contacts) == 50 and page.has_next
    assert page.contacts[0].last_name == "Person02"  # by name, the archived ones left out
    reports, number = facets.team(team)
    assert number == 58 and reports[0].last_name == "Person02"
    if plans is None:
        return
    rows, total, archived = plans[:3]  # the page's rows, then its total: all the team, less the archived
    assert rows[0].startswith("SEARCH contact USING COVERING INDEX ix_contact_customer_manager"), rows
    assert "USING INTEGER PRIMARY KEY" in rows[1], rows
    assert total == [
        "SEARCH contact USING COVERING INDEX ix_contact_customer_manager (customer_id=? AND manager_id=?)"
    ]
    assert "ix_contact_customer_archived" in archived[0], archived
    statement = select(Contact).where(Contact.customer_id == world.acme.id)
    assert facets.in_team(statement, world.acme.id, team.id) is not statement


def test_a_search_within_a_team_stays_driven_by_the_search_index(world, team):
    _without_statistics()
    page, plans = _plans(lambda: contact_page(world.acme, ContactQuery(q="person1", manager_id=team.id)))
    assert page.total == 10 and {c.last_name for c in page.contacts} == {f"Person1{n}" for n in range(10)}
    if plans is not None:
        rows = next(plan for plan in plans if "contact_fts" in " ".join(plan))
        assert rows[0].startswith("SCAN contact_fts VIRTUAL TABLE"), rows


def test_filter_totals_read_the_attribute_indexes_and_leave_out_archived_contacts(world, team):
    _without_statistics()
    count, plans = _plans(lambda: facets.filtered_count(world.acme.id, {"department": "Finance"}))
    assert count == 59  # Lynne and her 58 active reports; not Globex's, not the archived two
    if plans is not None:
        assert "COVERING INDEX ix_contact_customer_department" in plans[0][0], plans
        assert "ix_contact_customer_archived" in plans[1][0], plans  # the archived ones drive their count
    both, customer_id, manager_id = {"department": "Finance", "office": "Munich"}, world.acme.id, team.id
    count, plans = _plans(lambda: facets.filtered_count(customer_id, both, manager_id))
    assert count == 19  # every third of 60, less the archived r0
    if plans is not None:
        lines = " ".join(plans[0])
        assert all(f"COVERING INDEX ix_contact_customer_{name}" in lines for name in ("department", "office"))
    page = contact_page(world.acme, ContactQuery(values={"department": "Finance"}), per_page=20)
    assert page.total == 59 and len(page.contacts) == 20


def test_menu_counts_read_the_attribute_indexes_and_follow_every_change(alice_client, world, team):
    _without_statistics()
    facets._COUNTS.clear()
    counts, plans = _plans(lambda: facets.value_counts(world.acme))
    assert counts["department"] == [("Finance", 59), ("Sales", 30)] and counts["office"][0] == ("Munich", 19)
    for name in ("department", "office", "country", "language") if plans is not None else ():
        # in value order: no sort either
        assert [f"SEARCH contact USING COVERING INDEX ix_contact_customer_{name} (customer_id=?)"] in plans
    page = text(alice_client.get("/contacts/"))
    assert ">Finance (59)</option>" in page and ">Sales (30)</option>" in page
    add_contact(world.acme, "new@acme.example", "New", "Person", department="Sales")
    db.session.commit()
    assert ">Sales (31)</option>" in text(alice_client.get("/contacts/"))
    sales = db.session.scalars(select(Contact).where(Contact.email == "s0@acme.example")).one()
    sales.archived_at = utcnow()
    db.session.commit()
    page = text(alice_client.get("/contacts/"))
    assert ">Sales (30)</option>" in page and ">Finance (59)</option>" in page
    fragment = text(alice_client.get("/contacts/?department=Sales", headers=HX))
    assert "30 contacts" in fragment and "<select" not in fragment
