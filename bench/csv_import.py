"""The CSV import with attribute columns at N contacts: how long the admin waits, through the pages.

    .venv/bin/python bench/csv_import.py [--contacts 10000 50000] [--database-url URL]

For each N: a scratch database made by the migrations, one customer and admin; N contacts in files of
at most CSV_IMPORT_MAX_ROWS rows with every attribute column (German and English headers) and a
manager_email (every tenth person manages the nine after them), each uploaded, previewed and
confirmed through the contact book's import pages (bench/contacts_list.import_csv), as an admin
clicks. Then the same files again with every department changed: N updates. Times are the three
requests of every file, summed; the managers must all be linked (book.settle) at the end.
Prints `BENCH` lines (bench/harness.py).
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from bench.contacts_list import FIRST, LAST, import_csv  # noqa: E402
from bench.harness import customer_and_admin, emit, portal_app, scratch_database, signed_in_client  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Contact  # noqa: E402

HEADER = "Vorname;Nachname;E-Mail;Gruppe;Abteilung;Job title;office;Land;Sprache;employee_id;manager_email"
DEPARTMENTS = ("Finance", "Sales", "IT", "Legal", "Marketing", "Operations", "Human Resources")
OFFICES = (("Munich", "Germany", "de-DE"), ("Paris", "France", "fr-FR"), ("Vienna", "Austria", "de-AT"))


def email(i):
    return f"person.{i}@bench.example"


def files(count, per_file, round_):
    """The CSV files of `count` contacts; round_ 1 shifts every department (an update of each row)."""
    rng = random.Random(11)
    for start in range(0, count, per_file):
        lines = [HEADER]
        for i in range(start, min(count, start + per_file)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            department = DEPARTMENTS[(i // 10 + round_) % len(DEPARTMENTS)]
            office, country, language = OFFICES[i % len(OFFICES)]
            manager = email(i - i % 10) if i % 10 else ""
            group = f"Group {i % 20:02d}" if i % 5 == 0 else ""
            lines.append(
                f"{first};{last};{email(i)};{group};{department};Clerk {i % 7};{office};{country};"
                f"{language};E{i:06d};{manager}"
            )
        yield "\n".join(lines) + "\n"


def timed_imports(client, count, per_file, round_):
    """Seconds to upload, preview and confirm every file of one round."""
    started = time.perf_counter()
    for content in files(count, per_file, round_):
        import_csv(client, content)
    return time.perf_counter() - started


def linked_managers(customer):
    db.session.expire_all()
    return db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.customer_id == customer.id, Contact.manager_id.is_not(None))
    )


def measure(count, database_url):
    with scratch_database(database_url) as url:
        app = portal_app(url)
        with app.app_context():
            dialect = db.engine.dialect.name
            customer, admin = customer_and_admin()
            client = signed_in_client(app, admin)
            per_file = app.config["CSV_IMPORT_MAX_ROWS"]
            created = timed_imports(client, count, per_file, 0)
            assert linked_managers(customer) == count - count // 10
            updated = timed_imports(client, count, per_file, 1)
            assert linked_managers(customer) == count - count // 10
            department = db.session.scalar(select(Contact.department).where(Contact.email == email(0)))
            assert department == DEPARTMENTS[1], department
            print(f"{count:,} contacts ({dialect}): create {created:.1f} s, update {updated:.1f} s")
            db.session.remove()
            db.engine.dispose()
    files_note = f"{-(-count // per_file)} file(s) of at most {per_file:,} rows, 11 columns, {dialect}"
    emit(f"CSV import with attributes, {count:,} new contacts", round(created, 1), "s", note=files_note)
    emit(f"CSV import with attributes, {count:,} contacts updated", round(updated, 1), "s", note=files_note)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--database-url", help="a PostgreSQL database to use (a scratch schema in it)")
    args = parser.parse_args()
    for count in args.contacts:
        measure(count, args.database_url)


if __name__ == "__main__":
    main()
