"""/healthz and /readyz: what a monitor sees, without signing in, on any Host, naming no customer.

Readiness needs a database made by the migrations (the suite's own is made by create_all, so it
has no alembic revision): those tests upgrade a fresh one once for the module.
"""

from datetime import timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from portal import create_app, health
from portal.extensions import db, migrate
from portal.models.base import utcnow
from portal.models.runner import RunnerHeartbeat
from tests.conftest import make_test_config

# A database that cannot be opened (no engine options: the suite's PostgreSQL ones would not fit).
UNREACHABLE = {
    "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-directory/portal.db",
    "SQLALCHEMY_ENGINE_OPTIONS": {},
}


@pytest.fixture
def migrated_app(migrated_database):
    """An app on the migrated database; its heartbeats are wiped afterwards."""
    url, options = migrated_database
    app = create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options))
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(RunnerHeartbeat.__table__.delete())
        db.engine.dispose()


def _head_and_previous():
    script = ScriptDirectory.from_config(migrate.get_config())
    head = script.get_current_head()
    return head, script.get_revision(head).down_revision


def test_healthz_answers_ok_without_a_database():
    app = create_app(make_test_config(**UNREACHABLE))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_ignores_a_session_cookie_so_it_still_needs_no_database():
    app = create_app(make_test_config(**UNREACHABLE))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "token-of-a-signed-in-browser"
    assert client.get("/healthz").status_code == 200


def test_readyz_says_the_database_does_not_answer():
    app = create_app(make_test_config(**UNREACHABLE))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready" and body["checks"]["database"] == "the database does not answer"
    assert "nonexistent" not in response.get_data(as_text=True)


def test_readyz_is_ready_when_migrated_and_a_runner_beats(migrated_app):
    health.beat("runner-a", now=utcnow())
    response = migrated_app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "runner": "ok"},
    }


def test_readyz_without_any_runner_heartbeat_is_not_ready(migrated_app):
    response = migrated_app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["runner"] == "no runner has ever been seen: start it"
    assert checks["database"] == checks["migrations"] == "ok"


def test_readyz_with_a_stale_runner_heartbeat_is_not_ready(migrated_app):
    stale = migrated_app.config["RUNNER_STALE_SECONDS"]
    health.beat("runner-a", now=utcnow() - timedelta(seconds=stale + 5))
    response = migrated_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["runner"].startswith("no runner seen since ")


def test_readyz_when_the_database_is_behind_the_migrations(migrated_app):
    health.beat("runner-a", now=utcnow())
    head, previous = _head_and_previous()
    db.session.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": previous})
    db.session.commit()
    try:
        response = migrated_app.test_client().get("/readyz")
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": head})
        db.session.commit()
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] == (
        f"the database is at revision {previous}, the code at {head}: run flask db upgrade"
    )


def test_readyz_on_a_database_never_migrated_is_not_ready(app):
    """The suite's database is made by create_all: no alembic revision at all."""
    health.beat("runner-a", now=utcnow())
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"].startswith("the database is at revision none,")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_sign_in_and_name_no_customer(app, world, path):
    health.beat("runner-a", now=utcnow())
    response = app.test_client().get(path)
    assert response.status_code in (200, 503) and response.is_json
    assert "Location" not in response.headers
    body = response.get_data(as_text=True)
    for name in ("Acme", "Globex", "Initech", "Northwind", "@"):
        assert name not in body


def test_probes_answer_any_host_while_pages_keep_the_trusted_hosts_check(app):
    guarded = create_app(
        make_test_config(SERVER_NAME=None, TRUSTED_HOSTS=["portal.example.com"], TRUSTED_PROXIES=1)
    )
    client = guarded.test_client()
    for host in ("127.0.0.1:8000", "10.0.0.7", "evil.example"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200
    forwarded = {"Host": "127.0.0.1", "X-Forwarded-Host": "evil.example"}
    assert client.get("/healthz", headers=forwarded).get_json() == {"status": "ok"}
    assert client.get("/readyz", headers={"Host": "127.0.0.1"}).status_code == 503  # not migrated
    assert client.get("/login", headers={"Host": "127.0.0.1"}).status_code == 400
    assert client.get("/login", headers={"Host": "portal.example.com"}).status_code == 200


def test_probes_are_not_throttled(app):
    client = app.test_client()
    assert {client.get("/healthz").status_code for _ in range(50)} == {200}
