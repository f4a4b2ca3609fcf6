"""m365 connection type

m365_connection.connection_type: "delegated" (the administrator's refresh token, as every
connection so far) or "application" (application permissions granted by admin consent, read with
client-credentials tokens; such a row stores no refresh token). Existing connections become
"delegated" through the server default and keep their refresh token, delta links and everything
else unchanged.

Revision ID: 1a8b60dd4a0c
Revises: e51ba60824d4
Create Date: 2026-12-04 14:05:00.830763

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "1a8b60dd4a0c"
down_revision = "e51ba60824d4"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("m365_connection", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("connection_type", sa.String(length=20), server_default="delegated", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("m365_connection", schema=None) as batch_op:
        batch_op.drop_column("connection_type")
