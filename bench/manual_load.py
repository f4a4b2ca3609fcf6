"""Manual mode at 50,000 users: how long the cache write, searches, selection and pages take.

    .venv/bin/python bench/manual_load.py [--users 50000] [--database-url URL]

Uses the emulator's tenant generator for Graph-shaped users (no network), a scratch SQLite database
by default (or --database-url, e.g. a PostgreSQL test database), and the portal's own services and
HTTP endpoints through the Flask test client. Prints one line per measurement.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from m365_emulator.generator import generate_tenant  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.manual import services  # noqa: E402
from portal.models import AdminSession, AdminUser, Customer, M365Connection, Reseller, SyncSettings  # noqa: E402


def timed(label, fn, repeat=1):
    """Run fn `repeat` times; print the median in milliseconds; return the last result."""
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    print(
        f"{label:<48} {statistics.median(samples):9.1f} ms"
        + (f"  (median of {repeat})" if repeat > 1 else "")
    )
    return result


def setup(app):
    reseller = Reseller(name="Bench Reseller", ms_user_sync=True)
    db.session.add(reseller)
    db.session.flush()
    customer = Customer(name="Bench Customer", reseller_id=reseller.id)
    db.session.add(customer)
    db.session.flush()
    admin = AdminUser(
        email="bench@bench.example", name="Bench", role="customer", customer_id=customer.id, password_hash="x"
    )
    db.session.add(admin)
    db.session.add(
        M365Connection(customer_id=customer.id, tenant_id="bench-tenant", refresh_token_encrypted="x")
    )
    SyncSettings.for_customer(customer)
    db.session.commit()
    return customer, admin


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-manual-')}/bench.db"
    engine_options, schema = {}, None
    if url.startswith("postgresql"):  # a schema of our own: never touch the database's other tables
        schema = f"bench_{os.getpid()}"
        with create_engine(url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine_options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "TESTING": True,
            "SERVER_NAME": "localhost",
            "WTF_CSRF_ENABLED": False,
            "TOKEN_ENCRYPTION_KEY": "bA7GCyODDTBUF0PVlqM6ZCyU40eeygHSc8ErX71uzv8=",
        }
    )
    print(f"database: {url.split('@')[-1]}   users: {args.users:,}")
    with app.app_context():
        db.create_all()
        customer, admin = setup(app)
        tenant = timed("generate tenant (emulator generator)", lambda: generate_tenant(args.users, seed=3))
        users, groups = tenant["users"], tenant["groups"]

        def store():
            result = services.store_directory(customer, users, groups)
            db.session.commit()
            return result

        counts = timed(f"store {len(users):,} users + {len(groups)} groups (load job)", store)
        print(f"{'':<48} {counts}")
        timed("reload (replace the whole cache)", store)
        client = app.test_client()
        AdminSession.start(admin)  # a real server-side session for the test client
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = admin.session_token, True
        hx = {"HX-Request": "true"}

        def get(path):
            response = client.get(path, headers=hx)
            assert response.status_code == 200, response.status_code
            return response

        timed("GET users page 1 (no search)", lambda: get("/m365/manual/users"), repeat=5)
        timed("GET users page 500 (deep page)", lambda: get("/m365/manual/users?page=500"), repeat=5)
        for term in ("sales", "ola", "marketing manager", "zzzz-no-match", "admin@"):
            timed(f"GET search {term!r}", lambda t=term: get(f"/m365/manual/users?q={t}"), repeat=5)
        row_id = db.session.scalar(db.select(services.DirectoryUser.id).limit(1))
        timed(
            "POST toggle one user (row + count)",
            lambda: client.post(f"/m365/manual/users/{row_id}/toggle", headers=hx),
            repeat=5,
        )
        timed(
            "POST select none",
            lambda: client.post("/m365/manual/select", data={"value": "none"}, headers=hx),
            repeat=3,
        )
        timed(
            "POST select all",
            lambda: client.post("/m365/manual/select", data={"value": "all"}, headers=hx),
            repeat=3,
        )
        ids = timed("selected_ids (import job params)", lambda: services.selected_ids(customer))
        print(f"{'':<48} {len(ids):,} ids")
        timed("GET whole page /m365/manual/", lambda: client.get("/m365/manual/"), repeat=3)
        db.session.remove()
        db.engine.dispose()
    if schema:
        with create_engine(url).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    else:
        os.remove(url.removeprefix("sqlite:///"))


if __name__ == "__main__":
    main()
