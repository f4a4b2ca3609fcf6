"""No customer ever sees, changes or removes another customer's contacts, whatever ids get reused.

SQLite hands a freed id to the next row; PostgreSQL never does, so where a scenario needs a reused
id these tests give the other customer's new row the freed id explicitly (what SQLite does by
itself). Every test runs on both databases.
"""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.m365.graph import GraphError
from portal.models import (
    AuditEntry,
    Contact,
    ContactGroup,
    GroupSubscription,
    OutboxMail,
    SyncSettings,
    contact_group_members,
)
from portal.models.sync import HeldRemoval
from portal.sync.connection import connection_for_sync, graph_client
from tests import m365_helpers as m365
from tests.sync_helpers import automatic, book, import_users, subscribe, sync, users


def add_contact(customer, email, contact_id=None, **fields):
    contact = Contact(
        id=contact_id,
        customer_id=customer.id,
        first_name=fields.get("first", "Ann"),
        last_name=fields.get("last", "Example"),
        origin=fields.get("origin", "manual"),
        m365_user_id=fields.get("m365_user_id"),
    )
    contact.set_email(email)
    db.session.add(contact)
    db.session.commit()
    return contact


def test_the_database_refuses_a_row_pointing_at_a_missing_contact(app, world):
    db.session.add(HeldRemoval(customer_id=world.acme.id, contact_id=987654, reason="deleted"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_deleting_a_contact_by_hand_takes_its_held_removal_along(app, world, alice_client):
    contact = add_contact(world.acme, "gone@acme.example", m365_user_id="u-1", origin="m365")
    db.session.add(
        HeldRemoval(customer_id=world.acme.id, contact_id=contact.id, m365_user_id="u-1", reason="deleted")
    )
    db.session.commit()
    assert alice_client.post(f"/contacts/{contact.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(HeldRemoval)) == 0


def test_held_deletions_never_reach_a_contact_that_reuses_a_freed_id(app, world, alice_client):
    """Acme's held removal must not follow a freed contact id to Globex's new contact."""
    world.acme.notification_recipients = "it@acme.example"
    mine = add_contact(world.acme, "leaver@acme.example", m365_user_id="u-9", origin="m365")
    db.session.add(
        HeldRemoval(customer_id=world.acme.id, contact_id=mine.id, m365_user_id="u-9", reason="deleted")
    )
    db.session.commit()
    freed_id = mine.id
    alice_client.post(f"/contacts/{freed_id}/delete")
    db.session.expunge(mine)
    theirs = add_contact(
        world.globex, "secret.person@globex.example", contact_id=freed_id, first="Secret", last="Person"
    )

    page = alice_client.get("/sync/held").get_data(as_text=True)
    assert "secret.person@globex.example" not in page
    alice_client.post("/sync/held/allow")

    db.session.expire_all()
    assert db.session.get(Contact, theirs.id).archived_at is None
    mails = db.session.scalars(select(OutboxMail)).all()
    assert not any("secret.person" in m.body_text + m.body_html for m in mails)


def test_deleting_a_group_ends_the_subscription_that_fed_it(app, world, alice_client):
    group = ContactGroup(customer_id=world.acme.id, name="Sales", origin="m365", m365_group_id="g-1")
    db.session.add(group)
    db.session.flush()
    db.session.add(
        GroupSubscription(
            customer_id=world.acme.id, m365_group_id="g-1", display_name="Sales", contact_group_id=group.id
        )
    )
    db.session.commit()
    confirm = alice_client.get(f"/contacts/groups/{group.id}/delete").get_data(as_text=True)
    assert "Deleting it also ends that subscription" in confirm
    alice_client.post(f"/contacts/groups/{group.id}/delete")
    assert db.session.scalar(select(func.count()).select_from(GroupSubscription)) == 0
    assert (
        db.session.scalar(select(AuditEntry.action).where(AuditEntry.customer_id == world.acme.id))
        == "group_unsubscribed"
    )


def _subscribe_leadership(app, customer, alice_client):
    groups = automatic(customer, alice_client, app)
    subscribe(alice_client, app, groups["Leadership"])
    return db.session.scalar(
        select(ContactGroup).where(ContactGroup.customer_id == customer.id, ContactGroup.name == "Leadership")
    )


def test_a_deleted_groups_subscription_never_feeds_another_customers_group(
    app, world, emulator, connected_acme, alice_client
):
    group = _subscribe_leadership(app, connected_acme, alice_client)
    freed_id = group.id
    alice_client.post(f"/contacts/groups/{freed_id}/delete")
    db.session.expunge(group)
    db.session.add(ContactGroup(id=freed_id, customer_id=world.globex.id, name="Globex board"))
    db.session.commit()
    everyone = users(emulator)
    leadership = next(g for g in emulator.control("GET", "groups", None) if g["displayName"] == "Leadership")
    emulator.control("POST", f"groups/{leadership['id']}/members/{everyone['adele.vance']['id']}")

    run = sync(app, connected_acme)

    assert run.status == "succeeded", run.message
    in_globex_group = db.session.scalars(
        select(Contact.customer_id)
        .join(contact_group_members, contact_group_members.c.contact_id == Contact.id)
        .where(contact_group_members.c.group_id == freed_id)
    ).all()
    assert in_globex_group == []


def test_connecting_another_tenant_unlinks_the_old_tenants_contacts_instead_of_removing_them(
    app, world, emulator, connected_acme, alice_client
):
    everyone = users(emulator)
    import_users(app, connected_acme, [everyone["adele.vance"]["id"], everyone["isaiah.langer"]["id"]])
    assert len(book(connected_acme)) == 2
    alice_client.post("/m365/end")
    other = emulator.load_tenant("generated:30", seed=7)
    emulator.register_app(
        app.config["M365_CLIENT_ID"], app.config["M365_CLIENT_SECRET"], [m365.REDIRECT_URI]
    )  # a freshly loaded tenant knows no apps: ours again

    response = m365.sign_in(alice_client, account=f"admin@{other['tenant_domain']}")
    assert response.status_code == 302
    page = m365.flashes(alice_client)
    assert "2 contacts were linked to users of the previously connected tenant" in page
    run = sync(app, connected_acme)

    assert run.status == "succeeded", run.message
    contacts = book(connected_acme)
    assert set(contacts) == {
        "adele.vance@contosodemo.onmicrosoft.com",
        "isaiah.langer@contosodemo.onmicrosoft.com",
    }
    assert all(c.m365_user_id is None for c in contacts.values())
    assert SyncSettings.for_customer(connected_acme).links_tenant_id == other["tenant_id"]


def test_a_404_with_another_error_code_never_counts_as_deleted(app, world, emulator, connected_acme, faults):
    adele_id = users(emulator)["adele.vance"]["id"]
    faults(f"/v1.0/users/{adele_id}", 404, code="UnknownError", times=None)
    with graph_client(connection_for_sync(connected_acme)) as client:
        with pytest.raises(GraphError) as failure:
            client.get_user(adele_id)
    assert failure.value.status == 404 and failure.value.code == "UnknownError"


def test_only_request_resource_not_found_says_a_user_does_not_exist(app, world, emulator, connected_acme):
    adele_id = users(emulator)["adele.vance"]["id"]
    emulator.control("DELETE", f"users/{adele_id}")
    with graph_client(connection_for_sync(connected_acme)) as client:
        assert client.get_user(adele_id) is None
        assert client.get_user(users(emulator)["isaiah.langer"]["id"])["id"]
