"""Issue 22 in a real browser: the contact book filters by department without a page load, keeps
the filter in the address bar, adds a column from the "Columns" disclosure, and remembers it."""

import pytest

from portal import book
from portal.extensions import db
from portal.models import Contact
from tests.conftest import PASSWORD
from tests.e2e.conftest import expect, sign_in

pytestmark = pytest.mark.e2e

PEOPLE = [
    ("Lynne", "Kuehn", "Finance", "Munich", ""),
    ("Anna", "Schmidt", "Finance", "Munich", "lynne.kuehn@acme.example"),
    ("Ben", "Weber", "Finance", "Paris", "lynne.kuehn@acme.example"),
    ("Carl", "Roth", "Sales", "Paris", ""),
    ("Dora", "Lang", "Sales", "Vienna", ""),
]


def _acme_book(world):
    for first, last, department, office, manager in PEOPLE:
        contact = Contact(
            customer_id=world.acme.id,
            first_name=first,
            last_name=last,
            department=department,
            office=office,
            manager_email=manager,
        )
        contact.set_email(f"{first}.{last}@acme.example".lower())
        db.session.add(contact)
    book.settle(world.acme.id)
    db.session.commit()


def _rows(page):
    return page.locator("#contact-results tbody tr")


def test_admin_filters_by_department_and_adds_a_column(page, world):
    _acme_book(world)
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/contacts/")
    expect(_rows(page)).to_have_count(5)
    page.evaluate("window.__stillSamePage = true")

    page.get_by_label("Filter by: Department").select_option(label="Finance (3)")
    expect(_rows(page)).to_have_count(3)
    page.wait_for_url(lambda url: "department=Finance" in url)
    assert "Roth, Carl" not in page.locator("#contact-results").inner_text()

    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("checkbox", name="Manager").check()
    anna = page.locator("#contact-results tbody tr", has_text="Schmidt, Anna")
    expect(anna.get_by_role("link", name="Lynne Kuehn")).to_have_count(1)  # the manager, linked
    expect(_rows(page)).to_have_count(3)  # the filter stays while the column comes
    assert page.evaluate("window.__stillSamePage === true"), "a filter or a column reloaded the page"

    page.reload()
    expect(page.locator("#contact-results th", has_text="Manager")).to_have_count(1)
    expect(_rows(page)).to_have_count(3)
