"""Issue 4, "Done when", in a real browser against the M365 emulator: a customer admin switches the
master data on, releases the M365 interface through Microsoft's sign-in and consent, flips the three
settings, ends the interface and connects again; Cancel on the consent page explains itself."""

import pytest

from portal.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import (
    connect_m365,
    emulator_sign_in,
    expect,
    m365_settings,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator; its redirect URI is registered there."""
    return m365_settings(live_config, emulator, live_http.url)


def _switch(page, label):
    return page.get_by_role("switch", name=label)


def _audit_rows(page):
    return page.locator("#m365-audit tbody tr")


def test_customer_admin_connects_flips_settings_ends_and_reconnects(page, world, emulator):
    sign_in(page, "alice@acme.example", PASSWORD)
    page.get_by_role("link", name="Synchronize contacts").click()
    prerequisite = page.locator("#m365-prerequisite")
    expect(prerequisite).to_contain_text("Microsoft User Synchronization")
    expect(page.get_by_role("button", name="Release M365 Interface")).to_have_count(0)
    screenshot(page, "m365-prerequisite")

    # The master-data switch.
    prerequisite.get_by_role("link", name="Open the customer master data").click()
    page.get_by_label("On", exact=True).check()
    screenshot(page, "masterdata-customer")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flashes")).to_contain_text("Master data saved.")
    expect(page.locator("#sync-in-effect")).to_contain_text("On")

    # Release the interface: Microsoft's sign-in and consent page, then back.
    page.get_by_role("link", name="Synchronize contacts").click()
    screenshot(page, "m365-not-connected")
    page.get_by_role("button", name="Release M365 Interface").click()
    page.wait_for_selector("input[name=account]")
    screenshot(page, "emulator-consent")
    emulator_sign_in(page)
    page.wait_for_url("**/m365/")
    connection = page.locator("#m365-connection")
    expect(connection).to_contain_text("M365 interface has been connected")
    expect(connection).to_contain_text("Interface to M365 stored")
    expect(connection).to_contain_text("contosodemo.onmicrosoft.com")
    expect(_audit_rows(page)).to_have_count(1)
    screenshot(page, "m365-connected")

    # The three settings save at once, say who changed them, and the audit log follows.
    page.evaluate("window.__stillSamePage = true")
    expect(_switch(page, "Synchronization active")).to_have_attribute("aria-checked", "false")
    _switch(page, "Synchronization active").click()
    expect(_switch(page, "Synchronization active")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#setting-sync_active")).to_contain_text("Changed by alice@acme.example")
    expect(_audit_rows(page)).to_have_count(2)
    _switch(page, "Link active").click()
    expect(_switch(page, "Link active")).to_have_attribute("aria-checked", "true")
    expect(_audit_rows(page)).to_have_count(3)
    page.get_by_role("radio", name="Automatic").click()
    expect(page.get_by_role("radio", name="Automatic")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#automatic-panel")).to_contain_text("Subscribe to Groups")
    expect(_audit_rows(page)).to_have_count(4)
    expect(_audit_rows(page).first).to_contain_text("Mode set to Automatic")
    assert page.evaluate("window.__stillSamePage === true"), "a switch reloaded the page"
    screenshot(page, "m365-settings-flipped")

    # Switching "Link active" off again needs no confirmation when no links were made.
    _switch(page, "Link active").click()
    expect(_switch(page, "Link active")).to_have_attribute("aria-checked", "false")

    # The settings survive a reload.
    page.reload()
    expect(_switch(page, "Synchronization active")).to_have_attribute("aria-checked", "true")
    expect(page.get_by_role("radio", name="Automatic")).to_have_attribute("aria-checked", "true")

    # End the interface (with confirmation), then connect again.
    page.get_by_role("link", name="End Interface").click()
    expect(page.locator("main")).to_contain_text("Contacts and contact groups stay in the contact book.")
    screenshot(page, "m365-end-confirm")
    page.get_by_role("button", name="End Interface").click()
    expect(page.locator("#flashes")).to_contain_text("The M365 interface has been ended.")
    expect(page.get_by_role("button", name="Release M365 Interface")).to_be_visible()
    expect(_audit_rows(page).first).to_contain_text("Interface ended")
    screenshot(page, "m365-ended")
    connect_m365(page)
    expect(page.locator("#m365-connection")).to_contain_text("M365 interface has been connected")
    expect(page.locator("#flashes")).to_contain_text("M365 interface has been connected")


def test_cancel_on_the_consent_page_says_what_happened(page, world, emulator):
    world.acme.ms_user_sync = True
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    connect_m365(page, action="Cancel", consent=False)
    flashes = page.locator("#flashes")
    expect(flashes).to_contain_text("The Microsoft sign-in was cancelled or the consent was declined")
    expect(page.get_by_role("button", name="Release M365 Interface")).to_be_visible()
    expect(page.locator("#m365-connection")).not_to_contain_text("has been connected")
    screenshot(page, "m365-cancelled")


def test_account_without_admin_rights_cannot_connect(page, world, emulator):
    world.acme.ms_user_sync = True
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/m365/")
    page.get_by_role("button", name="Release M365 Interface").click()
    emulator_sign_in(page, account=emulator.user_upn)
    # Microsoft's "Need admin approval" page; its button goes back without consent.
    expect(page.locator("body")).to_contain_text("Need admin approval")
    screenshot(page, "emulator-need-admin")
    page.get_by_role("button", name="Return to the application without granting consent").click()
    page.wait_for_url("**/m365/")
    expect(page.locator("#flashes")).to_contain_text(
        "An M365 administrator account with read access rights for all users and groups is required"
    )
    screenshot(page, "m365-not-admin")
