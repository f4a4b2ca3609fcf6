"""How fast is the contact book at 100,000 contacts? Prints figures; asserts nothing.

    .venv/bin/python bench/contacts_list.py [--contacts 100000] [--runs 7] [--database-url URL]

Seeds one customer with N contacts (a fifth of them in one of 20 groups) into a temporary
SQLite database (or an empty database you name), then times full HTTP requests of the
contact book through the app — first page, a deep page (keyset cursor near the end),
live searches, the group filter — and, for contrast, a deep page done with OFFSET.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    AdminSession,
    AdminUser,
    Contact,
    ContactGroup,
    Customer,
    Reseller,
    contact_group_members,
    utcnow,
)

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


def seed(count):
    """One reseller, customer and admin; `count` contacts; 20 groups. Returns (admin, customer, groups)."""
    reseller = Reseller(name="Bench Reseller")
    db.session.add(reseller)
    db.session.flush()
    customer = Customer(name="Bench GmbH", reseller_id=reseller.id)
    db.session.add(customer)
    db.session.flush()
    admin = AdminUser(
        email="bench@bench.example", role="customer", customer_id=customer.id, password_hash="x"
    )
    groups = [ContactGroup(customer_id=customer.id, name=f"Group {i:02d}") for i in range(20)]
    db.session.add_all([admin, *groups])
    db.session.commit()
    rng, now = random.Random(7), utcnow()
    step = timedelta(seconds=1)
    for start in range(0, count, 10_000):
        rows = []
        for i in range(start, min(count, start + 10_000)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{i}@bench.example".lower()
            rows.append(
                {
                    "customer_id": customer.id,
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "email_key": email,
                    "origin": "manual",
                    "salutation": "",
                    "archive_reason": "",
                    "linked_automatically": False,
                    "created_at": now - i * step,
                    "updated_at": now - rng.randrange(count) * step,
                }
            )
        db.session.execute(insert(Contact), rows)
    ids = db.session.scalars(select(Contact.id).where(Contact.customer_id == customer.id)).all()
    members = [{"contact_id": cid, "group_id": groups[cid % 20].id} for cid in ids if cid % 5 == 0]
    db.session.execute(insert(contact_group_members), members)
    db.session.commit()
    db.session.execute(text("ANALYZE"))  # planner statistics, as a live database has them
    db.session.commit()
    return admin, customer, groups


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
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "SERVER_NAME": "localhost"})
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        admin, customer, groups = seed(args.contacts)
        seconds = time.perf_counter() - started
        print(f"seeded {args.contacts:,} contacts into {db.engine.dialect.name} in {seconds:.1f} s")
        client = app.test_client()
        AdminSession.start(admin)  # a real server-side session for the test client
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = admin.session_token
            session["_fresh"] = True
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
            ("group filter (5,000 members)", f"/contacts/?group={groups[5].id}"),
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


if __name__ == "__main__":
    main()
