"""The daily sync of many customers on a quiet day, on one runner process.

    .venv/bin/python bench/many_customers.py [--customers 200] [--users 1000] [--latency-ms 50]
        [--concurrency 4] [--database-url URL]

The emulator (its own process, generated:--users) serves every customer: each has a tenant id of
its own, an emulator alias of the one directory. One customer is connected through the real
sign-in, its users loaded and imported and synced once; the others get copies of its connection
(with its delta link) and of its contact book. The day before is then moved back 24 hours, and
`flask runner --once` (a child process, RUNNER_CONCURRENCY jobs at once) queues the day's syncs
and runs them. The figure is the span from the first sync's start to the last one's end (the job
rows); Graph requests come from the emulator's log, the runner's peak RSS from the kernel.
"""

import argparse
from datetime import timedelta

from harness import Emulator, child_env, connect, emit, portal_app, run_portal, scratch_database
from sqlalchemy import func, insert, literal, select, update

from portal.extensions import db
from portal.manual import services as manual_services
from portal.models import Contact, Job, JobKind, M365Connection, SyncSettings
from portal.models.sync import SyncRun
from portal.runner import Runner
from portal.sync import service
from tests.sync_helpers import clone_customers


def first_customer(app, emulator):
    """A customer connected, loaded, imported and synced once (its delta link is current)."""
    customer, admin = connect(app, emulator)
    manual_services.enqueue_load(customer, admin)
    db.session.commit()
    Runner(app, periodic=[], concurrency=1).run_once()
    manual_services.enqueue_import(customer, admin)
    db.session.commit()
    Runner(app, periodic=[], concurrency=1).run_once()
    SyncSettings.for_customer(customer).sync_active = True
    db.session.commit()
    service.run_sync(customer.id, "manual")
    return customer


def copy_book(template, customers):
    """Each customer gets the template's contacts and delta link (as if imported and synced)."""
    columns = [c for c in Contact.__table__.columns if c.name not in ("id", "customer_id")]
    names = ["customer_id", *(c.name for c in columns)]
    connection = db.session.scalar(select(M365Connection).where(M365Connection.customer_id == template.id))
    for customer in customers:
        rows = select(literal(customer.id), *columns).where(Contact.customer_id == template.id)
        db.session.execute(insert(Contact).from_select(names, rows))
    db.session.execute(
        update(M365Connection)
        .where(M365Connection.customer_id.in_([c.id for c in customers]))
        .values(
            users_delta_link=connection.users_delta_link,
            users_delta_select=connection.users_delta_select,  # what the link tracks (the attributes)
            delta_saved_at=connection.delta_saved_at,
        )
    )
    # Yesterday's runs: today's daily trigger finds every customer due.
    for run in db.session.scalars(select(SyncRun)):
        run.started_at -= timedelta(days=1)
    db.session.commit()


def span_seconds():
    """(first sync job start -> last end, jobs, failed jobs) of the day's syncs."""
    jobs = db.session.scalars(select(Job).where(Job.kind == JobKind.SYNC.value)).all()
    failed = [job for job in jobs if job.status != "succeeded"]
    start, end = min(j.started_at for j in jobs), max(j.finished_at or j.started_at for j in jobs)
    return (end - start).total_seconds(), len(jobs), len(failed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4, help="RUNNER_CONCURRENCY")
    parser.add_argument("--database-url", help="a PostgreSQL database to use (a scratch schema in it)")
    args = parser.parse_args()
    with Emulator(f"generated:{args.users}") as emulator, scratch_database(args.database_url) as url:
        app = portal_app(url)
        with app.app_context():
            template = first_customer(app, emulator)
            copy_book(template, clone_customers(template, args.customers - 1, emulator))
            contacts = db.session.scalar(select(func.count()).select_from(Contact))
            print(f"{args.customers} customers, {contacts:,} contacts; the day's syncs start", flush=True)
            env = child_env(app)
            env["RUNNER_CONCURRENCY"] = str(args.concurrency)
            emulator.latency(args.latency_ms)
            emulator.graph_requests()
            child = run_portal(["runner", "--once"], env)
            requests = emulator.graph_requests()
            db.session.expire_all()
            seconds, jobs, failed = span_seconds()
            db.session.remove()
            db.engine.dispose()
    print(f"{jobs} syncs ({failed} failed) in {seconds:.1f} s; process {child.seconds:.1f} s", flush=True)
    label = f"daily sync of {args.customers} customers × {args.users:,} users, quiet day, one runner"
    emit(label, round(seconds, 1), "s", floor=round(requests * args.latency_ms / 1000, 1), max=60,
         note=f"{requests} Graph requests; floor serial; RUNNER_CONCURRENCY={args.concurrency}; "
         f"{failed} of {jobs} failed")  # fmt: skip
    emit(f"runner peak RSS, daily sync of {args.customers} customers", round(child.rss_mb), "MB", max=250)


if __name__ == "__main__":
    main()
