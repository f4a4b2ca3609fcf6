"""entra removal reports

sync_run.report_pending: an Entra provisioning removal whose removal report goes out with the other
removals of its cycle (portal.scim.reports), one report per cycle instead of one per deleted user.
Runs made before are not pending (server default false): their reports went out already.

Revision ID: c8e2a4f6b901
Revises: b5d17e3c9a20
Create Date: 2026-12-07 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c8e2a4f6b901"
down_revision = "b5d17e3c9a20"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "sync_run", sa.Column("report_pending", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade():
    with op.batch_alter_table("sync_run") as batch_op:
        batch_op.drop_column("report_pending")
