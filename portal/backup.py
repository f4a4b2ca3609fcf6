"""Backups that carry the token key, their restore onto a fresh host, and the rotation of the token key.

A backup is a directory: the database (SQLite: an online copy through sqlite3's backup API;
PostgreSQL: `pg_dump --format=custom`), `token.key` (the TOKEN_ENCRYPTION_KEY value the stored
M365 refresh tokens decrypt with; without it they are useless) and `backup.txt` (what it holds).
"""

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect, select

from portal._version import __version__
from portal.extensions import db
from portal.m365 import tokens
from portal.models import M365Connection

KEY_FILE, SQLITE_FILE, DUMP_FILE, MANIFEST = "token.key", "portal.db", "portal.dump", "backup.txt"


class BackupError(RuntimeError):
    """The backup, restore or rotation cannot be done as asked; the message says why and what to do."""


def _stored_tokens():
    return db.session.scalars(
        select(M365Connection).where(M365Connection.refresh_token_encrypted != "").order_by(M365Connection.id)
    ).all()


def undecryptable_tokens():
    """How many stored refresh tokens the configured key cannot decrypt."""
    failing = 0
    for connection in _stored_tokens():
        try:
            tokens.decrypt(connection.refresh_token_encrypted)
        except tokens.TokenDecryptError:
            failing += 1
    return failing


def _libpq(url):
    """(libpq URI without the password, environment with PGPASSWORD) for pg_dump / pg_restore."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _copy_sqlite(source_path, target_path):
    """An online, consistent copy of a SQLite database (writers may keep writing meanwhile)."""
    with closing(sqlite3.connect(source_path)) as source, closing(sqlite3.connect(target_path)) as target:
        source.backup(target)


def _run(command, env):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def _dump_database(url, target_dir):
    if url.get_backend_name() == "sqlite":
        _copy_sqlite(url.database, target_dir / SQLITE_FILE)
        return SQLITE_FILE
    uri, env = _libpq(url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target_dir / DUMP_FILE), uri], env)
    return DUMP_FILE


def backup(destination, now=None):
    """Write a backup directory `destination` (it must not exist yet); returns its manifest text."""
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} exists already: name a new directory.")
    keys = tokens.keys_in_use(current_app)
    if not keys:
        raise BackupError("No token key is configured or generated: set TOKEN_ENCRYPTION_KEY.")
    failing = undecryptable_tokens()
    if failing:
        raise BackupError(
            f"{failing} stored M365 tokens do not decrypt with this key: a backup with it would be useless "
            "(flask doctor says which customers)."
        )
    partial = destination.with_name(destination.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700, parents=True)
    key_path = partial / KEY_FILE
    key_path.touch(mode=0o600)
    key_path.write_text(",".join(keys) + "\n")
    database_file = _dump_database(db.engine.url, partial)
    manifest = _manifest(database_file, now or datetime.now(UTC))
    (partial / MANIFEST).write_text(manifest)
    for path in partial.iterdir():  # the database as private as the key (sqlite3, pg_dump: umask)
        path.chmod(0o600)
    partial.rename(destination)  # complete or absent: never half a backup under the name asked for
    return manifest


def _manifest(database_file, now):
    with db.engine.connect() as conn:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return (
        f"awareness-portal {__version__}\nschema revision {revision}\ndatabase {database_file}\n"
        f"token key {KEY_FILE} (set TOKEN_ENCRYPTION_KEY to its content when restoring)\n"
        f"made {now.isoformat(timespec='seconds')}\n"
    )


def restore(source):
    """Load the backup directory `source` into this installation's empty database; returns how many
    stored tokens this host's key cannot decrypt (0: the key matches the backup's)."""
    source = Path(source)
    if not (source / KEY_FILE).is_file():
        raise BackupError(f"{source} holds no {KEY_FILE}: it is not a backup of this portal.")
    url = db.engine.url
    if inspect(db.engine).get_table_names():
        raise BackupError("The database is not empty: restore into a new, empty database.")
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        _copy_sqlite(source / SQLITE_FILE, url.database)
    else:
        uri, env = _libpq(url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", uri,
              str(source / DUMP_FILE)], env)  # fmt: skip
    return undecryptable_tokens()


def rotate_token_key():
    """Re-encrypt every stored token with the first of TOKEN_ENCRYPTION_KEY's keys; returns how many.

    All or nothing: when one token decrypts with none of the keys, nothing is written."""
    if tokens.key_file_in_use(current_app) is not None or len(tokens.keys_in_use(current_app)) < 2:
        raise BackupError(
            "Put the new key first: TOKEN_ENCRYPTION_KEY=NEW,OLD (in the environment file, then restart "
            "web and runner so they read both), then run this again."
        )
    stored = _stored_tokens()
    try:
        for connection in stored:
            connection.refresh_token_encrypted = tokens.rotate(connection.refresh_token_encrypted)
    except tokens.TokenDecryptError as exc:
        db.session.rollback()
        raise BackupError(str(exc)) from None
    db.session.commit()
    return len(stored)
