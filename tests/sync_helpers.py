"""Shared by the emulator-backed sync tests: a connected customer, the runner, and quick looks at the book.

`connected_acme` resets the emulator to its demo tenant, connects Acme through the real sign-in
(tests/m365_helpers.py) and switches "Synchronization active" on. Syncs and imports run as jobs
through the real runner (`Runner(app).run_once()`).
"""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contact, Customer, Job, M365Connection, OutboxMail, SyncMode, SyncSettings
from portal.models.directory import DirectoryGroup, DirectoryUser
from portal.models.sync import SyncRun
from portal.queue import enqueue
from portal.runner import Runner
from tests import m365_helpers as m365

ACME_RECIPIENTS = "it@acme.example, boss@acme.example"


@pytest.fixture
def connected_acme(app, world, emulator):
    """Acme, connected to the emulator's (fresh) demo tenant, "Synchronization active" on."""
    m365.connect_customer(
        app, emulator, world.acme, world.alice, recipients=ACME_RECIPIENTS, sync_active=True, SYNC_LOCK_WAIT=5
    )
    return world.acme


@pytest.fixture
def app_connected_acme(app, world, emulator):
    """Acme, connected to the emulator's demo tenant with application permissions (admin consent),
    "Synchronization active" on."""
    m365.connect_customer(
        app,
        emulator,
        world.acme,
        world.alice,
        connection="application",
        recipients=ACME_RECIPIENTS,
        sync_active=True,
        SYNC_LOCK_WAIT=5,
    )
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


SALES = ["adele.vance", "juergen.mueller", "siobhan.obrien", "isaiah.langer", "guenther.gross"]


def imported(app, emulator, customer, names=SALES):
    """The emulator's users `names` imported (Manual mode) through the runner; returns `users(emulator)`."""
    everyone = users(emulator)
    job = import_users(app, customer, [everyone[n]["id"] for n in names])
    assert job.status == "succeeded", job.error
    return everyone


def age_delta(customer, days):
    """The customer's delta links saved `days` days earlier than they were; returns the connection."""
    connection = db.session.scalar(select(M365Connection).where(M365Connection.customer_id == customer.id))
    connection.delta_saved_at = connection.delta_saved_at - timedelta(days=days)
    db.session.commit()
    return connection


def automatic(customer, alice_client, app):
    """Automatic mode on, the groups loaded through the page and the runner."""
    SyncSettings.for_customer(customer).mode = SyncMode.AUTOMATIC
    db.session.commit()
    alice_client.post("/m365/automatic/load", headers={"HX-Request": "true"})
    assert Runner(app, periodic=[]).run_once()
    db.session.expire_all()
    return {g.display_name: g for g in db.session.scalars(select(DirectoryGroup))}


def subscribe(alice_client, app, group):
    """Switch on the subscription of one group (Automatic mode) and let the runner import it."""
    response = alice_client.post(f"/m365/automatic/groups/{group.m365_id}", headers={"HX-Request": "true"})
    assert response.status_code == 200
    Runner(app, periodic=[]).run_once()
    db.session.expire_all()
    return response.get_data(as_text=True)


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
