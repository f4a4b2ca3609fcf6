"""Issue 5, "Done when", in a real browser: in Manual mode a customer admin loads the demo tenant's users,
searches, deselects two people, picks a group, sees "Import N users" follow, imports, watches the
progress bar, reads "The employee import was successful" and finds the people in the contact book.
The real runner runs the jobs in a thread meanwhile."""

import re
import time

import pytest

from portal.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import connect_m365, expect, m365_settings, screenshot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator; its redirect URI is registered there."""
    return m365_settings(live_config, emulator, live_http.url)


def _selection_shown(page):
    """(N of "Import N users", how many selected users the line below it says are left out)."""
    choice = page.locator("#import-choice").inner_text().replace(",", "")
    importable = int(re.search(r"Import (\d+) users?", choice).group(1))
    left_out = re.search(r"(\d+) selected users? (?:is|are) left out", choice)
    return importable, int(left_out.group(1)) if left_out else 0


def _expect_selected(page, count):
    """The button and its note add up to `count` selected users (the button: those it can import)."""
    deadline = time.monotonic() + 10
    while sum(_selection_shown(page)) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(_selection_shown(page)) == count, _selection_shown(page)
    return _selection_shown(page)


def _import_button(page):
    return page.locator("#import-button")


def _members(emulator, group_name):
    """Display names of the group's user members, from the emulator's control API."""
    group = next(g for g in emulator.control("GET", "groups") if g["displayName"] == group_name)
    names = {u["id"]: u["displayName"] for u in emulator.control("GET", "users")}
    ids = [m if isinstance(m, str) else m.get("id") for m in group["members"]]
    return [names[i] for i in ids if i in names]


def _deselect(page, name):
    """Search for one person and click their row to deselect them."""
    search = page.get_by_placeholder("Search Users")
    search.fill(name)
    row = page.locator("#ms-users tbody tr", has_text=name)
    expect(row).to_have_count(1)
    row.get_by_role("switch").click()
    expect(row.get_by_role("switch")).to_have_attribute("aria-checked", "false")


def test_manual_mode_load_select_and_import(page, world, emulator, runner):
    world.acme.ms_user_sync = True
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    connect_m365(page)
    manual = page.locator("#manual-panel")
    expect(manual).to_contain_text("Manual selection of contacts to synchronize")

    # Load: a job for the runner; the list appears when it is done.
    manual.get_by_role("button", name="Load Users from Microsoft").click()
    expect(page.locator("#users-count")).to_contain_text("users loaded", timeout=20_000)
    loaded = int(
        re.search(r"([\d,]+) users loaded", page.locator("#users-count").inner_text())
        .group(1)
        .replace(",", "")
    )
    assert loaded >= 290
    importable, left_out = _expect_selected(page, loaded)  # all selected by default
    assert 0 < left_out < loaded  # guests, disabled accounts, no mailbox: said, not counted
    screenshot(page, "manual-loaded")
    screenshot(page.locator("#manual-panel"), "manual-loaded-panel")

    # Search as you type, and deselect two people.
    page.evaluate("window.__stillSamePage = true")
    page.get_by_placeholder("Search Users").press_sequentially("müller", delay=50)
    expect(page.locator("#ms-users tbody tr", has_text="Jürgen Müller")).to_be_visible()
    expect(page.locator("#users-count")).to_contain_text(f"of {loaded:,} users match")
    _deselect(page, "Jürgen Müller")
    _expect_selected(page, loaded - 1)
    _deselect(page, "Siobhán O'Brien")
    assert _expect_selected(page, loaded - 2)[0] == importable - 2
    screenshot(page, "manual-deselected")

    # Group_Users: select exactly the members of one group.
    sales = _members(emulator, "Sales Team")
    page.get_by_text("Group_Users").click()
    page.get_by_placeholder("Search Group").fill("sales")
    page.locator("#group-options").get_by_role("button", name="Sales Team").click()
    expect(page.locator("#ms-users")).to_contain_text(f"Selected the {len(sales)} members of Sales Team.")
    _expect_selected(page, len(sales))
    screenshot(page.locator("#manual-panel"), "manual-group-picked")
    # ... and leave one of them out again.
    left_out = sorted(n for n in sales if "#EXT#" not in n and " " in n)[0]
    _deselect(page, left_out)
    _expect_selected(page, len(sales) - 1)
    assert page.evaluate("window.__stillSamePage === true"), "selecting reloaded the page"

    # Import: a progress bar while the runner works (Microsoft made slow), then the result.
    emulator.control("POST", "latency", {"ms": 60})
    _import_button(page).click()
    expect(page.locator("#import-area [role=progressbar]")).to_be_visible()
    screenshot(page.locator("#manual-panel"), "manual-importing")
    emulator.control("POST", "latency", {"ms": 0})
    expect(page.locator("#import-area")).to_contain_text("The employee import was successful", timeout=20_000)
    created = int(page.locator("#import-area [data-count=created]").inner_text().replace(",", ""))
    skipped = int(page.locator("#import-area [data-count=skipped]").inner_text().replace(",", ""))
    assert created + skipped == len(sales) - 1 and created > 0
    if skipped:
        expect(page.locator("#import-area")).to_contain_text("Skipped users")
    screenshot(page, "manual-imported")
    screenshot(page.locator("#manual-panel"), "manual-imported-panel")
    assert not runner.errors

    # The contact book beside it follows, and so does the contact book page.
    imported = sorted(n for n in sales if n != left_out and "#EXT#" not in n)[0]
    expect(page.locator("#manual-contacts")).to_contain_text(f"{created} contacts")
    page.get_by_role("link", name="Contact book").click()
    expect(page.locator(".result-count")).to_contain_text(f"{created} contacts")
    page.get_by_placeholder("Search by name or email…").fill(imported.split()[-1])
    expect(page.locator("#contact-results tbody tr").first).to_contain_text(imported.split()[-1])
    expect(page.locator("#contact-results")).to_contain_text("M365")
    page.get_by_placeholder("Search by name or email…").fill(left_out.split()[-1])
    expect(page.locator("#contact-results")).not_to_contain_text(left_out.split()[0] + " ")
    screenshot(page, "manual-contact-book")
