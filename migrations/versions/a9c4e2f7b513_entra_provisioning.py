"""entra provisioning

customer.directory_source: who writes the book, "graph" (every existing customer) or "scim".
contact: SCIM's external_id, user_name (+ user_name_key) and deactivated_at (NULL: active, as every
existing contact), with the indexes Entra's matching filters read.
contact_group.external_id: SCIM's externalId of a provisioned group.
scim_token, scim_activity: new tables.
New columns and tables only: existing rows keep their values.

Revision ID: a9c4e2f7b513
Revises: f2b7d4a9c318
Create Date: 2026-12-06 21:00:00

"""

import sqlalchemy as sa
from alembic import op

from portal import search
from portal.models.base import UTCDateTime

# revision identifiers, used by Alembic.
revision = "a9c4e2f7b513"
down_revision = "f2b7d4a9c318"
branch_labels = None
depends_on = None

CONTACT_COLUMNS = ("external_id", "user_name", "user_name_key", "deactivated_at")


def upgrade():
    op.add_column(
        "customer",
        sa.Column("directory_source", sa.String(length=10), nullable=False, server_default="graph"),
    )
    op.add_column("contact", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.add_column("contact", sa.Column("user_name", sa.String(length=254), nullable=True))
    op.add_column("contact", sa.Column("user_name_key", sa.String(length=254), nullable=True))
    op.add_column("contact", sa.Column("deactivated_at", UTCDateTime(), nullable=True))
    op.create_index("ix_contact_customer_external_id", "contact", ["customer_id", "external_id"])
    op.create_index("ix_contact_customer_user_name_key", "contact", ["customer_id", "user_name_key"])
    op.add_column("contact_group", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_table(
        "scim_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_from", sa.String(length=45), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_scim_token_customer_id", "scim_token", ["customer_id"])
    op.create_table(
        "scim_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("resource_type", sa.String(length=10), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["token_id"], ["scim_token.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scim_activity_customer_at", "scim_activity", ["customer_id", "at", "id"])


def downgrade():
    op.drop_index("ix_scim_activity_customer_at", table_name="scim_activity")
    op.drop_table("scim_activity")
    op.drop_index("ix_scim_token_customer_id", table_name="scim_token")
    op.drop_table("scim_token")
    with op.batch_alter_table("contact_group") as batch_op:
        batch_op.drop_column("external_id")
    op.drop_index("ix_contact_customer_user_name_key", table_name="contact")
    op.drop_index("ix_contact_customer_external_id", table_name="contact")
    # SQLite drops columns by copying the table, which loses the search triggers: put them back.
    connection = op.get_bind()
    search.drop_index(connection, "contact")
    with op.batch_alter_table("contact") as batch_op:
        for name in CONTACT_COLUMNS:
            batch_op.drop_column(name)
    search.create_index(connection, "contact")
    with op.batch_alter_table("customer") as batch_op:
        batch_op.drop_column("directory_source")
