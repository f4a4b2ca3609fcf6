"""CSV import and export of the attribute columns (portal.attributes) and of the manager."""

import csv
import io
import re

from portal.contacts import csv_io
from tests.catalogue import GERMAN
from tests.factories import acme_contacts, add_contact, confirm, preview_url, text, upload


def _import(client, content):
    """Upload, preview and confirm a file as an admin would; returns the preview page's text."""
    preview = preview_url(upload(client, content))
    page = text(client.get(preview))
    response = confirm(client, preview)
    assert response.status_code == 302, text(response)
    return page


def test_attribute_headers_are_recognised_by_name_english_and_german_label(app):
    header = [
        "E-Mail",
        "department",
        "Job title",
        "STANDORT",
        "Firma",
        "Land",
        "employee-id",
        "Lieblingsfarbe",
    ]
    found, ignored = csv_io.optional_columns(header, taken={0})
    assert found == {
        "department": 1,
        "job_title": 2,
        "office": 3,
        "company": 4,
        "country": 5,
        "employee_id": 6,
    }
    assert ignored == ["Lieblingsfarbe"]
    assert csv_io.optional_columns(["Abteilung", "Manager_Email", "manager name"])[0] == {
        "department": 0,
        "manager_email": 1,
        "manager_name": 2,
    }


def test_import_writes_attributes_and_the_preview_names_the_columns(alice_client, world):
    page = _import(
        alice_client,
        "email;Vorname;Abteilung;Job Title;Country;Hobby\n"
        "anna@acme.example;Anna;Finanzen;Controllerin;AT;Golf\n",
    )
    assert "Abteilung → Department" in page and "Job Title → Job title" in page
    assert re.search(r"Columns ignored:.*Hobby", page, re.S)
    anna = acme_contacts(world)["anna@acme.example"]
    assert (anna.department, anna.job_title, anna.country, anna.office) == (
        "Finanzen",
        "Controllerin",
        "AT",
        "",
    )


def test_german_preview_names_the_columns_in_german(alice_client, world):
    preview = preview_url(upload(alice_client, "E-Mail;Abteilung;Hobby\nanna@acme.example;Vertrieb;Golf\n"))
    page = text(alice_client.get(preview, headers=GERMAN))
    assert "Abteilung → Abteilung" in page and "Ignorierte Spalten:" in page


def test_empty_cell_clears_and_absent_column_keeps(alice_client, world):
    add_contact(world.acme, "anna@acme.example", "Anna", "Alt", department="Finance", office="Munich")
    add_contact(world.acme, "ben@acme.example", "Ben", "Berg", department="Sales", office="Paris")
    _import(alice_client, "email,department\nanna@acme.example,\nben@acme.example,Marketing\n")
    contacts = acme_contacts(world)
    assert (contacts["anna@acme.example"].department, contacts["anna@acme.example"].office) == ("", "Munich")
    assert (contacts["ben@acme.example"].department, contacts["ben@acme.example"].office) == (
        "Marketing",
        "Paris",
    )


def test_an_unchanged_attribute_is_no_change(alice_client, world):
    add_contact(world.acme, "anna@acme.example", "Anna", "Alt", department="Finance")
    preview = preview_url(upload(alice_client, "email,department\nanna@acme.example,Finance\n"))
    page = text(alice_client.get(preview))
    assert "Import: create 0, update 0" in page


def test_values_are_cleaned_to_one_short_line(alice_client, world):
    _import(alice_client, 'email,department\nanna@acme.example,"Fin\nance ' + "x" * 200 + '"\n')
    department = acme_contacts(world)["anna@acme.example"].department
    assert department.startswith("Fin ance x") and len(department) == 100


def test_manager_by_email_links_to_the_contact_in_the_book(alice_client, world):
    boss = add_contact(world.acme, "lynne@acme.example", "Lynne", "Kühn")
    _import(
        alice_client,
        "email;manager_email;manager_name\n"
        "anna@acme.example;LYNNE@acme.example;Lynne Kühn\n"
        "ben@acme.example;ceo@elsewhere.example;Ingrid Caron\n",
    )
    contacts = acme_contacts(world)
    anna, ben = contacts["anna@acme.example"], contacts["ben@acme.example"]
    assert anna.manager_id == boss.id
    assert ben.manager_id is None
    assert (ben.manager_name, ben.manager_email) == ("Ingrid Caron", "ceo@elsewhere.example")


def test_a_manager_imported_in_the_same_file_is_linked(alice_client, world):
    _import(alice_client, "email,manager_email\nanna@acme.example,boss@acme.example\nboss@acme.example,\n")
    contacts = acme_contacts(world)
    assert contacts["anna@acme.example"].manager_id == contacts["boss@acme.example"].id


def test_export_round_trip_changes_nothing(alice_client, world):
    boss = add_contact(world.acme, "lynne@acme.example", "Lynne", "Kühn", department="Finance")
    add_contact(
        world.acme,
        "anna@acme.example",
        "Anna",
        "Schmidt",
        department="Finance",
        job_title="Controllerin",
        country="AT",
        language="de-AT",
        employee_id="4711",
        manager_id=boss.id,
    )
    body = alice_client.get("/contacts/export.csv").get_data(as_text=True)
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(body.lstrip("\ufeff")))}
    anna = rows["anna@acme.example"]
    assert (anna["department"], anna["job_title"], anna["employee_id"]) == ("Finance", "Controllerin", "4711")
    assert (anna["manager_email"], anna["manager_name"]) == ("lynne@acme.example", "Lynne Kühn")
    preview = preview_url(upload(alice_client, body))
    assert "Import: create 0, update 0" in text(alice_client.get(preview))


def test_export_neutralises_formulas_in_attribute_values(alice_client, world):
    evil = '=HYPERLINK("http://evil.example","Click")'
    add_contact(
        world.acme, "anna@acme.example", "Anna", "S", department=evil, job_title="x;+1", manager_name="@boss"
    )
    body = alice_client.get("/contacts/export.csv").get_data(as_text=True).lstrip("\ufeff")
    for line in body.splitlines():
        for delimiter in (",", ";", "\t"):
            assert not any(piece.startswith(("=", "+", "-", "@")) for piece in line.split(delimiter)), line
    anna = next(csv.DictReader(io.StringIO(body)))
    assert (anna["department"], anna["job_title"], anna["manager_name"]) == ("'" + evil, "x;'+1", "'@boss")
