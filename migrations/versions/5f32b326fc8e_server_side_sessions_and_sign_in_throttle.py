"""server-side sessions and sign-in throttle

admin_session: one row per signed-in browser (the cookie carries a token, the row its SHA-256);
sign-out, disabling and a new password delete rows. It replaces admin_user.session_token.
sign_in_failure: failed sign-ins per account / client address, counted in a sliding window by
every worker alike.

Revision ID: 5f32b326fc8e
Revises: b2d4e6f8a0c1
Create Date: 2026-11-29 13:18:46.384925

"""

import secrets

import sqlalchemy as sa
from alembic import op

import portal.models.base

# revision identifiers, used by Alembic.
revision = "5f32b326fc8e"
down_revision = "b2d4e6f8a0c1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sign_in_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failed_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failure")),
    )
    with op.batch_alter_table("sign_in_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_failure_failed_at"), ["failed_at"], unique=False)
        batch_op.create_index("ix_sign_in_failure_key_failed_at", ["key", "failed_at"], unique=False)

    op.create_table(
        "admin_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_user.id"],
            name=op.f("fk_admin_session_admin_id_admin_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_session_token_hash")),
    )
    with op.batch_alter_table("admin_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_session_admin_id"), ["admin_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_admin_session_last_seen_at"), ["last_seen_at"], unique=False)

    # Every session in a cookie signed before this upgrade ends here: admins sign in again.
    with op.batch_alter_table("admin_user", schema=None) as batch_op:
        batch_op.drop_column("session_token")


def downgrade():
    with op.batch_alter_table("admin_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    # A fresh random token per account (as the old model's default did), then NOT NULL again.
    admin_user = sa.table("admin_user", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    conn = op.get_bind()
    for (admin_id,) in conn.execute(sa.select(admin_user.c.id)).all():
        conn.execute(
            admin_user.update().where(admin_user.c.id == admin_id).values(session_token=secrets.token_hex(16))
        )
    with op.batch_alter_table("admin_user", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)

    with op.batch_alter_table("admin_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_session_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_admin_session_admin_id"))
    op.drop_table("admin_session")

    with op.batch_alter_table("sign_in_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_failure_key_failed_at")
        batch_op.drop_index(batch_op.f("ix_sign_in_failure_failed_at"))
    op.drop_table("sign_in_failure")
