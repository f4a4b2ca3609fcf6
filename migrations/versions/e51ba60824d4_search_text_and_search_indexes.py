"""search text and search indexes

contact.search_text: the folded names and email (portal.search.document), filled here for the
existing contacts. directory_user / directory_group already had a lower-cased search_text: it is
folded now. Then each table gets its search index: on SQLite an FTS5 trigram table with triggers,
on PostgreSQL a pg_trgm GIN index (the extension is installed when missing). Downgrade drops the
indexes and the contact column; the directory cache keeps its folded text until the next load.

Revision ID: e51ba60824d4
Revises: 47ed0db0f502
Create Date: 2026-12-05 13:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

from portal import search
from portal.models.contacts import contact_search_text

# revision identifiers, used by Alembic.
revision = "e51ba60824d4"
down_revision = "47ed0db0f502"
branch_labels = None
depends_on = None

TABLES = ("contact", "directory_user", "directory_group")
CHUNK = 5000


def _refill(name, columns, text_of):
    """Set search_text = text_of(row) for every row of table `name`, a chunk at a time."""
    table = sa.table(name, sa.column("id"), sa.column("search_text"), *[sa.column(c) for c in columns])
    write = (
        table.update()
        .where(table.c.id == sa.bindparam("row_id"))
        .values(search_text=sa.bindparam("new_text"))
    )
    conn, last = op.get_bind(), 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, *[table.c[c] for c in columns])
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(CHUNK)
        ).fetchall()
        if not rows:
            return
        conn.execute(write, [{"row_id": row[0], "new_text": text_of(*row[1:])} for row in rows])
        last = rows[-1][0]


def upgrade():
    op.add_column("contact", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    _refill("contact", ("first_name", "last_name", "email"), contact_search_text)
    for name in ("directory_user", "directory_group"):
        _refill(name, ("search_text",), search.document)
    for name in TABLES:
        search.create_index(op.get_bind(), name)


def downgrade():
    for name in TABLES:
        search.drop_index(op.get_bind(), name)
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("search_text")
