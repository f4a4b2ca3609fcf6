"""How fast are the contact book's attribute and team filters at 100,000 contacts? Prints figures.

    .venv/bin/python bench/filters.py [--users 100000] [--runs 30] [--pg [URL]]

The contacts carry the attributes as a user's do: the emulator's generated tenant (departments,
offices in several countries, languages, a manager tree) loaded and imported through Manual mode
(load, then "Import N users" of every user, each job run by `flask runner --once` as in production,
as bench/import_scale.py does; about a minute at 100,000), into a new SQLite file or with --pg a
fresh schema of TEST_DATABASE_URL (or the URL given), migrated like an installation and given
nothing else than what the import itself does. Then times the htmx fragment of the contact book
(GET /contacts/?... with HX-Request) for a department alone, a department with a search, two
filters, "team of" the largest team, and the whole page with the filter menus' counts; prints p50
and p95 in milliseconds and one `BENCH` line with the worst p95.

Then the smart group "manager is <the top of the manager tree>, including indirect reports" (most of
the book): the builder's live preview (p50/p95), saving it (its first fill, timed once) and the book
write after it (a contact's department changed through the contact form, which settles every smart
group; p50/p95), with a `BENCH` line each.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import aliased  # noqa: E402

from bench.harness import (  # noqa: E402
    Emulator,
    child_env,
    connect,
    emit,
    portal_app,
    run_portal,
    scratch_database,
    signed_in_client,
)
from portal.extensions import db  # noqa: E402
from portal.manual import services as manual_services  # noqa: E402
from portal.models import Contact, ContactGroup, Job  # noqa: E402


def percentiles(times):
    """(p50, p95) of the times."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(client, url, runs, htmx=True):
    """p50 and p95 milliseconds of `runs` GETs of `url` (after one warm-up)."""
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def run_job(env, enqueue):
    """Queue a job and run it with `flask runner --once` (as in production)."""
    job_id = enqueue().id
    db.session.commit()
    child = run_portal(["runner", "--once"], env)
    assert child.code == 0, child.output[-2000:]
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.status == "succeeded", (job.kind, job.status, job.error)


def import_tenant(app, emulator):
    """Connect a customer to the emulator, load its directory and import every user (Manual mode):
    the contacts carry every attribute and are linked to their managers."""
    customer, admin = connect(app, emulator)
    env = child_env(app)
    run_job(env, lambda: manual_services.enqueue_load(customer, admin))
    run_job(env, lambda: manual_services.enqueue_import(customer, admin))
    return customer, admin


def cases(customer):
    """(label, url, htmx) of the requests timed: what an admin picks, read from the imported book."""
    active = (Contact.customer_id == customer.id, Contact.archived_at.is_(None))

    def most_common(column, *where):
        row = db.session.execute(
            select(column, func.count()).where(*active, *where, column != "").group_by(column)
            .order_by(func.count().desc()).limit(1)
        ).first()  # fmt: skip
        return row[0]

    department = most_common(Contact.department)
    country = most_common(Contact.country, Contact.department == department)
    surname = most_common(Contact.last_name, Contact.department == department)
    team = db.session.execute(
        select(Contact.manager_id, func.count()).where(*active, Contact.manager_id.is_not(None))
        .group_by(Contact.manager_id).order_by(func.count().desc()).limit(1)
    ).first()  # fmt: skip

    def url(**args):
        return "/contacts/?" + urlencode(args)

    return [
        (f"department '{department}'", url(department=department), True),
        (f"department + search '{surname}'", url(department=department, q=surname), True),
        (f"department + country '{country}'", url(department=department, country=country), True),
        (f"team of ({team[1]} direct reports)", url(manager=team[0]), True),
        ("team of + department + columns", url(manager=team[0], department=department, col="manager"), True),
        ("whole page: department, menus' counts", url(department=department), False),
    ]


def top_manager(customer):
    """The email of the contact at the top of the manager tree: no manager, most direct reports."""
    report = aliased(Contact)
    reports = select(func.count()).where(report.manager_id == Contact.id).scalar_subquery()
    return db.session.scalar(
        select(Contact.email).where(
            Contact.customer_id == customer.id, Contact.archived_at.is_(None), Contact.manager_id.is_(None)
        ).order_by(reports.desc()).limit(1)
    )  # fmt: skip


def timed_post(client, url, data, runs):
    """p50 and p95 milliseconds of `runs` htmx POSTs of `data` to `url` (after one warm-up)."""
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        response = client.post(url, data=data(run), headers={"HX-Request": "true"})
        assert response.status_code in (200, 302), (url, response.status_code)
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times[1:])


def smart_group(client, app, customer, runs):
    """Time the team rule's preview, its saving and a contact edit that settles it; emit the figures."""
    with app.app_context():
        boss, contact = top_manager(customer), db.session.scalar(select(Contact).limit(1))
        edit = (contact.id, contact.first_name, contact.last_name, contact.email, contact.manager_email)
        db.session.remove()
    rule = {"attribute-0": "manager", "operator-0": "indirect", "value-0": boss}
    p50, p95 = timed_post(client, "/contacts/groups/smart/preview", lambda _run: rule, runs)
    print(f"{'smart group preview (team of the top)':40} {p50:8.1f} {p95:8.1f}")
    emit(
        "smart group preview, indirect reports of the top manager",
        round(p95, 1),
        "ms p95",
        note=f"p50 {p50:.0f}",
    )
    start = time.perf_counter()
    response = client.post(
        "/contacts/groups/smart/new", data={**rule, "name": "Everyone under the top", "action": "save"}
    )
    assert response.status_code == 302, response.status_code
    seconds = time.perf_counter() - start
    with app.app_context():
        group = db.session.scalar(select(ContactGroup).where(ContactGroup.name == "Everyone under the top"))
        members = len(group.contacts)
        db.session.remove()
    print(f"saved it: {members:,} members in {seconds:.2f} s")
    emit(
        "smart group saved and filled (indirect reports of the top manager)",
        round(seconds, 2),
        "s",
        note=f"{members:,} members",
    )
    contact_id, first, last, email, manager = edit

    def form(run):
        return {
            "first_name": first,
            "last_name": last,
            "email": email,
            "department": f"Bench {run % 2}",
            "manager_email": manager,
        }

    p50, p95 = timed_post(client, f"/contacts/{contact_id}/edit", form, runs)
    print(f"{'contact edit, smart groups settled':40} {p50:8.1f} {p95:8.1f}")
    emit("contact edit with the smart group kept exact", round(p95, 1), "ms p95", note=f"p50 {p50:.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--pg", nargs="?", const=os.environ.get("TEST_DATABASE_URL"), help="PostgreSQL URL (a schema is made)"
    )
    args = parser.parse_args()
    with Emulator(f"generated:{args.users}") as emulator, scratch_database(args.pg) as url:
        app = portal_app(url)
        with app.app_context():
            started = time.perf_counter()
            customer, admin = import_tenant(app, emulator)
            total = db.session.scalar(select(func.count()).where(Contact.customer_id == customer.id))
            dialect = db.engine.dialect.name
            print(f"imported {total:,} contacts into {dialect} in {time.perf_counter() - started:.1f} s")
            client = signed_in_client(app, admin)
            requests = cases(customer)
            db.session.remove()
        gc.collect()
        gc.freeze()  # as deploy/gunicorn.conf.py does in each worker (see bench/search.py)
        print(f"{'filter (htmx fragment unless whole page)':40} {'p50 ms':>8} {'p95 ms':>8}")
        figures = []
        for label, path, htmx in requests:
            p50, p95 = timed(client, path, args.runs, htmx=htmx)
            print(f"{label:40} {p50:8.1f} {p95:8.1f}")
            if htmx:
                figures.append((p95, label))
        p95, label = max(figures)
        emit(
            f"filter p95 at {total:,} contacts ({dialect}), worst of {len(figures)} filter requests",
            round(p95, 1),
            "ms",
            max=30,
            note=f"worst: {label}; " + ", ".join(f"{name} {value:.0f}" for value, name in figures),
        )
        smart_group(client, app, customer, args.runs)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
