"""Manual mode at N users: load + import, the first sync after it, a quiet day, and the runner's memory.

    .venv/bin/python bench/import_scale.py [--users 10000 50000] [--latency-ms 50] [--database-url URL]

For each N: the emulator (its own process, generated:N, every request delayed by --latency-ms) and
a scratch database; a customer connected through the real sign-in. Then, each step in a child
process as in production, its peak RSS taken from the kernel (wait4): `flask runner --once` runs
the load job ("Load Users from Microsoft"), again for the import of every loaded user, then
`flask sync run` twice (the first daily sync after the import, a quiet day). Graph requests come
from the emulator's log, seconds from the job rows (start to finish, no process start-up).
Prints progress and `BENCH` lines (bench/harness.py).
"""

import argparse
import math

from harness import Emulator, child_env, connect, emit, portal_app, run_portal, scratch_database

from portal.extensions import db
from portal.manual import services as manual_services
from portal.models import Job, SyncSettings
from portal.models.sync import SyncRun


def job_seconds(job_id):
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.status == "succeeded", (job.kind, job.status, job.error)
    return (job.finished_at - job.started_at).total_seconds()


def run_job(env, emulator, enqueue):
    """Queue a job, run it with `flask runner --once`; -> (graph requests, seconds, peak RSS MB)."""
    job_id = enqueue().id
    db.session.commit()
    emulator.graph_requests()
    child = run_portal(["runner", "--once"], env)
    assert child.code == 0, child.output[-2000:]
    return emulator.graph_requests(), job_seconds(job_id), child.rss_mb


def sync_run(env, emulator, customer):
    """`flask sync run --customer ID`; -> (Graph requests of the run, seconds, peak RSS MB)."""
    emulator.graph_requests()
    child = run_portal(["sync", "run", "--customer", str(customer.id)], env)
    assert child.code == 0, child.output[-2000:]
    db.session.expire_all()
    run = db.session.scalars(db.select(SyncRun).order_by(SyncRun.id.desc()).limit(1)).first()
    assert run.status == "succeeded", run.message
    return emulator.graph_requests(), run.duration, child.rss_mb


def measure(users, latency_ms, database_url):
    with Emulator(f"generated:{users}") as emulator, scratch_database(database_url) as url:
        app = portal_app(url)
        with app.app_context():
            customer, admin = connect(app, emulator)
            env = child_env(app)
            emulator.latency(latency_ms)
            load = run_job(env, emulator, lambda: manual_services.enqueue_load(customer, admin))
            print(f"{users:,} users: load {load[0]} requests, {load[1]:.1f} s, {load[2]:.0f} MB", flush=True)
            imported = run_job(env, emulator, lambda: manual_services.enqueue_import(customer, admin))
            print(f"  import {imported[0]} requests, {imported[1]:.1f} s, {imported[2]:.0f} MB", flush=True)
            SyncSettings.for_customer(customer).sync_active = True
            db.session.commit()
            first = sync_run(env, emulator, customer)
            quiet = sync_run(env, emulator, customer)
            print(f"  first sync {first[0]} requests, {first[2]:.0f} MB; quiet day {quiet[0]} request(s), "
                  f"{quiet[2]:.0f} MB", flush=True)  # fmt: skip
            db.session.remove()
            db.engine.dispose()
    report(users, latency_ms, load, imported, first, quiet)


def report(users, latency_ms, load, imported, first, quiet):
    floor = math.ceil(users / 999)
    latency = latency_ms / 1000
    emit(f"import {users:,} users (Manual: load + import), Graph requests", load[0] + imported[0],
         "requests", floor=floor, max=math.floor(1.2 * floor))  # fmt: skip
    emit(f"import {users:,} users (Manual: load + import), time", round(load[1] + imported[1], 2), "s",
         floor=round(floor * latency, 2), max=10 if users == 50_000 else None,
         note=f"{latency_ms} ms per Graph request")  # fmt: skip
    emit(f"first daily sync after the import ({users:,} users)", first[0], "requests", floor=1, max=2)
    emit(f"quiet daily sync ({users:,} users)", quiet[0], "requests", floor=1, max=1)
    peak = max(load[2], imported[2], first[2], quiet[2])
    emit(f"runner peak RSS at {users:,} users (load, import, syncs)", round(peak), "MB", max=250,
         note="target set for 100,000 users")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--database-url", help="a PostgreSQL database to use (a scratch schema in it)")
    args = parser.parse_args()
    for users in args.users:
        measure(users, args.latency_ms, args.database_url)


if __name__ == "__main__":
    main()
