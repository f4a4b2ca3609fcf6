"""job dedupe key

job.dedupe_key: work that must be queued once only (the daily sync of a customer on a day,
"daily-sync:<customer id>:<YYYY-MM-DD>") carries a key, and a unique index makes the database
refuse a second row with it, so two runners queueing at the same moment never duplicate a sync.
Existing jobs get NULL, which the unique index allows any number of times: nothing else changes.

Revision ID: 47ed0db0f502
Revises: 25fd1282042b
Create Date: 2026-12-04 13:44:35.036817

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "47ed0db0f502"
down_revision = "25fd1282042b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_job_dedupe_key"), ["dedupe_key"], unique=True)


def downgrade():
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_dedupe_key"))
        batch_op.drop_column("dedupe_key")
