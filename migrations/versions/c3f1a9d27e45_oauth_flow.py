"""oauth flow

oauth_flow: the Microsoft sign-ins and admin consents an admin session started, kept on the server
(bound to the session row, found by the state's hash, used once, worth nothing after 10 minutes)
instead of in the signed session cookie. A new table: existing data is untouched; flows that were
pending in cookies at the upgrade are simply started again.

Revision ID: c3f1a9d27e45
Revises: 1a8b60dd4a0c
Create Date: 2026-12-06 04:20:00

"""

import sqlalchemy as sa
from alembic import op

import portal.models.base

# revision identifiers, used by Alembic.
revision = "c3f1a9d27e45"
down_revision = "1a8b60dd4a0c"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_flow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_oauth_flow_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["admin_session.id"],
            name=op.f("fk_oauth_flow_session_id_admin_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_flow")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_flow_state_hash")),
    )
    with op.batch_alter_table("oauth_flow", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_flow_session_id"), ["session_id"], unique=False)


def downgrade():
    with op.batch_alter_table("oauth_flow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_flow_session_id"))
    op.drop_table("oauth_flow")
