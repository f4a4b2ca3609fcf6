"""Reading and writing contact CSV files: decoding, dialect detection, column guessing, export.

Import accepts UTF-8 with or without BOM (and, as Excel's "CSV" in Germany writes it,
Windows-1252), separated by `;` or `,`. Only the first MAX_COLUMNS columns and MAX_CELL
characters of a cell are read, and every cell is put on one line without control characters
(portal.text.single_line), so any file within the upload limit previews quickly and stores.
Export writes UTF-8 with BOM so Excel shows umlauts, and neutralises every piece of a cell that
a spreadsheet would run as a formula, whichever delimiter it splits the lines on.
"""

import csv
import io
import re

from flask_babel import force_locale, format_decimal
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from portal import attributes
from portal.attributes import MANAGER
from portal.extensions import db
from portal.models import Contact, ContactGroup, contact_group_members
from portal.text import single_line

DELIMITERS = ";,"
FIELDS = ("first_name", "last_name", "email", "group", "salutation")
# Header names we recognise, normalised (lower case, no spaces, dashes, dots or underscores).
ALIASES = {
    "first_name": {"firstname", "first", "givenname", "forename", "vorname"},
    "last_name": {"lastname", "last", "surname", "familyname", "nachname", "familienname", "name"},
    "email": {
        "email",
        "emailaddress",
        "mail",
        "mailaddress",
        "emailadresse",
        "mailadresse",
        "emailadr",
        "smtp",
    },
    "group": {
        "group",
        "groups",
        "gruppe",
        "gruppen",
        "contactgroup",
        "contactgroups",
        "kontaktgruppe",
        "kontaktgruppen",
    },
    "salutation": {"salutation", "anrede"},
}
# The optional columns: the attributes (portal.attributes) and the manager's email and name. They are
# recognised by their header only (attribute.name, its English or German label), need no mapping.
MANAGER_COLUMNS = (MANAGER.csv_email, MANAGER.csv_name)
OPTIONAL_COLUMNS = (*attributes.NAMES, *MANAGER_COLUMNS)
EXPORT_COLUMNS = ("first_name", "last_name", "email", "salutation", "origin", "groups", *OPTIONAL_COLUMNS)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GROUP_SEPARATOR = ";"
# A contact needs five columns and short cells; the caps keep the preview (a choice per column
# in five selects) and the stored upload small for any file within the upload limit.
MAX_COLUMNS = 50
MAX_CELL = 1000
# A formula start right at a piece's beginning: the cell's start, or after any character a
# spreadsheet may split on (German Excel uses ";", others "," or tab; lines end at CR/LF),
# optionally after spaces. A quote is put before it.
SPLIT_CHARACTERS = ",;\t\r\n"
_PIECE_FORMULA = re.compile(
    f"(^|[{re.escape(SPLIT_CHARACTERS)}])( *)(?=[{re.escape(''.join(FORMULA_STARTS))}])"
)


class CsvProblem(ValueError):
    """The file cannot be read; the message tells the admin what to do."""


def _looks_binary(raw):
    """True for a spreadsheet, image or UTF-16 file rather than CSV text.

    Such files start with a zip header (xlsx, ods) or are full of control bytes (UTF-16 has a NUL
    in every other byte); a CSV file with a stray NUL in a cell is text and is read (the NUL is
    stripped with the other control characters).
    """
    sample = raw[:4096]
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in b"\t\n\r")
    return sample.startswith(b"PK\x03\x04") or controls > len(sample) * 0.05


def decode(raw):
    """(text, encoding name): UTF-8 (BOM stripped), else Windows-1252; CsvProblem otherwise."""
    if _looks_binary(raw):
        raise CsvProblem(
            _("This does not look like a CSV file. Save the table as CSV (UTF-8) and try again.")
        )
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        raise CsvProblem(_('The file is not UTF-8 text. Save it as "CSV UTF-8" and try again.')) from None


# What the delimiter is guessed from: the first lines, at most this many characters. csv.Sniffer's
# quote guess takes time growing with the square of its sample on quote-heavy text (`,"` lines):
# 16 KB of them took seconds; this many take a few milliseconds, and hold a header and ten rows.
SNIFF_CHARACTERS = 2048
SNIFF_LINES = 20


def detect_delimiter(text):
    """`;` or `,`: what csv.Sniffer finds among those two in the first lines (a bounded sample),
    else the more frequent one in the first line."""
    sample = "\n".join(text[:SNIFF_CHARACTERS].split("\n")[:SNIFF_LINES])
    if "\n" in sample:
        sample = sample[: sample.rfind("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.split("\n", 1)[0]
        return ";" if first_line.count(";") > first_line.count(",") else ","


def clean_cell(cell):
    """A cell as the import uses it: on one line, no control characters, at most MAX_CELL long."""
    # Cut before cleaning as well: a 100 KB cell is not worth normalising to keep 1,000 characters.
    return single_line(cell[: MAX_CELL * 2])[:MAX_CELL]


def read_rows(text, delimiter, max_rows):
    """(rows, cut): the non-blank rows as lists of clean cells, only their first MAX_COLUMNS, and
    whether any row had more columns. CsvProblem beyond max_rows rows, blank ones included (a
    file of millions of empty `;;` lines is refused after max_rows of them, not read to its end)."""
    rows, cut = [], False
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)):
            # One extra row for a header line.
            if number > max_rows:
                raise CsvProblem(
                    _(
                        "The file has more than %(max)s rows. Split it into smaller files.",
                        max=format_decimal(max_rows),
                    )
                )
            cut = cut or len(row) > MAX_COLUMNS
            cells = [clean_cell(cell) for cell in row[:MAX_COLUMNS]]
            if any(cells):
                rows.append(cells)
    except csv.Error as exc:
        raise CsvProblem(_("The file could not be read as CSV (%(error)s).", error=str(exc))) from None
    if not rows:
        raise CsvProblem(_("The file is empty."))
    return rows, cut


def parse(raw, max_rows):
    """Decode and split an uploaded file: {"rows", "columns_cut", "delimiter", "encoding"}."""
    text, encoding = decode(raw)
    delimiter = detect_delimiter(text)
    rows, cut = read_rows(text, delimiter, max_rows)
    return {"rows": rows, "columns_cut": cut, "delimiter": delimiter, "encoding": encoding}


def _normal(header):
    return re.sub(r"[\s._\-]+", "", (header or "").lower())


def optional_aliases():
    """{normalised header name: optional column}: each attribute's name and its label in English and
    German ("job_title", "Job title", "Berufsbezeichnung"), "manager_email" and "manager_name"."""
    aliases = {}
    for attribute in attributes.ATTRIBUTES:
        names = [attribute.name]
        for locale in ("en", "de"):
            with force_locale(locale):
                names.append(str(attribute.label))
        aliases.update(dict.fromkeys(map(_normal, names), attribute.name))
    aliases.update({_normal(name): name for name in MANAGER_COLUMNS})
    return aliases


def optional_columns(header, taken=()):
    """({optional column: index}, [header cells ignored]) for a header row; `taken`: the indexes
    mapped to first name, email... (they are neither optional columns nor ignored). The first column
    of a name wins; a second one is ignored."""
    aliases, found = optional_aliases(), {}
    for index, cell in enumerate(header):
        name = aliases.get(_normal(cell))
        if index not in taken and name and name not in found:
            found[name] = index
    used = set(taken) | set(found.values())
    ignored = [cell for index, cell in enumerate(header) if index not in used and cell.strip()]
    return found, ignored


def column_label(name):
    """What an optional column fills, for the preview: the attribute's label, "Manager: email"..."""
    if name == MANAGER.csv_email:
        return _("Manager (email)")
    if name == MANAGER.csv_name:
        return _("Manager (name)")
    return attributes.label(name)


def looks_like_header(first_row):
    """True when the first row names columns rather than holding a contact."""
    if any(_normal(cell) in names for cell in first_row for names in ALIASES.values()):
        return True
    if any(_normal(cell) in optional_aliases() for cell in first_row):
        return True
    return not any("@" in cell for cell in first_row)


def guess_mapping(header, first_row=None):
    """{field: column index or -1}, guessed from English and German column names.

    Without a header (header=[]), only the email column is guessed: the first cell with an "@".
    """
    if not header:
        mapping = dict.fromkeys(FIELDS, -1)
        mapping["email"] = next((i for i, cell in enumerate(first_row or []) if "@" in cell), -1)
        return mapping
    mapping = {}
    taken = set()
    # "name" alone is a weak hint for the last name: give the exact names the first pick.
    for field_name in FIELDS:
        mapping[field_name] = -1
        for index, cell in enumerate(header):
            if index not in taken and _normal(cell) in ALIASES[field_name]:
                if _normal(cell) == "name" and any(_normal(c) == "nachname" for c in header):
                    continue
                mapping[field_name] = index
                taken.add(index)
                break
    return mapping


def neutralize(cell):
    """Put a quote before every formula start (=, +, -, @, tab, CR) that begins a piece of the cell.

    Escaping only the cell's start is not enough: `Smith;=HYPERLINK(...)` is one cell for a
    reader splitting on commas, but German Excel splits on semicolons and runs the second piece.
    The quote stays visible, so the name is still recognisable.
    """
    cell = "" if cell is None else str(cell)
    return _PIECE_FORMULA.sub(r"\1\2'", cell)


def _group_names(customer):
    """{contact id: [group names]} for the whole book, in one query."""
    names = {}
    rows = db.session.execute(
        select(contact_group_members.c.contact_id, ContactGroup.name)
        .join(ContactGroup, ContactGroup.id == contact_group_members.c.group_id)
        .where(ContactGroup.customer_id == customer.id)
        .order_by(ContactGroup.name)
    )
    for contact_id, name in rows:
        names.setdefault(contact_id, []).append(name)
    return names


def manager_columns(manager):
    """SQL: the manager's email and name as the CSV columns show them, for a select of Contact outer
    joined to its manager (`manager`, an alias): the ones stored, else the linked contact's."""
    return (
        _or_manager(Contact.manager_email, manager.email).label(MANAGER.csv_email),
        _or_manager(Contact.manager_name, _full_name(manager)).label(MANAGER.csv_name),
    )


def _full_name(contact):
    """SQL: "First Last" of a contact."""
    return func.trim(contact.first_name + " " + contact.last_name)


def _or_manager(stored, linked):
    """SQL: the stored value unless empty, else the linked manager's (NULL without one), else ""."""
    return func.coalesce(func.nullif(stored, ""), linked, "")


def export_chunks(customer, batch=1000):
    """The customer's book as CSV text chunks: BOM, header, one row per non-archived contact."""
    groups = _group_names(customer)
    manager = aliased(Contact)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(EXPORT_COLUMNS)
    query = (
        select(
            Contact.id,
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.salutation,
            Contact.origin,
            *(getattr(Contact, name) for name in attributes.NAMES),
            *manager_columns(manager),
        )
        .outerjoin(manager, manager.id == Contact.manager_id)
        .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
        .execution_options(yield_per=batch)
    )
    for count, row in enumerate(db.session.execute(query), start=1):
        cells = [
            row.first_name,
            row.last_name,
            row.email,
            row.salutation,
            row.origin,
            GROUP_SEPARATOR.join(groups.get(row.id, [])),
            *(getattr(row, name) for name in OPTIONAL_COLUMNS),
        ]
        writer.writerow([neutralize(cell) for cell in cells])
        if count % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
