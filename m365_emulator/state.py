"""Everything the emulator remembers: the tenant, app registrations, consent, codes and tokens,
paging/delta cursors, injected faults, the request log and the emulated clock.

One State per server; every handler works under `state.lock`. `reset()` returns to the initial
tenant and forgets everything else.
"""

import copy
import datetime
import fnmatch
import json
import os
import secrets
import threading
from dataclasses import dataclass, field

from .demo import build_demo_tenant, demo_app
from .directory import SOFT_DELETE_DAYS, Directory
from .entra_provisioning import default_tenant_url
from .generator import generate_tenant
from .keys import SigningKey

DEFAULT_SETTINGS = {
    "access_token_lifetime": 3599,  # seconds (expires_in)
    "code_lifetime": 600,  # seconds
    "refresh_inactivity_days": 90,
    "delta_token_days": 7,
    "users_delta_page_size": 100,
    "groups_delta_page_size": 10,
    "delta_member_slice": 50,  # members@delta entries per group occurrence
    "delta_replays": True,  # repeat some objects within an initial round
}
SETTING_TYPES = {k: type(v) for k, v in DEFAULT_SETTINGS.items()}


def utc(dt):
    """ISO 8601 UTC with a Z, seconds precision (Graph's format)."""
    return dt.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_tenant_data(spec, seed=None):
    """Tenant JSON for a spec: 'demo', 'generated:N', a path to a .json file, or a dict."""
    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    if spec in (None, "", "demo"):
        return build_demo_tenant()
    if str(spec).startswith("generated:"):
        return generate_tenant(int(spec.split(":", 1)[1]), seed if seed is not None else 1)
    if os.path.exists(spec):
        with open(spec, encoding="utf-8") as handle:
            return json.load(handle)
    raise ValueError(f"unknown tenant spec {spec!r} (use demo, generated:N or a .json file)")


@dataclass
class Fault:
    """An injected failure: requests whose path matches `path_pattern` (glob) fail with `status`."""

    id: str
    path_pattern: str
    status: int
    retry_after: float = None
    after: int = 0  # let this many matching requests through first
    times: int = 1  # fail this many times (None: forever)
    method: str = None
    code: str = None  # a Graph error code other than the status's usual one
    seen: int = 0
    fired: int = 0

    def take(self, method, path):
        """Count a matching request; True when this one must fail."""
        if self.method and self.method.upper() != method.upper():
            return False
        if not fnmatch.fnmatchcase(path, self.path_pattern):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    def to_json(self):
        """The fault as shown by the control API."""
        return {
            k: getattr(self, k)
            for k in (
                "id",
                "path_pattern",
                "status",
                "retry_after",
                "after",
                "times",
                "method",
                "code",
                "seen",
                "fired",
            )
        }


@dataclass
class Grant:
    """A token-issuing grant remembered server-side (auth code, access token or refresh token)."""

    client_id: str
    user_id: str = None
    scopes: list = field(default_factory=list)
    issued_at: datetime.datetime = None
    expires_at: datetime.datetime = None
    extra: dict = field(default_factory=dict)


class State:
    """The emulator's memory, guarded by `lock`."""

    def __init__(self, tenant="demo", seed=None):
        self.lock = threading.RLock()
        self.key = SigningKey()
        self.initial = (tenant, seed)
        self._cache = {}
        # Entra provisioning (entra_provisioning.py): the target the console pushes to survives a
        # reset; what was pushed (per target) and the last run do not.
        self.entra_target = {"url": default_tenant_url(), "token": "", "flag": False}
        self.entra_lock = threading.Lock()  # one provisioning cycle at a time
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self, tenant=None, seed=None):
        """Back to a pristine tenant (the initial one unless given); clears all other state."""
        with self.lock:
            spec, seed = (tenant, seed) if tenant is not None else self.initial
            data = self._tenant_data(spec, seed)
            self.directory = Directory(data)
            self.apps = {demo_app()["client_id"]: demo_app()}
            for app in data.get("apps", []):
                self.apps[app["client_id"]] = dict(app)
            self.grants = {cid: list(scopes) for cid, scopes in data.get("grants", {}).items()}
            self.codes, self.access_tokens, self.refresh_tokens, self.cursors = {}, {}, {}, {}
            self.faults, self.log = [], []
            self.latency_ms = 0
            self.clock_offset = datetime.timedelta(0)
            self.settings = dict(DEFAULT_SETTINGS)
            self.cursor_serial = 0
            self.delta_gone = {"users": 0, "groups": 0}  # cursors up to this serial get 410
            self.listings = {}  # sorted collection queries (portal listing pages), see listing._selection
            self.aliases = set()  # more tenant ids answered with this directory (scale benchmarks)
            self.entra_ledgers, self.entra_last = {}, None

    def _tenant_data(self, spec, seed):
        if isinstance(spec, dict):
            return copy.deepcopy(spec)
        key = (spec, seed)
        if key not in self._cache:
            self._cache[key] = json.dumps(load_tenant_data(spec, seed))
        return json.loads(self._cache[key])

    def tenant_json(self):
        """The current tenant (directory, extra apps, consent) for saving as JSON."""
        with self.lock:
            data = self.directory.to_json()
            data["apps"] = [a for cid, a in self.apps.items() if cid != demo_app()["client_id"]]
            data["grants"] = {cid: list(s) for cid, s in self.grants.items()}
            return data

    # -- clock ----------------------------------------------------------------------------
    def now(self):
        """The emulated time (real UTC time plus any advance from the control API)."""
        return datetime.datetime.now(datetime.UTC) + self.clock_offset

    def advance(self, days=0, seconds=0):
        """Move the emulated clock forward and purge what expired meanwhile."""
        with self.lock:
            self.clock_offset += datetime.timedelta(days=days, seconds=seconds)
            self.purge()

    def purge(self):
        """Permanently delete users soft-deleted more than 30 days ago."""
        cutoff = utc(self.now() - datetime.timedelta(days=SOFT_DELETE_DAYS))
        return self.directory.purge_deleted(cutoff)

    # -- tenants ----------------------------------------------------------------------------
    def resolve_tenant(self, segment):
        """Whether the `{tenant}` path segment may use this tenant: GUID, domain, organizations, common."""
        segment = (segment or "").lower()
        return segment in self.aliases or segment in (
            "organizations",
            "common",
            self.directory.id.lower(),
            self.directory.domain.lower(),
        )

    # -- tokens ---------------------------------------------------------------------------
    def new_secret(self, prefix=""):
        """A random opaque token string."""
        return prefix + secrets.token_urlsafe(32)

    def issue_access_token(self, client_id, user_id, scopes, token=None):
        """A bearer token for Graph (`token`: the string to issue, e.g. a signed app-only JWT);
        returns (token, lifetime seconds)."""
        lifetime = int(self.settings["access_token_lifetime"])
        now = self.now()
        token = token or self.new_secret("eyJ0eXAiOiJKV1Qi.")
        self.access_tokens[token] = Grant(
            client_id, user_id, list(scopes), now, now + datetime.timedelta(seconds=lifetime)
        )
        return token, lifetime

    def issue_refresh_token(self, client_id, user_id, scopes):
        """A new refresh token (each use of one returns another; the old stays valid)."""
        token = self.new_secret("0.AX")
        self.refresh_tokens[token] = Grant(
            client_id, user_id, list(scopes), self.now(), None, {"last_used": self.now(), "revoked": False}
        )
        return token

    def expire_access_tokens(self):
        """Make every access token issued so far expired."""
        past = self.now() - datetime.timedelta(seconds=1)
        for grant in self.access_tokens.values():
            grant.expires_at = past
        return len(self.access_tokens)

    def revoke_refresh_tokens(self, user_id=None, client_id=None, reason=True):
        """Revoke refresh tokens (all, one user's, or one app's); returns how many. `reason`
        "sign_in_frequency": refused as Conditional Access sign-in frequency does (70043)."""
        count = 0
        for grant in self.refresh_tokens.values():
            if (user_id in (None, grant.user_id)) and (client_id in (None, grant.client_id)):
                grant.extra["revoked"] = reason
                count += 1
        return count

    def effective_scopes(self, grant):
        """Scopes of an access token that the tenant's consent still covers."""
        return self.effective_scopes_of(grant.client_id, grant.scopes)

    def effective_scopes_of(self, client_id, scopes):
        """Those of `scopes` the tenant's consent to `client_id` covers now."""
        granted = set(self.grants.get(client_id, []))
        return [s for s in scopes if s in granted or s == "User.Read"]

    # -- cursors (skiptokens, deltatokens) ---------------------------------------------------
    def store_cursor(self, data):
        """Remember paging/delta state under a random opaque key; returns the key."""
        key = secrets.token_urlsafe(24)
        self.cursor_serial += 1
        data = dict(
            data, issued_at=self.now(), generation=self.directory.generation, serial=self.cursor_serial
        )
        self.cursors[key] = data
        return key

    def cursor(self, key):
        """The stored state for a token, or None when unknown or from before a reset."""
        data = self.cursors.get(key)
        if data is None or data["generation"] != self.directory.generation:
            return None
        return data

    # -- faults and log ------------------------------------------------------------------------
    def add_fault(self, spec):
        """Register a fault from control-API JSON; returns it."""
        fault = Fault(
            id=secrets.token_hex(4),
            path_pattern=spec.get("path_pattern", "*"),
            status=int(spec.get("status", 503)),
            retry_after=spec.get("retry_after"),
            after=int(spec.get("after", 0)),
            times=spec.get("times", 1),
            method=spec.get("method"),
            code=spec.get("code"),
        )
        self.faults.append(fault)
        return fault

    def take_fault(self, method, path):
        """The first fault that fires for this request, or None."""
        with self.lock:
            for fault in self.faults:
                if fault.take(method, path):
                    return fault
        return None

    def record(self, entry):
        """Append an entry to the request log."""
        with self.lock:
            self.log.append(entry)
