"""Manual mode in a real browser: filter the loaded users by department, "Select all" selects exactly
the users shown, "Import N users" says that number and the import brings exactly them in."""

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contact
from portal.models.directory import DirectoryUser
from tests.conftest import PASSWORD
from tests.e2e.conftest import connect_m365, expect, m365_settings, screenshot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_config(live_config, emulator, live_http):
    """The live portal talks to the emulator; its redirect URI is registered there."""
    return m365_settings(live_config, emulator, live_http.url)


def _count(*conditions):
    return db.session.scalar(select(func.count()).select_from(DirectoryUser).where(*conditions))


def test_department_filter_then_select_all_imports_exactly_that_department(page, world, emulator, runner):
    world.acme.ms_user_sync = True
    db.session.commit()
    sign_in(page, "alice@acme.example", PASSWORD)
    connect_m365(page)
    manual = page.locator("#manual-panel")
    manual.get_by_role("button", name="Load Users from Microsoft").click()
    expect(page.locator("#users-count")).to_contain_text("users loaded", timeout=20_000)

    db.session.expire_all()
    in_finance = DirectoryUser.department == "Finance"
    finance = _count(DirectoryUser.customer_id == world.acme.id, in_finance)
    importable = _count(
        DirectoryUser.customer_id == world.acme.id, in_finance, DirectoryUser.skip_reason == ""
    )
    assert 0 < importable <= finance
    page.get_by_label("Department").select_option("Finance")
    expect(page.locator("#users-count")).to_contain_text(f"{finance} of ")
    expect(page.locator("#ms-users tbody tr")).to_have_count(finance)
    for cell in page.locator("#ms-users tbody tr td:nth-child(4)").all_inner_texts():
        assert cell == "Finance"

    page.get_by_role("button", name="Select all").click()
    expect(page.locator("#import-button")).to_have_text(re.compile(rf"Import {importable} users?"))
    screenshot(page.locator("#manual-panel"), "manual-department-selected")
    page.locator("#import-button").click()
    expect(page.locator("#import-area")).to_contain_text("The employee import was successful", timeout=20_000)
    assert not runner.errors
    db.session.expire_all()
    book = db.session.scalars(select(Contact).where(Contact.customer_id == world.acme.id)).all()
    assert len(book) == importable and {c.department for c in book} == {"Finance"}
