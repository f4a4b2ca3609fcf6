"""Issue 13, "Done when", in a real browser: a customer admin connects with application permissions
(Microsoft sign-in, then admin consent), imports in Manual mode, and the sync keeps the book in step
using client credentials; a withdrawn consent shows "Admin consent required" with the button that
fixes it. The real runner runs the jobs in a thread meanwhile."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contact, M365Connection
from tests.conftest import PASSWORD
from tests.e2e.conftest import emulator_sign_in, expect, m365_settings, screenshot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator and offers application permissions first."""
    m365_settings(live_config, emulator, live_http.url)
    live_config.update(M365_DEFAULT_CONNECTION="application", M365_CONSENT_PROPAGATION_WAIT=0)
    return live_config


def _sync_now(page, outcome):
    page.get_by_role("link", name="Sync history").click()
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status")).to_contain_text(outcome, timeout=20_000)


def _import_sales_team(page):
    manual = page.locator("#manual-panel")
    manual.get_by_role("button", name="Load Users from Microsoft").click()
    expect(page.locator("#users-count")).to_contain_text("users loaded", timeout=20_000)
    page.get_by_text("Group_Users").click()
    page.get_by_placeholder("Search Group").fill("sales")
    page.locator("#group-options").get_by_role("button", name="Sales Team").click()
    expect(page.locator("#ms-users")).to_contain_text("members of Sales Team")
    page.locator("#import-button").click()
    expect(page.locator("#import-area")).to_contain_text("The employee import was successful", timeout=20_000)


def _adele():
    db.session.expire_all()
    return db.session.scalar(select(Contact).where(Contact.email_key.like("adele.vance@%")))


def test_connect_with_application_permissions_import_and_sync(page, world, emulator, runner, live_config):
    world.acme.ms_user_sync = True
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    page.get_by_role("link", name="Synchronize contacts").click()
    card = page.locator("#m365-connection")
    expect(card.get_by_role("radio", name="Application permissions (admin consent)")).to_be_checked()
    expect(card).to_contain_text("recommended")
    screenshot(page, "m365-connection-types")

    # Sign in (who, which tenant), then Microsoft's admin-consent page, then back.
    page.get_by_role("button", name="Release M365 Interface").click()
    emulator_sign_in(page)
    page.wait_for_url("**/v2.0/adminconsent**")
    expect(page.locator("body")).to_contain_text("Read all users' full profiles")
    screenshot(page, "emulator-admin-consent")
    emulator_sign_in(page)
    page.wait_for_url("**/m365/")
    expect(page.locator("#flashes")).to_contain_text("M365 interface has been connected")
    expect(page.locator("#m365-connection-type")).to_have_text("Application permissions (admin consent)")
    expect(page.get_by_role("button", name="Switch to delegated permissions")).to_be_visible()
    screenshot(page, "m365-connected-application")
    assert db.session.scalar(select(M365Connection.refresh_token_encrypted)) == ""

    sync_active = page.get_by_role("switch", name="Synchronization active")
    sync_active.click()
    expect(sync_active).to_have_attribute("aria-checked", "true")
    _import_sales_team(page)
    assert _adele() is not None and _adele().last_name == "Vance"

    # Microsoft changes; the sync (client credentials, nobody's sign-in) follows.
    emulator.control("PATCH", f"users/{_adele().m365_user_id}", {"surname": "Vance-Smith"})
    _sync_now(page, "The synchronization has finished.")
    assert _adele().last_name == "Vance-Smith"

    # The consent is withdrawn in Entra: the page says so, with the button that fixes it.
    emulator.withdraw_consent(live_config["M365_CLIENT_ID"])
    _sync_now(page, "The synchronization failed")
    page.get_by_role("link", name="Synchronize contacts").click()
    card = page.locator("#m365-connection")
    expect(card).to_contain_text("Admin consent required")
    expect(card.get_by_role("button", name="Grant admin consent again")).to_be_visible()
    screenshot(page, "m365-admin-consent-required")
    assert _adele() is not None  # nothing removed
    assert not runner.errors
