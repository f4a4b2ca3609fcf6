"""The runner loop: runs jobs, survives failures, renews leases, periodic work, clean stop on SIGTERM."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text

from portal import create_app, health, queue, search
from portal.extensions import db
from portal.health import runner_health
from portal.models import Job, RunnerHeartbeat
from portal.models.base import utcnow
from portal.runner import DailyAt, Every, Runner
from portal.sync import lock, tasks
from tests.conftest import make_test_config
from tests.factories import add_contact, reload
from tests.sync_helpers import SALES, connected_acme, imported  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent
RUNS = []
STARTED = threading.Event()
GO = threading.Event()  # a "long" job runs until the test lets it finish


class Clock:
    """A clock the test moves: the runner reads it for leases and heartbeats."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


@queue.handler("runner_test_ok")
def _ok(job):
    RUNS.append(job.id)
    return {"ok": True}


@queue.handler("runner_test_boom")
def _boom(job):
    raise ValueError("Contact list is not readable.")


@queue.handler("runner_test_long")
def _long(job):
    STARTED.set()
    assert GO.wait(10), "the test never let the job finish"
    RUNS.append(job.id)
    return {}


def _start_long_job(world):
    RUNS.clear()
    STARTED.clear()
    GO.clear()
    job = queue.enqueue("runner_test_long", world.acme)
    db.session.commit()
    return job


def _until(condition, seconds=10):
    """Wait (polling) until `condition()` holds; the runner's own threads make it true."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def test_run_once_runs_a_queued_job_and_reports_idle_otherwise(app, world):
    RUNS.clear()
    job = queue.enqueue("runner_test_ok", world.acme)
    db.session.commit()
    runner = Runner(app, periodic=[])
    assert runner.run_once() is True
    assert runner.run_once() is False
    assert reload(Job, job.id).status == "succeeded" and RUNS == [job.id]


def test_runner_survives_a_failing_job_and_runs_the_next(app, world):
    RUNS.clear()
    bad = queue.enqueue("runner_test_boom", world.acme)
    good = queue.enqueue("runner_test_ok", world.acme)
    db.session.commit()
    runner = Runner(app, periodic=[])
    assert runner.tick() and runner.tick()
    assert reload(Job, bad.id).status == "failed"
    assert reload(Job, bad.id).error == "Contact list is not readable."
    assert reload(Job, good.id).status == "succeeded"


def test_two_runner_loops_competing_for_one_job_run_it_exactly_once(app, world):
    RUNS.clear()
    job = queue.enqueue("runner_test_ok", world.acme)
    db.session.commit()
    barrier = threading.Barrier(2)

    def loop(name):
        runner = Runner(app, owner=name, periodic=[])
        runner.setup()
        barrier.wait()
        runner.run_once()

    threads = [threading.Thread(target=loop, args=(f"runner-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert RUNS == [job.id]
    assert reload(Job, job.id).status == "succeeded" and reload(Job, job.id).attempts == 1


def test_heartbeat_keeps_the_lease_while_a_long_job_runs(app, world):
    job = _start_long_job(world)
    clock = Clock()
    busy = Runner(app, owner="busy", lease_seconds=1, periodic=[], clock=clock)
    thread = threading.Thread(target=busy.run_once)
    thread.start()
    assert STARTED.wait(5)
    clock.advance(30)  # far past the lease taken at claim time: only a renewal keeps the job
    _until(lambda: reload(Job, job.id).lease_expires_at > clock.now)
    assert Runner(app, owner="other", periodic=[], clock=clock).run_once() is False
    GO.set()
    thread.join(10)
    assert RUNS == [job.id] and reload(Job, job.id).status == "succeeded"


def test_a_job_whose_runner_stopped_renewing_is_taken_over(app, world):
    job = queue.enqueue("runner_test_ok", world.acme)
    db.session.commit()
    clock = Clock()
    assert queue.claim_next("dead-runner", lease_seconds=60, now=clock()).id == job.id
    clock.advance(30)
    assert Runner(app, owner="other", periodic=[], clock=clock).run_once() is False  # lease still held
    clock.advance(31)
    assert Runner(app, owner="other", periodic=[], clock=clock).run_once() is True
    assert reload(Job, job.id).status == "succeeded" and reload(Job, job.id).attempts == 2


def test_the_runner_heartbeat_says_when_it_was_last_seen_and_that_it_stopped(app, world):
    clock = Clock()
    runner = Runner(app, owner="beating", periodic=[], clock=clock)
    assert runner_health().never_seen
    runner.tick()
    health = runner_health(now=clock.now)
    assert health.alive and health.last_seen == clock.now
    clock.advance(app.config["RUNNER_STALE_SECONDS"] + 1)
    assert not runner_health(now=clock.now).alive  # silent for too long
    runner.tick()
    assert runner_health(now=clock.now).alive
    runner.stop()
    runner.run_forever()  # already stopped: records that it stopped and returns
    row = db.session.get(RunnerHeartbeat, "beating", populate_existing=True)
    assert row.stopped_at == clock.now


def test_upkeep_forgets_runners_not_seen_for_a_week(app, world):
    health.beat("gone-for-good", now=utcnow() - timedelta(days=8), stopped=True)
    health.beat("stopped-yesterday", now=utcnow() - timedelta(days=1), stopped=True)
    assert tasks.upkeep()["heartbeats"] == 1
    owners = set(db.session.scalars(select(RunnerHeartbeat.owner)))
    assert owners == {"stopped-yesterday"}  # "last seen" stays right for the page that says it


def _forget_statistics():
    """No planner statistics of the contact book, as on a new installation (SQLite: none gathered;
    PostgreSQL: the time of the last ANALYZE is returned so later ones can be told apart)."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        db.session.commit()
    return db.session.scalar(text("SELECT CURRENT_TIMESTAMP"))


def _has_fresh_statistics(since):
    if db.engine.dialect.name == "sqlite":
        tables = db.session.execute(text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")).all()
        return bool(tables) and "contact" in db.session.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1"))
    analyzed = db.session.scalar(
        text(
            "SELECT last_analyze FROM pg_stat_user_tables "
            "WHERE relname = 'contact' AND schemaname = current_schema()"
        )
    )
    return analyzed is not None and analyzed >= since


def test_upkeep_gives_the_planner_statistics_of_the_contact_book(app, world):
    """Hourly: SQLite's statistics (sqlite_stat1) or PostgreSQL's (ANALYZE) follow the book."""
    for n in range(30):
        add_contact(world.acme, f"p{n}@acme.example", "Anna", f"Name{n}")
    started = _forget_statistics()
    tasks.upkeep()
    assert _has_fresh_statistics(started)


def test_an_import_writing_many_contacts_gives_the_planner_statistics_at_once(
    app, world, emulator, connected_acme, monkeypatch
):
    """Not an hour later: the book's filters are planned for the imported book straight away."""
    monkeypatch.setattr(search, "STATISTICS_AFTER", 3)
    started = _forget_statistics()
    imported(app, emulator, connected_acme, SALES[:2])  # two created: fewer, nothing gathered
    assert not _has_fresh_statistics(started)
    imported(app, emulator, connected_acme, SALES)  # three more created
    assert _has_fresh_statistics(started)
    _forget_statistics()  # later tests start without, as a user's database
    db.engine.dispose()


def test_stop_finishes_the_current_job_then_leaves_the_loop(app, world):
    job = _start_long_job(world)
    later = queue.enqueue("runner_test_ok", world.acme)
    db.session.commit()
    runner = Runner(app, poll_seconds=0.1, periodic=[])
    thread = threading.Thread(target=runner.run_forever)
    thread.start()
    assert STARTED.wait(5)
    runner.stop()
    GO.set()
    thread.join(5)
    assert not thread.is_alive()
    assert reload(Job, job.id).status == "succeeded"
    assert reload(Job, later.id).status == "queued"


def test_periodic_work_runs_in_an_app_context_and_its_errors_do_not_stop_the_runner(app, world):
    seen = []

    def broken():
        raise RuntimeError("boom")

    def records():
        seen.append(db.session.get(Job, 1) is None)

    runner = Runner(app, periodic=[Every(60, broken), Every(60, records, at_start=True)])
    runner.setup()
    assert seen == [True]  # at_start
    runner.run_all_periodic()
    assert seen == [True, True]


def test_daily_work_is_scheduled_at_the_configured_time(world):
    app = create_app(make_test_config(SYNC_DAILY_AT="03:15"))
    runner = Runner(app, periodic=[DailyAt("SYNC_DAILY_AT", lambda: None), DailyAt("23:05", lambda: None)])
    runner.setup()
    times = sorted(str(job.at_time) for job in runner.scheduler.jobs)
    assert times == ["03:15:00", "23:05:00"]


def test_default_periodic_work_includes_outbox_delivery(app):
    from portal.mail import deliver_outbox
    from portal.runner import PERIODIC

    assert deliver_outbox in [spec.target for spec in PERIODIC]


def _migrated_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'runner.db'}"
    scratch = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={}))
    with scratch.app_context():
        db.create_all()
        job = Job(kind="no_such_kind", params={}, result={}, error="")
        db.session.add(job)
        db.session.commit()
        db.engine.dispose()
    return url


def test_runner_process_runs_jobs_and_exits_cleanly_on_sigterm(tmp_path):
    url = _migrated_sqlite(tmp_path)
    env = dict(os.environ, DATABASE_URL=url, MAIL_SERVER="", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "runner"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status != "failed":
            time.sleep(0.3)
            with engine.connect() as conn:
                status = conn.exec_driver_sql("SELECT status FROM job").scalar()
        assert status == "failed"  # the unknown kind failed; the process is still running
        assert process.poll() is None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        with engine.connect() as conn:
            stopped = conn.exec_driver_sql("SELECT stopped_at FROM runner_heartbeat").scalar()
        assert stopped is not None  # pages can say the runner was stopped, and since when
    finally:
        if process.poll() is None:
            process.kill()
        engine.dispose()
    output = process.stdout.read()
    assert "stopped" in output


# --- several jobs at once (RUNNER_CONCURRENCY) ---------------------------------------------------
TOGETHER = threading.Barrier(2, timeout=10)  # both jobs must be running for either to pass
ACTIVE = {}  # customer id -> jobs of that customer running right now
PEAK = {}  # customer id -> most jobs of that customer that ever ran at once
ACTIVE_LOCK = threading.Lock()


@queue.handler("runner_test_together")
def _together(job):
    TOGETHER.wait()
    return {}


@queue.handler("runner_test_book_writer")
def _book_writer(job):
    with lock.held(job.customer_id, wait_seconds=10):
        with ACTIVE_LOCK:
            ACTIVE[job.customer_id] = ACTIVE.get(job.customer_id, 0) + 1
            PEAK[job.customer_id] = max(PEAK.get(job.customer_id, 0), ACTIVE[job.customer_id])
        time.sleep(0.3)
        with ACTIVE_LOCK:
            ACTIVE[job.customer_id] -= 1
    return {}


def _statuses(job_ids):
    return [reload(Job, job_id).status for job_id in job_ids]


def test_a_runner_with_concurrency_two_runs_jobs_of_two_customers_at_once(app, world):
    TOGETHER.reset()
    jobs = [queue.enqueue("runner_test_together", customer) for customer in (world.acme, world.globex)]
    db.session.commit()
    Runner(app, periodic=[], concurrency=2).run_until_idle()
    assert _statuses([j.id for j in jobs]) == ["succeeded", "succeeded"]  # neither waited in vain


def test_concurrent_jobs_never_write_one_customers_book_at_the_same_time(app, world):
    ACTIVE.clear()
    PEAK.clear()
    customers = (world.acme, world.acme, world.acme, world.globex)
    jobs = [queue.enqueue("runner_test_book_writer", customer) for customer in customers]
    db.session.commit()
    Runner(app, periodic=[], concurrency=4).run_until_idle()
    assert _statuses([j.id for j in jobs]) == ["succeeded"] * 4
    assert PEAK == {world.acme.id: 1, world.globex.id: 1}


def test_stop_lets_every_worker_finish_its_current_job_then_leaves_the_loop(app, world):
    RUNS.clear()
    STARTED.clear()
    GO.clear()
    first = queue.enqueue("runner_test_long", world.acme)
    second = queue.enqueue("runner_test_long", world.globex)
    db.session.commit()
    runner = Runner(app, poll_seconds=0.05, periodic=[], concurrency=2)
    thread = threading.Thread(target=runner.run_forever)
    thread.start()
    _until(lambda: _statuses([first.id, second.id]) == ["running", "running"])
    later = queue.enqueue("runner_test_ok", world.initech)
    db.session.commit()
    runner.stop()
    GO.set()
    thread.join(10)
    assert not thread.is_alive()
    assert _statuses([first.id, second.id, later.id]) == ["succeeded", "succeeded", "queued"]
