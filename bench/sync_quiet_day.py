"""Benchmark: Graph requests and time of an import, the first sync after it, and a quiet day.

    .venv/bin/python bench/sync_quiet_day.py [--users 20000] [--automatic] [--latency-ms 50]

Starts the M365 emulator with a generated tenant (each Graph request delayed by --latency-ms),
connects a customer through the real sign-in, then in Manual mode loads the users ("Load Users from
Microsoft", the runner's job) and imports every one of them; with --automatic it subscribes to the
"All Company" group instead. Then: the first sync after the import, a day with a few changes and
a quiet day. Prints one line per step: Graph requests, resource units, seconds; and the floor
(ceil(users / 999) listing pages) the load + import is measured against.
"""

import argparse
import logging
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m365_emulator.server import EmulatorServer  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.manual import services as manual_services  # noqa: E402
from portal.models import (  # noqa: E402
    AdminSession,
    AdminUser,
    Customer,
    GroupSubscription,
    Reseller,
    SyncMode,
    SyncSettings,
)
from portal.runner import Runner  # noqa: E402
from portal.sync import (  # noqa: E402
    directory,  # noqa: E402
    service,
    subscriptions,
)
from tests import m365_helpers  # noqa: E402
from tests.emulator_fixture import EmulatorHandle  # noqa: E402


def build_app():
    path = os.path.join(tempfile.mkdtemp(prefix="bench-sync-"), "bench.db")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SERVER_NAME": "localhost",
            "WTF_CSRF_ENABLED": False,
            "TESTING": True,
            "MAIL_SERVER": "",
            "TOKEN_ENCRYPTION_KEY": "bA7GCyODDTBUF0PVlqM6ZCyU40eeygHSc8ErX71uzv8=",
        }
    )
    return app


def connect(app, emulator, admin_upn):
    reseller = Reseller(name="Bench Partner", ms_user_sync=True)
    db.session.add(reseller)
    db.session.flush()
    customer = Customer(
        name="Bench Customer", reseller_id=reseller.id, notification_recipients="it@bench.example"
    )
    db.session.add(customer)
    db.session.flush()
    admin = AdminUser(email="admin@bench.example", name="Admin", role="customer", customer_id=customer.id)
    admin.set_password("bench-password-123")
    db.session.add(admin)
    db.session.commit()
    m365_helpers.configure(app, emulator, M365_GRAPH_MAX_WAIT=30)
    client = app.test_client()
    AdminSession.start(admin)  # a real server-side session for the test client
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = admin.session_token
        session["_fresh"] = True
    m365_helpers.sign_in(client, account=admin_upn)
    settings = SyncSettings.for_customer(customer)
    settings.sync_active = True
    db.session.commit()
    return customer, admin


def step(label, fn):
    started = time.perf_counter()
    run = fn()
    if isinstance(run, tuple):
        run = run[0]
    seconds = time.perf_counter() - started
    print(
        f"{label:<34} {run.status:<10} {run.graph_requests:>7} requests {run.resource_units:>8} RU "
        f"{seconds:>8.2f} s   {dict((k, v) for k, v in (run.counts or {}).items() if v)}"
    )
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--automatic", action="store_true", help="subscribe to 'All Company'")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of every emulator request")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = EmulatorServer(f"generated:{args.users}").start()
    emulator = EmulatorHandle(server)
    status = emulator.control("GET", "status")
    emulator._tenant(status["tenant_id"], status["tenant_domain"])
    app = build_app()
    try:
        with app.app_context():
            db.create_all()
            customer, admin = connect(app, emulator, f"admin@{status['tenant_domain']}")
            print(f"tenant: {status['users']} users, {status['groups']} groups")
            users = emulator.control("GET", "users")
            emulator.control("POST", "latency", {"ms": args.latency_ms})
            if args.automatic:
                _subscribe_all_company(app, customer, admin)
            else:
                _load_and_import(app, emulator, customer, admin)
            step("first sync after the import", lambda: service.run_sync(customer.id, "manual"))
            for user in users[1:4]:
                emulator.control("PATCH", f"users/{user['id']}", {"surname": user["surname"] + "-X"})
            emulator.control("DELETE", f"users/{users[5]['id']}")
            step("a day with 4 changes (delta)", lambda: service.run_sync(customer.id, "manual"))
            step("a quiet day (delta)", lambda: service.run_sync(customer.id, "manual"))
    finally:
        server.stop()


def _load_and_import(app, emulator, customer, admin):
    """Manual mode: the load job through the runner, then the import of every loaded user."""
    logged = len(emulator.log())
    started = time.perf_counter()
    manual_services.enqueue_load(customer, admin)
    db.session.commit()
    Runner(app, periodic=[]).run_once()
    load_requests = len([e for e in emulator.log()[logged:] if e["path"].startswith("/v1.0/")])
    print(
        f"{'load users (Manual mode)':<34} {'':<10} {load_requests:>7} requests {'':>11} "
        f"{time.perf_counter() - started:>8.2f} s"
    )
    run = step(
        "import every loaded user",
        lambda: service.import_users(customer, manual_services.selected_ids(customer)),
    )
    floor = math.ceil(directory.user_count(customer) / 999)
    total = load_requests + run.graph_requests
    print(
        f"load + import: {total} Graph requests; floor ceil(users/999) = {floor}; ratio {total / floor:.2f}"
    )


def _subscribe_all_company(app, customer, admin):
    SyncSettings.for_customer(customer).mode = SyncMode.AUTOMATIC.value
    db.session.commit()
    from portal.sync.connection import connection_for_sync, graph_client

    with graph_client(connection_for_sync(customer)) as client:
        groups = client.list_groups()
    directory.replace_groups(customer, groups)
    group = subscriptions.groups_overview(customer, "All Company")[0][0]
    subscription = subscriptions.subscribe(customer, admin, group)
    db.session.commit()
    step(
        "subscribe 'All Company' (import)",
        lambda: service.import_users(
            customer, trigger="subscription", subscription=db.session.get(GroupSubscription, subscription.id)
        ),
    )


if __name__ == "__main__":
    main()
