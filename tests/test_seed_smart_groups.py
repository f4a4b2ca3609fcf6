"""The demo seed's smart groups: Contoso has "Finance", "Munich office" and "Team of the CFO", empty
until the emulator's demo tenant is imported (Manual mode), then filled by the import."""

import re

from sqlalchemy import select

from m365_emulator.demo import build_demo_tenant
from portal import smart_groups
from portal.extensions import db
from portal.models import AdminUser, Contact, ContactGroup, Customer, SyncSettings
from portal.runner import Runner
from portal.seed import CFO_EMAIL, CONTOSO, seed_demo
from tests import m365_helpers as m365
from tests.sync_helpers import sync, users

HX = {"HX-Request": "true"}


def _groups(customer):
    rows = db.session.scalars(select(ContactGroup).where(ContactGroup.customer_id == customer.id))
    return {g.name: g for g in rows}


def _members(group):
    db.session.expire_all()
    group = db.session.get(ContactGroup, group.id)
    return {c.email_key for c in group.contacts if c.archived_at is None}


def _import_finance(app, emulator, contoso):
    """Clara connects Contoso, loads the demo tenant's users, selects Finance and imports them."""
    clara = db.session.scalar(select(AdminUser).where(AdminUser.customer_id == contoso.id))
    client = m365.connect_customer(app, emulator, contoso, clara)
    client.post("/m365/manual/load", headers=HX)
    assert Runner(app, periodic=[]).run_once()
    client.post("/m365/manual/select", data={"value": "none"}, headers=HX)
    client.post("/m365/manual/select", data={"value": "all", "department": "Finance"}, headers=HX)
    started = client.post("/m365/manual/import", headers=HX).get_data(as_text=True)
    assert re.search(r"/m365/manual/import/(\d+)", started), started[:500]
    assert Runner(app, periodic=[]).run_once()
    db.session.expire_all()
    return client


def test_the_seed_gives_contoso_three_smart_groups_and_its_finance_team_a_new_name(app):
    seed_demo()
    db.session.commit()
    contoso = db.session.scalar(select(Customer).where(Customer.name == CONTOSO))
    groups = _groups(contoso)
    smart = {name for name, g in groups.items() if g.is_smart}
    assert smart == {"Finance", "Munich office", "Team of the CFO"}
    assert not groups["Finance team (manual)"].is_smart and _members(groups["Finance team (manual)"])
    for name in smart:
        assert smart_groups.validate(groups[name].rule) == groups[name].rule
    assert "Lynne" not in {c.first_name for c in db.session.scalars(select(Contact))}
    assert not _members(groups["Team of the CFO"])  # nobody reports to her before the import


def test_importing_the_demo_finance_department_fills_the_seeded_smart_groups(app, emulator):
    seed_demo()
    db.session.commit()
    contoso = db.session.scalar(select(Customer).where(Customer.name == CONTOSO))
    _import_finance(app, emulator, contoso)
    groups = _groups(contoso)
    finance = _members(groups["Finance"])
    imported = set(
        db.session.scalars(
            select(Contact.email_key).where(
                Contact.customer_id == contoso.id, Contact.department == "Finance"
            )
        )
    )
    assert len(finance) > 10 and finance == imported
    tenant = [u for u in build_demo_tenant()["users"] if u.get("department") == "Finance"]
    assert {u["userPrincipalName"] for u in tenant if u["officeLocation"] == "Munich"} & _members(
        groups["Munich office"]
    )
    team = _members(groups["Team of the CFO"])
    assert team and team < finance and CFO_EMAIL not in team and CFO_EMAIL in finance


def test_the_readme_tour_a_department_changed_in_microsoft_takes_her_out_of_finance(app, emulator):
    """README demo tour, smart groups: Lynne's department set to Sales in the emulator, Sync now."""
    seed_demo()
    db.session.commit()
    contoso = db.session.scalar(select(Customer).where(Customer.name == CONTOSO))
    client = _import_finance(app, emulator, contoso)
    SyncSettings.for_customer(contoso).sync_active = True  # the tour's step 4
    db.session.commit()
    sync(app, contoso)
    lynne = users(emulator)["lynne.kuehn"]
    emulator.control("PATCH", f"users/{lynne['id']}", {"department": "Sales"})
    run = sync(app, contoso)
    groups = _groups(contoso)
    assert CFO_EMAIL not in _members(groups["Finance"]) and CFO_EMAIL in _members(groups["Munich office"])
    page = client.get(f"/sync/history/{run.id}").get_data(as_text=True)
    assert "Left smart group" in page and "Department changed from Finance to Sales" in page
    group_page = client.get(f"/contacts/groups/{groups['Finance'].id}").get_data(as_text=True)
    assert "Department changed from Finance to Sales" in group_page
