"""contact group name key

contact_group.name_key: the group's name case-folded in Python (portal.text.name_key), unique per
customer instead of the name itself. SQLite's lower() folds ASCII only, so "Ärzte" and "ärzte" could
both exist there, and a second "Ärzte" was an IntegrityError (500) instead of "already exists".
Existing groups keep their names; of two whose names now fold alike (made on SQLite before this
release), the later one is renamed "<name> (2)" (then (3), ...), its members and subscription kept.

Revision ID: d4e8b2c61f03
Revises: c3f1a9d27e45
Create Date: 2026-12-06 04:35:00

"""

import sqlalchemy as sa
from alembic import op

from portal.text import name_key

# revision identifiers, used by Alembic.
revision = "d4e8b2c61f03"
down_revision = "c3f1a9d27e45"
branch_labels = None
depends_on = None

GROUPS = sa.table(
    "contact_group",
    sa.column("id", sa.Integer),
    sa.column("customer_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
)


def _fill_keys(connection):
    """Each group's key; a later group whose name folds like an earlier one's gets a free suffix."""
    taken = set()
    rows = connection.execute(
        sa.select(GROUPS.c.id, GROUPS.c.customer_id, GROUPS.c.name).order_by(GROUPS.c.id)
    )
    for group_id, customer_id, name in rows.all():
        new_name, number = name, 1
        while (customer_id, name_key(new_name)) in taken:
            number += 1
            new_name = f"{name[: 200 - len(f' ({number})')]} ({number})"
        taken.add((customer_id, name_key(new_name)))
        connection.execute(
            GROUPS.update().where(GROUPS.c.id == group_id).values(name=new_name, name_key=name_key(new_name))
        )


def upgrade():
    with op.batch_alter_table("contact_group", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=200), nullable=True))
    _fill_keys(op.get_bind())
    with op.batch_alter_table("contact_group", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_constraint("uq_contact_group_customer_name", type_="unique")
        batch_op.create_unique_constraint("uq_contact_group_customer_name_key", ["customer_id", "name_key"])


def downgrade():
    with op.batch_alter_table("contact_group", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contact_group_customer_name_key", type_="unique")
        batch_op.create_unique_constraint("uq_contact_group_customer_name", ["customer_id", "name"])
        batch_op.drop_column("name_key")
