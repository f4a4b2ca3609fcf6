"""German translation: a German browser sees the product's German labels, an English one English,
and the catalogue is complete with the same placeholders as the English source."""

import re
from collections import Counter

import pytest
from babel.messages.pofile import read_po

from portal.extensions import db
from portal.models import Contact
from tests.catalogue import ENGLISH, GERMAN, PO_FILE, ensure_compiled

PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc%]")


def read_catalogue():
    with open(PO_FILE, "rb") as po:
        return read_po(po, locale="de")


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue():
    """The apps of this module read the German catalogue from the compiled .mo."""
    ensure_compiled()


def page(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_german_admin_sees_release_button_only_after_user_sync_is_switched_on(app, world, alice_client):
    app.config.update(M365_CLIENT_ID="client-id", M365_CLIENT_SECRET="client-secret")
    before = page(alice_client, "/m365/", GERMAN)
    assert "Kontakte synchronisieren" in before and "Voraussetzung" in before
    assert "„Microsoft Benutzer Synchronisation“" in before
    assert "M365-Schnittstelle freigeben" not in before

    world.acme.ms_user_sync = True
    db.session.commit()
    after = page(alice_client, "/m365/", GERMAN)
    assert "M365-Schnittstelle freigeben" in after
    assert (
        "Ein M365-Administratorkonto mit Leserechten für alle Benutzer und Gruppen ist erforderlich." in after
    )
    assert "Release M365 Interface" not in after and "Synchronize contacts" not in after


def test_german_navigation_uses_the_product_labels(world, alice_client):
    html = page(alice_client, "/", GERMAN)
    for label in ("Mitarbeiterkontakte", "Kontaktbuch", "Kontakte synchronisieren", "Abmelden"):
        assert label in html
    assert "Sign out" not in html


def test_sign_in_page_in_german_says_anmelden(client):
    html = page(client, "/login", GERMAN)
    assert "<h1>Anmelden</h1>" in html and "Passwort" in html
    assert "Sign in" not in html


def test_german_contact_count_uses_singular_and_plural(world, alice_client):
    def add(email):
        contact = Contact(customer_id=world.acme.id, first_name="Erika", last_name=email.split("@")[0])
        contact.set_email(email)
        db.session.add(contact)
        db.session.commit()

    add("erika@acme.example")
    assert "1 Kontakt<" in page(alice_client, "/contacts/", GERMAN)
    add("max@acme.example")
    assert "2 Kontakte<" in page(alice_client, "/contacts/", GERMAN)


def test_english_browser_still_sees_english(app, world, alice_client, client):
    app.config.update(M365_CLIENT_ID="client-id", M365_CLIENT_SECRET="client-secret")
    world.acme.ms_user_sync = True
    db.session.commit()
    html = page(alice_client, "/m365/", ENGLISH)
    assert "Release M365 Interface" in html and "Synchronize contacts" in html
    assert "M365-Schnittstelle freigeben" not in html
    login = page(client, "/login", ENGLISH)
    assert "Sign in" in login and "Anmelden" not in login


def placeholders(text):
    return Counter(PLACEHOLDER.findall(text))


def test_every_message_has_a_german_translation_with_the_same_placeholders():
    catalogue = read_catalogue()
    assert not catalogue.fuzzy
    assert catalogue.locale.language == "de"
    assert catalogue.plural_forms == "nplurals=2; plural=(n != 1);"
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        if "fuzzy" in message.flags:
            problems.append(("fuzzy", message.id))
        if message.pluralizable:
            singular, plural = message.id
            forms = message.string
            if len(forms) != 2 or not all(forms):
                problems.append(("untranslated", message.id))
                continue
            if placeholders(forms[0]) != placeholders(singular):
                problems.append(("placeholders", singular, forms[0]))
            if placeholders(forms[1]) != placeholders(plural):
                problems.append(("placeholders", plural, forms[1]))
        else:
            if not message.string:
                problems.append(("untranslated", message.id))
            elif placeholders(message.string) != placeholders(message.id):
                problems.append(("placeholders", message.id, message.string))
    assert problems == []


def test_catalogue_covers_every_source_message():
    with open(PO_FILE.parent.parent.parent / "messages.pot", "rb") as pot:
        template = {m.id for m in read_po(pot) if m.id}
    assert template <= {m.id for m in read_catalogue() if m.id}
