"""Shared by the emulator-backed sync tests: a connected customer, the runner, and quick looks at the book.

`connected_acme` resets the emulator to its demo tenant, connects Acme through the real sign-in
(tests/m365_helpers.py) and switches "Synchronization active" on. Syncs and imports run as jobs
through the real runner (`Runner(app).run_once()`).
"""

import uuid

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contact, Customer, Job, M365Connection, OutboxMail, SyncSettings
from portal.models.directory import DirectoryUser
from portal.models.sync import HeldRemoval, SyncRun
from portal.queue import enqueue
from portal.runner import Runner
from tests import m365_helpers as m365


@pytest.fixture
def connected_acme(app, world, emulator):
    """Acme, connected to the emulator's (fresh) demo tenant, "Synchronization active" on."""
    m365.configure(app, emulator, SYNC_LOCK_WAIT=5)
    world.northwind.ms_user_sync = True
    world.acme.notification_recipients = "it@acme.example, boss@acme.example"
    db.session.commit()
    m365.sign_in(app.test_client().sign_in_as(world.alice))
    settings = SyncSettings.for_customer(world.acme)
    settings.sync_active = True
    db.session.commit()
    return world.acme


@pytest.fixture
def app_connected_acme(app, world, emulator):
    """Acme, connected to the emulator's demo tenant with application permissions (admin consent),
    "Synchronization active" on."""
    m365.configure(app, emulator, SYNC_LOCK_WAIT=5)
    world.northwind.ms_user_sync = True
    world.acme.notification_recipients = "it@acme.example, boss@acme.example"
    db.session.commit()
    m365.connect_application(app.test_client().sign_in_as(world.alice))
    settings = SyncSettings.for_customer(world.acme)
    settings.sync_active = True
    db.session.commit()
    return world.acme


@pytest.fixture
def faults(emulator):
    """Inject emulator faults; cleared after the test."""

    def add(path_pattern, status, **spec):
        emulator.control("POST", "faults", {"path_pattern": path_pattern, "status": status, **spec})

    yield add
    emulator.control("DELETE", "faults", None)


def run_job(app, kind, customer, params=None):
    """Queue a job and let one runner run it; returns the finished Job."""
    job = enqueue(kind, customer, params or {})
    db.session.commit()
    job_id = job.id
    assert Runner(app, periodic=[]).run_once()
    db.session.expire_all()
    return db.session.get(Job, job_id)


def sync(app, customer, trigger="manual"):
    """One sync through the runner; returns the SyncRun it recorded."""
    job = run_job(app, "m365_sync", customer, {"trigger": trigger})
    return db.session.scalar(select(SyncRun).where(SyncRun.job_id == job.id)) or job


def import_users(app, customer, user_ids):
    """A Manual-mode import through the runner; returns the Job (result has the counts)."""
    return run_job(app, "m365_import", customer, {"user_ids": list(user_ids)})


def users(emulator):
    """The emulator's users (active and soft-deleted), by UPN local part."""
    return {u["userPrincipalName"].split("@")[0]: u for u in emulator.control("GET", "users", None)}


def book(customer, archived=False):
    """The customer's contacts by lower-case email (active ones, or archived ones)."""
    db.session.expire_all()
    query = select(Contact).where(Contact.customer_id == customer.id)
    query = query.where(Contact.archived_at.is_not(None) if archived else Contact.archived_at.is_(None))
    return {c.email_key: c for c in db.session.scalars(query)}


def outbox(customer):
    db.session.expire_all()
    return db.session.scalars(
        select(OutboxMail).where(OutboxMail.customer_id == customer.id).order_by(OutboxMail.id)
    ).all()


def reload(customer):
    db.session.expire_all()
    return db.session.get(Customer, customer.id)


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


def clone_customers(customer, count, emulator):
    """`count` more customers of `customer`'s reseller, "Synchronization active", each connected
    with a copy of its connection under a tenant id of its own: an emulator alias of the same
    directory (one tenant feeds one customer). Many customers against one emulator."""
    template = db.session.scalar(select(M365Connection).where(M365Connection.customer_id == customer.id))
    tenant_ids = [str(uuid.uuid4()) for _ in range(count)]
    emulator.control("POST", "tenant/aliases", {"ids": tenant_ids})
    clones = []
    for number, tenant_id in enumerate(tenant_ids, start=1):
        clone = Customer(name=f"{customer.name} {number}", reseller_id=customer.reseller_id)
        db.session.add(clone)
        db.session.flush()
        db.session.add(
            M365Connection(
                customer_id=clone.id,
                tenant_id=tenant_id,
                tenant_domain=template.tenant_domain,
                scopes=template.scopes,
                refresh_token_encrypted=template.refresh_token_encrypted,  # the emulator's keep working
            )
        )
        SyncSettings.for_customer(clone).sync_active = True
        clones.append(clone)
    db.session.commit()
    return clones


def importable(customer, among=None, without=()):
    """How many loaded users (of `among`, less `without`) the import can import: no skip reason."""
    query = select(func.count()).select_from(DirectoryUser)
    query = query.where(DirectoryUser.customer_id == customer.id, DirectoryUser.skip_reason == "")
    if among is not None:
        query = query.where(DirectoryUser.m365_id.in_(list(among)))
    return db.session.scalar(query.where(DirectoryUser.m365_id.not_in(list(without))))
