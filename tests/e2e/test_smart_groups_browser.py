"""Issue 22 in a real browser: an admin builds a smart group "department is Finance", watches the
preview count as she types, adds and removes a condition (the preview follows each), saves, and finds
the group with exactly its members."""

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import expect, sign_in
from tests.factories import add_contact

pytestmark = pytest.mark.e2e

PEOPLE = [  # (first, last, department, office)
    ("Anna", "Schmidt", "Finance", "Munich"),
    ("Ben", "Weber", "finance", "Paris"),
    ("Carl", "Roth", "Sales", "Munich"),
    ("Dora", "Lang", None, None),
]


def test_admin_builds_a_smart_group_with_a_live_preview(page, world):
    for first, last, department, office in PEOPLE:
        add_contact(
            world.acme, f"{first}@acme.example".lower(), first, last, department=department, office=office
        )
    sign_in(page, "alice@acme.example", PASSWORD)
    page.goto("/contacts/groups")
    page.get_by_role("link", name="New smart group").click()
    page.get_by_label("Name").fill("Finance people")
    page.get_by_label("Attribute").select_option(label="Department")
    page.get_by_label("Comparison").select_option(label="is")
    preview = page.locator("#rule-preview")
    page.get_by_label("Value").fill("Finance")
    expect(preview).to_contain_text("Preview: 2 contacts match")  # the case does not matter
    expect(preview).to_contain_text("anna@acme.example")

    page.get_by_role("button", name="Add condition").click()
    second = page.get_by_role("group", name="Condition 2")
    expect(second).to_be_visible()
    second.get_by_label("Value").fill("Munich")  # first: choosing the attribute swaps the rows in
    second.get_by_label("Attribute").select_option(label="Office")
    expect(preview).to_contain_text("Preview: 1 contact matches")
    second.get_by_role("button", name="Remove").click()
    expect(page.locator(".rule-row")).to_have_count(1)
    expect(preview).to_contain_text("Preview: 2 contacts match")

    page.get_by_role("button", name="Create smart group").click()
    expect(page.locator("h1")).to_contain_text("Finance people")
    expect(page.get_by_text("Members follow the rule.")).to_be_visible()
    members = page.locator("main")
    expect(members).to_contain_text("2 members")
    for name in ("Schmidt", "Weber"):
        expect(members).to_contain_text(name)
    for name in ("Roth", "Lang"):
        expect(members).not_to_contain_text(name)
