"""Test data, built in one place: contacts, groups, stored connections, held and sync-removed contacts,
the CSV import flow (upload, preview, confirm), master-data forms, and quick looks at responses and rows.

Test modules import from here (or from tests/conftest.py, tests/sync_helpers.py, tests/m365_helpers.py,
tests/migration_data.py), never from another test module: tests/test_import_cycles.py checks that.
"""

import io
import re
import threading
from datetime import timedelta

from portal.extensions import db
from portal.models import Contact, ContactGroup, M365Connection, SyncSettings, utcnow
from portal.models.sync import HeldRemoval, SyncRun
from portal.sync.apply import apply_plan
from portal.sync.plan import Change, SyncPlan
from tests.conftest import PASSWORD

# --- responses and rows --------------------------------------------------------------------------


def text(response):
    """A response's body as text."""
    return response.get_data(as_text=True)


def reload(model, object_id=None):
    """A row as the database holds it now: `reload(Model, id)`, or `reload(row)` for a loaded row."""
    db.session.expire_all()
    if object_id is None:
        return db.session.get(type(model), model.id)
    return db.session.get(model, object_id)


# --- signing in ----------------------------------------------------------------------------------


def sign_in(client, email, password=PASSWORD, address=None):
    """Post the sign-in form (from the client address `address`, through the proxy, when given)."""
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/login", data={"email": email, "password": password}, headers=headers)


# --- the contact book ----------------------------------------------------------------------------


def add_contact(customer, email, first="", last="", groups=(), origin="manual", **extra):
    contact = Contact(
        customer_id=customer.id, first_name=first, last_name=last, origin=origin, groups=list(groups), **extra
    )
    contact.set_email(email)
    db.session.add(contact)
    db.session.commit()
    return contact


def add_group(customer, name, origin="manual"):
    group = ContactGroup(customer_id=customer.id, name=name, origin=origin)
    db.session.add(group)
    db.session.commit()
    return group


def acme_contacts(world):
    """Acme's contacts (archived ones too) by email, read afresh."""
    db.session.expire_all()
    return {
        c.email: c for c in db.session.scalars(db.select(Contact).where(Contact.customer_id == world.acme.id))
    }


# --- the CSV import: upload, preview, confirm ----------------------------------------------------


def upload(client, content, filename="contacts.csv", **kwargs):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post(
        "/contacts/import",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        **kwargs,
    )


def preview_url(response):
    assert response.status_code == 302, text(response)
    return response.headers["Location"]


def confirm(client, preview, **mapping):
    """Post the confirm form exactly as the preview page renders it."""
    page = text(client.get(preview))
    form = re.search(r'<form method="post" action="([^"]+/confirm)".*?</form>', page, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(0)))
    fields.pop("csrf_token")
    fields.update(mapping)
    return client.post(form.group(1), data=fields)


# --- master data ---------------------------------------------------------------------------------

ACME_FORM = {
    "name": "Acme GmbH",
    "street": "Hauptstraße 5",
    "postal_code": "80331",
    "city": "München",
    "country": "Germany",
    "notification_recipients": "",
    "allowed_domains": "",
    "ms_user_sync": "inherit",
}


# --- connections and what the sync leaves behind -------------------------------------------------


def connect(customer, mode="manual"):
    """Prerequisite on, interface connected (a stored connection, no Microsoft), the given mode."""
    customer.reseller.ms_user_sync = True
    db.session.add(
        M365Connection(
            customer_id=customer.id,
            tenant_id=f"tid-{customer.id}",
            tenant_domain="example.onmicrosoft.com",
            refresh_token_encrypted="x",
        )
    )
    SyncSettings.for_customer(customer).mode = mode
    db.session.commit()


def hold_removal(customer_id, email):
    """A contact of the customer whose removal the deletion threshold held back; returns it."""
    contact = Contact(
        customer_id=customer_id,
        first_name="Held",
        last_name="Person",
        origin="m365",
        m365_user_id=f"user-{email}",
    )
    contact.set_email(email)
    db.session.add(contact)
    db.session.flush()
    db.session.add(
        HeldRemoval(
            customer_id=customer_id,
            contact_id=contact.id,
            m365_user_id=contact.m365_user_id,
            reason="deleted",
        )
    )
    db.session.commit()
    return contact


def removed_by_sync(customer, email, reason="deleted", days_ago=0, first="Rem", last=None):
    """A contact the sync removed `days_ago` days ago, through the sync's apply code."""
    now = utcnow() - timedelta(days=days_ago)
    contact = Contact(
        customer_id=customer.id,
        first_name=first,
        last_name=last or email.split("@")[0].title(),
        origin="m365",
        m365_user_id=f"user-{email}",
    )
    contact.set_email(email)
    db.session.add(contact)
    run = SyncRun(customer_id=customer.id, kind="sync", trigger="daily", status="succeeded", started_at=now)
    db.session.add(run)
    db.session.flush()
    change = Change("remove", contact.m365_user_id, contact.full_name, email, contact.id, reason=reason)
    apply_plan(SyncPlan(removals=[change]), customer, run, now)
    db.session.commit()
    return contact


def manual_acme(world, group_name="Sales"):
    """Acme with Microsoft User Synchronization on, a stored connection in Manual mode, one group
    (`group_name`) and Anna Schmidt in it (world.sales, world.anna); added, not committed."""
    world.northwind.ms_user_sync = True
    db.session.add(
        M365Connection(
            customer_id=world.acme.id,
            tenant_id="tid-acme",
            tenant_domain="acme.onmicrosoft.com",
            refresh_token_encrypted="x",
        )
    )
    SyncSettings.for_customer(world.acme).mode = "manual"
    world.sales = ContactGroup(customer_id=world.acme.id, name=group_name, origin="manual")
    world.anna = Contact(
        customer_id=world.acme.id,
        first_name="Anna",
        last_name="Schmidt",
        origin="manual",
        groups=[world.sales],
    )
    world.anna.set_email("anna@acme.example")
    db.session.add_all([world.sales, world.anna])
    return world


def post_at_once(clients, path, timeout=120, **kwargs):
    """The same POST from every client at one moment (each its own thread, released together), as
    requests reaching several workers do; returns the status codes (in the order they finished)."""
    tokens = [client.csrf_token() for client in clients]  # fetched before: only the POSTs race
    headers = kwargs.pop("headers", {})
    start, answers = threading.Barrier(len(clients)), []

    def send(client, token):
        start.wait()
        response = client.post(path, headers={**headers, "X-CSRFToken": token}, csrf=False, **kwargs)
        answers.append(response.status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return answers
