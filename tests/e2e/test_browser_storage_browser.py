"""No personal data outlives a session in the browser: htmx keeps no history copies of pages, and
signing out tells the browser to drop its cache and page storage."""

import pytest

from portal.extensions import db
from portal.models import Contact
from tests.conftest import PASSWORD
from tests.e2e.conftest import expect, sign_in

pytestmark = pytest.mark.e2e

SESSION_STORAGE = "() => JSON.stringify(Object.assign({}, window.sessionStorage))"


def test_no_employee_email_is_left_in_browser_storage_after_browsing_and_signing_out(page, world):
    for n in range(30):
        contact = Contact(
            customer_id=world.acme.id, first_name=f"Person{n}", last_name="Example", origin="manual"
        )
        contact.set_email(f"person{n}.secret@acme.example")
        db.session.add(contact)
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/contacts/")
    expect(page.locator("#contact-results")).to_contain_text("person0.secret@acme.example")
    # htmx links that push a URL (sorting, paging) are where htmx used to keep page copies.
    page.locator("#contact-results").get_by_role("link", name="Email").click()
    page.wait_for_url("**sort=**")
    page.locator("#contact-results").get_by_role("link", name="Name").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Synchronize contacts").click()
    page.wait_for_load_state()
    assert "secret@acme.example" not in page.evaluate(SESSION_STORAGE)

    page.evaluate("() => window.sessionStorage.setItem('htmx-history-cache', 'person0.secret@acme.example')")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    assert "secret@acme.example" not in page.evaluate(SESSION_STORAGE)
