"""Leases: a row held by one owner until an expiry, for job claims (portal.queue) and customer locks
(portal.sync.lock).

A lease is claimed by a conditional UPDATE checked by rowcount (of several claimers exactly one
wins), renewed while its holder works, and given back at the end. A holder that died stops
renewing; once the expiry passed, the next claimer's condition lets it take the row over.

    JOB = lease.Kind(Job, Job.id, Job.lease_owner, Job.lease_expires_at, LeaseLost,
                     held=(Job.status == "running",))
    lease.claim(JOB, key, owner, until, condition, **values)   -> bool  (caller commits)
    lease.renew(JOB, key, owner, until, connection=None, **values) -> bool
    lease.while_held(JOB, key, owner, values)  -> bool   an UPDATE only while the lease is ours
    lease.release(JOB, key, owner, **values)     gives it back (COMMITS)

    with lease.renewing(app, "job-7") as renewer:   # ONE thread renews every lease of a unit of
        held = renewer.hold(JOB, key, owner, seconds, clock, every)   # work; a nested renewing()
        ...                                         # (the customer lock inside a sync job) joins it
        held.confirm()                              # in the final transaction: raises Kind.lost

Every expiry comes from a clock (`clock=`, an aware-UTC `now()`), so tests move time instead of
sleeping.
"""

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, update

from portal.extensions import db

log = logging.getLogger(__name__)
THREAD_PREFIX = "lease-renewer"

_current = threading.local()  # the Renewer of the unit of work this thread runs


class Lost(Exception):
    """Our lease ran out and another holder took the row over: what we did must not be committed."""


@dataclass(frozen=True, eq=False)
class Kind:
    """Where a kind of lease lives: its model, key, owner and expiry columns, the exception that
    says it was lost, and what else is true while it is held (e.g. the job is running)."""

    model: type
    key: object
    owner: object
    expires: object
    lost: type = Lost
    held: tuple = ()

    def ours(self, key, owner):
        """The condition: this row, held by `owner`."""
        return and_(self.key == key, self.owner == owner, *self.held)


def _execute(statement, connection=None):
    if connection is not None:
        return connection.execute(statement).rowcount
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount


def claim(kind, key, owner, until, condition, **values):
    """Make `owner` the holder of row `key` until `until` where `condition` holds; True when this
    UPDATE won the row (rowcount 1). In the session's transaction: the caller commits."""
    statement = (
        update(kind.model)
        .where(kind.key == key, condition)
        .values({kind.owner.key: owner, kind.expires.key: until, **values})
    )
    return _execute(statement) == 1


def while_held(kind, key, owner, values, connection=None):
    """Set `values` (column name -> value) on row `key` only while `owner` holds its lease; False
    when it is not ours."""
    statement = update(kind.model).where(kind.ours(key, owner)).values(values)
    return _execute(statement, connection) == 1


def renew(kind, key, owner, until, connection=None, **values):
    """Push `owner`'s lease on `key` to `until` (with `values`); False when it is no longer ours.

    On `connection` (a renewing thread's own) or else in the session's current transaction.
    """
    statement = update(kind.model).where(kind.ours(key, owner)).values({kind.expires.key: until, **values})
    return _execute(statement, connection) == 1


def release(kind, key, owner, **values):
    """Give the lease back (only if `owner` still holds it), setting `values` too. COMMITS."""
    db.session.rollback()
    while_held(kind, key, owner, {kind.owner.key: None, kind.expires.key: None, **values})
    db.session.commit()


@dataclass(eq=False)
class Held:
    """One lease a unit of work holds, kept alive by its Renewer."""

    kind: Kind
    key: object
    owner: str
    seconds: float
    clock: object
    every: float  # how often it must be renewed
    lost: threading.Event = field(default_factory=threading.Event)

    def until(self):
        """The expiry a renewal now sets."""
        return self.clock() + timedelta(seconds=self.seconds)

    def confirm(self):
        """In the caller's transaction: renew, or raise the kind's Lost. Call right before the final
        commit; the row stays locked until that commit, so nobody can take it over in between."""
        if not renew(self.kind, self.key, self.owner, self.until()):
            self.lost.set()
            raise self.kind.lost(f"{_name(self)}: taken over by another holder")


class Renewer:
    """The one thread that renews every lease a unit of work holds, on its own connection."""

    def __init__(self, app, name, after_renewal=None):
        self.app, self.after_renewal = app, after_renewal
        self._held = []
        self._guard = threading.Lock()
        self._round = threading.RLock()  # held while renewing: a dropped lease is not renewed after
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"{THREAD_PREFIX}-{name}", daemon=True)

    def hold(self, kind, key, owner, seconds, clock, every):
        """Keep `owner`'s lease on `key` alive from now on; returns its Held."""
        held = Held(kind, key, owner, seconds, clock, max(0.01, every))
        with self._guard:
            self._held.append(held)
        if not self._thread.is_alive():
            self._thread.start()
        self._wake.set()  # a shorter interval applies at once
        return held

    def drop(self, held):
        """Stop renewing `held` (it is being released, or it was lost); waits for a renewal under way."""
        with self._round, self._guard:
            if held in self._held:
                self._held.remove(held)

    def stop(self):
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _interval(self):
        with self._guard:
            return min((h.every for h in self._held), default=1.0)

    def _run(self):
        with self.app.app_context():
            while True:
                self._wake.wait(self._interval())
                self._wake.clear()
                if self._stopping:
                    return
                self._renew_all()

    def _renew_all(self):
        with self._round:
            with self._guard:
                held = list(self._held)
            if held:
                self._renew(held)

    def _renew(self, held):
        try:
            with db.engine.begin() as connection:
                lost = [h for h in held if not renew(h.kind, h.key, h.owner, h.until(), connection)]
        except Exception:  # a busy database must not end the renewals
            log.warning("could not renew the leases %s", [_name(h) for h in held], exc_info=True)
            return
        for h in lost:
            h.lost.set()
            self.drop(h)
            log.error("%s: lease lost by %s", _name(h), h.owner)
        if self.after_renewal is not None:
            try:
                self.after_renewal()
            except Exception:
                log.warning("after a lease renewal", exc_info=True)


def _name(held):
    return f"{held.kind.model.__tablename__} {held.key}"


def current():
    """The Renewer of the unit of work the calling thread runs, or None."""
    return getattr(_current, "renewer", None)


@contextmanager
def renewing(app, name, after_renewal=None):
    """The calling thread's Renewer for the block: the one already running (a lock taken inside a
    job joins the job's thread), else a new one, stopped when the block ends."""
    renewer = current()
    if renewer is not None:
        yield renewer
        return
    renewer = Renewer(app, name, after_renewal)
    _current.renewer = renewer
    try:
        yield renewer
    finally:
        _current.renewer = None
        renewer.stop()
