"""The README's demo tour, walked in German in a real browser (issue 21, "Done when").

A customer admin whose browser prefers German signs in (the account takes German), connects the
emulator's Contoso tenant, imports a group's members in Manual mode, switches the synchronization on;
in the emulator's console a user is renamed and another deleted; "Jetzt synchronisieren" lists the
change, the removed contact is under "Entfernte Kontakte" and the removal report, in German (the
customer's email language, chosen in the master data), is on the Notifications page.
"""

import re

import pytest

from portal.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import emulator_sign_in, expect, m365_settings, screenshot

pytestmark = pytest.mark.e2e

GERMAN = {"locale": "de-DE", "extra_http_headers": {"Accept-Language": "de-DE,de;q=0.9"}}


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator; its redirect URI is registered there."""
    return m365_settings(live_config, emulator, live_http.url)


@pytest.fixture
def page(browser, live_server):
    """A browser whose first language is German."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860}, **GERMAN)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _sign_in_in_german(page):
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.get_by_label("E-Mail").fill("alice@acme.example")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(lambda url: "/login" not in url)
    expect(page.locator("html")).to_have_attribute("lang", "de")


def _connect_and_import(page):
    """Steps 2 and 3: release the interface, load the users, pick Leadership, import."""
    page.get_by_role("link", name="Kontakte synchronisieren").click()
    page.get_by_role("button", name="M365-Schnittstelle freigeben").click()
    emulator_sign_in(page)
    expect(page.locator("main")).to_contain_text("M365-Schnittstelle wurde verbunden")
    page.locator("#manual-panel").get_by_role("button", name="Benutzer aus Microsoft laden").click()
    expect(page.locator("#users-count")).to_contain_text("Benutzer geladen", timeout=20_000)
    page.get_by_text("Gruppen_Benutzer").click()
    page.get_by_placeholder("Gruppe suchen").fill("Leadership")
    page.locator("#group-options").get_by_role("button", name="Leadership", exact=True).click()
    expect(page.locator("#import-button")).to_contain_text("3 Benutzer importieren")
    page.locator("#import-button").click()
    expect(page.locator("#import-area")).to_contain_text("erfolgreich", timeout=20_000)
    switch = page.get_by_role("switch", name="Synchronisation aktiv")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")


def _change_in_the_console(page, emulator):
    """Step 4 in the emulator's console: rename Isaiah Langer, delete Jürgen Müller."""
    console = page.context.new_page()
    console.goto(f"{emulator.base_url}/_emulator/")
    row = console.locator("tr", has_text="isaiah.langer@")
    row.get_by_text("Edit").click()
    row.get_by_role("textbox", name="Surname", exact=True).fill("Langer-Neu")
    row.get_by_role("button", name=re.compile("Save")).click()
    expect(
        console.locator("tr", has_text="isaiah.langer@").first.locator("input[name=surname]")
    ).to_have_value("Langer-Neu")
    console.once("dialog", lambda dialog: dialog.accept())
    console.locator("tr", has_text="juergen.mueller@").get_by_role("button", name="Delete").click()
    expect(console.locator("main, body").first).to_contain_text("1 deleted")
    console.close()


def test_the_demo_tour_in_german(page, world, emulator, runner):
    world.acme.ms_user_sync = True
    world.acme.notification_recipients = "it@acme.example"
    db.session.commit()
    _sign_in_in_german(page)
    _connect_and_import(page)

    # Step 5's language of the report: the customer's master data.
    page.get_by_role("link", name="Kunden-Stammdaten").click()
    page.get_by_label("Sprache der Benachrichtigungs-E-Mails").select_option(label="Deutsch")
    page.get_by_role("button", name="Speichern").first.click()
    expect(page.locator(".flash").first).to_be_visible()

    _change_in_the_console(page, emulator)
    page.get_by_role("link", name="Sync-Verlauf").click()
    page.get_by_role("button", name="Jetzt synchronisieren").click()
    expect(page.locator("#sync-status")).to_contain_text("abgeschlossen", timeout=20_000)
    page.get_by_role("link", name="Sync-Verlauf").click()
    page.locator("#runs a").first.click()
    changes = page.locator("#changes")
    expect(changes).to_contain_text("Langer-Neu")
    expect(changes).to_contain_text("juergen.mueller@contosodemo.onmicrosoft.com")
    screenshot(page, "demo-tour-run")

    page.get_by_role("link", name="Kontaktbuch").click()
    page.get_by_role("link", name=re.compile("Entfernte Kontakte")).first.click()
    expect(page.locator("main")).to_contain_text("Müller, Jürgen")
    page.get_by_role("link", name="Benachrichtigungen").click()
    report = page.get_by_role(
        "link", name=re.compile("1 Kontakt wurde durch die M365-Synchronisation entfernt")
    )
    report.first.click()
    expect(page.locator("main")).to_contain_text("die M365-Synchronisation von Acme")
    expect(page.locator("main")).to_contain_text("In Microsoft 365 gelöscht")
    screenshot(page, "demo-tour-removal-report")
    assert not runner.errors
