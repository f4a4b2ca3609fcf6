"""The runner: the separate long-running process (`flask --app wsgi runner`).

It builds the app with create_app(), then loops: run due periodic work (the `schedule` library), claim
one queued job (portal.queue.claim_next: a conditional UPDATE, so several runners on several hosts never
run the same job), run it in an app context while one renewal thread (portal.lease.Renewer) renews its
lease, the customer lock the job takes, and the runner's heartbeat, repeat; when
there is nothing to do it sleeps POLL_SECONDS. A job's exception marks the job failed (its error is
shown in the UI) and the loop goes on. SIGTERM/SIGINT: finish the current jobs, then exit 0; a second
signal releases the current jobs back to the queue and exits at once.

Up to RUNNER_CONCURRENCY jobs run at once: the loop's own thread plus RUNNER_CONCURRENCY - 1 worker
threads, each claiming jobs the same way in its own app context (its own database session). Jobs of
different customers then overlap their waits on Microsoft; two writers of one customer's book never
do (portal.sync.lock); Graph's 429 Retry-After is honoured per request by the Graph client.

Periodic work — a line in PERIODIC (each target runs in an app context; exceptions are logged and
the loop goes on):

    PERIODIC = [
        Every(5, mail.deliver_outbox),
        DailyAt("SYNC_DAILY_AT", tasks.enqueue_daily_syncs),
    ]

`Every(seconds, target)` runs every so many seconds; `DailyAt(hhmm_or_config_key, target)` once a day at
HH:MM server time (a config key such as "SYNC_DAILY_AT" is read from app.config); `at_start=True` also
runs it once when the runner starts (e.g. to catch up a daily run missed while the runner was down).
Several runners each run their periodic work: targets must be safe to run concurrently (claim with a
conditional UPDATE or enqueue jobs idempotently).

Job handlers register with portal.queue.handler in their own modules; this module imports each of
them (below), and setup() refuses to start while a JobKind has no handler.

Tests drive one step at a time: `Runner(app).run_once()` (one job), `.tick()` (periodic + one job),
`.run_all_periodic()` (every periodic target now), `.run_until_idle()` (every queued job, concurrently).
"""

import logging
import os
import re
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import click
import schedule

from portal import health, lease, mail
from portal.extensions import db
from portal.manual import services as manual_services  # noqa: F401  (handler: DIRECTORY_LOAD)
from portal.models import JobKind
from portal.models.base import utcnow
from portal.queue import DEFAULT_LEASE_SECONDS, JOB, claim_next, registered_kinds, release, run_job
from portal.scim import reports as scim_reports
from portal.sync import connection, subscriptions, tasks  # noqa: F401  (handlers: GROUPS_LOAD; SYNC, IMPORT, ...)

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Every:
    """Run `target` every `seconds`."""

    seconds: float
    target: Callable
    at_start: bool = False

    def add_to(self, scheduler, app, call):
        scheduler.every(self.seconds).seconds.do(call)


@dataclass(frozen=True)
class DailyAt:
    """Run `target` once a day at HH:MM (or at the HH:MM in app.config[at])."""

    at: str
    target: Callable
    at_start: bool = False

    def add_to(self, scheduler, app, call):
        hhmm = self.at if re.fullmatch(r"\d\d:\d\d", self.at) else app.config[self.at]
        scheduler.every().day.at(hhmm).do(call)


# Mail delivery last: a pass of every target (run_all_periodic, `runner --once`) then also sends
# what the targets before it queued.
PERIODIC = [
    DailyAt("SYNC_DAILY_AT", tasks.enqueue_daily_syncs),
    Every(3600, tasks.upkeep, at_start=True),
    Every(60, connection.send_pending_reauth_notices),
    Every(scim_reports.REPORT_CHECK_SECONDS, scim_reports.send_pending_removal_reports),
    Every(5, mail.deliver_outbox),
]


class Runner:
    """One runner loop; create several (threads or processes) and they share the queue safely."""

    def __init__(
        self,
        app,
        owner=None,
        lease_seconds=DEFAULT_LEASE_SECONDS,
        poll_seconds=POLL_SECONDS,
        periodic=None,
        clock=utcnow,
        concurrency=None,
    ):
        self.app = app
        self.concurrency = concurrency or app.config["RUNNER_CONCURRENCY"]
        self.clock = clock  # aware UTC now; tests pass one they move instead of sleeping
        self.beat_seconds = app.config["RUNNER_BEAT_SECONDS"]
        self._last_beat = None
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.periodic = PERIODIC if periodic is None else periodic
        self.scheduler = schedule.Scheduler()
        self.stopping = threading.Event()
        self._set_up = False
        self._signals = 0
        self._running = {}  # thread name -> id of the job it runs (released on a forced stop)
        self._running_lock = threading.Lock()

    def setup(self):
        """Check every job kind has a handler, register periodic work (once)."""
        if self._set_up:
            return
        missing = sorted(set(JobKind) - set(registered_kinds()))
        if missing:
            raise RuntimeError(f"No handler registered for job kinds {missing}.")
        for spec in self.periodic:
            spec.add_to(self.scheduler, self.app, self._periodic_call(spec.target))
        self._set_up = True
        for spec in self.periodic:
            if spec.at_start:
                self._periodic_call(spec.target)()

    def beat(self, force=False, stopped=False):
        """Record this runner's heartbeat (at most every RUNNER_BEAT_SECONDS unless forced)."""
        now = self.clock()
        due = self._last_beat is None or (now - self._last_beat).total_seconds() >= self.beat_seconds
        if not (force or stopped or due):
            return
        with self.app.app_context():
            health.beat(self.owner, now=now, stopped=stopped)
        self._last_beat = now

    def _periodic_call(self, fn):
        def call():
            with self.app.app_context():
                try:
                    fn()
                except Exception:
                    db.session.rollback()
                    log.exception("periodic task %s failed", getattr(fn, "__name__", fn))

        return call

    def run_once(self):
        """Claim one job and run it to the end; True when a job ran."""
        self.setup()
        with self.app.app_context():
            job = claim_next(self.owner, self.lease_seconds, now=self.clock())
            if job is None:
                return False
            job_id = job.id
            name = threading.current_thread().name
            with self._running_lock:
                self._running[name] = job_id
            try:
                with lease.renewing(self.app, f"job-{job_id}", lambda: self.beat(force=True)) as renewer:
                    every = max(0.2, min(self.lease_seconds / 3, self.beat_seconds))
                    renewer.hold(JOB, job_id, self.owner, self.lease_seconds, self.clock, every)
                    run_job(job, self.owner, self.lease_seconds)
            except BaseException:  # forced stop mid-job: give the job back, then go
                release(job_id, self.owner)
                raise
            finally:
                with self._running_lock:
                    self._running.pop(name, None)
        return True

    def run_until_idle(self):
        """Run queued jobs, up to `concurrency` at once, until none is left (`runner --once`)."""
        self.setup()
        workers = self._start_workers(self._drain)
        self._drain()
        for worker in workers:
            worker.join()

    def _drain(self):
        while not self.stopping.is_set() and self._step():
            pass

    def _work(self):
        """A worker thread's loop: claim and run jobs until the runner stops."""
        while not self.stopping.is_set():
            if not self._step():
                self.stopping.wait(self.poll_seconds)

    def _step(self):
        try:
            return self.run_once()
        except Exception:  # e.g. the database is briefly unreachable
            log.exception("runner step failed")
            return False

    def _start_workers(self, target):
        workers = [
            threading.Thread(target=target, name=f"runner-worker-{i}", daemon=True)
            for i in range(1, self.concurrency)
        ]
        for worker in workers:
            worker.start()
        return workers

    def _release_running(self):
        """A forced stop: give every job the worker threads are running back to the queue."""
        with self._running_lock:
            job_ids = list(self._running.values())
        with self.app.app_context():
            for job_id in job_ids:
                release(job_id, self.owner)

    def run_pending(self):
        """Run the periodic work that is due."""
        self.setup()
        self.scheduler.run_pending()

    def run_all_periodic(self):
        """Run every periodic target now (tests, `runner --once`)."""
        self.setup()
        self.scheduler.run_all()

    def tick(self):
        """One step of the loop: heartbeat, due periodic work, then at most one job. True when a job ran."""
        self.beat()
        self.run_pending()
        return self.run_once()

    def run_forever(self):
        """Loop until stop() or a signal; sleep POLL_SECONDS when idle. The worker threads finish
        their current jobs before this returns (a forced stop gives those jobs back instead)."""
        self.setup()
        log.info("runner %s started (%s jobs at once)", self.owner, self.concurrency)
        workers = self._start_workers(self._work)
        try:
            while not self.stopping.is_set():
                try:
                    worked = self.tick()
                except Exception:  # e.g. the database is briefly unreachable
                    log.exception("runner step failed")
                    worked = False
                if not worked:
                    self.stopping.wait(self.poll_seconds)
            for worker in workers:
                worker.join()
        except KeyboardInterrupt:
            self.stopping.set()
            self._release_running()
            log.info("runner %s interrupted; current jobs released", self.owner)
        try:
            self.beat(stopped=True)
        except Exception:  # the database may be what stopped us
            log.warning("could not record that runner %s stopped", self.owner, exc_info=True)
        log.info("runner %s stopped", self.owner)

    def stop(self):
        """Ask the loop to stop after the current step."""
        self.stopping.set()

    def install_signal_handlers(self):
        """SIGTERM/SIGINT: stop after the current job; a second one interrupts it (job released)."""

        def on_signal(signum, frame):
            self._signals += 1
            if self._signals > 1:
                raise KeyboardInterrupt
            log.info("signal %s: stopping after the current job", signum)
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


def register_cli(app):
    """Add `flask runner`."""

    @app.cli.command("runner", with_appcontext=False)
    @click.option("--once", is_flag=True, help="Run all periodic work and queued jobs once, then exit.")
    def runner_command(once):
        """Run the background runner (jobs, daily sync, mail) until SIGTERM/SIGINT."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        runner = Runner(app)  # the app `flask --app wsgi` built: create_app(), as the web's
        if once:
            runner.beat()
            runner.run_all_periodic()
            runner.run_until_idle()
            return
        runner.install_signal_handlers()
        runner.run_forever()
