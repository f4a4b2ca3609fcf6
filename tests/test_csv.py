"""CSV import (upload, mapping, preview, confirm) and the formula-safe export."""

import csv
import io
import re

import pytest

from portal.contacts import csv_io
from portal.extensions import db
from portal.models import ContactGroup, ContactImport
from portal.sync import lock
from tests.factories import acme_contacts, add_contact, add_group, confirm, preview_url, text, upload

GERMAN = (
    "\ufeffVorname;Nachname;E-Mail;Gruppe\n"
    "Jürgen;Groß;juergen@acme.example;Vertrieb\n"
    "Anna;Schmidt;anna@acme.example;\n"
)


# --- reading files -------------------------------------------------------------------------------


def test_decode_strips_the_bom_and_falls_back_to_windows_1252():
    assert csv_io.decode("\ufeffa;b".encode("utf-8")) == ("a;b", "utf-8")
    assert csv_io.decode("Jürgen".encode("cp1252")) == ("Jürgen", "windows-1252")


@pytest.mark.parametrize(
    "sample,expected",
    [
        ("first;last;email\nA;B;a@x.example\n", ";"),
        ("first,last,email\nA,B,a@x.example\n", ","),
        ('name,email\n"Groß; Jürgen",j@x.example\n', ","),
        ("email\na@x.example\n", ","),
    ],
)
def test_delimiter_is_detected(sample, expected):
    assert csv_io.detect_delimiter(sample) == expected


def test_column_names_are_recognised_in_english_and_german():
    assert csv_io.guess_mapping(["Vorname", "Nachname", "E-Mail", "Gruppe"]) == {
        "first_name": 0,
        "last_name": 1,
        "email": 2,
        "group": 3,
        "salutation": -1,
    }
    assert csv_io.guess_mapping(["Email Address", "First Name", "Last_Name", "Anrede"]) == {
        "first_name": 1,
        "last_name": 2,
        "email": 0,
        "group": -1,
        "salutation": 3,
    }


def test_neutralize_prefixes_formula_starts():
    cells = ["=1+1", "+49 30", "-2", "@SUM(A1)", "\tx", "\rx", "plain", ""]
    assert [csv_io.neutralize(c) for c in cells] == [
        "'=1+1",
        "'+49 30",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "",
    ]


# --- import --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/contacts/import", "/contacts/import/some-token", "/contacts/export.csv"])
def test_anonymous_visitor_is_sent_to_sign_in(client, world, path):
    assert client.get(path).headers["Location"].startswith("/login")


def test_csv_with_bom_and_semicolons_is_previewed_with_guessed_columns(alice_client, world):
    preview = preview_url(upload(alice_client, GERMAN))
    page = text(alice_client.get(preview))
    assert "Jürgen" in page and "Groß" in page and "Vertrieb" in page
    assert "separated by “;”" in page
    assert re.search(r'<option selected value="2">Column 3: E-Mail</option>', page)
    assert ">Create<" in page
    assert acme_contacts(world) == {}  # nothing stored before confirming


def test_one_bad_row_shows_why_and_confirm_imports_only_the_good_rows(alice_client, world):
    content = (
        "first_name,last_name,email,group\n"
        "Anna,Schmidt,anna@acme.example,Sales\n"
        "Bad,Row,not-an-email,Sales\n"
        "Carl,Clark,carl@acme.example,\n"
    )
    preview = preview_url(upload(alice_client, content))
    page = text(alice_client.get(preview))
    assert "Invalid email address." in page
    assert re.search(r'stat-value">2<.*?will be created', page, re.S)
    assert re.search(r'stat-value">1<.*?rejected', page, re.S)
    response = confirm(alice_client, preview)
    assert response.headers["Location"] == "/contacts/"
    assert "2 created, 0 updated, 1 rejected" in text(alice_client.get("/contacts/"))
    contacts = acme_contacts(world)
    assert sorted(contacts) == ["anna@acme.example", "carl@acme.example"]
    assert contacts["anna@acme.example"].origin == "csv"
    assert [g.name for g in contacts["anna@acme.example"].groups] == ["Sales"]
    assert db.session.scalar(db.select(ContactGroup.origin).where(ContactGroup.name == "Sales")) == "csv"
    assert db.session.scalar(db.select(ContactImport)) is None  # the upload is gone


def test_preview_gives_the_reason_for_every_rejected_row(alice_client, world):
    world.acme.allowed_domains = "acme.example"
    db.session.commit()
    content = (
        "Vorname;Nachname;E-Mail\n"
        "A;One;a@acme.example\n"
        "A;Again;A@ACME.example\n"
        "B;Elsewhere;b@other.example\n"
        "C;Nomail;\n"
    )
    page = text(alice_client.get(preview_url(upload(alice_client, content))))
    assert "Duplicate in file (same email as row 2)." in page
    assert "Domain not allowed." in page
    assert "Email missing." in page


def test_existing_email_in_other_case_updates_names_and_adds_the_group(alice_client, world):
    sales = add_group(world.acme, "Sales")
    add_contact(world.acme, "anna@acme.example", "Ana", "Schmidt", groups=[sales])
    add_contact(world.acme, "ben@acme.example", "Ben", "Berg", groups=[sales])
    content = (
        "Vorname;Nachname;E-Mail;Gruppe\n"
        "Anna;Schmidt;ANNA@acme.example;Support\n"
        "Ben;Berg;ben@acme.example;sales\n"
    )
    preview = preview_url(upload(alice_client, content))
    page = text(alice_client.get(preview))
    assert ">Update<" in page and ">No change<" in page
    confirm(alice_client, preview)
    anna = acme_contacts(world)["anna@acme.example"]
    assert anna.first_name == "Anna" and anna.origin == "manual"
    assert [g.name for g in anna.groups] == ["Sales", "Support"]


def test_changing_the_mapping_updates_the_preview_fragment(alice_client, world):
    content = "Name;Mail\nSchmidt;anna@acme.example\n"
    preview = preview_url(upload(alice_client, content))
    fragment = text(
        alice_client.get(
            f"{preview}?mapped=1&has_header=y&first_name=-1&last_name=-1&email=0&group=-1&salutation=-1",
            headers={"HX-Request": "true"},
        )
    )
    assert "Invalid email address." in fragment and "<html" not in fragment
    response = confirm(alice_client, preview, last_name="0", email="1")
    assert response.status_code == 302
    assert acme_contacts(world)["anna@acme.example"].last_name == "Schmidt"


def test_file_without_header_row_is_recognised(alice_client, world):
    preview = preview_url(upload(alice_client, "Anna,Schmidt,anna@acme.example\n"))
    page = text(alice_client.get(preview))
    assert '<option selected value="2">Column 3</option>' in page and ">Create<" in page
    confirm(alice_client, preview, first_name="0", last_name="1")
    assert acme_contacts(world)["anna@acme.example"].first_name == "Anna"


def test_windows_1252_file_is_read_and_flagged(alice_client, world):
    preview = preview_url(
        upload(alice_client, "Vorname;Nachname;E-Mail\nJürgen;Groß;j@acme.example\n".encode("cp1252"))
    )
    page = text(alice_client.get(preview))
    assert "Jürgen" in page and "Windows-1252" in page


def test_csv_content_is_escaped_in_the_preview(alice_client, world):
    content = "first_name,email\n<script>alert(1)</script>,x@acme.example\n"
    page = text(alice_client.get(preview_url(upload(alice_client, content))))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_too_many_rows_get_a_clear_message(app, alice_client, world):
    app.config["CSV_IMPORT_MAX_ROWS"] = 3
    content = "email\n" + "".join(f"p{i}@acme.example\n" for i in range(4))
    response = upload(alice_client, content)
    assert response.status_code == 422
    assert "more than 3 rows" in text(response)


def test_a_9_mb_file_of_blank_rows_is_refused_at_the_row_limit_not_read_to_its_end(alice_client, world):
    """3 million `;;` lines cost a minute of CPU each when blank rows were skipped uncounted."""
    response = upload(alice_client, ";;\n" * 3_000_000)
    assert response.status_code == 422
    assert "The file has more than 20,000 rows. Split it into smaller files." in text(response)


def test_the_delimiter_is_guessed_from_the_first_lines_only():
    """The guess reads a bounded sample (its cost on quote-heavy text grows with the square of it):
    what comes after the first lines cannot sway it."""
    head = "Vorname;Nachname;E-Mail\n" + "Anna;Schmidt;anna@acme.example\n" * 24
    assert csv_io.detect_delimiter(head + ',"x","y","z"\n' * 2000) == ";"
    assert csv_io.detect_delimiter(',"\n' * 6000) in (";", ",")  # quote-heavy: an answer, not seconds


def test_too_large_file_gets_a_clear_message(app, alice_client, world):
    page = text(alice_client.get("/contacts/import"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = upload(alice_client, "email\n" + "x" * 1024 * 1024, headers={"X-CSRFToken": token})
    assert response.status_code == 413
    assert "The file is too large: at most 1 MB." in text(response)


def test_empty_or_binary_files_are_refused_with_a_reason(alice_client, world):
    assert "The file is empty." in text(upload(alice_client, "\n\n"))
    assert "does not look like a CSV file" in text(upload(alice_client, b"\x89PNG\x00\x00\x00"))


def test_an_upload_belongs_to_its_admin_and_customer(app, alice_client, rita_client, world):
    preview = preview_url(upload(alice_client, GERMAN))
    bob_client = app.test_client().sign_in_as(world.bob)
    assert bob_client.get(preview).status_code == 404
    # Rita works on Acme too, but the upload is Alice's.
    assert rita_client.get(preview).status_code == 404
    assert rita_client.post(f"{preview}/confirm", data={"mapped": "1", "email": "2"}).status_code == 404
    assert acme_contacts(world) == {}


def test_post_without_csrf_token_is_refused(alice_client, world):
    assert upload(alice_client, GERMAN, csrf=False).status_code == 400
    preview = preview_url(upload(alice_client, GERMAN))
    assert (
        alice_client.post(f"{preview}/confirm", data={"mapped": "1", "email": "2"}, csrf=False).status_code
        == 400
    )
    assert acme_contacts(world) == {}


# --- export --------------------------------------------------------------------------------------


def test_export_has_a_bom_stable_columns_and_only_the_current_customers_contacts(alice_client, world):
    staff, sales = add_group(world.acme, "Staff"), add_group(world.acme, "Sales")
    add_contact(world.acme, "anna@acme.example", "Anna", "Schmidt", groups=[staff, sales], salutation="Frau")
    add_contact(world.globex, "gina@globex.example", "Gina", "Globex")
    response = alice_client.get("/contacts/export.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    optional = len(csv_io.OPTIONAL_COLUMNS)  # the attribute columns: tests/test_csv_attributes.py
    assert [row[:6] for row in rows] == [
        ["first_name", "last_name", "email", "salutation", "origin", "groups"],
        ["Anna", "Schmidt", "anna@acme.example", "Frau", "manual", "Sales;Staff"],
    ]
    assert rows[1][6:] == [""] * optional


def test_export_neutralises_formula_injection(alice_client, world):
    add_contact(world.acme, "evil@acme.example", '=HYPERLINK("http://x")', "+SUM(A1)")
    add_contact(world.acme, "ok@acme.example", "@me", "-minus")
    rows = list(csv.reader(io.StringIO(alice_client.get("/contacts/export.csv").get_data(as_text=True))))
    cells = [cell for row in rows[1:] for cell in row[:2]]
    assert sorted(cells) == sorted(['\'=HYPERLINK("http://x")', "'+SUM(A1)", "'@me", "'-minus"])


def test_exported_file_imports_back_without_changes(alice_client, world):
    sales = add_group(world.acme, "Sales")
    add_contact(world.acme, "anna@acme.example", "Anna", "Schmidt", groups=[sales])
    add_contact(world.acme, "ben@acme.example", "Ben", "Berg")
    exported = alice_client.get("/contacts/export.csv").get_data()
    page = text(alice_client.get(preview_url(upload(alice_client, exported))))
    assert re.search(r'stat-value">2<.*?unchanged', page, re.S)


# --- any file within the upload limit previews fast and small ------------------------------------


def test_a_file_with_60000_columns_and_huge_cells_previews_small_with_a_note(alice_client, world):
    header = ";".join(["Vorname", "Nachname", "E-Mail"] + [f"Spalte {i}" for i in range(60_000)])
    rows = [
        ";".join(["Anna", "Schmidt", "anna@acme.example"] + ["x"] * 60_000),
        ";".join(["B" * 100_000, "Berg", "ben@acme.example"]),
    ]
    content = "\n".join([header, *rows]) + "\n"
    assert len(content) > 800_000
    preview = preview_url(upload(alice_client, content))
    response = alice_client.get(preview)
    page = text(response)
    assert len(response.get_data()) < 60_000  # was 15 MB: 60,000 choices in each of five selects
    assert "Only the first 50 columns are read." in page
    assert "Name longer than 100 characters." in page
    stored = db.session.scalar(db.select(ContactImport)).data["rows"]
    assert max(len(row) for row in stored) == csv_io.MAX_COLUMNS
    assert max(len(cell) for row in stored for cell in row) == csv_io.MAX_CELL
    confirm(alice_client, preview)
    assert sorted(acme_contacts(world)) == ["anna@acme.example"]


def test_nul_and_control_characters_in_cells_are_stripped_and_the_rows_import(alice_client, world):
    filler = "".join(f"Filler;Row;filler{i}@acme.example;\n" for i in range(150))  # past the first 4 KB
    content = (
        "Vorname;Nachname;E-Mail;Gruppe\n"
        "An\x00na;Schm\x1bidt;anna@acme.example\x00;Ver\x00trieb\n"
        + filler
        + '"Ben\r\nJamin";B\x00erg;ben@acme.example;"Sa\x07les\t "\n'
    )
    preview = preview_url(upload(alice_client, content))
    assert ">Create<" in text(alice_client.get(preview))
    assert confirm(alice_client, preview).status_code == 302  # PostgreSQL stored every cell
    contacts = acme_contacts(world)
    anna, ben = contacts["anna@acme.example"], contacts["ben@acme.example"]
    assert (anna.first_name, anna.last_name, [g.name for g in anna.groups]) == (
        "Anna",
        "Schmidt",
        ["Vertrieb"],
    )
    assert (ben.first_name, ben.last_name, [g.name for g in ben.groups]) == ("Ben Jamin", "Berg", ["Sales"])


# --- the export is formula-safe for every delimiter ------------------------------------------------

DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_NAMES = [
    'Smith;=HYPERLINK("http://evil.example","Click")',
    "a,+1",
    "x\t@SUM(1)",
    "-2+3",
    "Müller\r\n=1+1",
    "Ops; -cmd",
]
SALUTATION = "+Dr.;=1\t-2,@3"


def test_export_is_formula_safe_whichever_delimiter_a_spreadsheet_splits_on(alice_client, world):
    group = add_group(world.acme, "Sales;=1+1")
    for i, name in enumerate(HOSTILE_NAMES):  # stored as legacy data would be, past the form
        add_contact(world.acme, f"p{i}@acme.example", name, "@" + name, groups=[group], salutation=SALUTATION)
    body = alice_client.get("/contacts/export.csv").get_data().decode("utf-8-sig")
    for line in re.split(r"[\r\n]+", body):
        for delimiter in (",", ";", "\t"):
            for piece in line.split(delimiter):
                assert not piece.startswith(DANGEROUS_STARTS), (delimiter, piece, line)
    rows = {row[2]: row for row in csv.reader(io.StringIO(body, newline=""))}
    for i, name in enumerate(HOSTILE_NAMES):  # the normal CSV reader still reads each name back
        first, last, _email, salutation, _origin, groups, *_ = rows[f"p{i}@acme.example"]
        assert (first.replace("'", ""), last.replace("'", "")) == (name, "@" + name)
        assert salutation.replace("'", "") == SALUTATION and groups.replace("'", "") == "Sales;=1+1"


def test_one_upload_of_a_customer_is_parsed_at_a_time(app, alice_client, world):
    """Uploads hold the customer's lock while they are read: a second one waits (SYNC_LOCK_WEB_WAIT),
    then is told to try again, so parallel uploads cannot take every worker's CPU."""
    app.config["SYNC_LOCK_WEB_WAIT"] = 0
    owner = lock.new_owner()
    assert lock.acquire(world.acme.id, owner)  # an upload (or a sync) of Acme is being handled
    try:
        busy = upload(alice_client, "email\nanna@acme.example\n")
        assert busy.status_code == 409 and "please try again in a minute" in text(busy)
        assert db.session.scalar(db.select(db.func.count()).select_from(ContactImport)) == 0
    finally:
        lock.release(world.acme.id, owner)
    assert upload(alice_client, "email\nanna@acme.example\n").status_code == 302
