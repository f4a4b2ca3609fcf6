"""Issue 6, "Done when", in a real browser: an admin subscribes to two demo groups (Automatic mode); the
emulator then loses a user, renames another and gains a group member; "Sync now" shows exactly those
changes in the book, the sync history and the removal report on the Notifications page. Deleting half
the tenant makes the next sync hold the removals and ask. The real runner runs the jobs meanwhile."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contact
from tests.conftest import PASSWORD
from tests.e2e.conftest import connect_m365, expect, m365_settings, screenshot, sign_in

pytestmark = pytest.mark.e2e

GROUPS = ("Leadership", "Sales Team")


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator; its redirect URI is registered there."""
    return m365_settings(live_config, emulator, live_http.url)


def _book(customer):
    """{m365 user id: contact} of the customer's active contacts (read outside the browser)."""
    db.session.expire_all()
    return {
        c.m365_user_id: c
        for c in db.session.scalars(
            select(Contact).where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
        )
    }


def _sync_now(page):
    """Click "Sync now" on the Sync history page and wait until the run is shown as finished."""
    page.get_by_role("link", name="Sync history").click()
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status")).to_contain_text("The synchronization has finished.", timeout=20_000)


def _subscribe_in_automatic_mode(page):
    page.get_by_role("switch", name="Synchronization active").click()
    expect(page.get_by_role("switch", name="Synchronization active")).to_have_attribute(
        "aria-checked", "true"
    )
    page.get_by_role("radio", name="Automatic").click()
    panel = page.locator("#automatic-panel")
    # Switching to Automatic loads the tenant's groups by itself; wait until the list is shown.
    expect(panel.locator("#group-rows tr", has_text="Sales Team")).to_be_visible(timeout=20_000)
    expect(page.locator("#automatic-progress")).not_to_contain_text("Loading groups", timeout=20_000)
    screenshot(page.locator("#automatic-panel"), "automatic-groups")
    panel.get_by_placeholder("Search Group").fill("lead")
    expect(panel.locator("#group-rows tr", has_text="Sales Team")).to_have_count(0)
    expect(panel.locator("#group-rows tr", has_text="Leadership")).to_have_count(1)
    for name in GROUPS:
        panel.get_by_placeholder("Search Group").fill(name)
        switch = panel.get_by_role("switch", name=name, exact=True)
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "true", timeout=15_000)  # a busy CI machine
        expect(page.locator("#automatic-progress")).to_contain_text("Last group import", timeout=20_000)
    screenshot(page, "automatic-subscribed")


def test_subscribe_change_m365_sync_now_and_hold_mass_deletion(page, world, emulator, runner):
    world.acme.ms_user_sync = True
    world.acme.notification_recipients = "it@acme.example"
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    connect_m365(page)
    _subscribe_in_automatic_mode(page)

    # Both groups' members are in the book; the first sync takes its full listing.
    before = _book(world.acme)
    assert len(before) > 30
    _sync_now(page)

    # Microsoft changes: one user deleted, one renamed, one new member of a subscribed group.
    users = {u["id"]: u for u in emulator.control("GET", "users") if not u["_deleted"]}
    in_book = sorted(
        (c for c in before.values() if not users[c.m365_user_id]["_admin"]), key=lambda c: c.email_key
    )
    gone, renamed = in_book[0], in_book[1]
    newcomer = next(
        u
        for u in sorted(users.values(), key=lambda u: u["userPrincipalName"])
        if u["id"] not in before and u.get("mail") and u["userType"] == "Member" and u["accountEnabled"]
    )
    leadership = next(g for g in emulator.control("GET", "groups") if g["displayName"] == "Leadership")
    emulator.control("DELETE", f"users/{gone.m365_user_id}")
    emulator.control(
        "PATCH",
        f"users/{renamed.m365_user_id}",
        {"surname": "Neumann-Renamed", "displayName": f"{renamed.first_name} Neumann-Renamed"},
    )
    emulator.control("POST", f"groups/{leadership['id']}/members/{newcomer['id']}")
    _sync_now(page)
    assert not runner.errors

    # The contact book shows exactly those changes.
    page.get_by_role("link", name="Contact book").click()
    page.wait_for_load_state()  # htmx has bound the search box: typing earlier is typed into nothing
    search = page.get_by_placeholder("Search by name or email…")
    search.fill(gone.email)
    expect(page.locator("#contact-results")).to_contain_text("No contacts match your search.")
    search.fill("Neumann-Renamed")
    expect(page.locator("#contact-results tbody tr")).to_have_count(1)
    expect(page.locator("#contact-results tbody tr")).to_contain_text(renamed.email)
    search.fill(newcomer["mail"])
    expect(page.locator("#contact-results tbody tr")).to_have_count(1)
    expect(page.locator("#contact-results tbody tr")).to_contain_text("Leadership")
    screenshot(page, "sync-book-after")

    # The sync history: the newest run and its changes.
    page.get_by_role("link", name="Sync history").click()
    screenshot(page, "sync-history")
    page.locator("#runs tbody tr").first.get_by_role("link").click()
    changes = page.locator("#changes")
    expect(changes.locator("tr", has_text=gone.email)).to_contain_text("Removed")
    expect(changes.locator("tr", has_text=renamed.email)).to_contain_text("Neumann-Renamed")
    expect(changes.locator("tr", has_text=newcomer["mail"]).first).to_be_visible()
    screenshot(page, "sync-run")
    page.get_by_label("Kind of change").select_option("remove")
    expect(changes.locator("tbody tr")).to_have_count(1)

    # The removal report on the Notifications page.
    page.get_by_role("link", name="Notifications").click()
    report = page.locator("#notifications tbody tr", has_text="removed by the M365 synchronization")
    expect(report).to_have_count(1)
    expect(report).to_contain_text("it@acme.example")
    screenshot(page, "notifications")
    report.get_by_role("link").click()
    expect(page.locator("pre.mail-text")).to_contain_text(gone.email)
    screenshot(page, "notification-removal-report")

    # Half the tenant deleted: the next sync holds the removals and asks.
    victims = [u for u in users.values() if not u["_admin"] and u["id"] != gone.m365_user_id][::2]
    for user in victims:
        emulator.control("DELETE", f"users/{user['id']}")
    held_ids = {u["id"] for u in victims} & set(_book(world.acme))
    assert len(held_ids) >= 10
    _sync_now(page)
    warning = page.locator(".flash-warning", has_text="held by the deletion threshold")
    page.reload()
    expect(warning).to_be_visible()
    expect(page.locator("#runs tbody tr").first).to_contain_text("removals held")
    screenshot(page, "sync-history-held")
    warning.get_by_role("link", name="Review held deletions").click()
    expect(page.locator("main tbody tr")).to_have_count(len(held_ids))
    expect(page.get_by_role("button", name="Allow deletions")).to_be_visible()
    expect(page.get_by_role("button", name="Keep contacts")).to_be_visible()
    screenshot(page, "sync-held")
    assert held_ids <= set(_book(world.acme))  # nobody removed yet
