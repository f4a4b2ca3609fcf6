"""Manual mode against the M365 emulator over real HTTP, through the real runner.

Load a 5,000-user tenant, search it, pick a nested group, "Import N users", watch the progress end
with "The employee import was successful", and find the people in the contact book.
"""

import re

import pytest
from sqlalchemy import select

from m365_emulator.demo import build_demo_tenant
from portal.extensions import db
from portal.manual import services
from portal.models import Contact, Job, JobKind, SyncSettings
from portal.models.directory import DirectoryGroup, DirectoryUser
from portal.runner import Runner
from portal.sync import directory
from tests import m365_helpers as m365
from tests.sync_helpers import book, importable, sync, users

HX = {"HX-Request": "true"}


@pytest.fixture
def acme_admin(app, world, emulator):
    """Alice on a portal pointed at the emulator; connect with `m365.sign_in(acme_admin, ...)`."""
    return m365.connect_customer(app, emulator, world.acme, world.alice, connection=None)


def run_runner(app):
    """One runner step (claims and runs one job)."""
    return Runner(app, periodic=[]).run_once()


def load(app, client):
    """Click "Load Users from Microsoft", let the runner run the job, return the final fragment."""
    client.post("/m365/manual/load", headers=HX)
    assert run_runner(app)
    job = db.session.scalar(select(Job).where(Job.kind == JobKind.DIRECTORY_LOAD).order_by(Job.id.desc()))
    response = client.get(f"/m365/manual/load/{job.id}", headers=HX)
    assert response.status_code == 286
    return response.get_data(as_text=True)


def import_label(page):
    return int(re.search(r"Import ([\d,]+) users?", page).group(1).replace(",", ""))


def transitive_users(tenant, group_name):
    """User ids in a group of the emulator's tenant data, nested groups flattened."""
    groups = {g["id"]: g for g in tenant["groups"]}
    user_ids = {u["id"] for u in tenant["users"]}
    start = next(g for g in tenant["groups"] if g["displayName"] == group_name)
    found, todo, seen = set(), [start["id"]], set()
    while todo:
        group_id = todo.pop()
        if group_id in seen:
            continue
        seen.add(group_id)
        for member in groups[group_id]["members"]:
            if member in groups:
                todo.append(member)
            elif member in user_ids:
                found.add(member)
    return found


def test_loading_a_5000_user_tenant_then_searching_it_locally(app, world, emulator, acme_admin):
    emulator.load_tenant("generated:5000")
    m365.configure(app, emulator)  # the new tenant starts without the app registration
    m365.sign_in(acme_admin, account=f"admin@{emulator.tenant_domain}")
    signed_in = len(emulator.log())
    page = load(app, acme_admin)
    assert "5,000 users loaded" in page  # the number as the reader's language writes it
    assert import_label(page) == importable(world.acme) < 5000
    assert directory.user_count(world.acme) == 5000
    user_pages = [e for e in emulator.log()[signed_in:] if e["path"].endswith("/users")]
    assert len(user_pages) == 6  # $top=999: a handful of pages, not one call per user
    before = len(emulator.log())
    result = acme_admin.get("/m365/manual/users?q=admin", headers=HX).get_data(as_text=True)
    assert "Tenant Administrator" in result
    assert len(emulator.log()) == before  # searching never calls Microsoft


def test_group_users_selects_the_transitive_members_of_a_nested_group(app, world, emulator, acme_admin):
    m365.sign_in(acme_admin)
    load(app, acme_admin)
    group = db.session.scalar(
        select(DirectoryGroup).where(
            DirectoryGroup.customer_id == world.acme.id, DirectoryGroup.display_name == "All Departments"
        )
    )
    page = acme_admin.post(f"/m365/manual/groups/{group.id}/select", headers=HX).get_data(as_text=True)
    expected = transitive_users(build_demo_tenant(), "All Departments")
    assert set(services.selected_ids(world.acme)) == expected
    assert import_label(page) == importable(world.acme, among=expected)
    fetched = len(emulator.log())
    again = acme_admin.post(f"/m365/manual/groups/{group.id}/select", headers=HX).get_data(as_text=True)
    assert import_label(again) == 0 and services.selected_ids(world.acme) == []  # a second click: out again
    assert len(emulator.log()) == fetched  # memberships cached until the next load


def test_failed_load_keeps_the_previous_list_and_says_why(app, world, emulator, acme_admin):
    m365.sign_in(acme_admin)
    load(app, acme_admin)
    emulator.add_fault("/v1.0/users", status=503, times=20)
    page = load(app, acme_admin)
    assert "Loading users from Microsoft failed" in page
    assert directory.user_count(world.acme) == 300


def test_a_load_failing_after_some_pages_were_written_keeps_the_previous_list(
    app, world, emulator, acme_admin
):
    m365.sign_in(acme_admin)
    load(app, acme_admin)
    previous = set(services.selected_ids(world.acme))
    db.session.rollback()  # end the read: SQLite lets no writer commit while it is open
    app.config["M365_GRAPH_PAGE_SIZE"] = 100  # 3 pages: the first is written before the second fails
    emulator.add_fault("/v1.0/users", status=503, after=1, times=20)
    page = load(app, acme_admin)
    assert "Loading users from Microsoft failed" in page
    assert set(services.selected_ids(world.acme)) == previous and directory.user_count(world.acme) == 300
    assert len([e for e in emulator.log() if e["path"] == "/v1.0/users" and e["status"] == 200]) >= 2


def test_manual_flow_deselect_pick_group_import_and_find_them_in_the_book(app, world, emulator, acme_admin):
    m365.sign_in(acme_admin)
    load(app, acme_admin)
    group = db.session.scalar(
        select(DirectoryGroup).where(
            DirectoryGroup.customer_id == world.acme.id, DirectoryGroup.display_name == "Leadership"
        )
    )
    page = acme_admin.post(f"/m365/manual/groups/{group.id}/select", headers=HX).get_data(as_text=True)
    assert import_label(page) == 3
    isaiah = db.session.scalar(
        select(DirectoryUser).where(
            DirectoryUser.customer_id == world.acme.id, DirectoryUser.display_name == "Isaiah Langer"
        )
    )
    page = acme_admin.post(f"/m365/manual/users/{isaiah.id}/toggle", headers=HX).get_data(as_text=True)
    assert import_label(page) == 2
    started = acme_admin.post("/m365/manual/import", headers=HX).get_data(as_text=True)
    job_id = int(re.search(r"/m365/manual/import/(\d+)", started).group(1))
    assert run_runner(app)
    done = acme_admin.get(f"/m365/manual/import/{job_id}", headers=HX)
    assert done.status_code == 286
    text = done.get_data(as_text=True)
    assert "The employee import was successful" in text, text
    assert re.search(r'data-count="created">2<', text)
    db.session.expire_all()
    book = db.session.scalars(select(Contact).where(Contact.customer_id == world.acme.id)).all()
    assert sorted(c.full_name for c in book) == ["Demo Administrator", "Jürgen Müller"]
    assert all(c.origin == "m365" and c.m365_user_id for c in book)
    contacts = acme_admin.get("/m365/manual/contacts", headers=HX).get_data(as_text=True)
    assert "Jürgen Müller" in contacts


# --- at Microsoft's request floor -----------------------------------------------------------------


def _graph_calls(emulator, since):
    return [e for e in emulator.log()[since:] if e["path"].startswith("/v1.0/")]


def test_load_then_import_lists_the_tenant_once_and_the_first_sync_reads_only_the_changes(
    app, world, emulator, acme_admin
):
    m365.sign_in(acme_admin)
    before_load = len(emulator.log())
    load(app, acme_admin)
    acme_admin.post("/m365/manual/select", data={"on": "1"}, headers=HX)
    started = acme_admin.post("/m365/manual/import", headers=HX).get_data(as_text=True)
    assert run_runner(app) and "/m365/manual/import/" in started
    listings = [e for e in _graph_calls(emulator, before_load) if e["path"] == "/v1.0/users"]
    assert len(listings) == 1  # the import took the users the load had just read
    imported = {c.m365_user_id: c for c in book(world.acme).values()}
    assert len(imported) > 250

    someone = next(u for u in users(emulator).values() if u["id"] in imported)
    emulator.control("PATCH", f"users/{someone['id']}", {"surname": "Renamed"})
    gone = next(u for u in users(emulator).values() if u["id"] in imported and u["id"] != someone["id"])
    emulator.control("DELETE", f"users/{gone['id']}?hard=1")
    SyncSettings.for_customer(world.acme).sync_active = True
    db.session.commit()
    before_sync = len(emulator.log())
    run = sync(app, world.acme)
    assert run.status == "succeeded", run.message
    assert len(_graph_calls(emulator, before_sync)) == 1  # one delta request from the baseline
    assert run.graph_requests == 1 and not run.full_resync
    after = {c.m365_user_id: c for c in book(world.acme).values()}
    assert after[someone["id"]].last_name == "Renamed"
    assert gone["id"] not in after and len(after) == len(imported) - 1


def test_an_import_into_a_book_with_links_takes_no_baseline_so_the_first_sync_reads_everything(
    app, world, emulator, acme_admin
):
    m365.sign_in(acme_admin)
    linked = Contact(customer_id=world.acme.id, first_name="Old", last_name="Link", origin="m365")
    linked.set_email("old.link@contoso.example")
    linked.m365_user_id = "linked-before-the-portal-kept-delta-links"
    db.session.add(linked)
    db.session.commit()
    load(app, acme_admin)
    SyncSettings.for_customer(world.acme).sync_active = True
    db.session.commit()
    run = sync(app, world.acme)
    assert run.full_resync  # a baseline taken now could miss what happened to that user before
