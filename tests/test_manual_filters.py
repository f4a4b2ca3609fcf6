"""Manual mode's user list filtered by department and country (with search and "selected only"),
"Select all" selecting exactly the users shown, against the M365 emulator through the real runner."""

import re

import pytest
from sqlalchemy import select

from m365_emulator.demo import build_demo_tenant
from portal import attributes
from portal.extensions import db
from portal.manual import services
from portal.models import Contact, Job, JobKind
from portal.models.directory import DirectoryGroup, DirectoryUser
from portal.runner import Runner
from tests import m365_helpers as m365
from tests.factories import text
from tests.sync_helpers import importable

HX = {"HX-Request": "true"}


@pytest.fixture
def acme_admin(app, world, emulator):
    """Alice on a portal pointed at the emulator, signed in to the demo tenant, its users loaded."""
    client = m365.connect_customer(app, emulator, world.acme, world.alice, connection=None)
    m365.sign_in(client)
    client.post("/m365/manual/load", headers=HX)
    assert Runner(app, periodic=[]).run_once()
    return client


def _demo_users(department=None, country=None):
    """The demo tenant's users with this department and country (as the portal reads them), by id."""
    found = {}
    for user in build_demo_tenant()["users"]:
        values = attributes.values_from_graph(user)
        if department in (None, values.get("department")) and country in (None, values.get("country")):
            found[user["id"]] = user
    return found


def _import_label(page):
    return int(re.search(r"Import (\d+) users?", page).group(1))


def _rows(customer):
    """The loaded users' list rows ids, by M365 id."""
    query = select(DirectoryUser.m365_id, DirectoryUser.id).where(DirectoryUser.customer_id == customer.id)
    return dict(db.session.execute(query).all())


def test_the_load_keeps_each_users_country_and_attributes(app, world, acme_admin):
    rows = db.session.scalars(select(DirectoryUser).where(DirectoryUser.customer_id == world.acme.id)).all()
    expected = _demo_users()
    assert len(rows) == len(expected)
    for row in rows:
        values = attributes.values_from_graph(expected[row.m365_id])
        assert (row.department, row.country) == (values.get("department", ""), values.get("country", ""))
    finance = next(r for r in rows if r.department == "Finance")
    assert finance.attributes["department"] == "Finance" and "manager" in finance.attributes


def test_department_and_country_selects_list_their_values_with_counts(app, world, acme_admin):
    page = acme_admin.get("/m365/manual/", headers=HX).get_data(as_text=True)
    finance = len(_demo_users(department="Finance"))
    assert f'<option value="Finance" >Finance ({finance})</option>' in page
    austria = len(_demo_users(country="Austria"))
    assert f'<option value="Austria" >Austria ({austria})</option>' in page


def test_department_and_country_filter_the_list_together_with_the_search(app, world, acme_admin):
    shown = _demo_users(department="Finance", country="Austria")
    page = acme_admin.get("/m365/manual/users?department=Finance&country=Austria").get_data(as_text=True)
    assert f"{len(shown)} of 300 users match" in page
    for m365_id, row_id in _rows(world.acme).items():
        assert (f'id="user-{row_id}"' in page) == (m365_id in shown)
    one = next(iter(shown.values()))
    searched = acme_admin.get(f"/m365/manual/users?department=Finance&country=Austria&q={one['surname']}")
    listed = {m for m, row_id in _rows(world.acme).items() if f'id="user-{row_id}"' in text(searched)}
    assert one["id"] in listed and listed <= set(shown)


def test_select_all_then_import_imports_exactly_the_users_shown(app, world, acme_admin):
    shown = _demo_users(department="Finance", country="Germany")
    form = {"value": "all", "department": "Finance", "country": "Germany", "q": ""}
    page = acme_admin.post("/m365/manual/select", data=form, headers=HX).get_data(as_text=True)
    assert _import_label(page) == importable(world.acme, among=shown) < len(shown)
    assert set(services.selected_ids(world.acme)) == set(shown)
    started = acme_admin.post("/m365/manual/import", headers=HX).get_data(as_text=True)
    job_id = int(re.search(r"/m365/manual/import/(\d+)", started).group(1))
    assert Runner(app, periodic=[]).run_once()
    assert db.session.get(Job, job_id).kind == JobKind.IMPORT
    db.session.expire_all()
    book = db.session.scalars(select(Contact).where(Contact.customer_id == world.acme.id)).all()
    assert len(book) == importable(world.acme, among=shown) and {c.m365_user_id for c in book} <= set(shown)
    assert {(c.department, c.country) for c in book} == {("Finance", "Germany")}


def test_select_none_with_a_filter_takes_only_the_shown_users_out(app, world, acme_admin):
    finance = _demo_users(department="Finance")
    form = {"value": "none", "department": "Finance"}
    page = acme_admin.post("/m365/manual/select", data=form, headers=HX).get_data(as_text=True)
    assert set(services.selected_ids(world.acme)) == set(_demo_users()) - set(finance)
    assert _import_label(page) == importable(world.acme, without=finance)


def test_select_all_within_selected_only_and_a_department_keeps_those(app, world, acme_admin):
    acme_admin.post("/m365/manual/select", data={"value": "all", "department": "Sales"}, headers=HX)
    form = {"value": "all", "only": "selected", "country": "France"}
    acme_admin.post("/m365/manual/select", data=form, headers=HX)
    assert set(services.selected_ids(world.acme)) == set(_demo_users(department="Sales", country="France"))


def _group(customer, name):
    return db.session.scalar(
        select(DirectoryGroup).where(
            DirectoryGroup.customer_id == customer.id, DirectoryGroup.display_name == name
        )
    )


def test_group_filter_combines_with_country_and_select_all_selects_exactly_those(app, world, acme_admin):
    tenant_group = next(g for g in build_demo_tenant()["groups"] if g["displayName"] == "Sales Team")
    shown = {m: u for m, u in _demo_users(country="France").items() if m in tenant_group["members"]}
    group = _group(world.acme, "Sales Team")
    page = acme_admin.get("/m365/manual/", headers=HX).get_data(as_text=True)
    assert f'<option value="{group.id}" >Sales Team</option>' in page
    listed = acme_admin.get(f"/m365/manual/users?group={group.id}&country=France").get_data(as_text=True)
    assert f"{len(shown)} of 300 users match" in listed
    assert {m for m, row_id in _rows(world.acme).items() if f'id="user-{row_id}"' in listed} == set(shown)
    form = {"value": "all", "group": group.id, "country": "France"}
    acme_admin.post("/m365/manual/select", data=form, headers=HX)
    assert set(services.selected_ids(world.acme)) == set(shown)


def test_another_customers_group_is_not_found(app, world, acme_admin):
    group = DirectoryGroup(customer_id=world.globex.id, m365_id="g-globex", display_name="Globex only")
    db.session.add(group)
    db.session.commit()
    assert acme_admin.get(f"/m365/manual/users?group={group.id}").status_code == 404
