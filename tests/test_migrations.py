"""The migrations are the only way the schema changes: they must build exactly the models' schema."""
import os
import secrets
import tempfile

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from tests.conftest import DATABASE_URL, PG_SCHEMA, make_test_config


def _fresh_database():
    """An empty database of the same kind as the suite's: (url, engine options, cleanup)."""
    if not PG_SCHEMA:
        path = os.path.join(tempfile.mkdtemp(prefix="portal-migr-"), "m.db")
        return f"sqlite:///{path}", {}, lambda: None
    schema = f"m_{secrets.token_hex(4)}"
    admin = create_engine(DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return DATABASE_URL, {"connect_args": {"options": f"-csearch_path={schema}"}}, drop


def test_migrations_on_an_empty_database_match_the_models():
    url, options, cleanup = _fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                differences = compare_metadata(context, db.metadata)
            db.engine.dispose()
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        cleanup()
