"""The migrations are the only way the schema changes: they must build exactly the models' schema."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect as sa_inspect

from portal import create_app
from portal.contacts.listing import ContactQuery, contact_page
from portal.extensions import db
from portal.models import Contact, Customer
from portal.sync import directory
from tests.conftest import fresh_database, make_test_config
from tests.migration_data import RELEASE_HEAD, RELEASE_ROWS, TOKEN_KEY, snapshot


# SQLite's reflection cannot read an index on an expression (lower(manager_email)): there it is left
# out of the comparison, which PostgreSQL's run makes.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_on_an_empty_database_match_the_models():
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                # The app's alembic options (autogenerate's too): the search indexes are left out.
                opts = {
                    "compare_type": True,
                    "include_name": app.extensions["migrate"].configure_args["include_name"],
                }
                context = MigrationContext.configure(conn, opts=opts)
                differences = compare_metadata(context, db.metadata)
            db.engine.dispose()
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        cleanup()


PREVIOUS_HEAD = "7cabef81868f"


def _insert_without_foreign_keys(conn, statements):
    """Write rows as an installation before this release could hold them: dangling ids included."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    else:
        conn.exec_driver_sql("SET session_replication_role = replica")  # FK triggers off
    for statement in statements:
        conn.exec_driver_sql(statement)
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("SET session_replication_role = DEFAULT")


LEGACY_ROWS = [
    "INSERT INTO reseller (id, ms_user_sync, name, street, postal_code, city, country, "
    "notification_recipients, allowed_domains, created_at) "
    "VALUES (1, true, 'Northwind', '', '', '', '', '', '', '2026-01-01')",
    *[
        f"INSERT INTO customer (id, reseller_id, name, street, postal_code, city, country, "
        f"notification_recipients, allowed_domains, created_at) "
        f"VALUES ({i}, 1, '{name}', '', '', '', '', '', '', '2026-01-01')"
        for i, name in ((1, "Acme"), (2, "Globex"))
    ],
    *[
        f"INSERT INTO contact (id, customer_id, salutation, first_name, last_name, email, email_key, origin, "
        f"m365_user_id, linked_automatically, archive_reason, created_at, updated_at) VALUES "
        f"({i}, {c}, '', 'N{i}', 'L{i}', 'p{i}@x.example', 'p{i}@x.example', 'm365', 'u{i}', false, '', "
        f"'2026-01-01', '2026-01-01')"
        for i, c in ((1, 1), (2, 1), (3, 2))
    ],
    "INSERT INTO contact_group (id, customer_id, name, origin, m365_group_id, created_at) "
    "VALUES (1, 1, 'Sales', 'm365', 'g1', '2026-01-01')",
    "INSERT INTO contact_group (id, customer_id, name, origin, created_at) "
    "VALUES (2, 2, 'Board', 'manual', '2026-01-01')",
    "INSERT INTO contact_group_member (contact_id, group_id) VALUES (1, 1)",
    "INSERT INTO contact_group_member (contact_id, group_id) VALUES (99, 1)",  # contact deleted
    "INSERT INTO contact_group_member (contact_id, group_id) VALUES (3, 1)",  # Globex's in Acme's
    "INSERT INTO m365_connection (id, customer_id, tenant_id, tenant_domain, connected_by_name, "
    "connected_at, scopes, refresh_token_encrypted, users_delta_link, groups_delta_link, status, "
    "status_reason) VALUES "
    "(1, 1, 'tenant-a', 'a.example', 'admin@a.example', '2026-01-01', '', 'gAAAA-token', "
    "'https://graph/delta?token=1', '', 'ok', '')",
    *[
        "INSERT INTO sync_settings (customer_id, sync_active, link_active, mode, "
        "delete_threshold_percent, delete_threshold_min, skip_disabled, skip_guests, changed) "
        f"VALUES ({c}, true, false, 'automatic', 10, 10, true, true, '{{}}')"
        for c in (1, 2)
    ],
    "INSERT INTO group_subscription (id, customer_id, m365_group_id, display_name, contact_group_id, "
    "created_at) VALUES (1, 1, 'g1', 'Sales', 1, '2026-01-01')",
    "INSERT INTO group_subscription (id, customer_id, m365_group_id, display_name, contact_group_id, "
    "created_at) VALUES (2, 1, 'g2', 'Board', 2, '2026-01-01')",  # Globex's group
    "INSERT INTO held_removal (id, customer_id, contact_id, m365_user_id, reason, held_at) "
    "VALUES (1, 1, 2, 'u2', 'deleted', '2026-01-01')",
    "INSERT INTO held_removal (id, customer_id, contact_id, m365_user_id, reason, held_at) "
    "VALUES (2, 1, 3, 'u9', 'deleted', '2026-01-01')",  # Globex's contact
]


def test_upgrading_a_database_of_the_previous_release_keeps_its_data_and_drops_rows_across_customers():
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    try:
        with app.app_context():
            upgrade(revision=PREVIOUS_HEAD)
            with db.engine.begin() as conn:
                _insert_without_foreign_keys(conn, LEGACY_ROWS)
            upgrade()
            with db.engine.connect() as conn:

                def rows(sql):
                    return conn.exec_driver_sql(sql).fetchall()

                assert rows("SELECT id FROM contact ORDER BY id") == [(1,), (2,), (3,)]
                assert rows("SELECT contact_id, group_id FROM contact_group_member") == [(1, 1)]
                assert rows("SELECT id, contact_group_id FROM group_subscription") == [(1, 1)]
                assert rows("SELECT id, contact_id FROM held_removal") == [(1, 2)]
                # Connections made before application permissions existed stay delegated ones.
                assert rows(
                    "SELECT tenant_id, refresh_token_encrypted, users_delta_link, connection_type "
                    "FROM m365_connection"
                ) == [("tenant-a", "gAAAA-token", "https://graph/delta?token=1", "delegated")]
                assert rows(
                    "SELECT customer_id, links_tenant_id FROM sync_settings ORDER BY customer_id"
                ) == [(1, "tenant-a"), (2, None)]
            db.engine.dispose()
    finally:
        cleanup()


def _populated_release_database():
    """A database at the previous release's head holding RELEASE_ROWS: (app, cleanup, token ciphertext)."""
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    token = Fernet(TOKEN_KEY).encrypt(b"refresh-token-of-acme").decode()
    with app.app_context():
        upgrade(revision=RELEASE_HEAD)
        with db.engine.begin() as conn:
            for statement in RELEASE_ROWS:
                conn.exec_driver_sql(statement.format(token=token))
    return app, cleanup, token


def _revision(conn):
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def test_upgrading_the_previous_release_keeps_every_contact_link_subscription_delta_link_and_token():
    app, cleanup, token = _populated_release_database()
    try:
        with app.app_context():
            with db.engine.connect() as conn:
                before, columns = snapshot(conn)
            upgrade()
            with db.engine.connect() as conn:
                after, _ = snapshot(conn, columns)
                [(stored, users, groups)] = conn.exec_driver_sql(
                    "SELECT refresh_token_encrypted, users_delta_link, groups_delta_link FROM m365_connection"
                ).fetchall()
            db.engine.dispose()
        assert after == before and len(after["contact"]) == 3 and len(after["group_subscription"]) == 1
        assert stored == token and Fernet(TOKEN_KEY).decrypt(stored.encode()) == b"refresh-token-of-acme"
        assert (users, groups) == ("https://graph/users/delta?token=1", "https://graph/groups/delta?token=2")
    finally:
        cleanup()


def test_the_newest_migration_downgrades_one_step_and_upgrades_again_keeping_the_data():
    app, cleanup, _token = _populated_release_database()
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                before, columns = snapshot(conn)
                head = _revision(conn)
            downgrade(revision="-1")
            with db.engine.connect() as conn:
                assert _revision(conn) not in (head, None)
            upgrade()
            with db.engine.connect() as conn:
                after, _ = snapshot(conn, columns)
                assert _revision(conn) == head
            db.engine.dispose()
        assert after == before
    finally:
        cleanup()


SEARCH_PREVIOUS_HEAD = "47ed0db0f502"
ROWS_BEFORE_SEARCH = [
    "INSERT INTO reseller (id, ms_user_sync, name, street, postal_code, city, country, "
    "notification_recipients, allowed_domains, created_at) "
    "VALUES (1, true, 'Northwind', '', '', '', '', '', '', '2026-01-01')",
    "INSERT INTO customer (id, reseller_id, name, street, postal_code, city, country, "
    "notification_recipients, allowed_domains, created_at) "
    "VALUES (1, 1, 'Acme', '', '', '', '', '', '', '2026-01-01')",
    *[
        f"INSERT INTO contact (id, customer_id, salutation, first_name, last_name, email, email_key, origin, "
        f"linked_automatically, archive_reason, created_at, updated_at) VALUES "
        f"({i}, 1, '', '{first}', '{last}', '{email}', '{email}', 'manual', false, '', "
        "'2026-01-01', '2026-01-01')"
        for i, first, last, email in (
            (1, "Jürgen", "Groß", "jg@acme.example"),
            (2, "Siobhán", "O''Brien", "sob@acme.example"),
            (3, "Ben", "Mueller", "ben@acme.example"),
        )
    ],
    "INSERT INTO directory_user (id, customer_id, m365_id, display_name, given_name, surname, email, upn, "
    "department, enabled, guest, skip_reason, sort_key, search_text, loaded_at) VALUES "
    "(1, 1, 'u1', 'Núria Müller', 'Núria', 'Müller', 'nm@acme.example', 'nm@acme.example', 'Süd', "
    "true, false, '', 'núria müller', 'núria müller nm@acme.example süd', '2026-01-01')",
    "INSERT INTO directory_group (id, customer_id, m365_id, display_name, description, kind, sort_key, "
    "search_text, loaded_at) VALUES (1, 1, 'g1', 'Führung', '', 'Team', 'führung', 'führung', '2026-01-01')",
]


def test_upgrading_fills_the_search_text_and_index_for_rows_made_before_it():
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    try:
        with app.app_context():
            upgrade(revision=SEARCH_PREVIOUS_HEAD)
            with db.engine.begin() as conn:
                for statement in ROWS_BEFORE_SEARCH:
                    conn.exec_driver_sql(statement)
            upgrade()
            customer = db.session.get(Customer, 1)
            assert [c.id for c in contact_page(customer, ContactQuery(q="gross")).contacts] == [1]
            assert [c.id for c in contact_page(customer, ContactQuery(q="müller")).contacts] == [3]
            assert [c.id for c in contact_page(customer, ContactQuery(q="obrien")).contacts] == [2]
            assert [u.id for u in db.session.scalars(directory.search_users(customer, "mueller sued"))] == [1]
            assert [g.id for g in directory.search_groups(customer, "fuehrung")] == [1]
            db.session.add(Contact(id=4, customer_id=1, first_name="Jörg", email="j@a.de", email_key="j"))
            db.session.commit()  # the triggers (SQLite) or the index (PostgreSQL) take new rows too
            assert [c.id for c in contact_page(customer, ContactQuery(q="joerg")).contacts] == [4]
            db.session.remove()
            downgrade(revision=SEARCH_PREVIOUS_HEAD)
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM contact").scalar() == 4
                assert "search_text" not in {c["name"] for c in sa_inspect(conn).get_columns("contact")}
            db.engine.dispose()
    finally:
        cleanup()


NAME_KEY_PREVIOUS_HEAD = "c3f1a9d27e45"


def test_upgrading_gives_groups_whose_names_fold_alike_names_of_their_own_keeping_members():
    """SQLite's lower() folded ASCII only: "Ärzte" and "ärzte" could both exist. The upgrade keeps the
    first, renames the later "ärzte (2)" (members kept), and from then on one name means one group."""
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    try:
        with app.app_context():
            upgrade(revision=NAME_KEY_PREVIOUS_HEAD)
            with db.engine.begin() as conn:
                for statement in LEGACY_ROWS[:4]:  # the reseller, two customers, a contact
                    conn.exec_driver_sql(statement)
                for group_id, customer_id, name in (
                    (1, 1, "Ärzte"),
                    (2, 1, "ÄRZTE"),
                    (3, 1, "ärzte"),
                    (4, 2, "ärzte"),
                ):
                    conn.exec_driver_sql(
                        "INSERT INTO contact_group (id, customer_id, name, origin, created_at) "
                        f"VALUES ({group_id}, {customer_id}, '{name}', 'manual', '2026-01-01')"
                    )
                conn.exec_driver_sql("INSERT INTO contact_group_member (contact_id, group_id) VALUES (1, 3)")
            upgrade()
            with db.engine.connect() as conn:
                groups = conn.exec_driver_sql(
                    "SELECT id, name, name_key FROM contact_group ORDER BY id"
                ).fetchall()
                members = conn.exec_driver_sql(
                    "SELECT contact_id, group_id FROM contact_group_member"
                ).fetchall()
            db.engine.dispose()
        assert [tuple(g) for g in groups] == [
            (1, "Ärzte", "ärzte"),
            (2, "ÄRZTE (2)", "ärzte (2)"),
            (3, "ärzte (3)", "ärzte (3)"),
            (4, "ärzte", "ärzte"),  # another customer's
        ]
        assert [tuple(m) for m in members] == [(1, 3)]
    finally:
        cleanup()


def test_runs_made_before_the_entra_removal_reports_are_not_reported_again():
    """sync_run.report_pending marks an Entra removal whose cycle's report is still to go out: a run
    made before the upgrade had its report already, so it is not pending afterwards."""
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    try:
        with app.app_context():
            upgrade(revision="b5d17e3c9a20")
            with db.engine.begin() as conn:
                for statement in LEGACY_ROWS[:3]:  # the reseller and two customers
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql(
                    "INSERT INTO sync_run (id, customer_id, kind, trigger, status, started_at, full_resync, "
                    "resync_reason, graph_requests, resource_units, counts, message) VALUES (1, 1, "
                    "'provisioning', 'entra', 'succeeded', '2026-01-01', false, '', 0, 0, '{}', "
                    "'The removal report was queued for 1 recipient.')"
                )
            upgrade()
            with db.engine.connect() as conn:
                pending = conn.exec_driver_sql("SELECT report_pending FROM sync_run").fetchall()
            db.engine.dispose()
        assert [tuple(row) for row in pending] == [(False,)]
    finally:
        cleanup()
