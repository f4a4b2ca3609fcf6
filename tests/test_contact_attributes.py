"""Issue 22 in the contact book: the attributes and the manager on the contact page, the team, the
form that edits them, the list's attribute and team filters with counts, and its optional columns."""

import pytest

from portal import book
from portal.extensions import db
from portal.models import Contact, utcnow
from tests.factories import add_contact, reload, text

GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}
HX = {"HX-Request": "true"}


@pytest.fixture
def org(world):
    """Acme: the CFO Lynne with two Finance reports (Munich), Sam in Sales (Paris) whose manager is
    outside the book, an archived Finance contact; Globex has its own Finance department."""
    lynne = add_contact(
        world.acme, "lynne@acme.example", "Lynne", "Kühn", department="Finance", office="Munich",
        country="Germany", language="de-DE", job_title="Chief Financial Officer", company="Acme",
        employee_id="E000001", employee_type="Employee",
    )  # fmt: skip
    reports = [
        add_contact(
            world.acme,
            f"{first.lower()}@acme.example",
            first,
            last,
            department="Finance",
            office="Munich",
            country="Germany",
            language="de-DE",
            manager_email="lynne@acme.example",
        )  # fmt: skip
        for first, last in (("Anna", "Schmidt"), ("Ben", "Weber"))
    ]
    sam = add_contact(
        world.acme, "sam@acme.example", "Sam", "Roth", department="Sales", office="Paris", country="France",
        language="fr-FR", manager_name="Olivia Outside", manager_email="olivia@elsewhere.example",
    )  # fmt: skip
    add_contact(world.acme, "gone@acme.example", "Gone", "Away", department="Finance", archived_at=utcnow())
    gina = add_contact(
        world.globex, "gina@globex.example", "Gina", "Globex", department="Finance", office="Oslo"
    )
    book.settle(world.acme.id)
    db.session.commit()
    return {"lynne": lynne, "anna": reports[0], "ben": reports[1], "sam": sam, "gina": gina}


def test_contact_page_shows_every_attribute_and_the_linked_manager(alice_client, org):
    page = text(alice_client.get(f"/contacts/{org['anna'].id}"))
    assert "Department</dt><dd>Finance" in page and "Office</dt><dd>Munich" in page
    assert "Language</dt><dd>de-DE" in page and "Job title</dt><dd>—" in page
    assert f'<a href="/contacts/{org["lynne"].id}">Lynne Kühn</a>' in page
    lynne = text(alice_client.get(f"/contacts/{org['lynne'].id}"))
    for shown in ("Chief Financial Officer", "E000001", "Employee", "Acme"):
        assert shown in lynne


def test_a_manager_outside_the_book_shows_as_name_and_email(alice_client, org):
    page = text(alice_client.get(f"/contacts/{org['sam'].id}"))
    assert "Olivia Outside" in page and "olivia@elsewhere.example" in page
    assert "Not in the contact book" in page
    assert 'href="/contacts/' not in page.split('id="contact-manager"')[1].split("</dd>")[0]


def test_team_lists_the_direct_reports_with_a_link_to_the_filtered_list(alice_client, org):
    page = text(alice_client.get(f"/contacts/{org['lynne'].id}"))
    assert "2 direct reports" in page
    assert f'href="/contacts/{org["anna"].id}">Schmidt, Anna</a>' in page
    assert f'href="/contacts/?manager={org["lynne"].id}"' in page
    assert "Nobody in the contact book reports to this contact." in text(
        alice_client.get(f"/contacts/{org['anna'].id}")
    )


def test_team_list_is_capped_with_a_link_to_all(alice_client, world, org):
    for n in range(52):
        add_contact(world.acme, f"r{n}@acme.example", "R", f"Report{n:02d}", manager_id=org["sam"].id)
    page = text(alice_client.get(f"/contacts/{org['sam'].id}"))
    assert "52 direct reports" in page and "All 52 of the team" in page
    assert page.count('href="/contacts/') - page.count('href="/contacts/?') >= 50
    assert "Report51" not in page


def _form(contact, **changes):
    data = {
        "email": contact.email, "first_name": contact.first_name, "last_name": contact.last_name,
        "manager_email": contact.manager_email, "manager_name": contact.manager_name,
    }  # fmt: skip
    return {**data, **changes}


def test_form_saves_attributes_and_links_a_manager_in_the_book(alice_client, org):
    sam = org["sam"]
    form = _form(sam, department="Finance", job_title="Controller", manager_email="LYNNE@acme.example")
    response = alice_client.post(f"/contacts/{sam.id}/edit", data=form)
    assert response.status_code == 302
    sam = reload(sam)
    assert (sam.department, sam.job_title, sam.manager_id) == ("Finance", "Controller", org["lynne"].id)
    assert "3 direct reports" in text(alice_client.get(f"/contacts/{org['lynne'].id}"))


def test_form_keeps_a_manager_outside_the_book_as_text_and_clears_it(alice_client, org):
    anna = org["anna"]
    form = _form(anna, manager_email="max@partner.example", manager_name="Max Partner")
    assert alice_client.post(f"/contacts/{anna.id}/edit", data=form).status_code == 302
    anna = reload(anna)
    assert (anna.manager_id, anna.manager_email, anna.manager_name) == (
        None, "max@partner.example", "Max Partner"
    )  # fmt: skip
    assert alice_client.post(f"/contacts/{anna.id}/edit", data=_form(anna, manager_email="", manager_name=""))
    assert (reload(anna).manager_email, reload(anna).manager_name) == ("", "")


def test_form_rejects_a_bad_manager_email_itself_and_an_overlong_value(alice_client, org):
    anna = org["anna"]
    for changes, error in (
        ({"manager_email": "not an address"}, "This is not a valid email address."),
        ({"manager_email": "ANNA@acme.example"}, "A contact cannot be their own manager."),
        ({"department": "x" * 101}, "Field cannot be longer than 100 characters."),
    ):
        response = alice_client.post(f"/contacts/{anna.id}/edit", data=_form(anna, **changes))
        assert response.status_code == 422 and error in text(response), changes
    assert reload(anna).manager_id == org["lynne"].id and reload(anna).department == "Finance"
    form = text(alice_client.get(f"/contacts/{anna.id}/edit"))
    assert 'maxlength="100"' in form and '<label for="department">Department</label>' in form


def test_a_new_contact_becomes_the_manager_of_those_who_named_them(alice_client, org):
    data = {"email": "olivia@elsewhere.example", "first_name": "Olivia", "last_name": "Outside"}
    assert alice_client.post("/contacts/new", data=data).status_code == 302
    olivia = db.session.scalar(db.select(Contact).where(Contact.email == "olivia@elsewhere.example"))
    assert reload(org["sam"]).manager_id == olivia.id


def test_list_filters_by_department_with_counts_and_scoped_to_the_customer(alice_client, org):
    page = text(alice_client.get("/contacts/?department=Finance"))
    assert "3 contacts" in page and "sam@acme.example" not in page
    assert ">Finance (3)</option>" in page and ">Sales (1)</option>" in page  # the archived one left out
    assert "Oslo" not in page and "gina@globex.example" not in page
    fragment = text(alice_client.get("/contacts/?department=Finance&office=Munich&q=weber", headers=HX))
    assert "1 contact" in fragment and "ben@acme.example" in fragment and "<select" not in fragment
    assert "0 contacts" not in text(alice_client.get("/contacts/?country=France"))
    assert "No contacts match" in text(alice_client.get("/contacts/?language=fr-FR&department=Finance"))


def test_team_of_filter_lists_direct_reports_and_ignores_other_customers(alice_client, org):
    page = text(alice_client.get(f"/contacts/?manager={org['lynne'].id}"))
    assert "2 contacts" in page and "Team of Lynne Kühn" in page
    assert 'href="/contacts/"' in page  # the chip's remove link
    fragment = text(alice_client.get(f"/contacts/?manager={org['lynne'].id}&q=anna", headers=HX))
    assert "1 contact" in fragment
    assert alice_client.get(f"/contacts/?manager={org['gina'].id}").status_code == 404


def test_column_chooser_adds_columns_and_the_session_remembers_them(alice_client, org):
    plain = text(alice_client.get("/contacts/"))
    assert '<th scope="col">Department</th>' not in plain and 'name="col" value="department"' in plain
    chosen = text(alice_client.get("/contacts/?col=&col=department&col=manager", headers=HX))
    assert '<th scope="col">Department</th>' in chosen and '<th scope="col">Manager</th>' in chosen
    assert f'<a href="/contacts/{org["lynne"].id}">Lynne Kühn</a>' in chosen and "Olivia Outside" in chosen
    again = text(alice_client.get("/contacts/"))
    assert '<th scope="col">Manager</th>' in again and "col=department" in again
    cleared = text(alice_client.get("/contacts/?col=", headers=HX))
    assert '<th scope="col">Department</th>' not in cleared


def test_contact_page_and_filters_are_german(alice_client, org):
    page = text(alice_client.get(f"/contacts/{org['lynne'].id}", headers=GERMAN))
    for german in ("Abteilung", "Standort", "Position", "Personalnummer", "Vorgesetzte(r)", "2 direkt"):
        assert german in page
    assert "Department" not in page and "direct reports" not in page
    listing = text(alice_client.get(f"/contacts/?manager={org['lynne'].id}", headers=GERMAN))
    assert "Team von Lynne Kühn" in listing and "Abteilung: alle" in listing and "Spalten" in listing
    form = text(alice_client.get(f"/contacts/{org['anna'].id}/edit", headers=GERMAN))
    assert "E-Mail der/des Vorgesetzten" in form and "Beschäftigungsart" in form
