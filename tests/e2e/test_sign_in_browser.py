"""Signing in and switching customers in a real browser."""

from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot, sign_in


def test_reseller_admin_signs_in_switches_customer_and_signs_out(page, world):
    sign_in(page, "rita@northwind.example", PASSWORD)
    assert page.get_by_role("heading", name="Overview").is_visible()
    page.locator("details.switcher summary").click()
    page.get_by_placeholder("Search customers…").fill("glob")
    page.get_by_role("button", name="Globex AG").click()
    page.wait_for_load_state()
    assert "Now working on Globex AG." in page.locator("#flashes").inner_text()
    screenshot(page, "overview")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    assert "You have been signed out." in page.content()


def test_wrong_password_shows_message_at_the_field(page, world):
    page.goto("/login")
    page.get_by_label("Email").fill("alice@acme.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("Email or password is not correct.").is_visible()
