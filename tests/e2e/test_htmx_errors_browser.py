"""htmx swaps only 2xx answers. When an htmx request gets an error answer, or no answer at all, the
page says so in its flash area instead of doing nothing."""

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import expect, sign_in

pytestmark = pytest.mark.e2e


def _search(page, text):
    page.get_by_placeholder("Search by name or email…").press_sequentially(text, delay=40)


def test_an_error_answer_to_a_live_search_is_said_not_swallowed(page, world):
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/contacts/")
    page.route(
        "**/contacts/?q=*",
        lambda route: route.fulfill(
            status=500,
            content_type="text/html",
            body="<section><h1>500 · Something went wrong</h1></section>",
        ),
    )
    _search(page, "anna")
    alert = page.locator("#flashes [role=alert]")
    expect(alert).to_contain_text("This could not be done: 500 · Something went wrong.")
    expect(alert).to_contain_text("Please reload the page")


def test_no_answer_at_all_is_said_too(page, world):
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/contacts/")
    page.route("**/contacts/?q=*", lambda route: route.abort("connectionrefused"))
    _search(page, "anna")
    expect(page.locator("#flashes [role=alert]")).to_contain_text("The portal did not answer.")


def test_the_german_page_says_it_in_german(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url, locale="de")
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("E-Mail").fill("alice@acme.example")
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url(lambda url: "/login" not in url)
        page.goto("/contacts/")
        page.route(
            "**/contacts/?q=*", lambda route: route.fulfill(status=404, body="<h1>404 · Nicht gefunden</h1>")
        )
        page.locator("input[type=search]").first.press_sequentially("anna", delay=40)
        expect(page.locator("#flashes [role=alert]")).to_contain_text(
            "Das hat nicht geklappt: 404 · Nicht gefunden."
        )
    finally:
        context.close()
