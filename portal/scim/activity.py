"""The provisioning activity log: one ScimActivity row per request to /scim/v2.

    record(customer_id, token_id, method, operation, status, resource_type, resource_id, detail,
           wrote=True)
    recent(customer, limit=50)      the newest rows first
    last_cycle_counts(customer)     {"created", "updated", "disabled", "deleted"} of the last cycle

A row never holds a secret or a request body: the operation (a ScimOperation value), the resource,
the status and a short detail. Writing one is a single INSERT in the request's own transaction; every
PRUNE_EVERY rows of a customer the log is cut back to its newest KEEP rows (one DELETE by index).
Every STATISTICS_EVERY rows (statistics_due) the book's planner statistics are refreshed.
A cycle is Entra's run over the assigned users and groups: the requests since the last pause of
CYCLE_GAP or more.
"""

from datetime import timedelta

from sqlalchemy import delete, func, insert, select, true

from portal.extensions import db
from portal.models import ScimActivity, ScimOperation, utcnow

KEEP = 2000
PRUNE_EVERY = 100
DETAIL_LENGTH = 200
CYCLE_GAP = timedelta(minutes=10)
# Entra's initial cycle writes a book of thousands of contacts one request at a time. A plan made
# while the book was nearly empty (or with no statistics at all: SQLite never gathers them, and
# autovacuum may be minutes away) looks a user up by walking every contact of the customer, so the
# statistics are refreshed as the book grows (search.refresh_statistics), as imports and the sync do.
STATISTICS_EVERY = 1000
BOOK_TABLES = ("contact", "contact_group", "contact_group_member")

COUNTED = {
    "created": {ScimOperation.CREATE, ScimOperation.RESTORE},
    "updated": {ScimOperation.UPDATE, ScimOperation.ENABLE},
    "disabled": {ScimOperation.DISABLE},
    "deleted": {ScimOperation.DELETE, ScimOperation.DELETE_HELD},
}


# Built once (every request runs it): executed on the session's connection, outside the ORM.
_TABLE = ScimActivity.__table__
_INSERT = insert(_TABLE).returning(_TABLE.c.id)
# A read's row, on PostgreSQL: the transaction wrote only this row, so its commit need not wait for
# the disk (the most a crash in the next moment can lose is the log's last rows). Said in the same
# statement as the row (set_config for the transaction): a statement of its own was a round trip of
# every read.
_INSERT_UNFLUSHED = insert(_TABLE).returning(
    _TABLE.c.id, func.set_config("synchronous_commit", "off", true())
)


def record(
    customer_id,
    token_id,
    method,
    operation,
    status,
    resource_type="",
    resource_id="",
    detail="",
    wrote=True,
):
    """Add the row of one request (the caller commits); returns its id. `wrote` False: the request
    wrote nothing else (a read), and its commit does not wait for the disk (PostgreSQL)."""
    row = {
        "customer_id": customer_id,
        "token_id": token_id,
        "at": utcnow(),
        "method": method[:8],
        "operation": str(operation),
        "resource_type": resource_type,
        "resource_id": str(resource_id or "")[:64],
        "status": status,
        "detail": (detail or "")[:DETAIL_LENGTH],
    }
    connection = db.session.connection()
    unflushed = not wrote and connection.dialect.name == "postgresql"
    row_id = connection.execute(_INSERT_UNFLUSHED if unflushed else _INSERT, row).first()[0]
    if row_id % PRUNE_EVERY == 0:
        prune(customer_id)
    return row_id


def statistics_due(row_id):
    """Whether the request that wrote activity row `row_id` (of any customer) refreshes the book's
    statistics (search.refresh_statistics(BOOK_TABLES)) after its commit."""
    return row_id % STATISTICS_EVERY == 0


def prune(customer_id, keep=KEEP):
    """Delete the customer's rows older than its newest `keep`."""
    oldest_kept = db.session.scalar(
        select(ScimActivity.id)
        .where(ScimActivity.customer_id == customer_id)
        .order_by(ScimActivity.id.desc())
        .offset(keep - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        db.session.execute(
            delete(ScimActivity).where(ScimActivity.customer_id == customer_id, ScimActivity.id < oldest_kept)
        )


def recent(customer, limit=50):
    """The customer's newest `limit` rows, newest first."""
    return db.session.scalars(
        select(ScimActivity)
        .where(ScimActivity.customer_id == customer.id)
        .order_by(ScimActivity.at.desc(), ScimActivity.id.desc())
        .limit(limit)
    ).all()


def last_cycle_counts(customer):
    """How many users the last cycle created (or brought back), updated, disabled and deleted."""
    rows = db.session.execute(
        select(ScimActivity.at, ScimActivity.operation, ScimActivity.status)
        .where(ScimActivity.customer_id == customer.id)
        .order_by(ScimActivity.at.desc(), ScimActivity.id.desc())
        .limit(KEEP)
    ).all()
    counts = dict.fromkeys(COUNTED, 0)
    later = None
    for at, operation, status in rows:
        if later is not None and later - at >= CYCLE_GAP:
            break
        later = at
        if status < 300:
            for key, operations in COUNTED.items():
                counts[key] += operation in operations
    return counts
