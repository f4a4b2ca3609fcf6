"""Small helpers shared by the model modules."""

from datetime import UTC, datetime
from itertools import islice

from sqlalchemy import DateTime, insert
from sqlalchemy.types import TypeDecorator

from portal.extensions import db

INSERT_CHUNK = 2000  # rows handed to the driver at a time (and the most held in memory)
# Values in one SQL IN list: far below the bound-parameter limits of SQLite (32,766) and PostgreSQL.
IN_CHUNK = 500


def utcnow():
    """Aware UTC now; every timestamp in the database is UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def chunks(items, size=IN_CHUNK):
    """`items` (any iterable) as lists of at most `size`: the values of one SQL IN list each."""
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk


def insert_rows(table, rows, *returning):
    """INSERT `rows` (dicts with the same keys; any iterable, consumed INSERT_CHUNK at a time) into the
    Core `table`, many rows per statement; -> the `returning` columns of the new rows (unordered).

    A plain executemany is one statement per row on SQLite, and each statement that writes a search
    index (portal.search: FTS5, kept by triggers) flushes the index's pending terms: much
    slower than the same rows in few statements. With RETURNING, SQLAlchemy sends "insertmanyvalues"
    batches (many rows per statement) on every driver, so the primary key is returned when the
    caller asks for nothing. Core, not ORM: no per-row object, no batch split at a None.
    """
    statement = insert(table).returning(*(returning or table.primary_key.columns))
    rows, returned = iter(rows), []
    while batch := list(islice(rows, INSERT_CHUNK)):
        new_rows = db.session.execute(statement, batch).all()
        if returning:
            returned.extend(new_rows)
    return returned
