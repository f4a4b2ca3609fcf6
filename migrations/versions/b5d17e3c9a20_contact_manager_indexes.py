"""contact manager indexes

contact: indexes on (customer_id, lower(manager_email)) and (customer_id, manager_m365_id). A user
that Entra provisions finds the contacts that name it as their manager, by email or Microsoft id
(portal.scim.writes); without them each new user read every contact not yet linked to a manager, so
an initial cycle of n users read n²/2 rows. Indexes only: no row changes.

Revision ID: b5d17e3c9a20
Revises: a9c4e2f7b513
Create Date: 2026-12-07 03:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b5d17e3c9a20"
down_revision = "a9c4e2f7b513"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_contact_customer_manager_email", "contact", ["customer_id", sa.text("lower(manager_email)")]
    )
    op.create_index("ix_contact_customer_manager_m365", "contact", ["customer_id", "manager_m365_id"])


def downgrade():
    op.drop_index("ix_contact_customer_manager_m365", table_name="contact")
    op.drop_index("ix_contact_customer_manager_email", table_name="contact")
