"""How fast is the contact book's live search at 100,000 contacts? Prints figures; asserts nothing.

    .venv/bin/python bench/search.py [--contacts 100000] [--runs 30] [--pg [URL]]

Enters N contacts for one customer as a user does, through the CSV import pages
(bench/contacts_list.seed: names with umlauts, files of 20,000 rows), into a new SQLite file or
with --pg into a fresh schema of TEST_DATABASE_URL (or the URL given), migrated like an
installation and given nothing else (no statistics step of the benchmark's own), then times
the htmx search fragment of the contact book (GET /contacts/?q=... with HX-Request)
for a few terms and prints p50 and p95 in milliseconds.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.contacts_list import seed  # noqa: E402
from bench.harness import emit, portal_app, scratch_database, signed_in_client  # noqa: E402
from portal.extensions import db  # noqa: E402

TERMS = [
    ("schmidt", "common last name"),
    ("mueller", "folded: finds Müller"),
    ("müller", "umlaut spelling"),
    ("anna weber", "two words"),
    ("12345", "rare (email digits)"),
    ("zzzz", "no hit"),
    ("ko", "short: 2 letters"),
]


def percentiles(times):
    """(p50, p95) of the times."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(client, url, runs):
    """p50 and p95 milliseconds of `runs` htmx GETs of `url` (after one warm-up)."""
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url, headers={"HX-Request": "true"})
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--pg", nargs="?", const=os.environ.get("TEST_DATABASE_URL"), help="PostgreSQL URL (a schema is made)"
    )
    args = parser.parse_args()
    with scratch_database(args.pg) as url:
        app = portal_app(url)
        with app.app_context():
            started = time.perf_counter()
            admin, _customer, _groups = seed(args.contacts)
            seconds = time.perf_counter() - started
            print(f"seeded {args.contacts:,} contacts into {db.engine.dialect.name} in {seconds:.1f} s")
            client = signed_in_client(app, admin)
            dialect = db.engine.dialect.name
            db.session.remove()
        # What deploy/gunicorn.conf.py does in each worker once the app is loaded: the seeding's
        # leftovers and the app's long-lived objects leave the garbage collector's scans.
        gc.collect()
        gc.freeze()
        # Requests outside that app context, as in production: each loads its session and admin
        # afresh (inside it, flask.g and the database session would carry them over).
        print(f"{'search (htmx fragment)':34} {'p50 ms':>8} {'p95 ms':>8}")
        worst = []
        for term, label in TERMS:
            p50, p95 = timed(client, f"/contacts/?q={term}", args.runs)
            print(f"{term + ' (' + label + ')':34} {p50:8.1f} {p95:8.1f}")
            worst.append((p95, term))
        p95, term = max(worst)
        emit(
            f"live search p95 at {args.contacts:,} contacts ({dialect}), worst of {len(TERMS)} terms",
            round(p95, 1),
            "ms",
            max=30,
            note=f"worst: '{term}'; " + ", ".join(f"{t} {v:.0f}" for v, t in worst),
        )
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
