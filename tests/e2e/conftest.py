"""Browser tests: the real portal on a real HTTP server, driven by Playwright in Debian's Chromium.

They skip with a reason when Chromium is missing, except in CI (REQUIRE_BROWSER=1), where a
missing browser is a failure.

Fixtures: `browser`, `live_http` (the server, bound to its port before the app exists, so the
M365 redirect URI can go into the settings), `live_config` (settings dict; extend it, or override
the fixture in a test module, before `live_server` starts), `live_server`, `page`, `runner` (the
real background runner looping in a thread on its own app), and helpers `sign_in`, `screenshot`,
`m365_settings`, `switch_customer`,
`emulator_sign_in`, `connect_m365`, and Playwright's `expect` (use it rather than
`page.wait_for_function`: the portal's CSP forbids eval, so string predicates fail).
"""

import logging
import os
import threading

import pytest
from werkzeug.serving import make_server

from portal import create_app
from tests import m365_helpers as m365
from tests.conftest import make_test_config

try:  # re-exported for the test modules; without Playwright the `browser` fixture skips or fails
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover
    expect = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _browser_missing_reason():
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"browser tests must run here: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LiveServer:
    """The portal served over HTTP on a free port, in a thread.

    The port is bound at once; the app can be set later (`serve(app)`), so settings that contain
    the portal's own URL (the M365 redirect URI) can be made before the app is created.
    """

    def __init__(self, app=None):
        self.app = app
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _dispatch(self, environ, start_response):
        return self.app(environ, start_response)

    def serve(self, app):
        self.app = app
        return self.start()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live_config():
    """Settings of the live portal; tests may add to this dict before using `live_server`."""
    return make_test_config(SERVER_NAME=None)


@pytest.fixture
def live_http():
    """The live portal's HTTP server, bound to a free port but not serving yet."""
    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture
def live_server(app, live_http, live_config):
    """A second app on the same database, served for the browser."""
    return live_http.serve(create_app(live_config))


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, email, password):
    """Sign in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page, name):
    """Keep a screenshot for people to look at (screenshots/ at the repository root).

    `page` may also be a Locator: then only that element is taken (a readable close-up).
    """
    folder = os.path.join(os.path.dirname(__file__), "..", "..", "screenshots")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.png")
    if hasattr(page, "goto"):
        page.screenshot(path=path, full_page=True)
    else:
        page.screenshot(path=path)


def m365_settings(live_config, emulator, portal_url):
    """Point the live portal at the emulator with a freshly registered app (its own consent state)."""
    redirect_uri = f"{portal_url}/m365/callback"
    client_id, secret = m365.register_app(emulator, redirect_uri)
    live_config.update(m365.emulator_settings(emulator, client_id, secret, redirect_uri), SYNC_LOCK_WAIT=5)
    return live_config


class BackgroundRunner:
    """The real runner (portal.runner.Runner) looping tick() in a thread until stopped."""

    def __init__(self, config, poll_seconds=0.2):
        from portal.runner import Runner

        self.app = create_app(config)
        self.runner = Runner(self.app, poll_seconds=poll_seconds)
        self.poll_seconds = poll_seconds
        self.errors = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="e2e-runner", daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            try:
                worked = self.runner.tick()
            except Exception as exc:  # noqa: BLE001 - keep looping like the real runner, remember why
                logging.getLogger(__name__).exception("runner step failed")
                self.errors.append(repr(exc))
                worked = False
            if not worked:
                self._stop.wait(self.poll_seconds)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=30)
        with self.app.app_context():
            from portal.extensions import db

            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def runner(live_server, live_config):
    """The background runner, on its own app with the live portal's settings."""
    background = BackgroundRunner(live_config).start()
    yield background
    background.stop()


def switch_customer(page, name):
    """Pick a customer in the header's switcher, as a reseller admin does."""
    page.locator("details.switcher summary").click()
    page.get_by_placeholder("Search customers…").fill(name[:4].lower())
    page.get_by_role("button", name=name).click()
    page.wait_for_load_state()


def emulator_sign_in(page, account="admin@contosodemo.onmicrosoft.com", consent=True, action="Accept"):
    """On the emulator's Microsoft sign-in page: pick the account, tick consent (when asked), click."""
    page.wait_for_selector("input[name=account]")
    page.locator(f"input[name=account][value='{account}']").check()
    box = page.get_by_label("Consent on behalf of your organization")
    if consent and box.count():
        box.check()
    page.get_by_role("button", name=action, exact=True).click()


def connect_m365(page, **sign_in_options):
    """ "Release M365 Interface" on the Synchronize contacts page, and the Microsoft leg after it."""
    page.goto("/m365/")
    page.get_by_role("button", name="Release M365 Interface").click()
    emulator_sign_in(page, **sign_in_options)
    page.wait_for_url("**/m365/")
