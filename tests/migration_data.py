"""What an installation of the previous release holds, for the migration and backup tests."""

# The head of the previous release (1.0.0 is the first packaged release; this was main's head before it).
RELEASE_HEAD = "5f32b326fc8e"
TOKEN_KEY = "3q3vKLr8Hc2yMvm0gXwJ4mJ2tS6y6o7dYlT1Z5m9fWQ="
RELEASE_CONTACTS = ((1, "m365", "'u1'", "true"), (2, "m365", "'u2'", "false"), (3, "csv", "NULL", "false"))
# What an installation of the previous release holds, written as raw SQL of that release's schema.
RELEASE_ROWS = [
    "INSERT INTO reseller (id, ms_user_sync, name, street, postal_code, city, country, "
    "notification_recipients, allowed_domains, created_at) "
    "VALUES (1, true, 'Northwind', 'Main St 1', '12345', 'Berlin', 'DE', 'it@n.example', '', '2026-01-01')",
    "INSERT INTO customer (id, reseller_id, name, street, postal_code, city, country, "
    "notification_recipients, allowed_domains, created_at) "
    "VALUES (1, 1, 'Acme', '', '', '', '', 'it@acme.example', 'acme.example', '2026-01-01')",
    "INSERT INTO admin_user (id, email, name, password_hash, role, customer_id, is_enabled, created_at) "
    "VALUES (1, 'it@acme.example', 'IT', 'argon2-hash', 'customer', 1, true, '2026-01-01')",
    *[
        f"INSERT INTO contact (id, customer_id, salutation, first_name, last_name, email, email_key, origin, "
        f"m365_user_id, linked_automatically, archive_reason, created_at, updated_at) VALUES "
        f"({i}, 1, 'Ms', 'N{i}', 'L{i}', 'p{i}@acme.example', 'p{i}@acme.example', '{origin}', {user}, "
        f"{auto}, '', '2026-01-0{i}', '2026-02-0{i}')"
        for i, origin, user, auto in RELEASE_CONTACTS
    ],
    "INSERT INTO contact_group (id, customer_id, name, origin, m365_group_id, created_at) "
    "VALUES (1, 1, 'Sales', 'm365', 'g1', '2026-01-01')",
    "INSERT INTO contact_group_member (contact_id, group_id) VALUES (1, 1)",
    "INSERT INTO contact_group_member (contact_id, group_id) VALUES (2, 1)",
    "INSERT INTO m365_connection (id, customer_id, tenant_id, tenant_domain, connected_by_name, "
    "connected_at, scopes, refresh_token_encrypted, users_delta_link, groups_delta_link, status, "
    "status_reason) VALUES (1, 1, 'tenant-a', 'acme.example', 'admin@acme.example', '2026-01-01', "
    "'User.Read.All', '{token}', 'https://graph/users/delta?token=1', 'https://graph/groups/delta?token=2', "
    "'ok', '')",
    "INSERT INTO sync_settings (customer_id, sync_active, link_active, mode, delete_threshold_percent, "
    "delete_threshold_min, skip_disabled, skip_guests, changed, links_tenant_id) "
    "VALUES (1, true, true, 'automatic', 10, 10, true, true, '{{}}', 'tenant-a')",
    "INSERT INTO group_subscription (id, customer_id, m365_group_id, display_name, contact_group_id, "
    "created_at) VALUES (1, 1, 'g1', 'Sales', 1, '2026-01-01')",
    "INSERT INTO job (id, kind, customer_id, status, params, result, error, progress_done, progress_total, "
    "attempts, created_at) VALUES (1, 'sync', 1, 'succeeded', '{{}}', '{{}}', '', 3, 3, 1, '2026-01-01')",
]
# The tables whose rows an upgrade (and a downgrade by one step) must keep, column for column.
KEPT_TABLES = [
    "reseller", "customer", "admin_user", "contact", "contact_group", "contact_group_member",
    "m365_connection", "sync_settings", "group_subscription", "job",
]  # fmt: skip


def snapshot(conn, columns_of=None):
    """({table: sorted rows}, {table: columns}) of KEPT_TABLES, limited to `columns_of` when given."""
    rows, columns = {}, {}
    for table in KEPT_TABLES:
        result = conn.exec_driver_sql(f"SELECT * FROM {table}")
        keys = list(result.keys())
        names = list(columns_of[table]) if columns_of else keys
        rows[table] = sorted(
            (tuple(str(row[keys.index(name)]) for name in names) for row in result), key=repr
        )
        columns[table] = names
    return rows, columns
