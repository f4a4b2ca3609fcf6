"""No row points at a missing row or at another customer's row; remember the tenant of contact links

Before foreign keys were enforced on SQLite, deleting a contact or contact group left the rows that
referred to it behind; a later row of ANOTHER customer could then get the freed id and be reached
through them (held deletions, group subscriptions). This migration removes or detaches every such
row, on SQLite and PostgreSQL alike, and adds `sync_settings.links_tenant_id` (the tenant whose
user ids the contacts' M365 links hold), filled from today's connections.

Revision ID: b2d4e6f8a0c1
Revises: 7cabef81868f
Create Date: 2026-11-29 13:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b2d4e6f8a0c1"
down_revision = "7cabef81868f"
branch_labels = None
depends_on = None

# (table, column, referenced table, what to do with a row whose reference is missing), parents
# before children: rows deleted early leave their own dependants to be caught further down.
DANGLING = [
    ("admin_user", "customer_id", "customer", "null"),
    ("admin_user", "reseller_id", "reseller", "null"),
    ("customer", "reseller_id", "reseller", "delete"),
    ("contact", "customer_id", "customer", "delete"),
    ("contact_group", "customer_id", "customer", "delete"),
    ("contact_group_member", "contact_id", "contact", "delete"),
    ("contact_group_member", "group_id", "contact_group", "delete"),
    ("contact_import", "customer_id", "customer", "delete"),
    ("contact_import", "admin_id", "admin_user", "delete"),
    ("m365_connection", "customer_id", "customer", "delete"),
    ("m365_connection", "connected_by_id", "admin_user", "null"),
    ("sync_settings", "customer_id", "customer", "delete"),
    ("group_subscription", "customer_id", "customer", "delete"),
    # A subscription whose contact group was deleted ends, as deleting a group now ends it.
    ("group_subscription", "contact_group_id", "contact_group", "delete"),
    ("group_subscription", "created_by_id", "admin_user", "null"),
    ("audit_entry", "customer_id", "customer", "delete"),
    ("job", "customer_id", "customer", "delete"),
    ("job", "created_by_id", "admin_user", "null"),
    ("sync_run", "customer_id", "customer", "delete"),
    ("sync_run", "job_id", "job", "null"),
    ("sync_change", "run_id", "sync_run", "delete"),
    ("sync_change", "customer_id", "customer", "delete"),
    ("sync_change", "contact_id", "contact", "null"),
    ("held_removal", "customer_id", "customer", "delete"),
    ("held_removal", "contact_id", "contact", "delete"),
    ("held_removal", "run_id", "sync_run", "null"),
    ("sync_lock", "customer_id", "customer", "delete"),
    ("outbox_mail", "customer_id", "customer", "null"),
    ("directory_user", "customer_id", "customer", "delete"),
    ("directory_group", "customer_id", "customer", "delete"),
    ("directory_membership", "group_id", "directory_group", "delete"),
    ("directory_selection", "customer_id", "customer", "delete"),
    ("directory_selection_flip", "customer_id", "customer", "delete"),
]

# Rows whose reference exists but belongs to another customer (reached through a reused id).
ACROSS_CUSTOMERS = [
    "DELETE FROM held_removal WHERE NOT EXISTS (SELECT 1 FROM contact c "
    "WHERE c.id = held_removal.contact_id AND c.customer_id = held_removal.customer_id)",
    "DELETE FROM group_subscription WHERE contact_group_id IS NOT NULL AND NOT EXISTS ("
    "SELECT 1 FROM contact_group g WHERE g.id = group_subscription.contact_group_id "
    "AND g.customer_id = group_subscription.customer_id)",
    "UPDATE sync_change SET contact_id = NULL WHERE contact_id IS NOT NULL AND NOT EXISTS ("
    "SELECT 1 FROM contact c WHERE c.id = sync_change.contact_id "
    "AND c.customer_id = sync_change.customer_id)",
    "DELETE FROM contact_group_member WHERE NOT EXISTS (SELECT 1 FROM contact c "
    "JOIN contact_group g ON g.customer_id = c.customer_id "
    "WHERE c.id = contact_group_member.contact_id AND g.id = contact_group_member.group_id)",
]


def _clean(table, column, parent, action):
    missing = f"{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = {table}.{column})"
    if action == "delete":
        op.execute(f"DELETE FROM {table} WHERE {missing}")
    else:
        op.execute(f"UPDATE {table} SET {column} = NULL WHERE {missing}")


def upgrade():
    for table, column, parent, action in DANGLING:
        _clean(table, column, parent, action)
    for statement in ACROSS_CUSTOMERS:
        op.execute(statement)
    with op.batch_alter_table("sync_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("links_tenant_id", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE sync_settings SET links_tenant_id = (SELECT m.tenant_id FROM m365_connection m "
        "WHERE m.customer_id = sync_settings.customer_id)"
    )


def downgrade():
    # The removed rows pointed at nothing (or at another customer's data): nothing to restore.
    with op.batch_alter_table("sync_settings", schema=None) as batch_op:
        batch_op.drop_column("links_tenant_id")
