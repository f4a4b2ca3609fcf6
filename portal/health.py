"""Is the background runner alive? The one answer for pages, `/readyz` and `doctor`.

Each runner process writes a `RunnerHeartbeat` row (`beat`) every RUNNER_BEAT_SECONDS while it
runs, also in the middle of a long job; `runner_health()` reads the newest one. A runner counts as
alive while its last beat is younger than RUNNER_STALE_SECONDS.
"""

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from portal.extensions import db, migrate
from portal.models.base import utcnow
from portal.models.runner import RunnerHeartbeat

log = logging.getLogger(__name__)
OK = "ok"


@dataclass(frozen=True)
class RunnerHealth:
    """What the pages say about the background runner."""

    alive: bool
    last_seen: datetime | None  # None: no runner was ever seen on this database
    start_hint: str  # the command or service that starts it

    @property
    def never_seen(self):
        return self.last_seen is None


def beat(owner, now=None, stopped=False):
    """Record that runner `owner` is alive (or has stopped), on a connection of its own."""
    now = now or utcnow()
    values = {"seen_at": now, "stopped_at": now if stopped else None}
    with db.engine.begin() as conn:
        updated = conn.execute(
            update(RunnerHeartbeat).where(RunnerHeartbeat.owner == owner).values(**values)
        ).rowcount
        if updated:
            return
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(RunnerHeartbeat).values(
                        owner=owner,
                        hostname=socket.gethostname()[:100],
                        pid=os.getpid(),
                        started_at=now,
                        **values,
                    )
                )
        except IntegrityError:  # the same owner raced itself (heartbeat thread and loop)
            pass


def runner_health(now=None):
    """The newest runner heartbeat, and whether a runner is alive: one that has not stopped and
    beat within RUNNER_STALE_SECONDS (a runner stopped cleanly says so at once)."""
    now = now or utcnow()
    last_seen = _aware(db.session.scalar(select(func.max(RunnerHeartbeat.seen_at))), now)
    running = _aware(
        db.session.scalar(
            select(func.max(RunnerHeartbeat.seen_at)).where(RunnerHeartbeat.stopped_at.is_(None))
        ),
        now,
    )
    stale = timedelta(seconds=current_app.config["RUNNER_STALE_SECONDS"])
    alive = running is not None and now - running <= stale
    return RunnerHealth(alive=alive, last_seen=last_seen, start_hint=current_app.config["RUNNER_START_HINT"])


def _aware(value, now):
    """SQLite's max() returns the stored text, without the column's type: a timestamp again."""
    if value is not None and not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=now.tzinfo)
    return value


def forget_old_heartbeats(now=None, keep_days=7):
    """Housekeeping (sync.tasks.upkeep): drop the rows of runners not seen for a week. COMMITS;
    returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    gone = db.session.execute(
        RunnerHeartbeat.__table__.delete().where(RunnerHeartbeat.seen_at < cutoff)
    ).rowcount
    db.session.commit()
    return gone


def readiness(now=None):
    """May this portal take traffic? Each check's answer: "ok" or the reason it fails.

    The database answers, its schema is at the migrations' head, and a runner beat recently (so
    queued work gets done). No check says anything about a customer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("readiness: the database does not answer: %s", exc.orig or exc)
        skipped = "not checked: the database does not answer"
        return {"database": "the database does not answer", "migrations": skipped, "runner": skipped}
    return {"database": OK, "migrations": _migrations_problem() or OK, "runner": _runner_problem(now) or OK}


def schema_revisions(connection):
    """(the database's Alembic revisions, the code's heads, the database's revisions the code does
    not know: a newer release upgraded it)."""
    script = ScriptDirectory.from_config(migrate.get_config())
    heads = set(script.get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())
    unknown = current - {revision.revision for revision in script.walk_revisions()}
    return current, heads, unknown


def _migrations_problem():
    """Why the database's schema is not the code's (None when it is at the migrations' head)."""
    current, heads, _unknown = schema_revisions(db.session.connection())
    if current == heads:
        return None
    found, wanted = ", ".join(sorted(current)) or "none", ", ".join(sorted(heads))
    return f"the database is at revision {found}, the code at {wanted}: run flask db upgrade"


def _runner_problem(now=None):
    """Why queued work would wait (None while a runner is alive)."""
    health = runner_health(now)
    if health.alive:
        return None
    if health.never_seen:
        return "no runner has ever been seen: start it"
    return f"no runner seen since {health.last_seen.isoformat(timespec='seconds')}: start it"
