"""languages

admin_user.language: each admin's language ("en", "de"), set from the browser at the next sign-in and
changed in the account menu (NULL until then: the browser decides, as before).
customer.email_language: the language of the emails to a customer's notification recipients, who
have no account (NULL: the portal's default language, as before).
Two nullable columns: existing rows are untouched.

Revision ID: e7a3c9d15b42
Revises: d4e8b2c61f03
Create Date: 2026-12-06 05:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e7a3c9d15b42"
down_revision = "d4e8b2c61f03"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("admin_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=5), nullable=True))
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_language", sa.String(length=5), nullable=True))


def downgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("email_language")
    with op.batch_alter_table("admin_user", schema=None) as batch_op:
        batch_op.drop_column("language")
