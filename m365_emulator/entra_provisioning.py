"""Microsoft Entra ID's provisioning service, replayed: the SCIM 2.0 requests Entra sends to an
enterprise app's Tenant URL (docs/graph-protocol.md section 9), made from this emulator's directory.

    driver = EntraProvisioning(url, token, flag=False, workers=8)
    driver.test_connection()                     -> (ok, message)   Entra's "Test Connection"
    run = driver.run(Snapshot.of(directory), ledger, "initial" | "incremental")
    run.summary()                                -> created/updated/disabled/deleted/errors/requests/seconds
    run.log                                      -> one entry per HTTP request (never the token)

`ledger` is what was pushed to this target (a JSON-ready dict the caller keeps between cycles, like
Entra's escrow): per user the target's id, the attributes sent and the manager; per group its id,
name and members. Initial cycle: per user a filter on `userName`, POST when absent, PATCH of the
differing attributes when present; then the managers; then the groups (filter, POST, members added
in batches). Incremental cycle: only what changed since (new users, changed attributes, accounts
disabled, soft-deleted or out of scope → `active` false, hard-deleted → DELETE, group members
added/removed).

Quirks as Entra sends them: without the `aadOptscim062020` flag, capitalised ops ("Replace"),
`"True"`/`"False"` strings, one path per attribute, the manager as a bare string and member removal
by `members[value eq "id"]`; with the flag, lower-case ops, booleans, one no-path replace whose value
object is keyed by attribute paths, the manager as `{"value": id}` and removal by a value list. Nulls
and case-only changes are never sent. Scope: every group and every user with a mail (the
scoping filter `in_scope`); group members are the direct member users (Entra does not provision
nested groups).
"""

import http.client
import json
import os
import ssl
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from urllib.parse import quote, urlsplit, urlunsplit

FLAG = "aadOptscim062020"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
WORK_EMAIL = 'emails[type eq "work"].value'
WORK_OFFICE = 'addresses[type eq "work"].formatted'
WORK_COUNTRY = 'addresses[type eq "work"].country'
MANAGER_PATH = f"{ENTERPRISE}:manager"
# Entra's default attribute mappings (Graph property → SCIM attribute path), objectId → externalId
# as the portal's setup guide advises.
MAPPINGS = (
    ("userPrincipalName", "userName"),
    ("id", "externalId"),
    ("displayName", "displayName"),
    ("givenName", "name.givenName"),
    ("surname", "name.familyName"),
    ("mail", WORK_EMAIL),
    ("jobTitle", "title"),
    ("preferredLanguage", "preferredLanguage"),
    ("officeLocation", WORK_OFFICE),
    ("country", WORK_COUNTRY),
    ("department", f"{ENTERPRISE}:department"),
    ("employeeId", f"{ENTERPRISE}:employeeNumber"),
    ("companyName", f"{ENTERPRISE}:organization"),
)
MEMBER_BATCH = 25  # member references per group PATCH
RETRIED = (429, 503)
MAX_RETRY_WAIT = 60.0  # seconds: longer Retry-After values are capped
SCIM_JSON = "application/scim+json"


def new_ledger():
    """What a target has been sent so far: nothing."""
    return {"users": {}, "groups": {}}


def default_tenant_url():
    """The Tenant URL of `make run`'s portal (PORTAL_PORT, default 5000)."""
    return f"http://127.0.0.1:{os.environ.get('PORTAL_PORT') or '5000'}/scim/v2"


class Busy(RuntimeError):
    """A provisioning cycle of this emulator is already running."""


def run_on_state(state, url, token, cycle="incremental", *, flag=False, workers=8):
    """A cycle from an emulator State's directory (console and control API): the ledger is kept
    per target in `state.entra_ledgers`, the Run in `state.entra_last`. Busy while one runs."""
    if not state.entra_lock.acquire(blocking=False):
        raise Busy("A provisioning cycle is running; try again when it has finished.")
    try:
        with state.lock:
            snapshot = Snapshot.of(state.directory)
        driver = EntraProvisioning(url, token, flag=flag, workers=workers)
        ledger = state.entra_ledgers.setdefault(driver.base, new_ledger())
        run = driver.run(snapshot, ledger, cycle)
        state.entra_last = run
        return run
    finally:
        state.entra_lock.release()


# -- what Entra computes from the directory ---------------------------------------------------
@dataclass
class Snapshot:
    """The directory as the provisioning service sees it at the start of a cycle (a copy, so the
    cycle runs without the emulator's lock). users: id → Graph user (active and soft-deleted);
    deleted: ids of soft-deleted users; groups: id → (displayName, [direct member user ids])."""

    users: dict
    deleted: set
    groups: dict
    out_of_scope: set = field(default_factory=set)

    @classmethod
    def of(cls, directory, group_limit=None):
        """Snapshot of an emulator Directory (call under the State's lock); `group_limit`: only the
        first N groups are in scope. Users without a mail are out of scope (in_scope)."""
        users = {uid: dict(user) for uid, user in directory.users.items()}
        users.update({uid: dict(user) for uid, user in directory.deleted.items()})
        out = {uid for uid, user in users.items() if not in_scope(user)}
        groups = {}
        for gid, group in list(directory.groups.items())[:group_limit]:
            members = [m for m in directory.member_ids(gid) if m in directory.users and m not in out]
            groups[gid] = (group["displayName"], members)
        return cls(users, set(directory.deleted), groups, out)


def in_scope(user):
    """The job's scoping filter, `mail IS NOT NULL`: a contact needs an email address (the portal
    refuses a user without a work email), so an Entra admin scopes the job to users with a mail.
    A pushed user who leaves the scope is disabled, as Entra does."""
    return bool(user.get("mail"))


def desired_user(user, deleted=False):
    """The SCIM attributes (path → value) Entra sends for a Graph user; nulls left out."""
    attrs = {path: user.get(prop) for prop, path in MAPPINGS if user.get(prop) not in (None, "")}
    attrs["active"] = bool(user.get("accountEnabled", True)) and not deleted
    return attrs


def to_resource(attrs):
    """A SCIM User (core + enterprise) from attribute paths."""
    resource = {"schemas": [CORE_USER, ENTERPRISE]}
    for path, value in attrs.items():
        if path == WORK_EMAIL:
            resource["emails"] = [{"type": "work", "primary": True, "value": value}]
        elif path in (WORK_OFFICE, WORK_COUNTRY):
            address = _work_address(resource)
            address["formatted" if path == WORK_OFFICE else "country"] = value
        elif path.startswith(ENTERPRISE + ":"):
            resource.setdefault(ENTERPRISE, {})[path[len(ENTERPRISE) + 1 :]] = value
        elif path.startswith("name."):
            resource.setdefault("name", {})[path[5:]] = value
        else:
            resource[path] = value
    return resource


def _work_address(resource):
    addresses = resource.setdefault("addresses", [{"type": "work", "primary": True}])
    return addresses[0]


def read_attrs(resource):
    """The mapped attribute paths' values in a SCIM User resource the target returned."""
    work = lambda items: next((i for i in items or [] if i.get("type") == "work"), None) or {}  # noqa: E731
    enterprise = resource.get(ENTERPRISE) or {}
    values = {
        "userName": resource.get("userName"),
        "externalId": resource.get("externalId"),
        "displayName": resource.get("displayName"),
        "name.givenName": (resource.get("name") or {}).get("givenName"),
        "name.familyName": (resource.get("name") or {}).get("familyName"),
        WORK_EMAIL: work(resource.get("emails")).get("value"),
        "title": resource.get("title"),
        "preferredLanguage": resource.get("preferredLanguage"),
        WORK_OFFICE: work(resource.get("addresses")).get("formatted"),
        WORK_COUNTRY: work(resource.get("addresses")).get("country"),
        f"{ENTERPRISE}:department": enterprise.get("department"),
        f"{ENTERPRISE}:employeeNumber": enterprise.get("employeeNumber"),
        f"{ENTERPRISE}:organization": enterprise.get("organization"),
        "active": _boolean(resource.get("active", True)),
    }
    return values


def _boolean(value):
    return value.lower() == "true" if isinstance(value, str) else bool(value)


def manager_of(resource):
    """The target's manager id of a SCIM User, or None."""
    manager = (resource.get(ENTERPRISE) or {}).get("manager")
    return manager.get("value") if isinstance(manager, dict) else manager


def changes(before, after):
    """The attributes of `after` Entra sends: set, and different from `before` other than by case
    (a value cleared in the directory is not cleared downstream: nulls are never sent)."""
    sent = {}
    for path, value in after.items():
        old = before.get(path)
        if value is None or value == old:
            continue
        if isinstance(value, str) and isinstance(old, str) and value.lower() == old.lower():
            continue
        sent[path] = value
    return sent


# -- one cycle's record ------------------------------------------------------------------------
COUNTS = (
    "created",
    "updated",
    "disabled",
    "deleted",
    "groups_created",
    "groups_updated",
    "groups_deleted",
    "members_added",
    "members_removed",
    "errors",
)


@dataclass
class Run:
    """Counts and the request log of one cycle (or a Test Connection)."""

    cycle: str
    url: str
    flag: bool
    counts: dict = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    log: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def problem(self, message):
        with self.lock:
            self.counts["errors"] += 1
            if len(self.problems) < 20:
                self.problems.append(message)

    def latencies(self):
        return [entry["ms"] for entry in self.log if entry["status"]]

    def summary(self):
        """The figures of the cycle, JSON-ready."""
        latencies = sorted(self.latencies())
        p95 = statistics.quantiles(latencies, n=100)[94] if len(latencies) >= 2 else None
        return {
            "cycle": self.cycle,
            "url": self.url,
            "flag": self.flag,
            **self.counts,
            "requests": len(self.log),
            "seconds": round(self.seconds, 2),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p95_ms": round(p95, 1) if p95 is not None else None,
            "problems": list(self.problems),
        }


# -- the driver ----------------------------------------------------------------------------------
class Pace:
    """Requests started at a steady rate (a second, across the driver's threads): each takes the next
    slot of a fixed schedule and waits for it. A thread that comes late to its slot (every thread
    waited on the target) starts at once, and the schedule catches up with at most `burst` requests
    at a time; a pause of the cycle itself (its phases wait for their last requests) is not made up."""

    def __init__(self, rate, burst):
        self.interval, self.burst = 1.0 / rate, burst
        self.next = None
        self.lock = threading.Lock()

    def wait(self):
        with self.lock:
            now = time.perf_counter()
            slot = now if self.next is None else max(self.next, now - self.interval * self.burst)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass
class Answer:
    """What the target answered: status, reason, headers (case-insensitive .get) and body."""

    status_code: int
    reason: str
    headers: http.client.HTTPMessage
    content: bytes

    def json(self):
        return json.loads(self.content)


def split_flag(url):
    """(Tenant URL without its query, whether it carries `aadOptscim062020`)."""
    parts = urlsplit(url.strip())
    flagged = FLAG in parts.query.split("&")
    return urlunsplit(parts._replace(query="", fragment="")).rstrip("/"), flagged


def scim_string(value):
    """A string literal of a SCIM filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class EntraProvisioning:
    """Entra's provisioning service for one enterprise app: Tenant URL, Secret Token, flag mode."""

    def __init__(
        self, url, token, *, flag=False, workers=8, timeout=30, max_retries=5, keep_alive=True, rate=None
    ):
        """`rate`: requests a second at most (Pace), for a load at a given rate; None: as fast as
        the target answers."""
        self.base, flagged = split_flag(url)
        self._target = urlsplit(self.base)  # scheme, host, port and path of every request
        # keep_alive False: a connection per request ("Connection: close"), as the target's clients
        # reach it through a proxy that opens one per request (bench/scim.py, nginx's default)
        self.keep_alive = keep_alive
        self.url = self.base + (f"?{FLAG}" if flag or flagged else "")
        self.flag = flag or flagged
        self.token, self.workers, self.timeout, self.max_retries = token, workers, timeout, max_retries
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": SCIM_JSON,
            "User-Agent": "Microsoft.Identity.Provisioning (M365 emulator)",
        }
        if not keep_alive:
            self.headers["Connection"] = "close"
        self._local = threading.local()
        self.pace = Pace(rate, workers) if rate else None

    # -- HTTP -------------------------------------------------------------------------------
    # http.client, not requests: a load of thousands of requests (bench/scim.py) shares the machine
    # with the target, and requests cost about 1 ms of CPU each against http.client's 0.3.
    def _connection(self):
        """This thread's connection to the target: kept between requests with keep_alive, else new."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            parts = self._target
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(
                    parts.hostname, parts.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
            if self.keep_alive:
                self._local.connection = connection
        return connection

    def _exchange(self, method, relative, data):
        """One HTTP request and its whole answer; the connection is closed unless kept alive."""
        connection = self._connection()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = SCIM_JSON
        try:
            connection.request(method, self._target.path + relative, body=data, headers=headers)
            response = connection.getresponse()
            answer = Answer(response.status, response.reason, response.headers, response.read())
        except BaseException:
            connection.close()
            self._local.connection = None
            raise
        if not self.keep_alive or response.will_close:
            connection.close()
            self._local.connection = None
        return answer

    def _relative(self, path, query=""):
        """A request's path and query below the Tenant URL (as logged); the flag rides on every query."""
        query = "&".join(filter(None, [query, FLAG if self.flag else ""]))
        return path + (f"?{query}" if query else "")

    def send(self, run, method, path, *, query="", body=None, what=""):
        """One request (retried on 429/503 after Retry-After, and once on a dropped connection); the
        answer, or None when the target could not be reached. Every attempt is logged."""
        relative = self._relative(path, query)
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        response, dropped = None, 0
        for attempt in range(self.max_retries + 1):
            if self.pace:
                self.pace.wait()
            started = time.perf_counter()
            try:
                response = self._exchange(method, relative, data)
            except (OSError, http.client.HTTPException) as error:
                self._log(run, method, relative, 0, started, what)
                dropped += 1
                if isinstance(error, ConnectionError) and dropped == 1:
                    continue  # e.g. a keep-alive connection the server had just closed
                run.problem(f"{method} {relative}: {error.__class__.__name__}")
                return None
            self._log(run, method, relative, response.status_code, started, what)
            if response.status_code not in RETRIED or attempt == self.max_retries:
                break
            time.sleep(_retry_after(response, attempt))
        if response is not None and response.status_code >= 400:
            run.problem(f"{method} {relative}: {response.status_code} {_detail(response)}")
        return response

    def _log(self, run, method, relative, status, started, what):
        run.record(
            {
                "time": datetime.now(UTC).strftime("%H:%M:%S"),
                "method": method,
                "path": relative,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "what": what,
            }
        )

    # -- Test Connection ------------------------------------------------------------------------
    def test_connection(self):
        """Entra's Test Connection: a filter on a random userName must answer 200, empty."""
        run = Run("test", self.url, self.flag)
        response = self.send(run, "GET", "/Users", query=_filter("userName", str(uuid.uuid4())), what="test")
        if response is None:
            return False, f"The Tenant URL could not be reached: {run.problems[0]}"
        body = _json(response)
        if response.status_code == 200 and body.get("totalResults") == 0:
            return True, "The supplied credentials are authorized to enable provisioning."
        return False, f"The target answered {response.status_code}: {_detail(response)}"

    # -- cycles ------------------------------------------------------------------------------------
    def run(self, snapshot, ledger, cycle="initial"):
        """One provisioning cycle; updates `ledger` in place; returns the Run."""
        if cycle == "incremental" and not ledger.get("users") and not ledger.get("groups"):
            cycle = "initial"  # nothing pushed yet: the first cycle is always an initial one
        run = Run(cycle, self.url, self.flag)
        if cycle == "initial":
            ledger.clear()
            ledger.update(new_ledger())
        users = ledger["users"]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            if cycle == "initial":
                skipped = snapshot.deleted | snapshot.out_of_scope
                items = [(uid, u) for uid, u in snapshot.users.items() if uid not in skipped]
                list(pool.map(lambda item: self._initial_user(run, users, *item), items))
            else:
                _send_all(
                    pool,
                    run,
                    [self._incremental_user(snapshot, users, u) for u in _user_ids(snapshot, users)],
                )
            _send_all(pool, run, [self._manager(snapshot, users, uid) for uid in list(users)])
            gids = list(dict.fromkeys([*snapshot.groups, *ledger["groups"]]))
            live = {entry["id"] for entry in users.values()}  # the target's ids of the users it has
            list(pool.map(lambda gid: self._group(run, snapshot, ledger, gid, live), gids))
        run.seconds = time.perf_counter() - run.started
        return run

    # -- users ---------------------------------------------------------------------------------------
    def _initial_user(self, run, users, uid, user):
        want = desired_user(user)
        response = self.send(
            run, "GET", "/Users", query=_filter("userName", want["userName"]), what="match user"
        )
        if response is None or response.status_code != 200:
            return
        found = (_json(response).get("Resources") or [None])[0]
        if found is None:
            self._create_user(run, users, uid, want)
            return
        users[uid] = {"id": found["id"], "attrs": want, "manager": manager_of(found)}
        self._patch_user(run, found["id"], changes(read_attrs(found), want))

    def _incremental_user(self, snapshot, users, uid):
        """What an incremental cycle sends about one user: a function of the Run, or None when
        nothing changed. Worked out before the requests (as Entra's service computes its changes
        first): the threads then only send, and the driver's own work does not slow what it times."""
        pushed = users.get(uid)
        user = snapshot.users.get(uid)
        if user is None:  # hard-deleted (or purged after 30 days)
            return partial(self._delete_user, users=users, uid=uid)
        deleted = uid in snapshot.deleted or uid in snapshot.out_of_scope
        if pushed is None:
            return None if deleted else partial(self._initial_user, users=users, uid=uid, user=user)
        want = desired_user(user, deleted)
        if deleted:  # a soft-deleted (or out of scope) object is only disabled
            want = dict(pushed["attrs"], active=False)
        sent = changes(pushed["attrs"], want)
        if not sent:
            pushed["attrs"] = want
            return None
        return partial(self._update_user, pushed=pushed, want=want, sent=sent)

    def _delete_user(self, run, users, uid):
        response = self.send(run, "DELETE", f"/Users/{users[uid]['id']}", what="delete user")
        if response is not None and response.status_code in (204, 404):
            run.count("deleted")
            users.pop(uid, None)

    def _update_user(self, run, pushed, want, sent):
        if self._patch_user(run, pushed["id"], sent):
            pushed["attrs"] = want

    def _create_user(self, run, users, uid, want):
        response = self.send(run, "POST", "/Users", body=to_resource(want), what="create user")
        if response is not None and response.status_code == 201:
            users[uid] = {"id": _json(response)["id"], "attrs": want, "manager": None}
            run.count("created")

    def _patch_user(self, run, scim_id, sent):
        """PATCH the changed attributes (nothing when none changed); True when the target took them."""
        if not sent:
            return True
        if self.flag:
            operations = [{"op": "replace", "value": sent}]
        else:
            operations = [{"op": "Replace", "path": path, "value": _legacy(v)} for path, v in sent.items()]
        body = {"schemas": [PATCH_OP], "Operations": operations}
        response = self.send(run, "PATCH", f"/Users/{scim_id}", body=body, what="update user")
        if response is None or response.status_code >= 400:
            return False
        run.count("disabled" if sent.get("active") is False else "updated")
        return True

    def _manager(self, snapshot, users, uid):
        """The manager reference, in its own PATCH after the users exist (never cleared: no nulls):
        a function of the Run, or None when it is pushed already (as _incremental_user)."""
        pushed, user = users.get(uid), snapshot.users.get(uid)
        if pushed is None or user is None or uid in snapshot.deleted:
            return None
        manager = users.get(user.get("manager") or "")
        if manager is None or manager["id"] == pushed.get("manager"):
            return None
        return partial(self._set_manager, pushed=pushed, manager=manager)

    def _set_manager(self, run, pushed, manager):
        value = {"value": manager["id"]} if self.flag else manager["id"]
        operation = {"op": "replace" if self.flag else "Replace", "path": MANAGER_PATH, "value": value}
        body = {"schemas": [PATCH_OP], "Operations": [operation]}
        response = self.send(run, "PATCH", f"/Users/{pushed['id']}", body=body, what="set manager")
        if response is not None and response.status_code < 400:
            pushed["manager"] = manager["id"]

    # -- groups -------------------------------------------------------------------------------------------
    def _group(self, run, snapshot, ledger, gid, live):
        pushed = ledger["groups"].get(gid)
        if gid not in snapshot.groups:
            response = self.send(run, "DELETE", f"/Groups/{pushed['id']}", what="delete group")
            if response is not None and response.status_code in (204, 404):
                ledger["groups"].pop(gid, None)
                run.count("groups_deleted")
            return
        name, member_ids = snapshot.groups[gid]
        if pushed is None:
            pushed = self._match_group(run, gid, name)
            if pushed is None:
                return
            ledger["groups"][gid] = pushed
        elif changes({"displayName": pushed["name"]}, {"displayName": name}):
            self._rename_group(run, pushed, name)
        wanted = {m: ledger["users"][m]["id"] for m in member_ids if m in ledger["users"]}
        self._members(run, pushed, wanted, live)

    def _match_group(self, run, gid, name):
        query = "excludedAttributes=members&" + _filter("displayName", name)
        response = self.send(run, "GET", "/Groups", query=query, what="match group")
        if response is None or response.status_code != 200:
            return None
        found = (_json(response).get("Resources") or [None])[0]
        if found is not None:
            return {"id": found["id"], "name": name, "members": {}}
        body = {"schemas": [CORE_GROUP], "externalId": gid, "displayName": name, "members": []}
        response = self.send(run, "POST", "/Groups", body=body, what="create group")
        if response is None or response.status_code != 201:
            return None
        run.count("groups_created")
        return {"id": _json(response)["id"], "name": name, "members": {}}

    def _rename_group(self, run, pushed, name):
        if self.flag:
            operation = {"op": "replace", "value": {"displayName": name}}
        else:
            operation = {"op": "Replace", "path": "displayName", "value": name}
        body = {"schemas": [PATCH_OP], "Operations": [operation]}
        response = self.send(run, "PATCH", f"/Groups/{pushed['id']}", body=body, what="rename group")
        if response is not None and response.status_code < 400:
            pushed["name"] = name
            run.count("groups_updated")

    def _members(self, run, pushed, wanted, live):
        """Add the new members and remove the departed ones, MEMBER_BATCH per request. Members whose
        user was deleted from the target (their id not in `live`) are dropped without a request (the
        target removed them)."""
        members = pushed["members"]
        for oid in [m for m in members if m not in wanted and members[m] not in live]:
            members.pop(oid)
        added = [(oid, sid) for oid, sid in wanted.items() if members.get(oid) != sid]
        removed = [(oid, sid) for oid, sid in members.items() if oid not in wanted]
        for batch in _batches(removed):
            if self._member_patch(run, pushed["id"], "remove", [sid for _oid, sid in batch]):
                for oid, _sid in batch:
                    members.pop(oid, None)
                run.count("members_removed", len(batch))
        for batch in _batches(added):
            if self._member_patch(run, pushed["id"], "add", [sid for _oid, sid in batch]):
                members.update(batch)
                run.count("members_added", len(batch))

    def _member_patch(self, run, group_id, op, scim_ids):
        values = [{"value": sid} for sid in scim_ids]
        if op == "add":
            operations = [{"op": "add" if self.flag else "Add", "path": "members", "value": values}]
        elif self.flag:
            operations = [{"op": "remove", "path": "members", "value": values}]
        else:
            operations = [
                {"op": "Remove", "path": f"members[value eq {scim_string(sid)}]"} for sid in scim_ids
            ]
        body = {"schemas": [PATCH_OP], "Operations": operations}
        response = self.send(run, "PATCH", f"/Groups/{group_id}", body=body, what=f"members {op}")
        return response is not None and response.status_code < 400


def _send_all(pool, run, works):
    """Run each work of `works` (functions of the Run; None: nothing to send) on the pool."""
    list(pool.map(lambda work: work(run), [work for work in works if work is not None]))


def _user_ids(snapshot, users):
    """Users an incremental cycle looks at: those in the directory and those pushed before."""
    return list(dict.fromkeys([*snapshot.users, *users]))


def _filter(attribute, value):
    return "filter=" + quote(f"{attribute} eq {scim_string(value)}", safe="")


def _legacy(value):
    """Entra without the flag sends booleans as the strings "True"/"False"."""
    return ("True" if value else "False") if isinstance(value, bool) else value


def _batches(items):
    return [items[i : i + MEMBER_BATCH] for i in range(0, len(items), MEMBER_BATCH)]


def _json(response):
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response):
    body = _json(response)
    return str(body.get("detail") or body.get("scimType") or response.reason or "")[:200]


def _retry_after(response, attempt):
    """Seconds to wait before retrying: Retry-After when given (capped), else a short backoff."""
    try:
        return min(float(response.headers.get("Retry-After")), MAX_RETRY_WAIT)
    except (TypeError, ValueError):
        return min(0.5 * 2**attempt, MAX_RETRY_WAIT)
