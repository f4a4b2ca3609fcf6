"""Issue 21's clicks in a real browser: bulk selections are bounded by what is shown and say what
they bring in.

Automatic mode: "sales" shows two groups; the header checkbox asks first, saying how many groups and
how many distinct people; Cancel subscribes nothing, confirming subscribes only the two; a click on
a group's name toggles it like its switch. Manual mode: groups under Group_Users add to the
selection (a second click takes a group out), "Show selected only" lists the selection, and
"Import N users" counts the selected users the import can take.
"""

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import GroupSubscription
from portal.sync.people import person_from_graph
from tests.conftest import PASSWORD
from tests.e2e.conftest import connect_m365, expect, m365_settings, screenshot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator; its redirect URI is registered there."""
    return m365_settings(live_config, emulator, live_http.url)


def _groups(emulator):
    """The emulator's groups by name, with their direct member ids."""
    return {g["displayName"]: g for g in emulator.control("GET", "groups")}


def _subscribed(emulator):
    db.session.expire_all()
    names = {g["id"]: name for name, g in _groups(emulator).items()}
    return {names[s.m365_group_id] for s in db.session.scalars(select(GroupSubscription))}


def _connected(page, world):
    world.acme.ms_user_sync = True
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    connect_m365(page)


def test_select_all_asks_with_distinct_people_and_takes_only_the_shown_groups(page, world, emulator, runner):
    _connected(page, world)
    page.get_by_role("radio", name="Automatic").click()
    panel = page.locator("#automatic-panel")
    expect(panel.locator("#group-rows tr", has_text="Sales Team")).to_be_visible(timeout=20_000)
    expect(page.locator("#automatic-progress")).not_to_contain_text("Loading groups", timeout=20_000)
    groups = _groups(emulator)
    shown = ["Dept - Sales", "Sales Team"]
    people = len({m for name in shown for m in groups[name]["members"]})
    assert people < sum(len(groups[name]["members"]) for name in shown)  # the Sales people are in both

    panel.get_by_placeholder("Search Group").fill("sales")
    expect(panel.locator("#group-rows tr")).to_have_count(len(shown))
    panel.get_by_role("checkbox", name="Select all groups").check()
    question = page.get_by_role("alertdialog")
    expect(question).to_contain_text("Subscribe to the 2 groups that match “sales”?")
    expect(question).to_contain_text(f"They bring in {people} people.")
    screenshot(panel, "automatic-select-all-confirm")
    question.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    assert _subscribed(emulator) == set()

    panel.get_by_role("checkbox", name="Select all groups").check()
    page.get_by_role("alertdialog").get_by_role("button", name="Subscribe to 2 groups").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    for name in shown:
        expect(panel.get_by_role("switch", name=name, exact=True)).to_have_attribute("aria-checked", "true")
    assert _subscribed(emulator) == set(shown)

    # A click on a group's name toggles it like its switch (on, then off again).
    panel.get_by_placeholder("Search Group").fill("leadership")
    switch = panel.get_by_role("switch", name="Leadership", exact=True)
    expect(switch).to_have_attribute("aria-checked", "false")
    panel.locator("#group-rows").get_by_role("button", name="Leadership", exact=True).click()
    expect(switch).to_have_attribute("aria-checked", "true")
    assert _subscribed(emulator) == {*shown, "Leadership"}
    panel.locator("#group-rows").get_by_role("button", name="Leadership", exact=True).click()
    expect(switch).to_have_attribute("aria-checked", "false")
    assert _subscribed(emulator) == set(shown)


def _importable(user):
    """Whether the import can take this emulator user: not a disabled account, a guest, a user
    without a (valid) mailbox (the import's one rule, portal.sync.people)."""
    return person_from_graph(user).skip_reason() is None


def _button_count(page):
    text = page.locator("#import-button").inner_text().replace(",", "")
    return int(re.search(r"Import (\d+) users?", text).group(1))


def _pick(page, name):
    page.get_by_placeholder("Search Group").fill(name)
    page.locator("#group-options").get_by_role("button", name=name, exact=True).click()


def test_groups_add_to_the_manual_selection_and_show_selected_only_lists_it(page, world, emulator, runner):
    _connected(page, world)
    page.locator("#manual-panel").get_by_role("button", name="Load Users from Microsoft").click()
    expect(page.locator("#users-count")).to_contain_text("users loaded", timeout=20_000)
    groups, users = _groups(emulator), {u["id"]: u for u in emulator.control("GET", "users")}
    it, leadership = set(groups["Dept - IT"]["members"]), set(groups["Leadership"]["members"])
    assert leadership - it  # the second group brings in someone new

    page.get_by_text("Group_Users").click()
    _pick(page, "Dept - IT")
    expect(page.locator("#ms-users")).to_contain_text(f"Selected the {len(it)} members of Dept - IT.")
    _pick(page, "Leadership")  # adds, does not replace
    expect(page.locator("#ms-users")).to_contain_text("to the selection")
    both = it | leadership
    expect(page.locator("#import-button")).to_contain_text(
        f"Import {sum(_importable(users[i]) for i in both)} user"
    )
    page.get_by_label("Show selected only").check()
    expect(page.locator("#ms-users tbody tr")).to_have_count(len(both))
    expect(page.locator("#ms-users tbody [role=switch][aria-checked=false]")).to_have_count(0)
    screenshot(page.locator("#manual-panel"), "manual-two-groups-selected")

    _pick(page, "Leadership")  # a second click takes the group's members out again
    expect(page.locator("#ms-users")).to_contain_text("Leadership")
    remaining = it - leadership
    expect(page.locator("#ms-users tbody tr")).to_have_count(len(remaining))
    assert _button_count(page) == sum(_importable(users[i]) for i in remaining)
