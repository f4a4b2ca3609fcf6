"""Sign-in throttle: failed sign-ins counted in the database per account and per client address.

Behind the reverse proxy (TRUSTED_PROXIES=1) the address is the visitor's own (the last
X-Forwarded-For entry), so one person guessing passwords locks out their own address and the
accounts they tried, not everyone behind the proxy; all workers and hosts share the counts."""

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import SignInFailure, accounts
from tests.conftest import PASSWORD, PortalClient, make_test_config
from tests.factories import post_at_once, sign_in

ROOT = Path(__file__).resolve().parent.parent
LOCKED = "Too many failed sign-ins. Please try again in"
WRONG = "Email or password is not correct."


def fail(client, email, times, address=None):
    for _ in range(times):
        response = sign_in(client, email, "wrong-password", address)
        assert response.status_code == 200 and WRONG in response.get_data(as_text=True)


@pytest.fixture
def another_app(app):
    """Build more apps on the same database (other workers); their connections close afterwards."""
    apps = []

    def build(**overrides):
        apps.append(create_app(make_test_config(**overrides)))
        apps[-1].test_client_class = PortalClient
        return apps[-1]

    yield build
    for other in apps:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def proxied(another_app):
    """A second app on the same database, behind one trusted proxy (like deploy/'s nginx)."""
    return another_app(TRUSTED_PROXIES=1)


def test_locked_account_gets_429_with_when_to_try_again_and_the_email_kept(client, world):
    fail(client, "alice@acme.example", 5)
    response = sign_in(client, "alice@acme.example", PASSWORD)  # even the right password
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert f"{LOCKED} 15 minutes." in page
    assert 'value="alice@acme.example"' in page
    assert 840 < int(response.headers["Retry-After"]) <= 900
    assert client.get("/").status_code == 302  # not signed in


def test_unknown_account_is_locked_the_same_way(client, world):
    client.application.config.update(SIGN_IN_MAX_FAILURES_PER_ACCOUNT=3)  # fewer slow argon2 checks
    fail(client, "nobody@acme.example", 3)
    response = client.post(
        "/login",
        data={"email": "nobody@acme.example", "password": PASSWORD},
        headers={"Accept-Language": "de-DE,de;q=0.9"},
    )
    assert response.status_code == 429
    assert "Bitte versuchen Sie es in 15 Minuten erneut." in response.get_data(as_text=True)


def test_failures_from_one_address_lock_neither_another_address_nor_another_account(proxied, world):
    proxied.config.update(SIGN_IN_MAX_FAILURES_PER_ADDRESS=8)  # fewer slow argon2 checks
    attacker, colleague = proxied.test_client(), proxied.test_client()
    fail(attacker, "alice@acme.example", 5, address="203.0.113.7")
    assert sign_in(attacker, "alice@acme.example", address="203.0.113.7").status_code == 429
    assert sign_in(attacker, "bob@globex.example", address="203.0.113.7").status_code == 302
    attacker = proxied.test_client()
    fail(attacker, "guess@acme.example", 3, address="203.0.113.7")  # the address's 8th failure
    assert sign_in(attacker, "rita@northwind.example", address="203.0.113.7").status_code == 429
    # Someone else behind the same nginx, at another address: not locked out.
    assert sign_in(colleague, "rita@northwind.example", address="198.51.100.20").status_code == 302


def test_client_sent_forwarded_for_entries_are_ignored(proxied, world):
    """nginx appends the real address; whatever the client put in front of it does not count."""
    proxied.config.update(SIGN_IN_MAX_FAILURES_PER_ADDRESS=3)
    client = proxied.test_client()
    for spoofed in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        fail(client, f"{spoofed}@acme.example", 1, address=f"{spoofed}, 203.0.113.7")
    response = sign_in(client, "bob@globex.example", address="4.4.4.4, 203.0.113.7")
    assert response.status_code == 429


def test_without_a_trusted_proxy_forwarded_for_is_not_believed(client, world):
    client.application.config.update(SIGN_IN_MAX_FAILURES_PER_ADDRESS=3)
    for n in range(3):
        fail(client, f"guess{n}@acme.example", 1, address=f"198.51.100.{n}")
    assert sign_in(client, "bob@globex.example", address="198.51.100.99").status_code == 429


# Another gunicorn worker: its own process (its own memory), the same database.
OTHER_WORKER = """
import json, os, sys
from portal import create_app
app = create_app(json.loads(os.environ["WORKER_CONFIG"]))
client = app.test_client()
for _ in range(int(sys.argv[2])):
    response = client.post("/login", data={"email": sys.argv[1], "password": "wrong-password"})
    print(response.status_code)
"""


def fail_in_another_process(email, times):
    """Fail `times` sign-ins in a separate Python process; returns its status codes."""
    config = make_test_config(WTF_CSRF_ENABLED=False)
    env = dict(os.environ, WORKER_CONFIG=json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-c", OTHER_WORKER, email, str(times)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_counts_are_shared_by_workers_in_other_processes_and_app_instances(app, another_app, world):
    assert fail_in_another_process("alice@acme.example", 3) == ["200"] * 3
    other_app = another_app()
    fail(other_app.test_client(), "alice@acme.example", 2)
    assert sign_in(app.test_client(), "alice@acme.example").status_code == 429
    assert sign_in(other_app.test_client(), "alice@acme.example").status_code == 429


def test_success_clears_the_accounts_count(app, world):
    fail(app.test_client(), "alice@acme.example", 4)
    assert sign_in(app.test_client(), "alice@acme.example").status_code == 302
    fail(app.test_client(), "alice@acme.example", 4)  # would be 8 without the reset
    assert sign_in(app.test_client(), "alice@acme.example").status_code == 302


def test_lock_opens_when_the_failures_leave_the_window_and_old_rows_are_purged(client, world):
    client.application.config.update(SIGN_IN_MAX_FAILURES_PER_ACCOUNT=3)
    fail(client, "alice@acme.example", 3)
    assert sign_in(client, "alice@acme.example").status_code == 429
    for row in db.session.scalars(select(SignInFailure)):  # 15 minutes later
        row.failed_at -= timedelta(minutes=15)
    db.session.commit()
    fail(client, "bob@globex.example", 1)  # records a failure: purges what left the window
    assert db.session.scalar(select(func.count()).select_from(SignInFailure)) == 2
    assert sign_in(client, "alice@acme.example").status_code == 302


class CountingVerifier:
    """The suite's argon2 hasher, counting the password checks it makes (from any thread)."""

    def __init__(self, hasher):
        self.hasher, self.checked, self._lock = hasher, 0, threading.Lock()

    def __getattr__(self, name):
        return getattr(self.hasher, name)

    def verify(self, hash, password):
        with self._lock:
            self.checked += 1
        return self.hasher.verify(hash, password)


def test_concurrent_wrong_passwords_check_at_most_the_limit_and_the_account_stays_locked(
    app, world, monkeypatch
):
    """40 wrong passwords fired at once: at most the limit (5) are checked, each counts as a failure."""
    counting = CountingVerifier(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", counting)
    app.config.update(SIGN_IN_MAX_FAILURES_PER_ACCOUNT=5, SIGN_IN_MAX_FAILURES_PER_ADDRESS=1000)
    clients = [app.test_client() for _ in range(40)]
    answers = post_at_once(
        clients, "/login", data={"email": "alice@acme.example", "password": "wrong-password"}
    )
    assert set(answers) <= {200, 429} and len(answers) == 40
    # At most the limit is checked; a burst may refuse even more (each attempt counted the others
    # first), never fewer, and the refused take their count back.
    assert counting.checked <= 5 and answers.count(200) == counting.checked
    # A burst may refuse more than it must, never fewer: each checked attempt counts as a failure,
    # so the limit's remaining failures lock the account, and then the right password is refused.
    fail(app.test_client(), "alice@acme.example", 5 - counting.checked)
    assert sign_in(app.test_client(), "alice@acme.example", PASSWORD).status_code == 429
    assert counting.checked == 5
