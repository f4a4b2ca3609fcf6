"""What the benchmark scripts share: result lines, the emulator and the measured code as processes.

    emit(name, value, unit, floor=None, max=None, min=None, note="")   one `BENCH {json}` line
    Emulator(spec, latency_ms)      `python -m m365_emulator` in its own process (not our GIL)
    scratch_database(url=None)      an empty database (a temporary SQLite file, or a schema of its
                                    own in the PostgreSQL database `url` names), dropped at the end
    portal_app(url)                 the portal's app on that database, tables created
    connect(app, emulator, name)    a customer connected through the real sign-in
    run_portal(args, env)           `flask --app wsgi ...` as a child; -> Child(code, seconds, rss_mb, out)
    start_gunicorn(env, port)       the portal under gunicorn (production config) on free_port()

bench/run.py collects the `BENCH` lines of every script into one table (bench/results.md).
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import AdminSession, AdminUser, Customer, Reseller, SyncSettings  # noqa: E402
from tests import m365_helpers  # noqa: E402

TOKEN_KEY = "bA7GCyODDTBUF0PVlqM6ZCyU40eeygHSc8ErX71uzv8="
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"


def emit(name, value, unit, floor=None, max=None, min=None, note=""):  # noqa: A002
    """Print one machine-readable result: its figure, floor (if any) and target (max or min)."""
    row = {"name": name, "value": value, "unit": unit, "floor": floor, "max": max, "min": min, "note": note}
    print("BENCH " + json.dumps(row, ensure_ascii=False), flush=True)


class Emulator:
    """The M365 emulator in a child process; `.control(method, path, body)` drives it."""

    def __init__(self, spec, latency_ms=0):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "m365_emulator", "--port", "0", "--tenant", spec],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # werkzeug's access log
            text=True,
        )
        first = self.process.stdout.readline()  # "M365 emulator on http://127.0.0.1:PORT — ..."
        if not first.startswith("M365 emulator on "):
            self.stop()
            raise RuntimeError(f"the emulator did not start: {first!r}")
        self.base_url = first.split()[3]
        self.authority, self.graph_url = self.base_url, self.base_url + "/v1.0"
        self.http = requests.Session()
        status = self.control("GET", "status")
        self.tenant_id, self.tenant_domain = status["tenant_id"], status["tenant_domain"]
        self.admin_upn = f"admin@{self.tenant_domain}"
        self.latency(latency_ms)

    def control(self, method, path, body=None):
        response = self.http.request(method, f"{self.base_url}/_emulator/{path}", json=body, timeout=120)
        response.raise_for_status()
        return response.json()

    def register_app(self, client_id, client_secret, redirect_uris, permissions=None):
        """What tests.m365_helpers.configure calls (as tests.emulator_fixture.EmulatorHandle does)."""
        body = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": list(redirect_uris)}
        if permissions is not None:
            body["permissions"] = permissions
        return self.control("POST", "apps", body)

    def latency(self, ms):
        self.control("POST", "latency", {"ms": ms})

    def graph_requests(self):
        """Graph requests served since the last call (the log is cleared)."""
        log = self.control("GET", "log")
        self.control("DELETE", "log")
        return len([entry for entry in log if entry["path"].startswith("/v1.0/")])

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@contextmanager
def scratch_database(url=None):
    """Yield the URL of an empty database; drop it afterwards."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    schema = f"bench_{os.getpid()}_{int(time.time())}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def portal_app(url, **overrides):
    """The portal on `url` with its tables created (call inside `with app.app_context()`)."""
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": SECRET_KEY,
        "TOKEN_ENCRYPTION_KEY": TOKEN_KEY,
        "SERVER_NAME": "localhost",
        "WTF_CSRF_ENABLED": False,
        "TESTING": True,
        "MAIL_SERVER": "",
        **overrides,
    }
    app = create_app(config)
    with app.app_context():
        upgrade()  # as `make run` and the install guide do: the migrations, nothing else
    return app


def customer_and_admin():
    """A reseller, its customer "Bench GmbH" and that customer's admin, committed: (customer, admin)."""
    reseller = Reseller(name="Bench Reseller")
    db.session.add(reseller)
    db.session.flush()
    customer = Customer(name="Bench GmbH", reseller_id=reseller.id)
    db.session.add(customer)
    db.session.flush()
    admin = AdminUser(
        email="bench@bench.example", role="customer", customer_id=customer.id, password_hash="x"
    )
    db.session.add(admin)
    db.session.commit()
    return customer, admin


def signed_in_client(app, admin):
    """A Flask test client with a real server-side session of `admin`."""
    client = app.test_client()
    AdminSession.start(admin)
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = admin.session_token, True
    return client


def connect(app, emulator, name="Bench Customer"):
    """A customer with "Microsoft User Synchronization" on, connected through the real sign-in."""
    reseller = Reseller(name=f"{name} Partner", ms_user_sync=True)
    db.session.add(reseller)
    db.session.flush()
    customer = Customer(name=name, reseller_id=reseller.id)
    db.session.add(customer)
    db.session.flush()
    admin = AdminUser(email=f"admin-{customer.id}@bench.example", role="customer", customer_id=customer.id)
    admin.password_hash = "x"
    db.session.add(admin)
    db.session.commit()
    m365_helpers.configure(app, emulator, M365_GRAPH_MAX_WAIT=60, M365_GRAPH_TIMEOUT=60)
    m365_helpers.sign_in(signed_in_client(app, admin), account=emulator.admin_upn)
    SyncSettings.for_customer(customer)
    db.session.commit()
    return customer, admin


def child_env(app):
    """The environment of a `flask --app wsgi` child that works on the same database and emulator."""
    config = app.config
    names = ("M365_AUTHORITY", "M365_GRAPH_URL", "M365_CLIENT_ID", "M365_CLIENT_SECRET")
    env = {name: str(config[name]) for name in names}
    return dict(
        os.environ,
        **env,
        DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        TOKEN_ENCRYPTION_KEY=TOKEN_KEY,
        SECRET_KEY=SECRET_KEY,
        MAIL_SERVER="",
        M365_GRAPH_MAX_WAIT="60",
        M365_GRAPH_TIMEOUT="60",
    )


@dataclass
class Child:
    code: int
    seconds: float
    rss_mb: float
    output: str


def run_portal(args, env):
    """Run `flask --app wsgi <args>` to its end; its wall time and peak RSS (this child only)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        print(output, file=sys.stderr)
    return Child(process.returncode, seconds, usage.ru_maxrss / 1024, output)  # ru_maxrss: KiB on Linux


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env, port):
    """The portal under gunicorn with its production config (deploy/gunicorn.conf.py, as installed)
    on 127.0.0.1:`port`, in the environment `env`; the process, once /healthz answers."""
    env = dict(env, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_LOGLEVEL="warning")
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen(command, cwd=ROOT, env=env, **quiet)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not answer /healthz")
