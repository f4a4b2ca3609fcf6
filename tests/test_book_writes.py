"""Every web write to a customer's book holds the customer's lock, as a sync does: while a sync
holds it (here: the lock taken as a running sync takes it), each write answers 409 "A
synchronization of this customer is running" and changes nothing; once the sync is done it works."""

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contact, ContactGroup, DirectoryGroup, GroupSubscription, M365Connection
from portal.sync import lock
from tests.factories import add_contact, add_group, text

BUSY = "A synchronization of this customer is running; please try again in a minute."


@pytest.fixture
def book(app, world):
    """Acme's book: a contact in a group, a second group, an M365 group and a connection."""
    group, other = add_group(world.acme, "Sales"), add_group(world.acme, "Board")
    contact = add_contact(world.acme, "anna@acme.example", "Anna", "Schmidt", groups=[group])
    db.session.add(DirectoryGroup(customer_id=world.acme.id, m365_id="g-1", display_name="Finance"))
    db.session.add(
        M365Connection(
            customer_id=world.acme.id,
            tenant_id="t-1",
            tenant_domain="acme.example",
            connection_type="application",
        )
    )
    world.northwind.ms_user_sync = True
    app.config["SYNC_LOCK_WEB_WAIT"] = 0
    # No Microsoft here: "select all" loads the groups' members for its confirmation and, Graph
    # unreachable, goes on without them; one attempt instead of 25 s of retries.
    app.config["M365_GRAPH_MAX_ATTEMPTS"] = 1
    db.session.commit()
    return {"contact": contact.id, "group": group.id, "other": other.id}


WRITES = {
    "new contact": ("/contacts/new", {"first_name": "B", "last_name": "C", "email": "b@acme.example"}),
    "edit contact": (
        "/contacts/{contact}/edit",
        {"first_name": "X", "last_name": "Y", "email": "x@acme.example"},
    ),
    "delete contact": ("/contacts/{contact}/delete", {}),
    "contact into a group": ("/contacts/{contact}/groups", {"group_id": "{other}"}),
    "contact out of a group": ("/contacts/{contact}/groups/{group}/remove", {}),
    "new group": ("/contacts/groups", {"name": "Finance"}),
    "rename group": ("/contacts/groups/{group}/rename", {"name": "Vertrieb"}),
    "delete group": ("/contacts/groups/{group}/delete", {}),
    "group member added": ("/contacts/groups/{other}/members", {"contact_id": "{contact}"}),
    "group member removed": ("/contacts/groups/{group}/members/{contact}/remove", {}),
    "subscribe to an M365 group": ("/m365/automatic/groups/g-1", {}),
    "select all M365 groups": ("/m365/automatic/all", {"on": "1"}),
    "End Interface": ("/m365/end", {}),
}


def _state():
    db.session.expire_all()
    counts = [db.session.scalar(select(func.count()).select_from(model)) for model in (Contact, ContactGroup)]
    subscriptions = db.session.scalar(select(func.count()).select_from(GroupSubscription))
    names = sorted(
        db.session.scalars(select(Contact.first_name)).all()
        + db.session.scalars(select(ContactGroup.name)).all()
    )
    members = db.session.scalar(select(func.count()).select_from(ContactGroup.contacts.property.secondary))
    return (
        counts,
        subscriptions,
        names,
        members,
        db.session.scalar(select(func.count()).select_from(M365Connection)),
    )


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
def test_a_web_write_during_a_sync_changes_nothing_and_says_why_then_works(alice_client, world, book, write):
    path, data = WRITES[write]
    path, data = path.format(**book), {key: value.format(**book) for key, value in data.items()}
    before = _state()
    owner = lock.new_owner()
    assert lock.acquire(world.acme.id, owner)  # a sync holds the book
    try:
        busy = alice_client.post(path, data=data)
        assert busy.status_code == 409 and BUSY in text(busy), text(busy)[:300]
        htmx = alice_client.post(path, data=data, headers={"HX-Request": "true"})
        assert htmx.status_code == 409
        assert _state() == before
    finally:
        lock.release(world.acme.id, owner)
    done = alice_client.post(path, data=data)
    assert done.status_code in (200, 204, 302), text(done)[:300]
    assert _state() != before
