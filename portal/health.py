"""Is the background runner alive? The one answer for pages, `/readyz` and `doctor`.

Each runner process writes a `RunnerHeartbeat` row (`beat`) every RUNNER_BEAT_SECONDS while it
runs, also in the middle of a long job; `runner_health()` reads the newest one. A runner counts as
alive while its last beat is younger than RUNNER_STALE_SECONDS.
"""

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models.base import utcnow
from portal.models.runner import RunnerHeartbeat


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
    """The newest runner heartbeat and whether it is recent enough to call the runner alive."""
    now = now or utcnow()
    last_seen = db.session.scalar(select(func.max(RunnerHeartbeat.seen_at)))
    if last_seen is not None and last_seen.tzinfo is None:  # SQLite's max() loses the type
        last_seen = datetime.fromisoformat(str(last_seen)).replace(tzinfo=now.tzinfo)
    stale = timedelta(seconds=current_app.config["RUNNER_STALE_SECONDS"])
    alive = last_seen is not None and now - last_seen <= stale
    return RunnerHealth(alive=alive, last_seen=last_seen, start_hint=current_app.config["RUNNER_START_HINT"])


def forget_old_heartbeats(now=None, keep_days=7):
    """Housekeeping: drop the rows of runners not seen for a week."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    db.session.execute(RunnerHeartbeat.__table__.delete().where(RunnerHeartbeat.seen_at < cutoff))
