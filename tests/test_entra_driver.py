"""The emulator's Entra provisioning driver against the portal's /scim/v2, both over real HTTP: the
emulator runs the cycles (its control API, as `python -m m365_emulator entra-push` does), the portal
serves on a live server on the test database. In both of Entra's flag modes: an initial cycle of the
demo tenant fills the book (attributes, manager, groups); incremental cycles carry a department
change, a blocked sign-in (contact inactive) and a permanent deletion (contact archived)."""

import time

import pytest
from sqlalchemy import select

from m365_emulator.demo import DEMO_USER_UPN
from portal import create_app
from portal.extensions import db
from portal.models import Contact, ContactGroup
from portal.scim import tokens
from tests.conftest import make_test_config
from tests.e2e.conftest import LiveServer

JUERGEN = "juergen.mueller@contosodemo.onmicrosoft.com"


@pytest.fixture
def portal(app):
    # On SQLite, eight concurrent SCIM writers sometimes wait out sqlite3's default 5-second busy
    # timeout in the lock's UPDATE and the portal answers 500 "database is locked" (reported to the
    # /scim/v2 work; PostgreSQL never does): the live server here waits up to 30 seconds.
    options = dict(make_test_config()["SQLALCHEMY_ENGINE_OPTIONS"])
    if make_test_config()["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        options["connect_args"] = {"timeout": 30}
    config = make_test_config(SERVER_NAME=None, SQLALCHEMY_ENGINE_OPTIONS=options)
    server = LiveServer(create_app(config)).start()
    yield server
    server.stop()


@pytest.fixture
def provisioned(world):
    """Acme's book written by Entra provisioning, and a token: (customer id, secret)."""
    world.acme.directory_source = "scim"
    _token, secret = tokens.create(world.acme, "Entra", "test")
    db.session.commit()
    return world.acme.id, secret


def cycle(emulator, portal, secret, kind, flag):
    """One cycle run by the emulator against the live portal: its summary."""
    body = {"url": f"{portal.url}/scim/v2", "token": secret, "cycle": kind, "flag": flag}
    response = emulator.http.post(f"{emulator.base_url}/_emulator/entra/run", json=body, timeout=300)
    response.raise_for_status()
    summary = response.json()
    assert summary["errors"] == 0, summary["problems"]
    return summary


def contact(customer_id, object_id):
    db.session.expire_all()
    query = select(Contact).where(Contact.customer_id == customer_id, Contact.external_id == object_id)
    return db.session.scalars(query).one()


@pytest.mark.parametrize("flag", [False, True], ids=["entra-default", "aadOptscim062020"])
def test_cycles_of_the_demo_tenant_reach_the_book(app, emulator, portal, provisioned, flag):
    customer_id, secret = provisioned
    test = {"url": f"{portal.url}/scim/v2", "token": secret, "flag": flag}
    connection = emulator.control("POST", "entra/test", test)
    assert connection["ok"], connection["message"]
    users = {u["userPrincipalName"]: u for u in emulator.control("GET", "users")}
    adele, juergen = users[DEMO_USER_UPN], users[JUERGEN]

    summary = cycle(emulator, portal, secret, "initial", flag)
    assert summary["created"] == len([u for u in users.values() if u["mail"]])  # the scope: with a mail
    assert summary["groups_created"] == len(emulator.control("GET", "groups"))
    book = contact(customer_id, adele["id"])
    assert (book.email, book.first_name, book.department, book.job_title) == (
        adele["mail"],
        "Adele",
        "Sales",
        "Account Executive",
    )
    assert (book.company, book.employee_id, book.is_active) == ("Contoso Demo", adele["employeeId"], True)
    assert book.manager_id == contact(customer_id, juergen["id"]).id
    sales = db.session.scalars(select(ContactGroup).where(ContactGroup.name == "Sales Team")).one()
    assert book in sales.contacts

    emulator.control("PATCH", f"users/{adele['id']}", {"department": "Marketing"})
    console(emulator, f"users/{juergen['id']}/enabled", enabled="0")  # "Disable account (block sign-in)"
    summary = cycle(emulator, portal, secret, "incremental", flag)
    assert (summary["created"], summary["updated"], summary["disabled"]) == (0, 1, 1)
    assert contact(customer_id, adele["id"]).department == "Marketing"
    assert not contact(customer_id, juergen["id"]).is_active

    console(emulator, f"users/{adele['id']}/delete")  # "Delete user": to deleted items, disabled
    assert cycle(emulator, portal, secret, "incremental", flag)["disabled"] == 1
    assert not contact(customer_id, adele["id"]).is_active
    console(emulator, f"users/{adele['id']}/purge")  # "Delete permanently"
    summary = cycle(emulator, portal, secret, "incremental", flag)
    assert (summary["deleted"], summary["requests"]) == (1, 1)
    assert contact(customer_id, adele["id"]).archived_at is not None


def console(emulator, action, **form):
    """A button of the emulator's console page (a plain form post)."""
    response = emulator.http.post(
        f"{emulator.base_url}/_emulator/ui/{action}", data=form, allow_redirects=False
    )
    assert response.status_code == 303


def test_a_paced_driver_starts_its_requests_at_its_rate(portal, provisioned):
    """bench/scim.py's load at a given rate: the driver's threads start no more requests a second
    than asked, however fast the portal answers."""
    from concurrent.futures import ThreadPoolExecutor

    from m365_emulator.entra_provisioning import EntraProvisioning, Run

    _customer_id, secret = provisioned
    driver = EntraProvisioning(f"{portal.url}/scim/v2", secret, workers=4, rate=50)
    run = Run("test", driver.url, False)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _n: driver.send(run, "GET", "/Users", what="list"), range(21)))
    assert [answer.status_code for answer in answers] == [200] * 21
    assert time.perf_counter() - started >= 20 / 50  # 21 starts, 1/50 s apart
