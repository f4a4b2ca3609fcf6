"""One writer per customer's book: a lease (portal.lease) on a lock row, claimed with a conditional
UPDATE (SQLite and PostgreSQL).

Two runners, `flask sync run` and the web's changes to a book (held removals, "Link active" off, a
CSV import) never change the same customer's book at once. The holder's lease lasts
SYNC_LOCK_LEASE_SECONDS; while it works the unit of work's one renewal thread (portal.lease.Renewer:
a sync job's lease and its customer's lock share it) renews it every SYNC_LOCK_RENEW_SECONDS on its
own database connection (Graph calls can be slow). A holder that died (SIGKILL, power loss) stops
renewing: once its lease ran out the next writer takes the lock over, and in the same transaction
marks the customer's runs still "running" as interrupted.

    with lock.held(customer_id, wait_seconds) as lease:   # CustomerBusy when another holds it
        ...
        lease.confirm()        # in the final transaction, before its commit: LockLost if not ours
        db.session.commit()

`acquire(customer_id, owner, wait_seconds)` / `release(customer_id, owner)` are the parts `held` is
made of. A writer whose whole work is one short transaction (a SCIM request) calls
`in_transaction(customer_id, wait_seconds)` first instead: it locks the free lock row until the
transaction ends (PostgreSQL: a row lock; SQLite: the database's write lock), so such writers queue
behind each other and behind lease holders without a lease or a renewal thread. Writers that change
only rows of their own call `shared_in_transaction` (PostgreSQL: they share the row among
themselves, and exclude the others as in_transaction does). Every function
takes a clock (`clock=`, an aware-UTC `now()`), so tests move time instead
of sleeping.
"""

import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from portal import lease as leases
from portal.extensions import db
from portal.i18n import N_
from portal.models.base import utcnow
from portal.models.sync import INTERRUPTED_MESSAGE, RunStatus, SyncLock, SyncRun

log = logging.getLogger(__name__)

# What an admin reads when the web cannot change the book now (translated where it is shown).
BUSY_MESSAGE = N_("A synchronization of this customer is running; please try again in a minute.")


class CustomerBusy(Exception):
    """Another writer holds the customer's lock."""

    def __init__(self, customer_id):
        super().__init__(f"customer {customer_id}: {BUSY_MESSAGE}")
        self.customer_id = customer_id
        self.message = BUSY_MESSAGE


class LockLost(leases.Lost):
    """Our lease ran out and another writer took the lock over: what we did must not be committed."""


LOCK = leases.Kind(SyncLock, SyncLock.customer_id, SyncLock.owner, SyncLock.expires_at, LockLost)


def new_owner():
    """A name for this holder that no other process or thread shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease():
    return timedelta(seconds=current_app.config["SYNC_LOCK_LEASE_SECONDS"])


def acquire(customer_id, owner, wait_seconds=0.0, poll=0.5, clock=utcnow):
    """Take the customer's lock for `owner`; True when taken. COMMITS. Waits up to wait_seconds.

    A lock whose lease ran out is taken over; the dead holder's runs are marked interrupted.
    """
    _ensure_row(customer_id)
    deadline = time.monotonic() + wait_seconds
    while True:
        if _take(customer_id, owner, clock()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def _take(customer_id, owner, now):
    if _claim(customer_id, owner, now, SyncLock.owner.is_(None)):
        db.session.commit()
        return True
    if not _claim(customer_id, owner, now, and_(SyncLock.owner.is_not(None), SyncLock.expires_at < now)):
        db.session.commit()
        return False
    interrupted = interrupt_runs(customer_id, now)
    db.session.commit()
    log.warning(
        "customer %s: lock taken over from an expired holder; runs %s marked interrupted",
        customer_id,
        interrupted,
    )
    return True


def _claim(customer_id, owner, now, condition):
    return leases.claim(LOCK, customer_id, owner, now + _lease(), condition)


def interrupt_runs(customer_id, now):
    """Mark the customer's runs still "running" as interrupted (caller commits); returns their ids."""
    ids = db.session.scalars(
        select(SyncRun.id).where(SyncRun.customer_id == customer_id, SyncRun.status == RunStatus.RUNNING)
    ).all()
    _mark_interrupted(ids, now)
    return ids


def _mark_interrupted(run_ids, now):
    if run_ids:
        db.session.execute(
            update(SyncRun)
            .where(SyncRun.id.in_(run_ids), SyncRun.status == RunStatus.RUNNING)
            .values(status=RunStatus.INTERRUPTED, finished_at=now, message=INTERRUPTED_MESSAGE)
            .execution_options(synchronize_session=False)
        )


def interrupt_orphaned_runs(clock=utcnow):
    """Housekeeping: runs "running" while their customer's lock is free or expired are interrupted.

    Catches what no takeover did (nobody synced that customer since its holder died). COMMITS;
    returns {customer_id: [run ids]}.
    """
    now = clock()
    alive = select(SyncLock.customer_id).where(SyncLock.owner.is_not(None), SyncLock.expires_at >= now)
    rows = db.session.execute(
        select(SyncRun.customer_id, SyncRun.id).where(
            SyncRun.status == RunStatus.RUNNING, SyncRun.customer_id.not_in(alive)
        )
    ).all()
    found = {}
    for customer_id, run_id in rows:
        found.setdefault(customer_id, []).append(run_id)
    for customer_id, run_ids in found.items():
        _mark_interrupted(run_ids, now)
        log.warning("customer %s: runs %s were left running by a stopped process", customer_id, run_ids)
    db.session.commit()
    return found


def renew(customer_id, owner, clock=utcnow, connection=None):
    """Push `owner`'s lease forward; False when the lock is no longer ours.

    On `connection` (the renewing thread's own) or else in the session's current transaction.
    """
    return leases.renew(LOCK, customer_id, owner, clock() + _lease(), connection)


def release(customer_id, owner):
    """Give the lock back (only if `owner` still holds it). COMMITS."""
    leases.release(LOCK, customer_id, owner)


def _ensure_row(customer_id):
    if db.session.get(SyncLock, customer_id) is not None:
        return
    try:
        db.session.add(SyncLock(customer_id=customer_id))
        db.session.commit()
    except IntegrityError:  # another process created it a moment ago
        db.session.rollback()


def in_transaction(customer_id, wait_seconds=0.0, poll=0.05, clock=utcnow):
    """Hold the customer's lock for the rest of the current transaction (it must not have written
    yet); CustomerBusy when a lease holder keeps it longer than wait_seconds. Its commit or
    rollback releases it. An expired holder's lock is taken over as by acquire."""
    deadline = time.monotonic() + wait_seconds
    while True:
        now = clock()
        mine = SyncLock.customer_id == customer_id
        free = update(SyncLock).where(mine, SyncLock.owner.is_(None)).values(owner=None)
        if db.session.execute(free).rowcount:
            return
        if db.session.get(SyncLock, customer_id) is None:  # the customer's first writer
            db.session.rollback()
            _ensure_row(customer_id)
            continue
        expired = and_(SyncLock.owner.is_not(None), SyncLock.expires_at < now)
        if db.session.execute(update(SyncLock).where(mine, expired).values(owner=None)).rowcount:
            interrupt_runs(customer_id, now)
            return
        db.session.rollback()
        if time.monotonic() >= deadline:
            raise CustomerBusy(customer_id)
        time.sleep(poll)


_LOCKS = SyncLock.__table__
_SHARE = (  # built once: every SCIM upsert runs it
    select(_LOCKS.c.owner, _LOCKS.c.expires_at)
    .where(_LOCKS.c.customer_id == bindparam("customer_id"))
    .with_for_update(read=True)
)


def shared_in_transaction(customer_id, wait_seconds=0.0, poll=0.05, clock=utcnow):
    """in_transaction for writers that change only rows of their own (a SCIM upsert of one user):
    on PostgreSQL they share the lock row (SELECT ... FOR SHARE), so they run side by side, and
    each keeps out in_transaction's and acquire's writers (their UPDATE waits for the sharers)
    while being kept out by them. Returns whether the lock is shared: SQLite has one writer at a
    time anyway, and the customer's first writer or one taking over an expired holder takes it as
    in_transaction does (False); a writer that shares it and finds it must change more (whole-book
    work) reruns under in_transaction."""
    if db.session.get_bind().dialect.name != "postgresql":
        in_transaction(customer_id, wait_seconds, poll, clock)
        return False
    deadline = time.monotonic() + wait_seconds
    while True:
        row = db.session.connection().execute(_SHARE, {"customer_id": customer_id}).first()
        if row is None or (row.owner is not None and row.expires_at < clock()):
            db.session.rollback()  # the first writer, or an expired holder: in_transaction's way
            in_transaction(customer_id, wait_seconds, poll, clock)
            return False
        if row.owner is None:
            return True
        db.session.rollback()
        if time.monotonic() >= deadline:
            raise CustomerBusy(customer_id)
        time.sleep(poll)


@contextmanager
def held(customer_id, wait_seconds=0.0, clock=utcnow):
    """Hold the customer's lock for the block: acquire (CustomerBusy if not within wait_seconds),
    renew it on the unit of work's renewal thread, release at the end (also on an exception).
    Yields the portal.lease.Held: `confirm()` before the final commit."""
    owner = new_owner()
    if not acquire(customer_id, owner, wait_seconds, clock=clock):
        raise CustomerBusy(customer_id)
    app = current_app._get_current_object()
    try:
        with leases.renewing(app, f"lock-{customer_id}") as renewer:
            lease = renewer.hold(
                LOCK,
                customer_id,
                owner,
                app.config["SYNC_LOCK_LEASE_SECONDS"],
                clock,
                every=app.config["SYNC_LOCK_RENEW_SECONDS"],
            )
            try:
                yield lease
            finally:
                # What the block left uncommitted is not kept (release rolls back too). Rolled back
                # first: a confirm() left uncommitted locks the row that a renewal under way waits
                # for, and drop() waits for that renewal.
                db.session.rollback()
                renewer.drop(lease)
    finally:
        release(customer_id, owner)
