"""Manual mode: the loaded directory, "Search Users", selection, "Group_Users", "Import N users".

The directory comes from the emulator's tenant generator (Graph-shaped users), stored the way the
load job stores it; the over-HTTP load against the emulator is in test_manual_emulator.py.
"""

import re

import pytest
from sqlalchemy import func, select

from m365_emulator.generator import generate_tenant
from portal import queue
from portal.extensions import db
from portal.manual import services
from portal.models import Contact, Job, JobKind, JobStatus, M365Connection
from portal.models.base import utcnow
from portal.models.directory import DirectoryGroup, DirectoryMembership, DirectoryUser
from portal.sync import directory
from portal.sync.connection import NOT_CONNECTED
from portal.sync.service import sync_blocker
from tests.factories import connect, post_at_once
from tests.sync_helpers import importable

HX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def tenant():
    return generate_tenant(300, seed=7)


@pytest.fixture
def loaded(world, tenant):
    """Acme connected in Manual mode with the 300-user tenant loaded."""
    connect(world.acme)
    services.store_directory(world.acme, tenant["users"], tenant["groups"])
    db.session.commit()
    return tenant


def import_label(page):
    match = re.search(r"Import ([\d,]+) users?", page)
    return int(match.group(1).replace(",", "")) if match else None


def user_row(customer, **where):
    return db.session.scalar(select(DirectoryUser).filter_by(customer_id=customer.id, **where).limit(1))


def test_panel_explains_what_is_missing_before_the_interface_is_connected(world, alice_client):
    world.acme.reseller.ms_user_sync = True
    db.session.commit()
    page = alice_client.get("/m365/manual/").get_data(as_text=True)
    assert "Connect the M365 interface first" in page
    assert "Load Users from Microsoft" not in page
    assert alice_client.post("/m365/manual/load").status_code == 404


def test_panel_and_sync_give_the_same_readiness_answer(world, alice_client):
    """A connection without a stored refresh token cannot be synced: Manual says so too."""
    connect(world.acme)
    db.session.scalar(
        select(M365Connection).filter_by(customer_id=world.acme.id)
    ).refresh_token_encrypted = ""
    db.session.commit()
    assert sync_blocker(world.acme, need_active=False) == NOT_CONNECTED
    page = alice_client.get("/m365/manual/").get_data(as_text=True)
    assert "Connect the M365 interface first" in page and "it is not connected or needs a new sign-in" in page
    assert "Load Users from Microsoft" not in page
    assert alice_client.post("/m365/manual/load").status_code == 404


def test_panel_is_not_offered_in_automatic_mode(world, alice_client):
    connect(world.acme, mode="automatic")
    page = alice_client.get("/m365/manual/").get_data(as_text=True)
    assert "switch to Manual" in page and "Load Users from Microsoft" not in page


def test_synchronize_contacts_page_loads_the_manual_panel_in_manual_mode(world, alice_client):
    connect(world.acme)
    page = alice_client.get("/m365/").get_data(as_text=True)
    assert 'hx-get="/m365/manual/panel"' in page
    panel = alice_client.get("/m365/manual/panel", headers=HX).get_data(as_text=True)
    assert "Load Users from Microsoft" in panel and "Contact Book" in panel


def test_load_button_queues_one_load_job_and_shows_progress(world, alice_client):
    connect(world.acme)
    first = alice_client.post("/m365/manual/load", headers=HX).get_data(as_text=True)
    alice_client.post("/m365/manual/load", headers=HX)
    db.session.expire_all()
    [job] = db.session.scalars(select(Job).where(Job.kind == JobKind.DIRECTORY_LOAD)).all()
    assert job.customer_id == world.acme.id and job.created_by_id == world.alice.id
    assert f'hx-get="/m365/manual/load/{job.id}"' in first and 'hx-trigger="every 1s"' in first


def test_finished_load_stops_polling_and_shows_the_users(loaded, world, alice_client):
    job = queue.enqueue(JobKind.DIRECTORY_LOAD, world.acme)
    job.status, job.finished_at = "succeeded", utcnow()
    db.session.commit()
    response = alice_client.get(f"/m365/manual/load/{job.id}", headers=HX)
    assert response.status_code == 286
    page = response.get_data(as_text=True)
    assert "300 users loaded" in page and import_label(page) == importable(world.acme) < 300
    assert f"{300 - importable(world.acme)} selected users are left out:" in page  # and why, by reason
    assert "Default: All contacts are selected for import." in page


def test_failed_load_shows_the_error(world, alice_client):
    connect(world.acme)
    job = queue.enqueue(JobKind.DIRECTORY_LOAD, world.acme)
    job.status, job.error, job.finished_at = "failed", "Microsoft 365 is not reachable.", utcnow()
    db.session.commit()
    page = alice_client.get(f"/m365/manual/load/{job.id}", headers=HX).get_data(as_text=True)
    assert "Microsoft 365 is not reachable." in page


def test_stored_directory_applies_the_mailbox_and_skip_rules(loaded, world):
    users = {u["id"]: u for u in loaded["users"]}
    rows = db.session.scalars(select(DirectoryUser).where(DirectoryUser.customer_id == world.acme.id)).all()
    assert len(rows) == 300 and services.selected_count(world.acme) == 300
    for row in rows:
        user = users[row.m365_id]
        if user.get("mail"):
            assert row.email == user["mail"]
        if user.get("accountEnabled") is False and row.email:
            assert row.skip_reason == "disabled account"
        if user.get("userType") == "Guest" and row.email and user.get("accountEnabled", True):
            assert row.skip_reason == "guest"


def test_reloading_replaces_the_cache_and_selects_everyone_again(loaded, world):
    services.toggle(world.acme, user_row(world.acme))
    db.session.commit()
    assert services.selected_count(world.acme) == 299
    services.store_directory(world.acme, loaded["users"][:10], loaded["groups"][:2])
    db.session.commit()
    assert directory.user_count(world.acme) == 10 and services.selected_count(world.acme) == 10
    assert directory.group_count(world.acme) == 2


def test_search_users_filters_by_name_email_and_department_from_the_local_table(loaded, world, alice_client):
    someone = next(u for u in loaded["users"] if u.get("mail") and u.get("department"))
    by_name = alice_client.get("/m365/manual/users", query_string={"q": someone["displayName"]}, headers=HX)
    assert someone["mail"] in by_name.get_data(as_text=True)
    by_mail = alice_client.get(
        "/m365/manual/users", query_string={"q": someone["mail"].upper()}, headers=HX
    ).get_data(as_text=True)
    assert someone["displayName"] in by_mail and "1 of 300 users match" in by_mail
    department = "Marketing"
    expected = sum(1 for u in loaded["users"] if u.get("department") == department)
    assert expected > 1
    page = alice_client.get("/m365/manual/users", query_string={"q": department}, headers=HX).get_data(
        as_text=True
    )
    assert f"{expected} of 300 users match" in page


def test_user_list_is_paged(loaded, world, alice_client):
    page1 = alice_client.get("/m365/manual/users", headers=HX).get_data(as_text=True)
    assert page1.count('<tr id="user-') == 50 and "Page 1 of 6" in page1
    page6 = alice_client.get("/m365/manual/users?page=6", headers=HX).get_data(as_text=True)
    assert page6.count('<tr id="user-') == 50


def test_clicking_a_user_deselects_it_and_the_button_count_follows(loaded, world, alice_client):
    row = user_row(world.acme)
    response = alice_client.post(f"/m365/manual/users/{row.id}/toggle", headers=HX).get_data(as_text=True)
    assert f'id="user-{row.id}"' in response and 'aria-checked="false"' in response
    assert 'id="import-button"' in response and 'hx-swap-oob="true"' in response
    assert import_label(response) == importable(world.acme, without=[row.m365_id])
    again = alice_client.post(f"/m365/manual/users/{row.id}/toggle", headers=HX).get_data(as_text=True)
    assert 'aria-checked="true"' in again and import_label(again) == importable(world.acme)


def test_select_none_and_select_all(loaded, world, alice_client):
    none = alice_client.post("/m365/manual/select", data={"value": "none"}, headers=HX).get_data(as_text=True)
    assert import_label(none) == 0 and services.selected_count(world.acme) == 0
    assert re.search(r'id="import-button"[^>]*disabled', none.replace("\n", " "))
    every = alice_client.post("/m365/manual/select", data={"value": "all"}, headers=HX).get_data(as_text=True)
    assert import_label(every) == importable(world.acme)


def test_group_users_selects_exactly_the_members_of_the_group(loaded, world, alice_client):
    group = db.session.scalar(
        select(DirectoryGroup)
        .where(DirectoryGroup.customer_id == world.acme.id)
        .order_by(DirectoryGroup.sort_key)
        .limit(1)
    )
    members = [u["id"] for u in loaded["users"][:7]]
    db.session.add_all([DirectoryMembership(group_id=group.id, user_m365_id=m) for m in members])
    group.members_loaded_at = utcnow()  # memberships already fetched for this load
    db.session.commit()
    page = alice_client.post(f"/m365/manual/groups/{group.id}/select", headers=HX).get_data(as_text=True)
    assert import_label(page) == importable(world.acme, among=members)
    assert f"Selected the 7 members of {group.display_name}" in page
    assert sorted(services.selected_ids(world.acme)) == sorted(members)


def test_group_picker_searches_groups(loaded, world, alice_client):
    name = loaded["groups"][0]["displayName"]
    page = alice_client.get("/m365/manual/groups", query_string={"gq": name}, headers=HX).get_data(
        as_text=True
    )
    assert name in page
    assert "No group matches." in alice_client.get(
        "/m365/manual/groups?gq=zzzz-nothing", headers=HX
    ).get_data(as_text=True)


def test_import_queues_a_job_with_the_selected_user_ids(loaded, world, alice_client):
    row = user_row(world.acme)
    alice_client.post(f"/m365/manual/users/{row.id}/toggle", headers=HX)
    page = alice_client.post("/m365/manual/import", headers=HX).get_data(as_text=True)
    db.session.expire_all()
    [job] = db.session.scalars(select(Job).where(Job.kind == "m365_import")).all()
    assert len(job.params["user_ids"]) == 299 and row.m365_id not in job.params["user_ids"]
    assert job.customer_id == world.acme.id and job.created_by_id == world.alice.id
    assert f'hx-get="/m365/manual/import/{job.id}"' in page and 'hx-trigger="every 1s"' in page
    alice_client.post("/m365/manual/import", headers=HX)  # a second click while it runs: same job
    assert db.session.query(Job).filter_by(kind="m365_import").count() == 1


def test_import_with_nobody_selected_says_so(loaded, world, alice_client):
    alice_client.post("/m365/manual/select", data={"value": "none"}, headers=HX)
    page = alice_client.post("/m365/manual/import", headers=HX).get_data(as_text=True)
    assert "Select at least one user to import." in page
    assert db.session.query(Job).filter_by(kind="m365_import").count() == 0


def test_import_progress_then_success_with_counts_and_skipped_users(loaded, world, alice_client):
    job = queue.enqueue("m365_import", world.acme, {"user_ids": ["a", "b"]})
    job.status, job.progress_done, job.progress_total = "running", 1, 4
    db.session.commit()
    running = alice_client.get(f"/m365/manual/import/{job.id}", headers=HX)
    assert running.status_code == 200 and 'aria-valuenow="25"' in running.get_data(as_text=True)
    job = db.session.get(Job, job.id)
    job.status, job.finished_at = "succeeded", utcnow()
    job.result = {
        "created": 2,
        "linked": 1,
        "already_present": 3,
        "updated": 0,
        "skipped": [
            {"name": "Nestor Wilke", "email": None, "reason": "no mailbox address"},
            {"name": "Lars Lindqvist", "email": "lars@x.example", "reason": "disabled account"},
        ],
    }
    db.session.commit()
    done = alice_client.get(f"/m365/manual/import/{job.id}", headers=HX)
    assert done.status_code == 286 and done.headers["HX-Trigger"] == "contacts-changed"
    page = done.get_data(as_text=True)
    assert "The employee import was successful" in page
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert counts == {"created": "2", "linked": "1", "already_present": "3", "skipped": "2"}
    assert "Nestor Wilke" in page and "no mailbox address" in page and "disabled account" in page


def test_failed_import_shows_its_error(loaded, world, alice_client):
    job = queue.enqueue("m365_import", world.acme, {"user_ids": ["a"]})
    job.status, job.error, job.finished_at = "failed", "Microsoft 365 did not answer.", utcnow()
    db.session.commit()
    response = alice_client.get(f"/m365/manual/import/{job.id}", headers=HX)
    assert response.status_code == 286
    assert "Microsoft 365 did not answer." in response.get_data(as_text=True)


def test_contact_book_side_searches_and_links_to_the_contact(loaded, world, alice_client):
    contact = Contact(
        customer_id=world.acme.id,
        first_name="Lisa",
        last_name="Lustig",
        email="lisa@ttt-point.de",
        email_key="lisa@ttt-point.de",
    )
    other = Contact(
        customer_id=world.acme.id,
        first_name="Max",
        last_name="Muster",
        email="max@acme.example",
        email_key="max@acme.example",
    )
    db.session.add_all([contact, other])
    db.session.commit()
    page = alice_client.get("/m365/manual/contacts?q=lisa", headers=HX).get_data(as_text=True)
    assert "Lisa Lustig" in page and "Max Muster" not in page
    assert f'href="/contacts/{contact.id}"' in page


def test_another_customers_rows_and_jobs_answer_404(loaded, world, app):
    bob = app.test_client().sign_in_as(world.bob)
    connect(world.globex)
    row = user_row(world.acme)
    job = queue.enqueue("m365_import", world.acme, {"user_ids": []})
    db.session.commit()
    assert bob.post(f"/m365/manual/users/{row.id}/toggle", headers=HX).status_code == 404
    assert bob.get(f"/m365/manual/import/{job.id}", headers=HX).status_code == 404
    group = db.session.scalar(
        select(DirectoryGroup).where(DirectoryGroup.customer_id == world.acme.id).limit(1)
    )
    assert bob.post(f"/m365/manual/groups/{group.id}/select", headers=HX).status_code == 404
    db.session.expire_all()
    assert services.selected_count(world.acme) == 300


def test_import_clicked_twice_at_once_in_two_workers_queues_one_job(app, loaded, world):
    """A double submit reaching two workers at the same moment: one import, both see it."""
    clients = [app.test_client().sign_in_as(world.alice) for _ in range(2)]
    assert post_at_once(clients, "/m365/manual/import", headers=HX) == [200, 200]
    db.session.expire_all()
    assert db.session.query(Job).filter_by(kind="m365_import").count() == 1


def test_a_succeeded_import_lets_the_next_one_in_while_a_daily_sync_keeps_its_day(world):
    """An "active" dedupe key holds only while its job is queued or running; a daily key stays."""
    for kind, key in (
        (JobKind.IMPORT, queue.active_key(JobKind.IMPORT, world.acme)),
        (JobKind.SYNC, "daily:x"),
    ):
        assert queue.enqueue(kind, world.acme, {}, dedupe_key=key) is not None
        db.session.commit()
        assert queue.enqueue(kind, world.acme, {}, dedupe_key=key) is None  # while it is queued
        job = queue.claim_next("test-runner", 60)
        queue._finish(job.id, "test-runner", JobStatus.SUCCEEDED, {})
        db.session.expire_all()
        assert (db.session.get(Job, job.id).dedupe_key is None) == (kind == JobKind.IMPORT)


def _group_with(customer, index, member_ids):
    group = db.session.scalars(
        select(DirectoryGroup)
        .where(DirectoryGroup.customer_id == customer.id)
        .order_by(DirectoryGroup.sort_key)
    ).all()[index]
    db.session.add_all([DirectoryMembership(group_id=group.id, user_m365_id=m) for m in member_ids])
    group.members_loaded_at = utcnow()
    db.session.commit()
    return group


def test_group_users_add_to_the_selection_and_a_second_click_takes_a_group_out(loaded, world, alice_client):
    """Issue 21: the second group replaced the selection (44 -> 3) instead of adding to it."""
    ids = [u["id"] for u in loaded["users"]]
    first, second = _group_with(world.acme, 0, ids[:7]), _group_with(world.acme, 1, ids[5:12])
    alice_client.post(f"/m365/manual/groups/{first.id}/select", headers=HX)
    page = alice_client.post(f"/m365/manual/groups/{second.id}/select", headers=HX).get_data(as_text=True)
    assert f"Added the 7 members of {second.display_name} to the selection." in page
    assert sorted(services.selected_ids(world.acme)) == sorted(ids[:12])
    assert import_label(page) == importable(world.acme, among=ids[:12])
    page = alice_client.post(f"/m365/manual/groups/{second.id}/select", headers=HX).get_data(as_text=True)
    assert f"Took the 7 members of {second.display_name} out of the selection." in page
    assert sorted(services.selected_ids(world.acme)) == sorted(ids[:5])


def test_show_selected_only_lists_the_selection_and_the_button_says_who_is_left_out(
    loaded, world, alice_client
):
    ids = [u["id"] for u in loaded["users"]]
    alice_client.post(f"/m365/manual/groups/{_group_with(world.acme, 0, ids[:9]).id}/select", headers=HX)
    page = alice_client.get("/m365/manual/users?only=selected", headers=HX).get_data(as_text=True)
    assert page.count('class="is-selected"') == 9 and "is-deselected" not in page
    button = alice_client.post("/m365/manual/select", data={"value": "none"}, headers=HX).get_data(
        as_text=True
    )
    assert import_label(button) == 0 and "left out" not in button
    everyone = alice_client.post("/m365/manual/select", data={"value": "all"}, headers=HX).get_data(
        as_text=True
    )
    reasons = db.session.execute(
        select(DirectoryUser.skip_reason, func.count())
        .where(DirectoryUser.customer_id == world.acme.id, DirectoryUser.skip_reason != "")
        .group_by(DirectoryUser.skip_reason)
    ).all()
    for reason, count in reasons:  # each reason, with how many it leaves out
        assert f"{count} × {reason}" in everyone
