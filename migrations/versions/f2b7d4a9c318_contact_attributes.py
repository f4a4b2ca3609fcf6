"""contact attributes

contact: the attribute set of portal.attributes (department, job title, office, company, country,
language, employee id, employee type; "" when unknown) and the manager (manager_id: another contact of
the customer; manager_m365_id, manager_name, manager_email: who the manager is when not in the book),
with the indexes the contact book's filters read.
contact_group.rule: a smart group's rule (NULL: an ordinary group, as every existing one).
directory_user.country and .attributes: Manual mode's cache carries the attributes too (filled by the
next "Load Users from Microsoft").
m365_connection.users_delta_select: the properties the stored users delta link tracks. Existing links
track none of the new ones, so it starts empty and each connection's next sync reads one fresh round.
New columns only: existing rows keep their values.

Revision ID: f2b7d4a9c318
Revises: e7a3c9d15b42
Create Date: 2026-12-06 07:45:00

"""

import sqlalchemy as sa
from alembic import op

from portal import search

# revision identifiers, used by Alembic.
revision = "f2b7d4a9c318"
down_revision = "e7a3c9d15b42"
branch_labels = None
depends_on = None

VALUES = (
    "department",
    "job_title",
    "office",
    "company",
    "country",
    "language",
    "employee_id",
    "employee_type",
)
FILTERED = ("department", "office", "country", "language")


def _text(name, length):
    return sa.Column(name, sa.String(length=length), nullable=False, server_default="")


def upgrade():
    # SQLite adds a foreign key by copying the table, which loses the search triggers: put them back.
    connection = op.get_bind()
    search.drop_index(connection, "contact")
    with op.batch_alter_table("contact") as batch_op:
        for name in VALUES:
            batch_op.add_column(_text(name, 100))
        batch_op.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("manager_m365_id", sa.String(length=64), nullable=True))
        batch_op.add_column(_text("manager_name", 210))
        batch_op.add_column(_text("manager_email", 254))
        batch_op.create_foreign_key(
            "fk_contact_manager_id_contact", "contact", ["manager_id"], ["id"], ondelete="SET NULL"
        )
    search.create_index(connection, "contact")
    for name in FILTERED:
        op.create_index(f"ix_contact_customer_{name}", "contact", ["customer_id", name])
    op.create_index("ix_contact_customer_manager", "contact", ["customer_id", "manager_id"])
    op.create_index(
        "ix_contact_customer_m365_user", "contact", ["customer_id", "m365_user_id", "archived_at"]
    )
    op.add_column("contact_group", sa.Column("rule", sa.JSON(), nullable=True))
    op.add_column("directory_user", _text("country", 100))
    op.add_column("directory_user", sa.Column("attributes", sa.JSON(), nullable=True))
    op.create_index("ix_directory_user_department", "directory_user", ["customer_id", "department"])
    op.create_index("ix_directory_user_country", "directory_user", ["customer_id", "country"])
    op.add_column(
        "m365_connection", sa.Column("users_delta_select", sa.Text(), nullable=False, server_default="")
    )


def downgrade():
    op.drop_column("m365_connection", "users_delta_select")
    op.drop_index("ix_directory_user_country", table_name="directory_user")
    op.drop_index("ix_directory_user_department", table_name="directory_user")
    # As above: SQLite drops columns by copying the table.
    connection = op.get_bind()
    search.drop_index(connection, "directory_user")
    search.drop_index(connection, "contact")
    with op.batch_alter_table("directory_user") as batch_op:
        batch_op.drop_column("attributes")
        batch_op.drop_column("country")
    with op.batch_alter_table("contact_group") as batch_op:
        batch_op.drop_column("rule")
    op.drop_index("ix_contact_customer_m365_user", table_name="contact")
    op.drop_index("ix_contact_customer_manager", table_name="contact")
    for name in FILTERED:
        op.drop_index(f"ix_contact_customer_{name}", table_name="contact")
    with op.batch_alter_table("contact") as batch_op:
        batch_op.drop_constraint("fk_contact_manager_id_contact", type_="foreignkey")
        for name in (*VALUES, "manager_id", "manager_m365_id", "manager_name", "manager_email"):
            batch_op.drop_column(name)
    search.create_index(connection, "contact")
    search.create_index(connection, "directory_user")
