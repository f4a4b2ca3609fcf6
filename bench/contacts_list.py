"""How fast is the contact book at 100,000 contacts? Prints figures; asserts nothing.

    .venv/bin/python bench/contacts_list.py [--contacts 100000] [--runs 7] [--database-url URL]

Seeds one customer with N contacts (a fifth of them in one of 20 groups) into a temporary
SQLite database (or an empty database you name), then times full HTTP requests of the
contact book through the app — first page, a deep page (keyset cursor near the end),
live searches, the group filter — and, for contrast, a deep page done with OFFSET.
"""

import argparse
import io
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import current_app  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from bench.harness import customer_and_admin, portal_app, signed_in_client  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Contact, ContactGroup  # noqa: E402

FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Eva",
    "Felix",
    "Greta",
    "Hans",
    "Ida",
    "Jonas",
    "Karin",
    "Lukas",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rita",
    "Sven",
    "Tina",
    "Uwe",
]
LAST = [
    "Schmidt",
    "Müller",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
]


def seed(count, app=None):
    """One reseller, customer and admin; `count` contacts entered as a user enters them: CSV files of
    at most CSV_IMPORT_MAX_ROWS rows uploaded and confirmed through the contact book's import pages
    (a fifth of the contacts in one of 20 groups, by the file's group column). Nothing a user's
    database would not get: no statistics step of our own, no rows written around the product. Returns
    (admin, customer, group names)."""
    app = app or current_app._get_current_object()
    customer, admin = customer_and_admin()
    client = signed_in_client(app, admin)
    rng, per_file = random.Random(7), app.config["CSV_IMPORT_MAX_ROWS"]
    groups = [f"Group {i:02d}" for i in range(20)]
    for start in range(0, count, per_file):
        lines = ["Vorname;Nachname;E-Mail;Gruppe"]
        for i in range(start, min(count, start + per_file)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            group = groups[i % 20] if i % 5 == 0 else ""
            lines.append(f"{first};{last};{first.lower()}.{last.lower()}.{i}@bench.example;{group}")
        import_csv(client, "\n".join(lines) + "\n")
    return admin, customer, groups


def import_csv(client, content):
    """Upload a CSV file and confirm its preview, as an admin clicks through the import."""
    data = {"file": (io.BytesIO(content.encode()), "contacts.csv")}
    uploaded = client.post("/contacts/import", data=data, content_type="multipart/form-data")
    assert uploaded.status_code == 302, uploaded.get_data(as_text=True)[:500]
    page = client.get(uploaded.headers["Location"]).get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+/confirm)".*?</form>', page, re.S)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(0)))
    confirmed = client.post(form.group(1), data=fields)
    assert confirmed.status_code == 302 and "/import" not in confirmed.headers["Location"]


def timed(client, url, runs):
    """Median and max milliseconds of `runs` GETs (after one warm-up)."""
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url, headers={"HX-Request": "true"})
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def deep_cursor(customer, order):
    """The id of the contact 50 rows before the end in the given order."""
    return db.session.scalar(
        select(Contact.id)
        .where(Contact.customer_id == customer.id)
        .order_by(*order)
        .offset(db.session.scalar(select(db.func.count()).select_from(Contact)) - 50)
        .limit(1)
    )


def offset_ms(customer, runs):
    """The same deep page done with OFFSET, for contrast (query only, no rendering)."""
    total = db.session.scalar(select(db.func.count()).select_from(Contact))
    query = (
        select(Contact)
        .where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
        .offset(total - 50)
        .limit(51)
    )
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        db.session.scalars(query).all()
        times.append((time.perf_counter() - start) * 1000)
        db.session.expire_all()
    return statistics.median(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="an EMPTY database to use instead of a temporary SQLite file")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{os.path.join(tempfile.mkdtemp(prefix='bench-'), 'bench.db')}"
    app = portal_app(url)
    with app.app_context():
        started = time.perf_counter()
        admin, customer, groups = seed(args.contacts)
        seconds = time.perf_counter() - started
        print(
            f"seeded {args.contacts:,} contacts into {db.engine.dialect.name} in {seconds:.1f} s (CSV import)"
        )
        client = signed_in_client(app, admin)
        group_five = db.session.scalar(select(ContactGroup.id).where(ContactGroup.name == groups[5]))
        by_name = (Contact.last_name, Contact.first_name, Contact.id)
        cases = [
            ("page 1, sorted by name", "/contacts/"),
            ("deep page (last), by name", f"/contacts/?after={deep_cursor(customer, by_name)}"),
            (
                "deep page, by email desc",
                f"/contacts/?sort=-email&after={deep_cursor(customer, (Contact.email_key.desc(),))}",
            ),
            (
                "deep page, by updated",
                f"/contacts/?sort=updated&after={deep_cursor(customer, (Contact.updated_at, Contact.id))}",
            ),
            ("search 'schmidt' (common)", "/contacts/?q=schmidt"),
            ("search 'anna weber'", "/contacts/?q=anna+weber"),
            ("search '12345' (rare)", "/contacts/?q=12345"),
            ("search 'zzzz' (no hit)", "/contacts/?q=zzzz"),
            ("group filter (a 20th of a fifth)", f"/contacts/?group={group_five}"),
        ]
        print(f"{'request (HTTP, whole fragment)':34} {'median ms':>10} {'max ms':>8}")
        for label, path in cases:
            median, worst = timed(client, path, args.runs)
            print(f"{label:34} {median:10.1f} {worst:8.1f}")
        median, worst = offset_ms(customer, args.runs)
        print(f"{'contrast: OFFSET deep page, query':34} {median:10.1f} {worst:8.1f}")
        if args.database_url:
            db.session.remove()  # release the session's locks before dropping the tables
            db.drop_all()
            db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.session.commit()


if __name__ == "__main__":
    main()
