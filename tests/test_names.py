"""Names are single-line wherever they enter: forms, the CLI, Microsoft 365 (sync, Manual mode, groups).

A line break in a company, contact or group name ends up in an email subject or a CSV cell; the
one rule (portal.text.single_line) turns line breaks, tabs and runs of spaces into one space and
drops other control characters.
"""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Contact, ContactGroup, Customer, Reseller, SyncMode, SyncSettings
from portal.models.directory import DirectoryGroup, DirectoryUser
from portal.runner import Runner
from portal.text import single_line
from tests.factories import ACME_FORM, reload
from tests.sync_helpers import book, import_users, users

HX = {"HX-Request": "true"}
BROKEN = "Acme\r\nBcc: evil@example.com"
ONE_LINE = "Acme Bcc: evil@example.com"


@pytest.mark.parametrize(
    "value,expected",
    [
        (BROKEN, ONE_LINE),
        ("  Jean  -\t Luc ", "Jean - Luc"),
        ("An\x00na", "Anna"),
        ("a\x1b[31mb", "a[31mb"),
        ("line\u2028separator", "line separator"),
        ("x\x85y", "x y"),
        ("", ""),
        (None, None),
    ],
)
def test_single_line_collapses_breaks_and_drops_control_characters(value, expected):
    assert single_line(value) == expected


# --- forms ----------------------------------------------------------------------------------------


def test_contact_and_group_forms_store_names_on_one_line(alice_client, world):
    alice_client.post(
        "/contacts/new",
        data={
            "salutation": "Frau\n",
            "first_name": "An\r\nna",
            "last_name": "Schmidt\x00\tMüller",
            "email": "anna@acme.example\n",
        },
    )
    contact = db.session.scalar(select(Contact).where(Contact.email_key == "anna@acme.example"))
    assert (contact.salutation, contact.first_name, contact.last_name) == ("Frau", "An na", "Schmidt Müller")
    alice_client.post("/contacts/groups", data={"name": "Sales\r\nBcc: x"})
    assert (
        db.session.scalar(select(ContactGroup.name).where(ContactGroup.customer_id == world.acme.id))
        == "Sales Bcc: x"
    )


def test_company_names_from_every_form_are_on_one_line(app, world, alice_client, rita_client):
    alice_client.post("/masterdata/customer", data=dict(ACME_FORM, name=BROKEN, city="Mün\nchen"))
    acme = reload(Customer, world.acme.id)
    assert (acme.name, acme.city) == (ONE_LINE, "Mün chen")
    rita_client.post("/admin/customers/new", data={"name": "Umbrella\r\nAG"})
    assert db.session.scalar(select(Customer.id).where(Customer.name == "Umbrella AG"))
    olga = app.test_client().sign_in_as(world.olga)
    olga.post("/masterdata/resellers/new", data={"name": "Fabrikam\nServices", "admin_name": "Fi\r\nona"})
    assert db.session.scalar(select(Reseller.id).where(Reseller.name == "Fabrikam Services"))


def test_cli_creates_resellers_and_customers_with_one_line_names(app):
    runner = app.test_cli_runner()
    reseller_id = int(runner.invoke(args=["create-reseller", "--name", "North\r\nwind"]).output)
    customer_id = int(
        runner.invoke(args=["create-customer", "--reseller", str(reseller_id), "--name", "Acme\nGmbH"]).output
    )
    assert reload(Reseller, reseller_id).name == "North wind"
    assert reload(Customer, customer_id).name == "Acme GmbH"


# --- Microsoft 365 --------------------------------------------------------------------------------


def test_names_from_microsoft_365_are_put_on_one_line(app, emulator, connected_acme):
    adele = users(emulator)["adele.vance"]
    emulator.control("PATCH", f"users/{adele['id']}", {"givenName": "Ade\r\nle", "surname": "Van\x00ce\t"})
    assert import_users(app, connected_acme, [adele["id"]]).status == "succeeded"
    contact = book(connected_acme)[adele["mail"].lower()]
    assert (contact.first_name, contact.last_name) == ("Ade le", "Vance")


def test_manual_mode_directory_holds_one_line_names(app, emulator, connected_acme, alice_client):
    adele = users(emulator)["adele.vance"]
    emulator.control(
        "PATCH", f"users/{adele['id']}", {"givenName": "Ade\nle", "displayName": "Ade\nle Vance"}
    )
    emulator.control("POST", "groups", {"displayName": "Manual\r\nGroup", "kind": "security"})
    alice_client.post("/m365/manual/load", headers=HX)
    assert Runner(app, periodic=[]).run_once()
    user = db.session.scalar(select(DirectoryUser).where(DirectoryUser.m365_id == adele["id"]))
    assert (user.given_name, user.display_name) == ("Ade le", "Ade le Vance")
    assert db.session.scalar(select(DirectoryGroup.id).where(DirectoryGroup.display_name == "Manual Group"))


def test_subscribed_group_with_a_line_break_becomes_a_one_line_contact_group(
    app, emulator, connected_acme, alice_client
):
    adele = users(emulator)["adele.vance"]
    group = emulator.control(
        "POST", "groups", {"displayName": "Sales\r\nTeam", "kind": "security", "members": [adele["id"]]}
    )
    SyncSettings.for_customer(connected_acme).mode = SyncMode.AUTOMATIC
    db.session.commit()
    alice_client.post("/m365/automatic/load", headers=HX)
    assert Runner(app, periodic=[]).run_once()
    response = alice_client.post(f"/m365/automatic/groups/{group['id']}", headers=HX)
    assert response.status_code == 200
    Runner(app, periodic=[]).run_once()
    db.session.expire_all()
    contact_group = db.session.scalar(select(ContactGroup).where(ContactGroup.m365_group_id == group["id"]))
    assert contact_group.name == "Sales Team"
    assert [c.email_key for c in contact_group.contacts] == [adele["mail"].lower()]
