"""A sync process killed mid-run (SIGKILL): nothing of it is written, its run is marked interrupted
when the next sync takes its lock over after the lease, and that sync converges to the tenant.

The sync runs as a real `flask --app wsgi sync run --customer N` process on the suite's database
(SQLite file, or PostgreSQL with TEST_DATABASE_URL) against the emulator made slow, so it is killed
while it reads from Graph. The next sync moves the lock's clock past the lease instead of waiting.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from portal.extensions import db
from portal.models import utcnow
from portal.models.sync import INTERRUPTED_MESSAGE, SyncLock, SyncRun
from portal.sync import service
from tests.conftest import DATABASE_URL, PG_SCHEMA
from tests.factories import add_contact
from tests.sync_helpers import book, imported, sync, users

ROOT = Path(__file__).resolve().parent.parent


def _subprocess_env(app):
    url = DATABASE_URL
    if PG_SCHEMA:  # the same schema as this test session's
        url += ("&" if "?" in url else "?") + "options=" + quote(f"-csearch_path={PG_SCHEMA}")
    keys = (
        "TOKEN_ENCRYPTION_KEY",
        "M365_AUTHORITY",
        "M365_GRAPH_URL",
        "M365_CLIENT_ID",
        "M365_CLIENT_SECRET",
    )
    env = dict(os.environ, DATABASE_URL=url, MAIL_SERVER="", PYTHONUNBUFFERED="1", M365_GRAPH_PAGE_SIZE="1")
    env.update({key: str(app.config[key]) for key in keys})
    return env


def _book_state(customer):
    return {
        email: (c.first_name, c.last_name, c.m365_user_id, c.archived_at)
        for email, c in book(customer).items()
    } | {email: ("archived",) for email in book(customer, archived=True)}


def _wait_for_running_run(process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        db.session.expire_all()
        run = db.session.scalar(select(SyncRun).where(SyncRun.status == "running"))
        if run is not None:
            return run
        time.sleep(0.1)
    raise AssertionError("the sync process never started its run")


def test_a_sync_killed_mid_run_is_interrupted_and_the_next_sync_converges(app, emulator, connected_acme):
    everyone = imported(app, emulator, connected_acme)
    assert sync(app, connected_acme).status == "succeeded"  # the delta link is stored
    add_contact(connected_acme, "keep.me@acme.example", first="Kept", origin="manual")
    emulator.control("PATCH", f"users/{everyone['adele.vance']['id']}", {"surname": "Vance-Smith"})
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}")
    before = _book_state(connected_acme)
    emulator.control("POST", "latency", {"ms": 400})

    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "sync", "run", "--customer", str(connected_acme.id)],
        cwd=ROOT,
        env=_subprocess_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        killed = _wait_for_running_run(process)
        time.sleep(0.5)  # a request or two into its Graph reads
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    emulator.control("POST", "latency", {"ms": 0})

    assert _book_state(connected_acme) == before  # the killed run wrote nothing
    assert db.session.get(SyncLock, connected_acme.id).owner is not None  # and left its lock held
    assert service.run_sync(connected_acme.id, "manual").status == "skipped"  # within the lease

    later = utcnow() + timedelta(seconds=61)  # the lease of the dead holder has run out
    run = service.run_sync(connected_acme.id, "manual", clock=lambda: later)

    assert run.status == "succeeded", run.message
    db.session.expire_all()
    killed = db.session.get(SyncRun, killed.id)
    assert (killed.status, killed.message) == ("interrupted", INTERRUPTED_MESSAGE)
    contacts = book(connected_acme)
    assert contacts["adele.vance@contosodemo.onmicrosoft.com"].last_name == "Vance-Smith"
    assert set(book(connected_acme, archived=True)) == {"isaiah.langer@contosodemo.onmicrosoft.com"}
    tenant = {u["id"] for u in users(emulator).values() if not u.get("_deleted")}
    assert {c.m365_user_id for c in contacts.values() if c.m365_user_id} <= tenant
    assert set(contacts) == set(before) - {"isaiah.langer@contosodemo.onmicrosoft.com"}  # nobody else
    assert contacts["keep.me@acme.example"].archived_at is None
