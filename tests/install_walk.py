"""The second half of .ci/install-check: the INSTALLED portal started as its systemd units say, then walked.

`python -m tests.install_walk --prefix DIR --env-file FILE ...` reads the units the wheel installed
(DIR/.venv/share/awareness-portal/*.service, with /opt/awareness-portal mapped to DIR), runs the
migrate unit, creates a customer with the installed `awareness-portal` command, starts the web and
the runner units with the environment file, and checks: /readyz, the README's operator signs in, a
German page (Accept-Language: de) with the release in its footer, and a customer admin connects the
M365 emulator, imports its users and runs "Sync now"; then `doctor` finds the runner alive and the
stored refresh token decrypting. (This is the one walk of the production shape: the installed wheel,
its units, PostgreSQL, gunicorn and the runner.)
"""

import argparse
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from m365_emulator.server import EmulatorServer
from portal._version import __version__
from portal.manage import read_env_file
from tests import m365_helpers
from tests.emulator_fixture import EmulatorHandle

INSTALL_DIR = "/opt/awareness-portal"
README = Path(__file__).resolve().parent.parent / "README.md"
EMAIL, PASSWORD = "it@acme.example", "install-walk-1"  # the customer admin the walk creates


class InstalledUnits:
    """The wheel's unit files, run as systemd would: their command, directory and environment file."""

    def __init__(self, prefix, env_file, log_dir):
        self.prefix, self.env_file, self.log_dir = Path(prefix), Path(env_file), Path(log_dir)
        self.processes = []

    def _unit(self, name):
        path = self.prefix / ".venv" / "share" / "awareness-portal" / f"{name}.service"
        settings = {}
        for raw in path.read_text().replace(INSTALL_DIR, str(self.prefix)).splitlines():
            line = raw.strip()
            if line and not line.startswith(("#", ";", "[")):
                key, _, value = line.partition("=")
                settings.setdefault(key, []).append(value)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **read_env_file(self.env_file)}
        env.update(dict(value.split("=", 1) for value in settings.get("Environment", [])))
        [command], [cwd] = settings["ExecStart"], settings["WorkingDirectory"]
        return shlex.split(command), {"cwd": cwd, "env": env}

    def run(self, name):
        command, options = self._unit(name)
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, **options)
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    def start(self, name):
        command, options = self._unit(name)
        log = open(self.log_dir / f"{name}.log", "w")  # closed in stop()
        self.processes.append(
            (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **options), log)
        )

    def command(self, *args):
        """The installed `awareness-portal` command with the environment file (as the guide runs it)."""
        env = {"PATH": "/usr/bin:/bin", "PORTAL_ENV_FILE": str(self.env_file)}
        program = self.prefix / ".venv" / "bin" / "awareness-portal"
        done = subprocess.run([program, *args], capture_output=True, text=True, timeout=60, env=env, cwd="/")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def stop(self):
        for process, log in self.processes:
            process.terminate()
            process.wait(timeout=30)
            log.close()

    def logs(self):
        return "\n----\n".join(path.read_text()[-3000:] for path in sorted(self.log_dir.glob("*.log")))


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


def readme_operator():
    """(email, password) of the operator account the README's guide creates."""
    found = re.search(r"create-admin --role operator --email (\S+) --password '([^']+)'", README.read_text())
    return found.group(1), found.group(2)


def check_operator_in_german(base, email, password):
    """The README's operator signs in from a German browser (its first sign-in: the account takes
    German); the start page is German and shows the release."""
    browser = requests.Session()
    browser.headers["Accept-Language"] = "de"  # a browser sends it with every request
    login = browser.get(f"{base}/login").text
    assert "Anmelden" in login and f"Awareness Portal {__version__}</footer>" in login, login[:500]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    form = {"csrf_token": token, "email": email, "password": password}
    answer = browser.post(f"{base}/login", data=form, allow_redirects=False)
    assert answer.status_code == 302 and "/login" not in answer.headers["Location"], answer.text[:500]
    page = browser.get(f"{base}/", headers={"Accept-Language": "en"}).text  # now the account decides
    assert "Abmelden" in page and email in page, page[:500]


def check_customer_sync(units, base, database_url):
    """A customer admin connects the emulator, imports its users in Manual mode and syncs."""
    reseller = units.command("create-reseller", "--name", "Northwind IT").strip()
    customer = units.command("create-customer", "--reseller", reseller, "--name", "Acme GmbH").strip()
    units.command(
        "create-admin", "--email", EMAIL, "--password", PASSWORD, "--role", "customer", "--customer", customer
    )
    engine = create_engine(database_url)
    with engine.begin() as conn:  # the master-data switch "M365 user sync" (its form has tests of its own)
        conn.execute(text("UPDATE reseller SET ms_user_sync = true WHERE id = :id"), {"id": int(reseller)})
    browser = requests.Session()
    _sign_in(browser, base)
    _connect(browser, base)
    _manual_import(browser, base)
    assert _count(engine, "SELECT count(*) FROM contact WHERE m365_user_id IS NOT NULL") > 0
    assert _post(browser, base, "/m365/settings/sync_active", value="on").status_code == 200
    assert _post(browser, base, "/sync/now").status_code == 200
    _poll_until_done(browser, base, "/sync/status")
    assert _count(engine, "SELECT status FROM sync_run ORDER BY id DESC LIMIT 1") == "succeeded"
    engine.dispose()
    doctor = units.command("doctor")  # now with a stored refresh token and a beating runner
    assert "OK   runner alive" in doctor and "OK   stored M365 tokens: all 1 decrypt" in doctor, doctor


def run_readme_blocks(directory, env_file):
    """The README's blocks marked `install-check: running` (written by .ci/install-check), in order."""
    for block in sorted(Path(directory).glob("running-*.sh")):
        env = {**os.environ, "PORTAL_ENV_FILE": str(env_file)}
        done = subprocess.run(["bash", block], capture_output=True, text=True, timeout=120, env=env)
        print(done.stdout, end="")
        assert done.returncode == 0, (block.read_text(), done.stdout, done.stderr)


def walk(args):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's request log
    settings = read_env_file(args.env_file)
    base = settings["PORTAL_BASE_URL"]
    emulator = EmulatorServer("demo", port=args.emulator_port).start()
    EmulatorHandle(emulator).register_app(args.client_id, args.client_secret, [f"{base}/m365/callback"])
    units = InstalledUnits(args.prefix, args.env_file, Path(args.prefix).parent)
    try:
        units.run("awareness-portal-migrate")
        units.start("awareness-portal-web")
        units.start("awareness-portal-runner")
        probe = requests.Session()
        _until("the portal ready (/readyz)", lambda: _answers(probe, base, "/readyz"), seconds=60)
        print("  /readyz answers 200")
        static = Path(args.prefix) / "static" / "css" / "portal.css"  # nginx's alias: the guide's link
        served = requests.get(f"{base}/static/css/portal.css", timeout=10).content
        assert static.is_file() and static.read_bytes() == served
        run_readme_blocks(args.readme_blocks, args.env_file)
        check_operator_in_german(base, *readme_operator())
        print("  the README's operator signed in; German page with the release in the footer")
        check_customer_sync(units, base, settings["DATABASE_URL"])
        print("  connected the emulator, imported its users, synchronized; doctor: its token decrypts")
    except BaseException:
        print(units.logs(), file=sys.stderr)
        raise
    finally:
        units.stop()
        emulator.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.install_walk", description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="what /opt/awareness-portal is on this host")
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--readme-blocks", required=True, help="where .ci/install-check wrote them")
    parser.add_argument("--emulator-port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    walk(parser.parse_args(argv))


if __name__ == "__main__":
    main()
