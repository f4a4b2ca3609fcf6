"""Shared fixtures: app, database (SQLite or PostgreSQL), client, personas.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set.
On PostgreSQL every test session creates its own schema and drops it at the end, so
runs never see each other's data.
"""

import os
import re
import secrets
import tempfile

import argon2
import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from portal.m365 import tokens
from portal.models import AdminSession, AdminUser, Customer, M365Connection, Reseller, accounts

pytest_plugins = ["tests.emulator_fixture", "tests.sync_helpers", "tests.mail_fixtures"]

# argon2 at test cost: slow on purpose in production (64 MiB, 3 passes), which every sign-in of every
# test would pay. The tests of the real cost ask for the `production_argon2` fixture.
PRODUCTION_HASHER = accounts._hasher
accounts._hasher = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)

PASSWORD = "correct horse battery"
PASSWORD_HASH = accounts._hasher.hash(PASSWORD)

# Tests whose outcome cannot depend on the database: they run once in CI, in the SQLite suite, and
# the PostgreSQL run leaves them out (a path prefix each, relative to the repository).
DATABASE_INDEPENDENT = (
    "tests/e2e/",  # browsers: the pages are the same on either database
    "tests/emulator/",  # the Microsoft emulator: no portal database at all
    "tests/test_packaging.py",
    "tests/test_deploy.py",
    "tests/test_translations.py",
    "tests/test_import_cycles.py",
)


def _database_settings():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        path = os.path.join(tempfile.mkdtemp(prefix="portal-test-"), "test.db")
        return f"sqlite:///{path}", {}, None
    schema = f"t_{os.getpid()}_{secrets.token_hex(3)}"
    return url, {"connect_args": {"options": f"-csearch_path={schema}"}}, schema


DATABASE_URL, ENGINE_OPTIONS, PG_SCHEMA = _database_settings()


def make_test_config(**overrides):
    """Settings for a test app; tests may override any of them."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "tY7-Qm2Lx9Rb4Kv1Zs8Nd3Wf6Hc0Jp5Ug2Ea7Io4Bt9Xk1Vn6Mr3Sl8Dq0Pw5Gy",
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
        "SQLALCHEMY_ENGINE_OPTIONS": ENGINE_OPTIONS,
        "TOKEN_ENCRYPTION_KEY": "bA7GCyODDTBUF0PVlqM6ZCyU40eeygHSc8ErX71uzv8=",
        "SERVER_NAME": "localhost",
        "MAIL_SERVER": "",
    }
    config.update(overrides)
    return config


def pytest_collection_modifyitems(config, items):
    """On PostgreSQL, leave out the database-independent tests (they ran in the SQLite suite)."""
    if not PG_SCHEMA:
        return
    root = config.rootpath

    def once(item):
        return item.path.relative_to(root).as_posix().startswith(DATABASE_INDEPENDENT)

    left_out = [item for item in items if once(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not once(item)]


def pytest_report_header(config):
    if PG_SCHEMA:
        return (
            "PostgreSQL run: the database-independent tests (browser, emulator, packaging, deploy, "
            "translations, import cycles) run in the SQLite suite only"
        )


@pytest.fixture
def production_argon2(monkeypatch):
    """The portal's real argon2 parameters, for the tests of what a password check costs."""
    monkeypatch.setattr(accounts, "_hasher", PRODUCTION_HASHER)
    return PRODUCTION_HASHER


@pytest.fixture(scope="session", autouse=True)
def _schema():
    """Create the schema once for the session; drop it (and the PostgreSQL schema) at the end."""
    if PG_SCHEMA:
        engine = create_engine(DATABASE_URL)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
        engine.dispose()
    app = create_app(make_test_config())
    with app.app_context():
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()
    if PG_SCHEMA:
        engine = create_engine(DATABASE_URL)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        engine.dispose()


def _empty_all_tables():
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(scope="session")
def shared_app(_schema):
    """The one app (and engine) of the test session: templates and SQL compile once, not per test."""
    app = create_app(make_test_config())
    app.test_client_class = PortalClient
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(shared_app):
    """The session's app on an empty database, inside an app context.

    A test may change `app.config`; its settings and every cache an extension built from them
    (OAuth client, token cipher, certificate) are put back afterwards, and every table is emptied.
    A test that needs other settings at start-up builds its own app with `create_app`."""
    settings, extensions = dict(shared_app.config), dict(shared_app.extensions)
    with shared_app.app_context():
        yield shared_app
        db.session.remove()
        _empty_all_tables()
    shared_app.config.clear()
    shared_app.config.update(settings)
    shared_app.extensions.clear()
    shared_app.extensions.update(extensions)


class PortalClient(FlaskClient):
    """A test client that sends the CSRF token like the portal's pages do (opt out with csrf=False)."""

    def csrf_token(self):
        page = self.get("/login" if not self._signed_in() else "/").get_data(as_text=True)
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
        assert match, "page without a CSRF token"
        return match.group(1)

    def _signed_in(self):
        with self.session_transaction() as session:
            return "_user_id" in session

    def open(self, *args, csrf=True, **kwargs):
        method = kwargs.get("method", "GET").upper()
        if csrf and method in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        # Each request gets its own app context (its own `g` and database session), as in
        # production; otherwise Flask reuses the test's context and state leaks between requests.
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def sign_in_as(self, user):
        """Start a signed-in session for `user` without the (slow) password check: a real
        server-side session row (committed), its token in this client's cookie."""
        AdminSession.start(user, user_agent="pytest")
        db.session.commit()
        with self.session_transaction() as session:
            session["_user_id"] = user.session_token
            session["_fresh"] = True
        return self


@pytest.fixture
def client(app):
    return app.test_client()


def fresh_database():
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


@pytest.fixture(scope="module")
def migrated_database():
    """A fresh database upgraded to the migrations' head, for one test module: (url, engine options)."""
    url, options, cleanup = fresh_database()
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url, options
    cleanup()


def make_admin(email, role, reseller=None, customer=None):
    admin = AdminUser(
        email=email,
        name=email.split("@")[0].title(),
        role=role,
        reseller_id=reseller.id if reseller else None,
        customer_id=customer.id if customer else None,
        password_hash=PASSWORD_HASH,
    )
    db.session.add(admin)
    db.session.flush()
    return admin


class World:
    """The named tenants and personas of the tests.

    Northwind IT (reseller) looks after Acme and Globex; Initech belongs to another
    reseller, Contoso Partners. olga is the operator, rita Northwind's reseller admin,
    alice Acme's customer admin, bob Globex's, and charlie the outsider at Contoso Partners.
    """


@pytest.fixture
def world(app):
    w = World()
    w.northwind = Reseller(name="Northwind IT")
    w.partners = Reseller(name="Contoso Partners")
    db.session.add_all([w.northwind, w.partners])
    db.session.flush()
    w.acme = Customer(name="Acme GmbH", reseller_id=w.northwind.id)
    w.globex = Customer(name="Globex AG", reseller_id=w.northwind.id)
    w.initech = Customer(name="Initech", reseller_id=w.partners.id)
    db.session.add_all([w.acme, w.globex, w.initech])
    db.session.flush()
    w.olga = make_admin("olga@operator.example", "operator")
    w.rita = make_admin("rita@northwind.example", "reseller", reseller=w.northwind)
    w.alice = make_admin("alice@acme.example", "customer", customer=w.acme)
    w.bob = make_admin("bob@globex.example", "customer", customer=w.globex)
    w.charlie = make_admin("charlie@partners.example", "reseller", reseller=w.partners)
    db.session.commit()
    return w


@pytest.fixture
def alice_client(app, world):
    """Acme's customer admin, signed in."""
    return app.test_client().sign_in_as(world.alice)


@pytest.fixture
def rita_client(app, world):
    """Northwind's reseller admin, signed in."""
    return app.test_client().sign_in_as(world.rita)


# --- a stored M365 connection (no Microsoft involved) --------------------------------------------

TENANT = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def sync_on(app, world):
    """Microsoft User Synchronization switched on in Northwind's (the reseller's) master data."""
    app.config.update(M365_CLIENT_ID="client-id", M365_CLIENT_SECRET="client-secret")
    world.northwind.ms_user_sync = True
    db.session.commit()
    return world


@pytest.fixture
def connected(sync_on):
    """Acme has a stored connection."""
    connection = M365Connection(
        customer_id=sync_on.acme.id,
        tenant_id=TENANT,
        tenant_domain="acme.onmicrosoft.com",
        connected_by_id=sync_on.alice.id,
        connected_by_name="admin@acme.onmicrosoft.com",
        scopes="User.Read.All GroupMember.Read.All",
        refresh_token_encrypted=tokens.encrypt("plain-refresh-token-123"),
        users_delta_link="https://graph/delta?$deltatoken=x",
    )
    db.session.add(connection)
    db.session.commit()
    return connection
