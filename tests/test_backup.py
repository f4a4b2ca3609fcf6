"""Backups carry the token key; a restore onto a fresh host keeps every row and readable tokens;
rotating TOKEN_ENCRYPTION_KEY re-encrypts every stored token so the new key alone decrypts them."""

import os
import secrets
import stat

import pytest
from cryptography.fernet import Fernet
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text

from portal import create_app, doctor
from portal.extensions import db
from portal.m365 import tokens
from tests.conftest import PG_SCHEMA, make_test_config
from tests.migration_data import RELEASE_HEAD, RELEASE_ROWS, snapshot

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PLAIN = "refresh-token-of-acme"


def _app(url, key):
    return create_app(make_test_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={},
                                       TOKEN_ENCRYPTION_KEY=key))  # fmt: skip


def _populated(url, key):
    """An app on a database holding RELEASE_ROWS (the previous release's, its token encrypted with
    `key`), upgraded to the newest schema as an installation is."""
    app = _app(url, key)
    with app.app_context():
        upgrade(revision=RELEASE_HEAD)
        with db.engine.begin() as conn:
            for statement in RELEASE_ROWS:
                conn.exec_driver_sql(statement.format(token=Fernet(key).encrypt(PLAIN.encode()).decode()))
        upgrade()
    return app


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _rows(app):
    with app.app_context(), db.engine.connect() as conn:
        rows = snapshot(conn)[0]
    with app.app_context():
        db.engine.dispose()
    return rows


def _stored_token(app):
    """(ciphertext, plain token or None when the app's key cannot decrypt it, doctor's token check)."""
    with app.app_context():
        ciphertext = db.session.execute(text("SELECT refresh_token_encrypted FROM m365_connection")).scalar()
        try:
            plain = tokens.decrypt(ciphertext)
        except tokens.TokenDecryptError:
            plain = None
        return ciphertext, plain, doctor.check_stored_tokens()


def _backup_and_restore(source_url, target_url, tmp_path):
    source = _populated(source_url, OLD)
    result = _run(source, "backup", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    assert "schema revision" in result.output and "token.key" in result.output
    key_file = tmp_path / "backup" / "token.key"
    assert key_file.read_text() == f"{OLD}\n" and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The database (personal data, encrypted tokens) is as private as the key beside it.
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "backup").iterdir()}
    assert set(modes.values()) == {0o600} and len(modes) == 3, modes
    target = _app(target_url, OLD)  # the new host's environment file got the backup's key
    result = _run(target, "restore", str(tmp_path / "backup"))
    assert result.exit_code == 0 and "decrypt with this host's key" in result.output, result.output
    assert _rows(target) == _rows(source) and len(_rows(target)["contact"]) == 3
    assert _stored_token(target)[1:] == (PLAIN, doctor.Result(doctor.OK, "stored M365 tokens: all 1 decrypt "
                                                              "with this key"))  # fmt: skip


def test_a_sqlite_backup_restored_onto_a_fresh_host_keeps_every_row_and_the_tokens(tmp_path):
    _backup_and_restore(f"sqlite:///{tmp_path}/live.db", f"sqlite:///{tmp_path}/new-host.db", tmp_path)


@pytest.fixture
def two_databases():
    """Two fresh PostgreSQL databases (the live host's and the new host's): their URLs."""
    server = make_url(os.environ["TEST_DATABASE_URL"])
    names = [f"backup_{secrets.token_hex(4)}" for _ in range(2)]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield [server.set(database=name).render_as_string(hide_password=False) for name in names]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.skipif(
    not PG_SCHEMA, reason="pg_dump/pg_restore: set TEST_DATABASE_URL=postgresql+psycopg://..."
)
def test_a_postgresql_backup_restored_onto_a_fresh_host_keeps_every_row_and_the_tokens(
    tmp_path, two_databases
):
    _backup_and_restore(*two_databases, tmp_path)


def test_a_backup_is_refused_when_its_key_cannot_decrypt_the_stored_tokens(tmp_path):
    app = _populated(f"sqlite:///{tmp_path}/live.db", OLD)
    app.config["TOKEN_ENCRYPTION_KEY"] = NEW
    app.extensions.pop("m365_token_cipher", None)
    result = _run(app, "backup", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "do not decrypt with this key" in result.output
    assert not (tmp_path / "backup").exists() and not (tmp_path / "backup.partial").exists()


def test_a_restore_with_another_key_says_which_key_to_set_and_never_overwrites_a_database(tmp_path):
    _run(_populated(f"sqlite:///{tmp_path}/live.db", OLD), "backup", str(tmp_path / "backup"))
    wrong_key = _app(f"sqlite:///{tmp_path}/new-host.db", NEW)
    result = _run(wrong_key, "restore", str(tmp_path / "backup"))
    assert (
        result.exit_code == 1
        and f"TOKEN_ENCRYPTION_KEY to the content of {tmp_path}/backup/token.key" in result.output
    )
    again = _run(_app(f"sqlite:///{tmp_path}/new-host.db", OLD), "restore", str(tmp_path / "backup"))
    assert again.exit_code == 1 and "not empty" in again.output


def test_rotating_the_key_leaves_tokens_only_the_new_key_decrypts(tmp_path):
    url = f"sqlite:///{tmp_path}/live.db"
    before = _stored_token(_populated(url, OLD))[0]
    result = _run(_app(url, f"{NEW},{OLD}"), "rotate-token-key")
    assert result.exit_code == 0 and "Re-encrypted 1 stored M365 tokens" in result.output, result.output
    ciphertext, plain, check = _stored_token(_app(url, NEW))
    assert ciphertext != before and plain == PLAIN and check.status == doctor.OK
    _ciphertext, plain, check = _stored_token(_app(url, OLD))
    assert plain is None and check.status == doctor.FAIL  # the old key alone no longer decrypts them


def test_rotating_needs_the_new_key_in_front_of_the_old_one(tmp_path):
    url = f"sqlite:///{tmp_path}/live.db"
    before = _stored_token(_populated(url, OLD))[0]
    result = _run(_app(url, OLD), "rotate-token-key")
    assert result.exit_code == 1 and "TOKEN_ENCRYPTION_KEY=NEW,OLD" in result.output
    unrelated = Fernet.generate_key().decode()
    result = _run(_app(url, f"{NEW},{unrelated}"), "rotate-token-key")
    assert result.exit_code == 1 and "cannot be decrypted" in result.output
    assert _stored_token(_app(url, OLD))[0] == before
