"""Pytest plugin: the M365 emulator on a free port for the whole session, reset before each test.

Load with `pytest_plugins = ["tests.emulator_fixture"]`. Fixtures:
  emulator_server  session-scoped EmulatorServer with the demo tenant
  emulator         function-scoped EmulatorHandle, reset (demo tenant) before the test
"""

import pytest
import requests

from m365_emulator.demo import (
    DEMO_ADMIN_UPN,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_DOMAIN,
    DEMO_TENANT_ID,
    DEMO_USER_UPN,
)
from m365_emulator.server import EmulatorServer


class EmulatorHandle:
    """What a test needs from the running emulator: URLs, tenant ids, and the control API."""

    client_id = DEMO_CLIENT_ID
    client_secret = DEMO_CLIENT_SECRET
    admin_upn = DEMO_ADMIN_UPN
    user_upn = DEMO_USER_UPN

    def __init__(self, server):
        self.server = server
        self.base_url = server.base_url
        self.authority = server.base_url
        self.graph_url = server.base_url + "/v1.0"
        self.http = requests.Session()
        self._tenant(DEMO_TENANT_ID, DEMO_TENANT_DOMAIN)

    def _tenant(self, tenant_id, domain):
        self.tenant_id, self.tenant_domain = tenant_id, domain

    def control(self, method, path, json=None):
        """Call `/_emulator/<path>` ("faults" or "/_emulator/faults"); returns the parsed JSON,
        raises on an HTTP error."""
        path = path.lstrip("/")
        path = path[len("_emulator/") :] if path.startswith("_emulator/") else path
        response = self.http.request(method, f"{self.base_url}/_emulator/{path}", json=json, timeout=30)
        response.raise_for_status()
        return response.json()

    def reset(self):
        """Back to the demo tenant with no tokens, faults, log or delta state."""
        status = self.control("POST", "reset")
        self._tenant(status["tenant_id"], status["tenant_domain"])
        return status

    def load_tenant(self, spec, seed=None):
        """Replace the tenant (e.g. "generated:2500"); the next reset returns to the demo."""
        status = self.control("POST", "tenant", {"spec": spec, "seed": seed})
        self._tenant(status["tenant_id"], status["tenant_domain"])
        return status

    def register_app(self, client_id, client_secret, redirect_uris, permissions=None):
        """Register another app (client id, secret, exact redirect URIs)."""
        body = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": list(redirect_uris)}
        if permissions is not None:
            body["permissions"] = permissions
        return self.control("POST", "apps", body)

    def grant_consent(self, client_id=DEMO_CLIENT_ID, scopes=("User.Read.All", "GroupMember.Read.All")):
        """Grant tenant-wide consent as if an admin had accepted it."""
        return self.control("PUT", f"consent/{client_id}", {"scopes": list(scopes)})

    def withdraw_consent(self, client_id=DEMO_CLIENT_ID, scope=None):
        """Withdraw all consent, or one permission."""
        suffix = f"?scope={scope}" if scope else ""
        return self.control("DELETE", f"consent/{client_id}{suffix}")

    def app_token(self, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET):
        """A client-credentials access token (consent must have been granted)."""
        response = self.http.post(
            f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
            auth=(client_id, client_secret),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def add_fault(self, path_pattern, status=429, retry_after=None, after=0, times=1, method=None, code=None):
        """Inject a failure for matching requests (Graph error `code`: the status's usual one)."""
        return self.control(
            "POST",
            "faults",
            {
                "path_pattern": path_pattern,
                "status": status,
                "retry_after": retry_after,
                "after": after,
                "times": times,
                "method": method,
                "code": code,
            },
        )

    def advance_clock(self, days=0, seconds=0):
        """Move the emulated clock forward."""
        return self.control("POST", "clock", {"advance_days": days, "advance_seconds": seconds})

    def log(self):
        """The request log (list of dicts: method, path, query, status, resource_units, ...)."""
        return self.control("GET", "log")


@pytest.fixture(scope="session")
def emulator_server():
    """The emulator serving the demo tenant on a free port for the whole test session."""
    server = EmulatorServer("demo").start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server):
    """A freshly reset emulator (demo tenant) for one test."""
    handle = EmulatorHandle(emulator_server)
    handle.reset()
    yield handle
    handle.http.close()
