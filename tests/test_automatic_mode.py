"""Automatic mode ("Subscribe to Groups") and the daily sync of subscribed groups, against the emulator."""

from sqlalchemy import select

from portal.extensions import db
from portal.models import ContactGroup, GroupSubscription, JobKind, SyncSettings
from portal.models.directory import DirectoryGroup
from tests.sync_helpers import automatic, book, run_job, subscribe, sync, users


def members_of(name):
    db.session.expire_all()
    group = db.session.scalar(select(ContactGroup).where(ContactGroup.name == name))
    return {c.email_key for c in group.contacts} if group else None


def distinct_members(emulator, names):
    """How many different users are direct members of the emulator's groups called `names`."""
    groups = emulator.control("GET", "groups")
    return len({m for g in groups if g["displayName"] in names for m in g["members"]})


def test_groups_list_shows_kind_and_member_count_and_none_is_subscribed(
    app, emulator, connected_acme, alice_client
):
    groups = automatic(connected_acme, alice_client, app)
    assert groups["Sales Team"].kind == "Team" and groups["Leadership"].member_count == 3
    assert groups["Newsletter Recipients"].kind == "Distribution"
    page = alice_client.get("/m365/automatic/").get_data(as_text=True)
    assert "Sales Team" in page and 'aria-checked="true"' not in page and "Search Group" in page


def test_search_group_filters_as_you_type(app, emulator, connected_acme, alice_client):
    automatic(connected_acme, alice_client, app)
    rows = alice_client.get("/m365/automatic/?part=rows&q=lead", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Leadership" in rows and "Sales Team" not in rows


def test_subscribing_creates_a_contact_group_and_imports_its_members(
    app, emulator, connected_acme, alice_client
):
    groups = automatic(connected_acme, alice_client, app)
    row = subscribe(alice_client, app, groups["Leadership"])
    assert 'aria-checked="true"' in row
    assert members_of("Leadership") == {
        "admin@contosodemo.onmicrosoft.com",
        "isaiah.langer@contosodemo.onmicrosoft.com",
        "juergen.mueller@contosodemo.onmicrosoft.com",
    }
    assert all(c.origin == "m365" for c in book(connected_acme).values())


def test_nested_groups_are_imported_transitively(app, emulator, connected_acme, alice_client):
    groups = automatic(connected_acme, alice_client, app)
    subscribe(alice_client, app, groups["All Departments"])
    assert "admin@contosodemo.onmicrosoft.com" in members_of("All Departments")  # via Leadership
    assert len(members_of("All Departments")) > 50


def test_daily_sync_adds_new_members_and_keeps_removed_ones(app, emulator, connected_acme, alice_client):
    groups = automatic(connected_acme, alice_client, app)
    subscribe(alice_client, app, groups["Leadership"])
    sync(app, connected_acme)
    everyone = users(emulator)
    group_id = groups["Leadership"].m365_id
    emulator.control("POST", f"groups/{group_id}/members/{everyone['adele.vance']['id']}")
    emulator.control("DELETE", f"groups/{group_id}/members/{everyone['juergen.mueller']['id']}")
    run = sync(app, connected_acme)
    assert run.status == "succeeded", run.message
    assert members_of("Leadership") == {
        "admin@contosodemo.onmicrosoft.com",
        "isaiah.langer@contosodemo.onmicrosoft.com",
        "juergen.mueller@contosodemo.onmicrosoft.com",
        "adele.vance@contosodemo.onmicrosoft.com",
    }
    quiet = sync(app, connected_acme)
    assert quiet.graph_requests <= 3 and not quiet.counts.get("creates")


def test_member_added_links_existing_contact_when_link_active(app, emulator, connected_acme, alice_client):
    from portal.models import Contact

    groups = automatic(connected_acme, alice_client, app)
    contact = Contact(customer_id=connected_acme.id, first_name="Adele", last_name="Vance", origin="manual")
    contact.set_email("Adele.Vance@CONTOSODEMO.onmicrosoft.com")
    db.session.add(contact)
    SyncSettings.for_customer(connected_acme).link_active = True
    db.session.commit()
    subscribe(alice_client, app, groups["Leadership"])
    sync(app, connected_acme)
    emulator.control(
        "POST", f"groups/{groups['Leadership'].m365_id}/members/{users(emulator)['adele.vance']['id']}"
    )
    sync(app, connected_acme)
    linked = book(connected_acme)["adele.vance@contosodemo.onmicrosoft.com"]
    assert linked.linked_automatically and linked.id == contact.id
    assert "adele.vance@contosodemo.onmicrosoft.com" in members_of("Leadership")


def test_unsubscribing_keeps_the_contact_group_and_its_employees(app, emulator, connected_acme, alice_client):
    groups = automatic(connected_acme, alice_client, app)
    subscribe(alice_client, app, groups["Leadership"])
    row = alice_client.post(
        f"/m365/automatic/groups/{groups['Leadership'].m365_id}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'aria-checked="false"' in row
    db.session.expire_all()
    assert db.session.scalar(select(GroupSubscription)) is None
    assert len(members_of("Leadership")) == 3 and len(book(connected_acme)) == 3


def test_select_all_subscribes_every_group(app, emulator, connected_acme, alice_client):
    groups = automatic(connected_acme, alice_client, app)
    asked = alice_client.post("/m365/automatic/all", data={"on": "1"}, headers={"HX-Request": "true"})
    assert f"Subscribe to all {len(groups)} groups?" in asked.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(GroupSubscription)).all() == []  # nothing before the confirmation
    alice_client.post(
        "/m365/automatic/all", data={"on": "1", "confirm": "yes"}, headers={"HX-Request": "true"}
    )
    db.session.expire_all()
    assert len(db.session.scalars(select(GroupSubscription)).all()) == len(groups)
    alice_client.post("/m365/automatic/all", data={"on": "0"}, headers={"HX-Request": "true"})
    db.session.expire_all()
    assert db.session.scalars(select(GroupSubscription)).all() == []


def test_other_customers_cannot_toggle_acmes_groups(app, emulator, connected_acme, alice_client, world):
    groups = automatic(connected_acme, alice_client, app)
    bob = app.test_client().sign_in_as(world.bob)
    assert bob.post(f"/m365/automatic/groups/{groups['Leadership'].m365_id}").status_code == 404


def test_the_first_sync_after_subscribing_costs_two_requests_and_still_follows_changes(
    app, emulator, connected_acme, alice_client
):
    groups = automatic(connected_acme, alice_client, app)
    subscribe(alice_client, app, groups["Leadership"])
    assert len(members_of("Leadership")) == 3
    first = sync(app, connected_acme)
    assert first.status == "succeeded" and not first.full_resync
    assert first.graph_requests == 2  # the users and groups delta from the import's baseline
    newcomer = users(emulator)["adele.vance"]
    emulator.control("POST", f"groups/{groups['Leadership'].m365_id}/members/{newcomer['id']}")
    assert sync(app, connected_acme).status == "succeeded"
    assert "adele.vance@contosodemo.onmicrosoft.com" in members_of("Leadership")


def test_subscriptions_do_not_change_while_the_sync_prerequisite_is_off(
    app, emulator, connected_acme, alice_client, world
):
    """Microsoft User Synchronization switched off in the master data: no toggle subscribes anyone."""
    groups = automatic(connected_acme, alice_client, app)
    world.northwind.ms_user_sync = False
    db.session.commit()
    assert alice_client.post(f"/m365/automatic/groups/{groups['Leadership'].m365_id}").status_code == 404
    assert alice_client.post("/m365/automatic/all", data={"on": "1"}).status_code == 404
    db.session.expire_all()
    assert db.session.scalars(select(GroupSubscription)).all() == []


def test_select_all_takes_only_the_groups_the_search_shows_and_says_what_they_bring_in(
    app, emulator, connected_acme, alice_client
):
    """Issue 21: "sales" shows two groups; "select all" asked for them, not for All Company."""
    groups = automatic(connected_acme, alice_client, app)
    shown = {name for name in groups if "sales" in name.lower()}
    assert len(shown) >= 2 and len(shown) < len(groups)
    people = distinct_members(emulator, shown)
    assert people < sum(groups[name].member_count for name in shown)  # the Sales people are in both
    asked = alice_client.post(
        "/m365/automatic/all", data={"on": "1", "q": "sales"}, headers={"HX-Request": "true"}
    )
    page = asked.get_data(as_text=True)
    assert f"Subscribe to the {len(shown)} groups that match “sales”?" in page
    assert f"They bring in {people} people." in page
    alice_client.post(
        "/m365/automatic/all",
        data={"on": "1", "q": "sales", "confirm": "yes"},
        headers={"HX-Request": "true"},
    )
    db.session.expire_all()
    subscribed = {s.m365_group_id for s in db.session.scalars(select(GroupSubscription))}
    assert subscribed == {groups[name].m365_id for name in shown}
    # "Select all" off while searching ends only the shown groups' subscriptions too.
    alice_client.post(
        "/m365/automatic/groups/" + groups["Leadership"].m365_id, headers={"HX-Request": "true"}
    )
    alice_client.post("/m365/automatic/all", data={"on": "0", "q": "sales"}, headers={"HX-Request": "true"})
    db.session.expire_all()
    assert {s.m365_group_id for s in db.session.scalars(select(GroupSubscription))} == {
        groups["Leadership"].m365_id
    }


def test_one_group_shown_is_subscribed_by_select_all_without_asking(
    app, emulator, connected_acme, alice_client
):
    groups = automatic(connected_acme, alice_client, app)
    alice_client.post("/m365/automatic/all", data={"on": "1", "q": "phoenix"}, headers={"HX-Request": "true"})
    db.session.expire_all()
    assert [s.m365_group_id for s in db.session.scalars(select(GroupSubscription))] == [
        groups["Project Phoenix"].m365_id
    ]


def test_select_all_counts_people_of_groups_whose_members_are_not_cached_yet(
    app, emulator, connected_acme, alice_client, faults
):
    """The group cache came from Manual mode's load (no members kept): the confirmation lists the
    shown groups' members from Microsoft and still counts each person once; when Microsoft does not
    answer, it says "at least" (the largest group it knows the size of)."""
    automatic(connected_acme, alice_client, app)
    run_job(app, JobKind.DIRECTORY_LOAD, connected_acme)  # Manual mode's load replaces the group cache
    assert all(g.members_loaded_at is None for g in db.session.scalars(select(DirectoryGroup)))
    shown = {"Sales Team", "Dept - Sales"}
    faults("/v1.0/groups/*/transitiveMembers*", 503, retry_after=0, times=None)
    page = alice_client.post(
        "/m365/automatic/all", data={"on": "1", "q": "sales"}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "They bring in at least 0 people" in page  # Manual's load counted no members
    emulator.control("DELETE", "faults")
    page = alice_client.post(
        "/m365/automatic/all", data={"on": "1", "q": "sales"}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert f"They bring in {distinct_members(emulator, shown)} people." in page
