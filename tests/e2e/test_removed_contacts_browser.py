"""Issue 11 in a real browser: the start page shows what needs attention with its actions; the
contact book leads to "Removed contacts", where "Restore" (confirmed) brings a contact back in place."""

import pytest

from portal.extensions import db
from portal.models.sync import SyncRun
from tests.conftest import PASSWORD
from tests.e2e.conftest import expect, screenshot, sign_in
from tests.factories import hold_removal, removed_by_sync

pytestmark = pytest.mark.e2e


def _failed_sync(customer):
    db.session.add(
        SyncRun(
            customer_id=customer.id,
            kind="sync",
            trigger="daily",
            status="failed",
            counts={},
            message="GraphError: Microsoft Graph answered 503 three times. "
            "Nothing was changed; no contact was removed.",
        )
    )
    db.session.commit()


def test_start_page_shows_problems_with_their_actions(page, world):
    for name in ("lena", "omar", "pia"):
        hold_removal(world.acme.id, f"{name}@acme.example")
    _failed_sync(world.acme)
    sign_in(page, "alice@acme.example", PASSWORD)
    problems = page.get_by_role("region", name="Needs your attention")
    expect(problems.get_by_role("alert")).to_have_count(2)
    expect(problems).to_contain_text("The last synchronization failed.")
    expect(problems).to_contain_text("3 removals are held by the deletion threshold")
    screenshot(page, "start-page-problems")
    page.goto("/m365/")
    expect(problems).to_contain_text("The last synchronization failed.")
    screenshot(page, "m365-page-problems")
    page.goto("/")

    page.once("dialog", lambda dialog: dialog.dismiss())  # "Keep these 3 contacts?" - no
    problems.get_by_role("button", name="Keep contacts").click()
    expect(problems).to_contain_text("3 removals are held")
    page.once("dialog", lambda dialog: dialog.accept())
    problems.get_by_role("button", name="Keep contacts").click()
    page.wait_for_url("**/sync/held")
    expect(page.locator("#flashes")).to_contain_text("The held contacts were kept.")


def test_restore_from_the_removed_contacts_page(page, world):
    removed_by_sync(world.acme, "siobhan.obrien@acme.example", first="Siobhán", last="O'Brien", days_ago=2)
    removed_by_sync(world.acme, "juergen.mueller@acme.example", first="Jürgen", last="Müller", days_ago=5)
    removed_by_sync(
        world.acme, "anna.schmidt@acme.example", reason="deleted permanently", first="Anna", last="Schmidt"
    )
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/contacts/")
    screenshot(page, "contact-book-removed-link")
    page.get_by_role("link", name="Removed contacts (3)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Removed contacts")
    rows = page.locator("#removed-results tbody tr")
    expect(rows).to_have_count(3)
    screenshot(page, "removed-contacts")

    page.get_by_role("searchbox", name="Search removed contacts").fill("müll")
    expect(rows).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    rows.first.get_by_role("button", name="Restore").click()
    expect(rows.first.get_by_role("status")).to_contain_text("Restored")
    screenshot(rows.first, "removed-contacts-restored-row")
    rows.first.get_by_role("link", name="Open the contact").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Müller")
