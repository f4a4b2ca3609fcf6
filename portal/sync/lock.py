"""One writer per customer's book: a lock row claimed with a conditional UPDATE (SQLite and PostgreSQL).

Two runners (or a runner and `flask sync run`) never sync or import the same customer at once.
A lock whose holder died expires after LOCK_SECONDS and can be taken over.
"""

import os
import socket
import time
import uuid
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models.base import utcnow
from portal.models.sync import SyncLock

LOCK_SECONDS = 3600


def new_owner():
    """A name for this holder that no other process or thread shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(customer_id, owner, wait_seconds=0.0, poll=0.5):
    """Take the customer's lock for `owner`; True when taken. COMMITS. Waits up to wait_seconds."""
    _ensure_row(customer_id)
    deadline = time.monotonic() + wait_seconds
    while True:
        now = utcnow()
        taken = db.session.execute(
            update(SyncLock)
            .where(
                SyncLock.customer_id == customer_id, or_(SyncLock.owner.is_(None), SyncLock.expires_at < now)
            )
            .values(owner=owner, expires_at=now + timedelta(seconds=LOCK_SECONDS))
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if taken == 1:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def release(customer_id, owner):
    """Give the lock back (only if `owner` still holds it). COMMITS."""
    db.session.rollback()
    db.session.execute(
        update(SyncLock)
        .where(SyncLock.customer_id == customer_id, SyncLock.owner == owner)
        .values(owner=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _ensure_row(customer_id):
    if db.session.get(SyncLock, customer_id) is not None:
        return
    try:
        db.session.add(SyncLock(customer_id=customer_id))
        db.session.commit()
    except IntegrityError:  # another process created it a moment ago
        db.session.rollback()
