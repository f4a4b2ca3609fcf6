"""`flask doctor`: a healthy installation prints OK lines and exits 0; each broken part prints its
FAIL line with the fix and exits 1.

The installation is real: a migrated database, the M365 emulator over HTTP, an SMTP server
(aiosmtpd) on localhost, a runner heartbeat and a stored (encrypted) refresh token.
"""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade

from portal import create_app, health
from portal.extensions import db
from portal.m365 import tokens
from portal.models import Customer, M365Connection, Reseller
from portal.models.base import utcnow
from tests.conftest import make_test_config

TOKEN = "refresh-token-that-must-never-be-printed"


@pytest.fixture
def healthy(migrated_database, emulator, smtp_server, smtp_port):
    """Settings of a healthy installation; the database holds a connection and a fresh heartbeat."""
    url, options = migrated_database
    settings = make_test_config(
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=options,
        PORTAL_BASE_URL="https://portal.example.com",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_port,
        MAIL_SUPPRESS_SEND=False,
        M365_AUTHORITY=emulator.authority,
        M365_GRAPH_URL=emulator.graph_url,
        M365_CLIENT_ID=emulator.client_id,
        M365_CLIENT_SECRET=emulator.client_secret,
        M365_GRAPH_TIMEOUT=5,
    )
    app = create_app(settings)
    with app.app_context():
        reseller = Reseller(name="Northwind IT")
        db.session.add(reseller)
        db.session.flush()
        customer = Customer(name="Acme GmbH", reseller_id=reseller.id)
        db.session.add(customer)
        db.session.flush()
        connection = M365Connection(
            customer_id=customer.id, tenant_id="tenant-1", refresh_token_encrypted=tokens.encrypt(TOKEN)
        )
        db.session.add(connection)
        db.session.commit()
        health.beat("doctor-test-runner")
    yield settings
    with app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


def doctor(settings, *args, **overrides):
    """Run `flask doctor` on an app with `settings` (and overrides); returns (exit code, output lines)."""
    app = create_app(dict(settings, **overrides))
    result = app.test_cli_runner().invoke(args=["doctor", *args])
    with app.app_context():
        db.engine.dispose()
    assert TOKEN not in result.output
    return result.exit_code, result.output.splitlines()


def line(lines, start):
    """The one output line starting with `start`."""
    found = [text for text in lines if text.startswith(start)]
    assert len(found) == 1, (start, lines)
    return found[0]


def test_healthy_installation_prints_ok_lines_and_exits_0(healthy, emulator):
    code, lines = doctor(healthy)
    assert code == 0, lines
    for start in (
        "OK   database reachable (",
        "OK   migrations current (",
        "OK   SECRET_KEY set",
        "OK   PORTAL_BASE_URL https://portal.example.com",
        "OK   token key from TOKEN_ENCRYPTION_KEY",
        "OK   stored M365 tokens: all 1 decrypt with this key",
        "OK   mail server reachable (127.0.0.1:",
        "OK   M365 credential: client secret (M365_CLIENT_SECRET)",
        f"OK   Microsoft sign-in reachable ({emulator.authority}/organizations/v2.0/.well-known/",
        f"OK   Microsoft Graph reachable ({emulator.graph_url}/users",
        "OK   M365 redirect URI https://portal.example.com/m365/callback (register exactly this",
        "OK   runner alive (last seen ",
    ):
        line(lines, start)
    assert lines[-1] == "0 failed, 0 warnings, 13 checks."


def test_send_test_mail_delivers_the_test_message(healthy, smtp_server):
    code, lines = doctor(healthy, "--send-test-mail", "ops@example.com")
    assert code == 0, lines
    line(lines, "OK   test mail sent to ops@example.com through 127.0.0.1:")
    [(recipients, message)] = smtp_server.inbox.messages
    assert recipients == ["ops@example.com"]
    assert message["Subject"] == "Test message from the Awareness Portal"


def test_unreachable_mail_server_fails_with_its_hint(healthy, smtp_port):
    code, lines = doctor(healthy, MAIL_PORT=smtp_port + 1 if smtp_port < 65535 else 1)
    assert code == 1
    failed = line(lines, "FAIL mail server 127.0.0.1:")
    assert "unreachable: ConnectionRefusedError" in failed and "— check MAIL_SERVER, MAIL_PORT" in failed


def test_token_key_that_cannot_decrypt_the_stored_tokens_fails_and_counts_them(healthy):
    code, lines = doctor(healthy, TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert code == 1
    failed = line(lines, "FAIL stored M365 tokens: 1 of 1 cannot be decrypted with this key (customers ")
    assert "— set TOKEN_ENCRYPTION_KEY to the key they were encrypted with" in failed


def test_generated_key_file_is_a_warning_that_every_host_needs_it(healthy, tmp_path):
    key_file = tmp_path / "token.key"
    code, lines = doctor(healthy, TOKEN_ENCRYPTION_KEY="", TOKEN_KEY_FILE=str(key_file))
    warning = line(lines, "WARN TOKEN_ENCRYPTION_KEY not set: tokens are encrypted with the key file ")
    assert str(key_file) in warning
    assert "every host running the portal (web and runner) needs this same key" in warning
    assert code == 1  # and the stored token was encrypted with another key
    line(lines, "FAIL stored M365 tokens: 1 of 1 cannot be decrypted")


def test_missing_base_url_fails_with_its_hint(healthy):
    code, lines = doctor(healthy, PORTAL_BASE_URL="")
    assert code == 1
    assert line(lines, "FAIL PORTAL_BASE_URL not set").endswith(
        "— set PORTAL_BASE_URL to the portal's public address, e.g. https://portal.example.com"
    )
    line(lines, "WARN M365 redirect URI follows the browser's address")


def test_development_or_example_secret_key_fails(healthy):
    for key, problem in (
        ("dev-only-insecure-secret-key", "is the development default"),
        ("change-me-to-a-long-random-string", "is the placeholder of deploy/portal.env.example"),
        ("a", "is too short (1 characters; at least 43 random ones)"),
        ("0123456789" * 6, "is not random enough (too few different characters, or a repeated pattern)"),
    ):
        code, lines = doctor(healthy, SECRET_KEY=key)
        assert code == 1
        assert line(lines, "FAIL SECRET_KEY").startswith(f"FAIL SECRET_KEY {problem} — set SECRET_KEY to")


def test_stale_heartbeat_fails_with_how_to_start_the_runner(healthy):
    app = create_app(healthy)
    with app.app_context():
        health.beat("doctor-test-runner", now=utcnow() - timedelta(minutes=10))
        db.engine.dispose()
    code, lines = doctor(healthy)
    assert code == 1
    assert line(lines, "FAIL runner last seen 10 min ago").endswith(
        "— start it: systemctl start awareness-portal-runner (or: flask --app portal runner)"
    )


def test_unreachable_microsoft_fails_and_graph_answering_401_counts_as_reachable(healthy, emulator):
    code, lines = doctor(healthy, M365_AUTHORITY="http://127.0.0.1:9")
    assert code == 1
    assert "ConnectionError" in line(lines, "FAIL Microsoft sign-in unreachable at http://127.0.0.1:9/")
    line(lines, "OK   Microsoft Graph reachable")


def test_database_behind_head_fails_and_skips_what_needs_the_schema(healthy):
    app = create_app(healthy)
    with app.app_context():
        downgrade(revision="-1")
        db.engine.dispose()
    try:
        code, lines = doctor(healthy)
    finally:
        with app.app_context():
            upgrade()
            db.engine.dispose()
    assert code == 1
    failed = line(lines, "FAIL migrations: database at ")
    assert failed.endswith("— run: flask --app portal db upgrade") and ", code at " in failed
    line(lines, "SKIP runner: needs a reachable, migrated database")


def test_unreachable_database_fails_and_skips_the_rest(healthy, tmp_path):
    missing = f"sqlite:///{tmp_path}/no/such/dir/portal.db"
    code, lines = doctor(healthy, SQLALCHEMY_DATABASE_URI=missing, SQLALCHEMY_ENGINE_OPTIONS={})
    assert code == 1
    assert line(lines, "FAIL database unreachable (sqlite,").endswith(
        "— check DATABASE_URL and that the database server runs"
    )
    for start in ("SKIP migrations", "SKIP stored tokens", "SKIP runner"):
        line(lines, start)
