"""The one Microsoft Graph client the rest of the code uses.

    client = GraphClient.for_refresh_token(plain, tenant_id)  # delegated: a stored refresh token
    client = GraphClient.for_token(token, tenant_id)  # a fresh sign-in (no stored connection)
    client = GraphClient.for_application(tenant_id)  # application permissions (client credentials)
    with GraphClient.for_token(t, tid) as client: ...  # closes the HTTP session at the end

    client.list_users()            -> list[dict]  (all users, $select USER_FIELDS, $top=999, paged)
    client.iter_users()            -> the same users page by page (lists), each page dropped once consumed
    client.iter_users_ahead()      -> iter_users(), the next page fetched while the caller works on this one
    client.get_user(user_id)       -> dict | None (None only on 404 Request_ResourceNotFound)
    client.list_groups()           -> list[dict]  ($select GROUP_FIELDS)
    client.group_member_ids(group_id, transitive=True) -> list[str]  (user ids only)
    client.users_delta(delta_link=None)  -> DeltaPage(items=list[dict], delta_link=str)
    client.groups_delta(delta_link=None) -> DeltaPage(items=list[dict], delta_link=str)
    client.probe_read_access()     GET /users and /groups ($top=1, $select=id): may read users and groups
    client.request_count, client.resource_units  (counters for this client's lifetime: the sync history)

Retries are a small explicit loop, not urllib3's Retry: urllib3 parses only whole-second or
HTTP-date Retry-After values and rejects Graph's fractional ones ("2.128") as an invalid header.
Settings (defaults in portal/config.py): M365_GRAPH_TIMEOUT (seconds per request),
M365_GRAPH_MAX_WAIT (total seconds of waiting across retries of one call),
M365_GRAPH_MAX_ATTEMPTS, M365_GRAPH_BACKOFF (first backoff in seconds),
M365_GRAPH_PAGE_SIZE ($top on lists; tests lower it to exercise paging).

Errors (all subclasses of GraphError, each with a `message` an admin understands):
    ReauthRequired     refresh token rejected (invalid_grant ...): connection needs a new sign-in
    ConsentLost        (a ReauthRequired) application permissions: consent or service principal gone
    PermissionMissing  403 Authorization_RequestDenied: consent/permissions withdrawn
    GraphUnavailable   429/5xx after bounded retries, or Microsoft unreachable
    DeltaExpired       syncStateNotFound / 410: the caller must restart with delta_link=None
Hooks, so this client needs no database: `on_refresh_token(plain)` gets each rotated refresh token
and `on_auth_lost(reason)` is called before ReauthRequired or PermissionMissing is raised. A stored
connection's client (sync.connection.graph_client) persists the token and marks the connection
"Re-authentication required" through them; the caller only has to stop and show `error.message`.
"""

import email.utils
import logging
import queue
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app
from flask_babel import gettext as _

from portal import attributes
from portal.m365 import apponly, credentials
from portal.m365.credentials import CertificateExpired
from portal.m365.permissions import DELEGATED_SCOPES

log = logging.getLogger(__name__)


USER_FIELDS = ",".join(
    (
        "id,displayName,givenName,surname,mail,userPrincipalName,proxyAddresses,accountEnabled,userType",
        *attributes.GRAPH_PROPERTIES,
    )
)
# The manager is a navigation property: listings expand it (its id, name and mail); a delta round
# tracks it when selected and answers `manager@delta` (ids only).
MANAGER_EXPAND = "manager($select=id,displayName,mail)"
USER_DELTA_SELECT = USER_FIELDS + ",manager"
GROUP_FIELDS = (
    "id,displayName,description,mail,mailEnabled,securityEnabled,groupTypes,resourceProvisioningOptions"
)
# iter_users_ahead: pages fetched while the caller writes (the caller writes two pages at a time:
# models.base.INSERT_CHUNK rows); each page holds up to $top=999 users.
PAGES_AHEAD = 3
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Token endpoint errors that only a new sign-in of an administrator can cure.
REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required", "login_required"})
# Token-endpoint codes that mean the tenant no longer lets the app in with application permissions:
# no service principal (enterprise app deleted / never consented), app not found in the tenant.
CONSENT_LOST_CODES = frozenset({"AADSTS7000229", "AADSTS700016"})
EVENTUAL = {"ConsistencyLevel": "eventual"}
USER_TYPE = "#microsoft.graph.user"
# The only 404 that means "this object does not exist (in the tenant the token is for)". Any other
# 404 (a wrong Graph address, a proxy's page, another service's code) is an error, never a deletion.
NOT_FOUND = "Request_ResourceNotFound"


class GraphError(Exception):
    """A Graph call failed; `message` is shown to admins."""

    def __init__(self, message, *, code=None, status=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class ReauthRequired(GraphError):
    pass


class ConsentLost(ReauthRequired):
    """Application permissions: the tenant no longer lets the app in (consent or service principal gone)."""


class PermissionMissing(GraphError):
    pass


class GraphUnavailable(GraphError):
    pass


class DeltaExpired(GraphError):
    pass


@dataclass
class DeltaPage:
    items: list = field(default_factory=list)
    delta_link: str = ""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, error, delay=None):
        super().__init__(error.message)
        self.error, self.delay = error, delay


def token_endpoint(tenant):
    """The v2.0 token endpoint of the configured authority for `tenant` (GUID or alias)."""
    return f"{current_app.config['M365_AUTHORITY']}/{tenant}/oauth2/v2.0/token"


def aadsts_code(description):
    """The AADSTS code in an error description ("AADSTS700082"), or ""."""
    match = re.search(r"AADSTS\d+", description or "")
    return match.group(0) if match else ""


def parse_retry_after(value):
    """Seconds to wait from a Retry-After header: a (fractional) number or an HTTP date; else None."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


class GraphClient:
    """Microsoft Graph over Authlib's OAuth2Session: refresh, paging, retries, typed errors."""

    def __init__(
        self,
        token,
        *,
        tenant_id,
        on_refresh_token=None,
        on_auth_lost=None,
        app_only=False,
        sleep=time.sleep,
    ):
        config = current_app.config
        self.tenant_id = tenant_id
        self.graph_url = config["M365_GRAPH_URL"].rstrip("/")
        self.timeout = float(config["M365_GRAPH_TIMEOUT"])
        self.max_wait = float(config["M365_GRAPH_MAX_WAIT"])
        self.max_attempts = int(config["M365_GRAPH_MAX_ATTEMPTS"])
        self.backoff = float(config["M365_GRAPH_BACKOFF"])
        self.page_size = int(config["M365_GRAPH_PAGE_SIZE"])
        self._on_refresh_token = on_refresh_token
        self._on_auth_lost = on_auth_lost
        self._sleep = sleep
        self._refresh_token = token.get("refresh_token", "")
        self.app_only = app_only
        self._session = credentials.oauth_session(
            token_endpoint=token_endpoint(tenant_id),
            scope=DELEGATED_SCOPES,
            token=token,
            update_token=self._token_updated,
            default_timeout=self.timeout,
        )
        self._deferred_hooks = None  # while a thread fetches ahead: the hooks it left for the caller
        self.request_count = 0
        self.resource_units = 0

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def for_refresh_token(cls, refresh_token, tenant_id, **kwargs):
        """A client that refreshes from a stored (plain) refresh token: delegated permissions."""
        # expires_at=1: no access token is kept, so the first request refreshes.
        token = {"access_token": "", "token_type": "Bearer", "expires_at": 1, "refresh_token": refresh_token}
        return cls(token, tenant_id=tenant_id, **kwargs)

    @classmethod
    def for_application(cls, tenant_id, **kwargs):
        """A client reading `tenant_id` with application permissions (client-credentials tokens)."""
        return cls(
            {"access_token": "", "token_type": "Bearer", "expires_at": 1},
            tenant_id=tenant_id,
            app_only=True,
            **kwargs,
        )

    @classmethod
    def for_token(cls, token, tenant_id, **kwargs):
        """A client for a token just obtained at sign-in (nothing stored yet)."""
        return cls(dict(token), tenant_id=tenant_id, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the HTTP session (connection pool)."""
        self._session.close()

    @property
    def refresh_token(self):
        """The newest plain refresh token this client holds (for the sign-in to store)."""
        return self._refresh_token

    # --- the contract -------------------------------------------------------------------------
    def probe_read_access(self):
        """Prove the signed-in account may read all users and groups (one tiny read of each)."""
        self._get(f"{self.graph_url}/users", {"$top": 1, "$select": "id"})
        self._get(f"{self.graph_url}/groups", {"$top": 1, "$select": "id"})

    def list_users(self):
        """All users with USER_FIELDS, every page."""
        return [user for page in self.iter_users() for user in page]

    def iter_users(self):
        """All users with USER_FIELDS, one page (a list) at a time: a large tenant is never held whole."""
        params = {"$select": USER_FIELDS, "$expand": MANAGER_EXPAND, "$top": self.page_size}
        return (list(map(_with_manager, page)) for page in self._pages("/users", params))

    def iter_users_ahead(self):
        """iter_users(), each next page fetched by a thread while the caller works on this one
        (the Graph round trip overlaps the caller's database writes).

        The client belongs to that thread until the iteration ends: the caller makes no other call
        with it meanwhile. The hooks the thread would run (a rotated refresh token, a lost
        authorisation: database writes) are run in the caller's thread instead, before the page or
        the error they came with is handed over."""
        app = current_app._get_current_object()
        handoff, stop = queue.Queue(maxsize=PAGES_AHEAD), threading.Event()
        self._deferred_hooks = queue.SimpleQueue()

        def fetch():
            with app.app_context():
                try:
                    for page in self.iter_users():
                        if not _hand_over(handoff, stop, (page, None)):
                            return
                    _hand_over(handoff, stop, (None, None))
                except Exception as error:
                    _hand_over(handoff, stop, (None, error))

        worker = threading.Thread(target=fetch, name="graph-users-ahead", daemon=True)
        worker.start()
        try:
            while True:
                page, error = handoff.get()
                self._run_deferred_hooks()
                if error is not None:
                    raise error
                if page is None:
                    return
                yield page
        finally:
            stop.set()
            worker.join()
            self._run_deferred_hooks()
            self._deferred_hooks = None

    def _run_deferred_hooks(self):
        while not self._deferred_hooks.empty():
            hook, args = self._deferred_hooks.get()
            hook(*args)

    def _hook(self, hook, *args):
        """Run a hook now, or (while a thread fetches ahead) leave it for the caller's thread."""
        if self._deferred_hooks is not None:
            self._deferred_hooks.put((hook, args))
        else:
            hook(*args)

    def get_user(self, user_id):
        """One user with USER_FIELDS, or None when it does not exist (404 Request_ResourceNotFound)."""
        url = f"{self.graph_url}/users/{quote(user_id, safe='')}"
        user = self._get(url, {"$select": USER_FIELDS, "$expand": MANAGER_EXPAND}, allow_404=True)
        return None if user is None else _with_manager(user)

    def list_groups(self):
        """All groups with GROUP_FIELDS, every page."""
        return self._collect("/groups", {"$select": GROUP_FIELDS, "$top": self.page_size})

    def group_member_ids(self, group_id, transitive=True):
        """Ids of the users in a group (nested groups flattened when transitive).

        The cast to microsoft.graph.user is an advanced query: ConsistencyLevel: eventual and
        $count=true, the header resent on every page (nextLink does not carry headers).
        """
        relation = "transitiveMembers" if transitive else "members"
        path = f"/groups/{quote(group_id, safe='')}/{relation}/microsoft.graph.user"
        params = {"$select": "id", "$top": self.page_size, "$count": "true"}
        # Defensive: keep users only, even if the service ignores the cast (devices, contacts,
        # service principals and nested groups never become contacts).
        return [
            item["id"]
            for item in self._collect(path, params, headers=EVENTUAL)
            if item.get("id") and item.get("@odata.type", USER_TYPE) == USER_TYPE
        ]

    def users_delta(self, delta_link=None):
        """One complete delta round over users (replays kept in order; caller applies idempotently).
        An entry's `manager@delta` becomes `manager` ({"id"} or None), as in a listing; an entry
        without it says nothing of the manager."""
        round_ = self._delta("/users/delta", USER_DELTA_SELECT, delta_link)
        round_.items = [_manager_from_delta(item) for item in round_.items]
        return round_

    def groups_delta(self, delta_link=None):
        """One complete delta round over groups, with `members@delta` (slices of one group recur)."""
        return self._delta("/groups/delta", GROUP_FIELDS + ",members", delta_link)

    # --- paging ---------------------------------------------------------------------------------
    def _collect(self, path, params, headers=None):
        return [item for page in self._pages(path, params, headers) for item in page]

    def _pages(self, path, params, headers=None):
        url, query = f"{self.graph_url}{path}", params
        while url:
            body = self._get(url, query, headers=headers)
            # Follow nextLink verbatim: it already carries $skiptoken and the original query.
            url, query = body.get("@odata.nextLink"), None
            yield body.get("value") or []

    def _delta(self, path, select, delta_link):
        round_ = DeltaPage()
        for page in self._delta_pages(path, select, delta_link):
            round_.items.extend(page.items)
            round_.delta_link = page.delta_link
        return round_

    def _delta_pages(self, path, select, delta_link):
        if delta_link:
            url, query = delta_link, None
        else:
            url, query = f"{self.graph_url}{path}", {"$select": select}
        while True:
            body = self._get(url, query)
            if body.get("@odata.nextLink"):
                url, query = body["@odata.nextLink"], None
                yield DeltaPage(items=body.get("value") or [])
            elif body.get("@odata.deltaLink"):
                yield DeltaPage(items=body.get("value") or [], delta_link=body["@odata.deltaLink"])
                return
            else:
                raise GraphError(_("Microsoft Graph ended a delta round without a delta link."))

    # --- one call with retries ------------------------------------------------------------------
    def _get(self, url, params=None, headers=None, allow_404=False):
        """GET with bounded retries (429/5xx/unreachable), one refresh on 401, typed errors."""
        self._check_host(url)
        attempt, waited, refreshed = 0, 0.0, False
        while True:
            attempt += 1
            try:
                response = self._attempt(url, params, headers)
                if response.status_code == 401 and not refreshed:
                    self._force_refresh()  # a token endpoint hiccup is retried, not counted
                    refreshed = True
                    continue
                return self._result(response, allow_404)
            except _Retry as retry:
                delay = retry.delay if retry.delay is not None else self._backoff_delay(attempt)
                if attempt >= self.max_attempts or waited + delay > self.max_wait:
                    raise retry.error from None
                log.info("Graph call retried in %.2fs (%s)", delay, retry.error.code or retry.error.status)
                self._sleep(delay)
                waited += delay

    def _attempt(self, url, params, headers):
        """One HTTP request (Authlib refreshes the access token first when it is due; with
        application permissions the cached client-credentials token is set first)."""
        try:
            if self.app_only:
                self._session.token = apponly.access_token(self.tenant_id)
            response = self._session.get(url, params=params, headers=headers)
        except OAuthError as exc:
            raise self._token_error(exc) from None
        except CertificateExpired as exc:
            raise GraphError(exc.message, code="certificate_expired") from None
        except requests.HTTPError as exc:  # the token endpoint answered 5xx
            raise _Retry(GraphUnavailable(self._unavailable_text(), status=exc.response.status_code)) from exc
        except requests.RequestException as exc:
            self.request_count += 1
            raise _Retry(GraphUnavailable(self._unavailable_text(), code="unreachable")) from exc
        self.request_count += 1
        units = response.headers.get("x-ms-resource-unit")
        if units:
            try:
                self.resource_units += int(float(units))
            except ValueError:
                pass
        if response.status_code in RETRY_STATUSES:
            code, _message = _error_of(response)
            raise _Retry(
                GraphUnavailable(self._unavailable_text(), code=code, status=response.status_code),
                delay=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response

    def _force_refresh(self):
        """Graph rejected the access token: get a new one once (rotating the refresh token)."""
        try:
            if self.app_only:
                self._session.token = apponly.access_token(self.tenant_id, force=True)
            else:
                self._session.refresh_token(token_endpoint(self.tenant_id))
        except OAuthError as exc:
            raise self._token_error(exc) from None
        except CertificateExpired as exc:
            raise GraphError(exc.message, code="certificate_expired") from None
        except requests.HTTPError as exc:
            raise _Retry(GraphUnavailable(self._unavailable_text(), status=exc.response.status_code)) from exc
        except requests.RequestException as exc:
            raise _Retry(GraphUnavailable(self._unavailable_text(), code="unreachable")) from exc

    def _backoff_delay(self, attempt):
        """Exponential backoff with jitter: half fixed, half random, capped at 30 s."""
        ceiling = min(30.0, self.backoff * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _check_host(self, url):
        # Never send the bearer token to a host other than Graph's (a forged nextLink).
        if urlsplit(url)[:2] != urlsplit(self.graph_url)[:2]:
            raise GraphError(_("Microsoft Graph returned a link to another host."), code="foreign_link")

    # --- results and errors ---------------------------------------------------------------------
    def _token_updated(self, token, refresh_token=None, access_token=None):
        """Authlib's update_token hook: persist each rotated refresh token at once."""
        new = token.get("refresh_token")
        if new and new != self._refresh_token:
            self._refresh_token = new
            if self._on_refresh_token:
                self._hook(self._on_refresh_token, new)

    def _token_error(self, exc):
        """Map a token-endpoint error: re-auth, retry later, or a portal configuration problem."""
        code = aadsts_code(exc.description)
        if self.app_only and (exc.error == "unauthorized_client" or code in CONSENT_LOST_CODES):
            reason = _(
                "Microsoft 365 no longer lets the portal read this tenant with application permissions "
                "(%(error)s%(code)s): the admin consent was withdrawn or the portal's enterprise "
                "application was deleted. An M365 administrator must grant admin consent again.",
                error=exc.error,
                code=f", {code}" if code else "",
            )
            return self._auth_lost(ConsentLost(reason, code=exc.error))
        if exc.error in REAUTH_ERRORS:
            reason = _(
                "Microsoft no longer accepts the stored sign-in (%(error)s%(code)s): it expired "
                "or was revoked. An M365 administrator must release the M365 interface again.",
                error=exc.error,
                code=f", {code}" if code else "",
            )
            return self._auth_lost(ReauthRequired(reason, code=exc.error))
        if exc.error == "temporarily_unavailable":
            return _Retry(GraphUnavailable(self._unavailable_text(), code=exc.error))
        return GraphError(
            _(
                "Microsoft refused the portal's app credentials (%(error)s%(code)s). "
                "Check M365_CLIENT_ID and M365_CLIENT_SECRET or M365_CLIENT_CERTIFICATE.",
                error=exc.error,
                code=f", {code}" if code else "",
            ),
            code=exc.error,
        )

    def _auth_lost(self, error):
        if self._on_auth_lost:
            self._hook(self._on_auth_lost, error.message)
        return error

    def _result(self, response, allow_404):
        if response.ok:
            return response.json() if response.content else {}
        code, message = _error_of(response)
        status = response.status_code
        if status == 404 and allow_404 and code == NOT_FOUND:
            return None
        if status == 403 and self.app_only:
            raise self._auth_lost(
                PermissionMissing(
                    _(
                        "Microsoft 365 refused read access (%(code)s): the application permissions "
                        "User.Read.All and GroupMember.Read.All are not granted or the admin consent was "
                        "withdrawn. An M365 administrator must grant admin consent again.",
                        code=code or "403",
                    ),
                    code=code,
                    status=status,
                )
            )
        if status == 403:
            raise self._auth_lost(
                PermissionMissing(
                    _(
                        "Microsoft 365 refused read access (%(code)s): a permission is missing or the admin "
                        "consent was withdrawn. An M365 administrator must release the M365 interface again.",
                        code=code or "403",
                    ),
                    code=code,
                    status=status,
                )
            )
        if status == 410 or code in ("syncStateNotFound", "resyncRequired"):
            raise DeltaExpired(
                _("The saved synchronization state has expired; a full synchronization is needed."),
                code=code or "410",
                status=status,
            )
        if status == 401:
            raise GraphError(
                _("Microsoft Graph did not accept a freshly issued access token."), code=code, status=status
            )
        raise GraphError(
            _(
                "Microsoft Graph answered %(status)s %(code)s: %(message)s",
                status=status,
                code=code,
                message=message,
            ),
            code=code,
            status=status,
        )

    def _unavailable_text(self):
        return _("Microsoft 365 cannot be reached or is busy right now. Please try again later.")


def _hand_over(handoff, stop, item):
    """Put `item` for the consumer, waiting for room; False when the consumer stopped."""
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _error_of(response):
    """(code, message) of an OData error body; tolerant of non-JSON bodies."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", response.reason or ""
    if isinstance(error, str):
        return error, ""
    return error.get("code") or "", error.get("message") or ""


def _with_manager(user):
    """A listed user (with $expand=manager): `manager` is the expanded object, or None when Graph
    left the property out (the user has no manager)."""
    user.setdefault("manager", None)
    return user


def _manager_from_delta(item):
    """A delta entry with `manager@delta` as `manager`: the last reference not `@removed` ({"id"}),
    None when every reference is removed (the manager was cleared), absent when there is none."""
    references = item.pop("manager@delta", None)
    if references is None or "@removed" in item:
        return item
    current = [ref for ref in references if isinstance(ref, dict) and ref.get("id") and "@removed" not in ref]
    item["manager"] = {"id": current[-1]["id"]} if current else None
    return item
