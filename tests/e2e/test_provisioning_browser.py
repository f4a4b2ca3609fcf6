"""Entra provisioning in a real browser: the demo's customer admin opens the page, creates a token
(its secret shown once, copyable), switches the directory source with the confirmation, and sees
the switch in the page's state and audit log (the WCAG audit of these pages is in
test_accessibility_browser.py)."""

import os
import re

import pytest

from portal.extensions import db
from portal.scim import tokens
from portal.seed import DEMO_PASSWORD, seed_demo
from tests.e2e.conftest import expect, sign_in

pytestmark = pytest.mark.e2e
SCREENSHOTS = "/tmp/scimpage-screenshots"


def _shot(page, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def test_demo_admin_creates_a_token_and_switches_the_source(app, page):
    seed_demo()
    db.session.commit()
    sign_in(page, "admin@contoso-demo.example", DEMO_PASSWORD)
    page.get_by_role("link", name="Entra provisioning", exact=True).click()
    expect(page.locator("#current-source")).to_have_text("Microsoft Graph (daily sync)")
    assert page.locator("#tenant-url").input_value().endswith("/scim/v2")

    page.get_by_label("Label of the new token").fill("Entra production")
    page.get_by_role("button", name="Create token").click()
    secret_box = page.locator("#secret-token")
    expect(page.locator("#new-secret")).to_contain_text("it is shown this once")
    secret = secret_box.input_value()
    assert tokens.authenticate(secret) is not None  # the token works (its use not kept here)
    db.session.rollback()
    page.locator("#new-secret").get_by_role("button", name="Copy").click()
    expect(page.locator('[data-copy-status="secret-token"]')).to_have_text("Copied")
    _shot(page, "provisioning-token-created")

    page.get_by_role("link", name="Entra provisioning", exact=True).click()  # the secret is never shown again
    expect(page.locator("#secret-token")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("…" + secret[-4:])

    page.get_by_role("link", name="Switch to Entra provisioning").click()
    expect(page.locator("main")).to_contain_text("stop changing this customer's contact book")
    page.get_by_role("button", name=re.compile("Switch to Entra provisioning")).click()
    expect(page.locator("#current-source")).to_have_text("Entra provisioning (SCIM)")
    expect(page.locator("#provisioning-audit")).to_contain_text("Directory source set to Entra provisioning")
    expect(page.locator("#provisioning-audit")).to_contain_text("Entra provisioning token created")
    _shot(page, "provisioning-entra-source")

    page.get_by_role("navigation").get_by_role("link", name="Synchronize contacts").click()
    expect(page.locator(".entra-source-notice")).to_contain_text("Open Entra provisioning")
    _shot(page, "synchronize-contacts-while-entra")
