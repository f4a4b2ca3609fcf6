"""The provisioning activity log: what each request to /scim/v2 did (ScimActivity rows).

recent(customer, limit=50)      the newest requests first
last_cycle_counts(customer)     {"created", "updated", "disabled", "deleted"} of the last cycle
"""

from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ScimActivity
from portal.models.provisioning import ScimOperation

# Entra pushes a cycle about every 40 minutes: requests closer together than this belong to one cycle.
CYCLE_GAP = timedelta(minutes=20)
CYCLE_LOOKBACK = 5000  # requests read back to find where the last cycle began
COUNTED = {
    "created": (ScimOperation.CREATE, ScimOperation.RESTORE),
    "updated": (ScimOperation.UPDATE, ScimOperation.ENABLE),
    "disabled": (ScimOperation.DISABLE,),
    "deleted": (ScimOperation.DELETE, ScimOperation.DELETE_HELD),
}


def recent(customer, limit=50):
    """The customer's newest `limit` requests (ScimActivity), newest first."""
    query = select(ScimActivity).where(ScimActivity.customer_id == customer.id)
    query = query.order_by(ScimActivity.at.desc(), ScimActivity.id.desc()).limit(limit)
    return db.session.scalars(query).all()


def _cycle_start(customer):
    """When the last cycle began: the newest request after a pause longer than CYCLE_GAP."""
    times = db.session.scalars(
        select(ScimActivity.at)
        .where(ScimActivity.customer_id == customer.id)
        .order_by(ScimActivity.at.desc(), ScimActivity.id.desc())
        .limit(CYCLE_LOOKBACK)
    ).all()
    start = times[0] if times else None
    for earlier in times[1:]:
        if start - earlier > CYCLE_GAP:
            break
        start = earlier
    return start


def last_cycle_counts(customer):
    """How many users the last cycle created, updated, disabled and deleted (0 each before any)."""
    counts = dict.fromkeys(COUNTED, 0)
    start = _cycle_start(customer)
    if start is None:
        return counts
    rows = db.session.execute(
        select(ScimActivity.operation, func.count())
        .where(ScimActivity.customer_id == customer.id, ScimActivity.at >= start)
        .group_by(ScimActivity.operation)
    ).all()
    by_operation = dict(rows)
    for name, operations in COUNTED.items():
        counts[name] = sum(by_operation.get(op.value, 0) for op in operations)
    return counts
