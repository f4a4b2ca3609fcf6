"""Queued work while the background runner is down: every progress poll says so and slows down.

Time moves through the heartbeats' `now`: a runner "seen two hours ago" is a beat written with a
`now` two hours back; nothing sleeps.
"""

from datetime import timedelta

import pytest

from portal import health, queue
from portal.extensions import db
from portal.models import Job, JobKind
from portal.models.base import utcnow
from tests.catalogue import ensure_compiled
from tests.factories import connect, text

HX = {"HX-Request": "true"}
NOT_RUNNING = "The background runner is not running"
START_HINT = "systemctl start awareness-portal-runner"

# Every view that polls a queued job: (its job kind, its poll address for that job).
POLLS = {
    "load users": (JobKind.DIRECTORY_LOAD, lambda job: f"/m365/manual/load/{job.id}"),
    "import users": (JobKind.IMPORT, lambda job: f"/m365/manual/import/{job.id}"),
    "group load": (JobKind.GROUPS_LOAD, lambda job: "/m365/automatic/progress"),
    "subscription import": (JobKind.SUBSCRIPTION_IMPORT, lambda job: "/m365/automatic/progress"),
    "sync now": (JobKind.SYNC, lambda job: "/sync/status"),
    "preview": (JobKind.PREVIEW, lambda job: "/sync/preview"),
}


def queued(customer, kind):
    """A queued job of `kind` for `customer`, its customer connected so every panel shows it."""
    connect(customer)
    job = queue.enqueue(kind, customer, {"user_ids": ["a"]})
    db.session.commit()
    return job


def poll(client, name, job):
    return client.get(POLLS[name][1](job), headers=HX)


@pytest.mark.parametrize("name", POLLS)
def test_poll_says_the_runner_was_never_seen_and_slows_down(world, alice_client, name):
    job = queued(world.acme, POLLS[name][0])
    response = poll(alice_client, name, job)
    assert response.status_code == 200
    page = text(response)
    assert "The background runner is not running (never seen). Queued work starts when it runs again." in page
    assert 'role="status"' in page and 'hx-trigger="every 10s"' in page


@pytest.mark.parametrize("name", POLLS)
def test_poll_says_when_the_runner_was_last_seen(world, alice_client, name):
    health.beat("runner-a", now=utcnow() - timedelta(hours=2))
    job = queued(world.acme, POLLS[name][0])
    page = text(poll(alice_client, name, job))
    assert "The background runner is not running (last seen 2 hours ago)." in page


@pytest.mark.parametrize("name", POLLS)
def test_notice_disappears_and_poll_speeds_up_once_a_runner_beats(world, alice_client, name):
    job = queued(world.acme, POLLS[name][0])
    assert NOT_RUNNING in text(poll(alice_client, name, job))
    health.beat("runner-a", now=utcnow())
    response = poll(alice_client, name, job)
    assert response.status_code == 200
    assert NOT_RUNNING not in text(response) and 'hx-trigger="every 1s"' in text(response)


@pytest.mark.parametrize("name", POLLS)
def test_finished_job_stops_polling_without_a_notice_while_the_runner_is_down(world, alice_client, name):
    job = queued(world.acme, POLLS[name][0])
    job = db.session.get(Job, job.id)
    job.status, job.finished_at, job.result = "succeeded", utcnow(), {}
    db.session.commit()
    response = poll(alice_client, name, job)
    assert response.status_code == 286
    assert NOT_RUNNING not in text(response)


def test_runner_that_stopped_a_minute_ago_counts_as_alive_until_stale(app, world, alice_client):
    stale = app.config["RUNNER_STALE_SECONDS"]
    job = queued(world.acme, JobKind.SYNC)
    health.beat("runner-a", now=utcnow() - timedelta(seconds=stale - 30))
    assert NOT_RUNNING not in text(poll(alice_client, "sync now", job))
    health.beat("runner-a", now=utcnow() - timedelta(seconds=stale + 30))
    assert NOT_RUNNING in text(poll(alice_client, "sync now", job))


def test_a_runner_stopped_cleanly_is_reported_at_once(app, world, alice_client):
    job = queued(world.acme, JobKind.SYNC)
    health.beat("runner-a", now=utcnow() - timedelta(seconds=5), stopped=True)
    assert NOT_RUNNING in text(poll(alice_client, "sync now", job))  # no waiting for it to go stale
    health.beat("runner-b", now=utcnow())
    assert NOT_RUNNING not in text(poll(alice_client, "sync now", job))


def test_queued_sync_no_longer_promises_to_start_within_seconds(world, alice_client):
    job = queued(world.acme, JobKind.SYNC)
    page = text(poll(alice_client, "sync now", job))
    assert "The synchronization is queued." in page and "starts within seconds" not in page


def test_customer_admin_is_asked_to_tell_the_reseller_not_shown_the_command(world, alice_client):
    job = queued(world.acme, JobKind.SYNC)
    page = text(poll(alice_client, "sync now", job))
    assert "Please tell your reseller." in page and START_HINT not in page


def _working_on(client, customer):
    with client.session_transaction() as session:
        session["customer_id"] = customer.id
    return client


def test_reseller_admin_is_asked_to_tell_the_operator(world, rita_client):
    job = queued(world.acme, JobKind.SYNC)
    page = text(poll(_working_on(rita_client, world.acme), "sync now", job))
    assert "Please tell the portal's operator." in page and START_HINT not in page


def test_operator_is_shown_the_command_that_starts_the_runner(app, world):
    app.config["RUNNER_START_HINT"] = "systemctl start awareness-portal-runner"
    olga = _working_on(app.test_client().sign_in_as(world.olga), world.acme)
    job = queued(world.acme, JobKind.SYNC)
    page = text(poll(olga, "sync now", job))
    assert f"Start it with: <code>{START_HINT}</code>" in page


def test_german_admin_reads_the_notice_in_german(world, alice_client):
    ensure_compiled()
    health.beat("runner-a", now=utcnow() - timedelta(hours=2))
    queued(world.acme, JobKind.SYNC)
    page = text(alice_client.get("/sync/status", headers={**HX, "Accept-Language": "de-DE,de;q=0.9"}))
    assert "Der Hintergrunddienst (Runner) läuft nicht (zuletzt gesehen vor 2 Stunden)." in page
    assert "Bitte informieren Sie Ihren Reseller." in page


# Pages whose first render shows queued work of each kind (no poll has fired yet).
FIRST_RENDERS = {
    "sync": (JobKind.SYNC, "/sync/history"),
    "preview": (JobKind.PREVIEW, "/sync/preview"),
}


@pytest.mark.parametrize("name", FIRST_RENDERS)
def test_a_page_with_queued_work_says_the_runner_is_down_on_its_first_render(world, alice_client, name):
    """Issue 21: the page said "queued and starts within seconds" until its first poll fired."""
    kind, path = FIRST_RENDERS[name]
    queued(world.acme, kind)
    page = text(alice_client.get(path))
    assert NOT_RUNNING in page and "starts within seconds" not in page
    health.beat("runner-a", now=utcnow())
    assert NOT_RUNNING not in text(alice_client.get(path))


def test_the_customer_overview_says_at_its_top_that_the_runner_is_down(world, rita_client):
    page = text(rita_client.get("/admin/overview"))
    assert NOT_RUNNING in page and page.index(NOT_RUNNING) < page.index("<table")
    assert "Please tell the portal's operator." in page
    health.beat("runner-a", now=utcnow())
    assert NOT_RUNNING not in text(rita_client.get("/admin/overview"))
