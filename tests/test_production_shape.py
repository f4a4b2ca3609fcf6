"""The portal started exactly as deploy/ starts it, walked over real HTTP.

The command lines, working directory and environment come from the unit files in deploy/ (only the
install path /opt/awareness-portal is mapped to this checkout, its virtualenv and its deploy/), the
environment file is deploy/portal.env.example with test values, and the database is a fresh
PostgreSQL database. Then: migrate (the migrate unit), create the accounts (the CLI), start gunicorn
and the runner, sign in, connect the M365 emulator, import its users in Manual mode, run "Sync now",
and ask the doctor.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, make_url, text

from tests import m365_helpers
from tests.conftest import PG_SCHEMA
from tests.deploy_files import DEPLOY, command_line, read_env_file, read_unit, write_env_file

pytestmark = pytest.mark.skipif(
    not PG_SCHEMA,
    reason="the production shape runs on PostgreSQL only: set TEST_DATABASE_URL=postgresql+psycopg://...",
)

ROOT = Path(__file__).resolve().parent.parent
INSTALL_DIR = "/opt/awareness-portal"
VENV_BIN = Path(sys.executable).parent
PASSWORD = "production-shape-1"
EMAIL = "it@acme.example"
# Settings the test adds to the example's (the example leaves them to their defaults).
ADDED = {"PORTAL_HTTPS", "GUNICORN_BIND", "GUNICORN_WORKERS", "M365_AUTHORITY", "M365_GRAPH_URL"}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def database():
    """A fresh PostgreSQL database on the test server: its URL; dropped afterwards."""
    server = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"shape_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def installation(tmp_path, database, emulator):
    """The environment file (the example with test values) and the portal's address."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    client_id, client_secret = str(uuid.uuid4()), "secret-" + uuid.uuid4().hex
    emulator.register_app(client_id, client_secret, [f"{base}/m365/callback"])
    values = read_env_file()
    test_values = {
        "PORTAL_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PORTAL_BASE_URL": base,
        "PORTAL_HTTPS": "false",  # plain http on 127.0.0.1: cookies without Secure
        "DATABASE_URL": database,
        "M365_CLIENT_ID": client_id,
        "M365_CLIENT_SECRET": client_secret,
        "M365_REDIRECT_URI": f"{base}/m365/callback",
        "M365_AUTHORITY": emulator.authority,
        "M365_GRAPH_URL": emulator.graph_url,
        "MAIL_SERVER": "",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    assert set(test_values) - ADDED <= set(values), "deploy/portal.env.example lost a setting"
    values.update(test_values)
    return write_env_file(tmp_path / "portal.env", values), base


class Units:
    """Runs deploy/'s units as systemd would: their command, directory and environment."""

    def __init__(self, env_file, log_dir):
        self.env_file, self.log_dir, self.processes = env_file, log_dir, []

    def _command(self, unit):
        """The unit's command with the installed paths mapped: the venv's bin/, its share/ (deploy/)."""
        places = {
            f"{INSTALL_DIR}/.venv/bin/": VENV_BIN,
            f"{INSTALL_DIR}/.venv/share/awareness-portal/": DEPLOY,
        }
        for prefix, here in places.items():
            unit = [str(here / arg.removeprefix(prefix)) if arg.startswith(prefix) else arg for arg in unit]
        return unit

    def _environment(self, unit):
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
        [env_file] = unit["EnvironmentFile"]
        assert env_file == "/etc/awareness-portal/portal.env"
        env.update(read_env_file(self.env_file))
        env.update(dict(value.split("=", 1) for value in unit.get("Environment", [])))
        return env

    def _options(self, name):
        unit = read_unit(name)
        assert unit["WorkingDirectory"] == [INSTALL_DIR]
        return self._command(command_line(unit)), {"cwd": ROOT, "env": self._environment(unit)}

    def run(self, name, *extra_args):
        """Run a oneshot unit (or its command with other arguments): its output, which must succeed."""
        command, options = self._options(name)
        if extra_args:
            command = command[: command.index("portal") + 1] + list(extra_args)
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, **options)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done.stdout

    def start(self, name):
        """Start a long-running unit; its output goes to <name>.log."""
        command, options = self._options(name)
        log = open(self.log_dir / f"{name}.log", "w")  # closed in stop()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **options)
        self.processes.append((process, log))
        return process

    def stop(self):
        for process, log in self.processes:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()

    def log(self, name):
        return (self.log_dir / f"{name}.log").read_text()[-3000:]


@pytest.fixture
def units(installation, tmp_path):
    env_file, _base = installation
    units = Units(env_file, tmp_path)
    yield units
    units.stop()


def _until(what, check, seconds=30, step=0.2):
    """Poll `check()` until it answers something true; returns that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(step)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def _answers(browser, base, probe):
    """The probe answers 200 (`/healthz`: gunicorn is up; `/readyz`: database, schema and runner)."""
    try:
        return browser.get(f"{base}{probe}", timeout=5).status_code == 200
    except requests.RequestException:  # not listening yet, or its workers still booting
        return False


def _csrf(page):
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def _post(browser, base, path, **data):
    """A form post as htmx sends it from a signed-in page (CSRF header, HX-Request)."""
    token = _csrf(browser.get(f"{base}/").text)
    headers = {"X-CSRFToken": token, "HX-Request": "true"}
    return browser.post(f"{base}{path}", data=data, headers=headers, allow_redirects=False, timeout=10)


def _poll_until_done(browser, base, path):
    """Poll a progress fragment like htmx does until it answers 286 (finished); returns its text."""
    return _until(path, lambda: _finished(browser.get(f"{base}{path}", headers={"HX-Request": "true"})))


def _finished(response):
    assert response.status_code in (200, 286), response.text[:500]
    return response.text if response.status_code == 286 else None


def _accounts(units, database):
    """The reseller (M365 sync allowed), customer and customer admin, made with the CLI."""
    reseller = units.run("awareness-portal-migrate", "create-reseller", "--name", "Northwind IT").strip()
    customer = units.run(
        "awareness-portal-migrate", "create-customer", "--reseller", reseller, "--name", "Acme GmbH"
    ).strip()
    units.run(
        "awareness-portal-migrate",
        *("create-admin", "--email", EMAIL, "--password", PASSWORD, "--role", "customer"),
        *("--customer", customer),
    )
    engine = create_engine(database)
    with engine.begin() as conn:  # the master-data switch (its form has tests of its own)
        conn.execute(text("UPDATE reseller SET ms_user_sync = true WHERE id = :id"), {"id": int(reseller)})
    return engine


def _sign_in(browser, base):
    page = browser.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "email": EMAIL, "password": PASSWORD}
    answer = browser.post(f"{base}/login", data=form, allow_redirects=False)
    assert answer.status_code == 302 and "/login" not in answer.headers["Location"], answer.text[:500]


def _connect(browser, base):
    """Release M365 Interface with delegated permissions (the env example preselects application
    permissions), the emulator's sign-in, and back to the portal's callback."""
    start = _post(browser, base, "/m365/connect", connection_type="delegated")
    assert start.status_code == 302, start.text[:500]
    answer = m365_helpers.microsoft_leg(start.headers["Location"])
    callback = answer.headers["Location"]
    assert callback.startswith(f"{base}/m365/callback?")
    back = browser.get(callback, allow_redirects=False)
    assert back.status_code == 302 and back.headers["Location"].endswith("/m365/"), back.text[:500]
    assert "M365 interface has been connected" in browser.get(f"{base}/m365/").text


def _manual_import(browser, base):
    """Manual mode: load the users from Microsoft, select all, import them."""
    loading = _post(browser, base, "/m365/manual/load")
    _poll_until_done(browser, base, re.search(r"/m365/manual/load/\d+", loading.text).group(0))
    assert _post(browser, base, "/m365/manual/select", value="all").status_code == 200
    importing = _post(browser, base, "/m365/manual/import")
    return _poll_until_done(browser, base, re.search(r"/m365/manual/import/\d+", importing.text).group(0))


def _count(engine, sql):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_the_portal_as_deploy_starts_it_connects_imports_and_syncs(installation, units, database):
    _env_file, base = installation
    units.run("awareness-portal-migrate")
    engine = _accounts(units, database)
    web = units.start("awareness-portal-web")
    units.start("awareness-portal-runner")
    browser = requests.Session()
    try:
        _until("gunicorn answering", lambda: _answers(browser, base, "/healthz") or web.poll() is not None)
        assert web.poll() is None, units.log("awareness-portal-web")
        _until("the portal ready (runner beating)", lambda: _answers(browser, base, "/readyz"))
        _sign_in(browser, base)
        _connect(browser, base)
        _manual_import(browser, base)
        imported = _count(engine, "SELECT count(*) FROM contact WHERE m365_user_id IS NOT NULL")
        assert imported > 0
        assert _post(browser, base, "/m365/settings/sync_active", value="on").status_code == 200
        assert _post(browser, base, "/sync/now").status_code == 200
        _poll_until_done(browser, base, "/sync/status")
        assert _count(engine, "SELECT status FROM sync_run ORDER BY id DESC LIMIT 1") == "succeeded"
        assert _count(engine, "SELECT count(*) FROM contact") >= imported
        doctor = units.run("awareness-portal-migrate", "doctor")
        assert "OK   runner alive" in doctor and "OK   stored M365 tokens: all 1 decrypt" in doctor
    except AssertionError:
        print(units.log("awareness-portal-web"), units.log("awareness-portal-runner"), sep="\n----\n")
        raise
    finally:
        browser.close()
        engine.dispose()
