"""The customer overview in a real browser: the demo reseller sorts by a column, searches as they
type (without a page load), and opens a customer from the list."""

import pytest

from portal.extensions import db
from portal.seed import DEMO_PASSWORD, seed_demo
from tests.e2e.conftest import expect, screenshot, sign_in

pytestmark = pytest.mark.e2e


def _names(page):
    return page.locator("#overview tbody th").all_inner_texts()


def test_reseller_sorts_searches_and_opens_a_customer_from_the_overview(page, app):
    seed_demo()
    db.session.commit()
    sign_in(page, "reseller@demo.example", DEMO_PASSWORD)
    page.get_by_role("link", name="Customer overview").click()
    expect(page.get_by_role("heading", name="Customer overview")).to_be_visible()
    assert _names(page)[0] == "Tailspin Toys"  # problems first
    expect(page.locator("#overview tbody tr").first).to_contain_text("Re-authentication required")
    screenshot(page, "customer-overview")

    page.get_by_role("link", name="Employee contacts").click()
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Employee contacts")
    assert _names(page) == ["Contoso Demo GmbH", "Fabrikam Ltd", "Tailspin Toys"]
    assert "sort=-contacts" in page.url

    page.locator("#overview-search").fill("fab")
    expect(page.locator("#overview tbody tr")).to_have_count(1)
    assert _names(page) == ["Fabrikam Ltd"] and "q=fab" in page.url and "sort=-contacts" in page.url

    page.get_by_role("button", name="Fabrikam Ltd").click()
    expect(page.get_by_text("You are working on Fabrikam Ltd.")).to_be_visible()
