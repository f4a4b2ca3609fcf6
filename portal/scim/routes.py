"""/scim/v2: the SCIM 2.0 endpoint Microsoft Entra ID provisions users and groups to (RFC 7643/7644).

Bearer token only (portal.scim.tokens: it alone names the customer), no session, no CSRF (no cookie
authenticates here). Every answer is application/scim+json; errors use the SCIM Error schema.
Every request adds one row to the activity log (portal.scim.activity). Writes:

- are refused (403) while the customer's directory source is the Microsoft Graph sync;
- run under the customer's lock for their one transaction (portal.sync.lock.in_transaction), so
  Entra's parallel requests and the portal's own writers take turns; any error rolls all back.
  Upserts and deletions of one user and Entra's member changes of a group share the lock among
  themselves (lock.shared_in_transaction: on PostgreSQL they run side by side, with row locks of
  their own: portal.scim.writes) and are run again alone when they need more (see `write`).

Limits: bodies up to SCIM_MAX_BODY_BYTES (413), filters bounded (portal.scim.query), at most
discovery.MAX_RESULTS per page, SCIM_RATE_PER_SECOND / SCIM_RATE_BURST per token (429, Retry-After).
"""

import json
import logging
import re
from functools import partial, wraps

from flask import Blueprint, Response, current_app, g, request
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    ForbiddenException,
    Group,
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    PayloadTooLargeException,
    ResourceType,
    Schema,
    SCIMException,
    SearchRequest,
    UnauthorizedException,
)
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload, with_expression
from werkzeug.exceptions import HTTPException

from portal import search, smart_groups
from portal.auth.session import sessionless
from portal.auth.throttle import client_address
from portal.extensions import csrf, db
from portal.models import Contact, ContactGroup, Customer, DirectorySource, ScimOperation
from portal.scim import activity, discovery, groups, query, tokens, users, writes
from portal.scim.discovery import ENTERPRISE, POLICY, USER
from portal.scim.limits import BUCKETS
from portal.smart_groups import WholeBook
from portal.sync import lock

log = logging.getLogger(__name__)

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(bp)

CONTENT_TYPE = "application/scim+json"
GRAPH_SOURCE = (
    "This customer's contact book is kept by the Microsoft Graph sync. An admin can switch the "
    "directory source to Entra provisioning on the portal's Entra provisioning page."
)
BUSY = "The contact book is busy with another change; please retry."
USER_TYPE, GROUP_TYPE = "User", "Group"


class TooMany(SCIMException):
    status = 429


class MethodNotAllowed(SCIMException):
    status = 405


ENDPOINTS = {"ServiceProviderConfig", "ResourceTypes", "Schemas", "Users", "Groups"}

# scim2-models builds a generic class anew at each subscription (milliseconds): built once here.
LISTS = {model: ListResponse[model] for model in (USER, Group, Schema, ResourceType)}
PATCHES = {model: PatchOp[model] for model in (USER, Group)}
SEARCHES = {model: SearchRequest[model] for model in (USER, Group)}


# --- the request's frame: limits, token, answers, the activity row ------------------------------------


@bp.before_request
def _authenticate():
    g.scim = {"operation": ScimOperation.REFUSED, "type": "", "id": "", "detail": ""}
    g.customer_id = g.customer = None  # g.customer: the Customer, loaded by writes (see write)
    limit = current_app.config["SCIM_MAX_BODY_BYTES"]
    request.max_content_length = limit
    if (request.content_length or 0) > limit:
        raise PayloadTooLargeException(detail=f"Request bodies may have at most {limit} bytes.")
    scheme, _space, secret = request.headers.get("Authorization", "").partition(" ")
    token = tokens.authenticate(secret.strip(), client_address()) if scheme.lower() == "bearer" else None
    if token is None:
        raise UnauthorizedException(detail="A valid bearer token is required.")
    g.token, g.customer_id = token, token.customer_id
    config = current_app.config
    wait = BUCKETS.take(token.token_hash, config["SCIM_RATE_PER_SECOND"], config["SCIM_RATE_BURST"])
    if wait:
        g.retry_after = wait
        raise TooMany(detail=f"Too many requests with this token; retry in {wait} s.")
    return None


def _note(operation, resource_type="", resource_id="", detail=""):
    g.scim.update(operation=operation, type=resource_type, id=str(resource_id or ""), detail=detail)


def _answer(payload, status=200, location=None):
    """A SCIM answer; the activity row is written in the same transaction and committed."""
    response = Response(
        json.dumps(payload) if payload is not None else None, status=status, content_type=CONTENT_TYPE
    )
    if location:
        response.headers["Location"] = location
    row_id = _record(status)
    db.session.commit()
    if row_id is not None and activity.statistics_due(row_id):
        _refresh_statistics()
    return response


def _refresh_statistics():
    """After the commit: a failure (SQLite's file busy) must not turn a done write into an error."""
    try:
        search.refresh_statistics(activity.BOOK_TABLES)
    except Exception:
        db.session.rollback()
        log.warning("could not refresh the contact book's statistics", exc_info=True)


def _record(status):
    """The request's activity row (its id), or None before a token named the customer."""
    if g.get("customer_id") is None:
        return None
    note = g.scim
    return activity.record(
        g.customer_id,
        g.token.id,
        request.method,
        note["operation"],
        status,
        note["type"],
        note["id"],
        note["detail"],
        wrote=request.method != "GET",
    )


def _error_answer(status, detail, scim_type=None):
    db.session.rollback()
    error = Error(status=status, detail=detail, scim_type=scim_type)
    g.scim = g.get("scim") or {"operation": ScimOperation.REFUSED, "type": "", "id": "", "detail": ""}
    g.scim.update(operation=ScimOperation.REFUSED, detail=detail)
    response = _answer(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
    if status == 429:
        response.headers["Retry-After"] = str(g.get("retry_after", 1))
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


@bp.errorhandler(SCIMException)
def _scim_error(exc):
    return _error_answer(exc.status, exc.detail, exc.scim_type or None)


@bp.errorhandler(ValidationError)
def _invalid(exc):
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return _error_answer(
        400, f"{where}: {first.get('msg', 'invalid value')}"[:200].strip(": "), "invalidValue"
    )


@bp.errorhandler(HTTPException)
def _http_error(exc):
    if exc.code == 413:
        return _error_answer(413, "The request body is too large.")
    return _error_answer(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _failed(exc):
    log.exception("SCIM request failed: %s %s", request.method, request.path)
    return _error_answer(500, "The request failed; nothing was changed.")


@bp.errorhandler(lock.CustomerBusy)
def _busy(_exc):
    return _error_answer(503, BUSY)


@bp.errorhandler(OperationalError)
def _locked(exc):
    """SQLite's "database is locked": another writer held the file past the driver's wait. Busy, as
    above (Entra retries after Retry-After), but unrecorded: the log's row would wait the same."""
    if "database is locked" not in str(exc):
        raise exc
    db.session.rollback()
    error = Error(status=503, detail=BUSY).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    response = Response(json.dumps(error), status=503, content_type=CONTENT_TYPE)
    response.headers["Retry-After"] = "1"
    return response


def base_url():
    return request.url_root.rstrip("/") + bp.url_prefix


def _body():
    try:  # kept (cache): a shared write may be run a second time
        return json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="The request body is not JSON.") from None


def write(view=None, *, shared=False):
    """A write: refused while the Graph sync keeps the book; under the customer's lock; one
    transaction with its activity row. `shared`: an upsert or deletion of one user or a member change
    of one group, run beside the customer's other upserts (lock.shared_in_transaction); when it turns out
    to need more (WholeBook) or collides with one of them (a unique key, a deadlock), it is rolled
    back and run again alone."""
    if view is None:
        return partial(write, shared=shared)

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.token.directory_source != DirectorySource.SCIM:
            raise ForbiddenException(detail=GRAPH_SOURCE)
        if shared:
            try:
                return _under_lock(view, args, kwargs, shared=True)
            except (WholeBook, IntegrityError, OperationalError) as exc:
                if not g.get("shared") or (isinstance(exc, OperationalError) and not _deadlock(exc)):
                    raise  # it ran alone already, or failed for another reason
                db.session.rollback()
        return _under_lock(view, args, kwargs, shared=False)

    return sessionless(wrapper)


# Built once (every write reads it): the customer, with its reseller (email checks read its domains),
# its sync settings ("Link active") and whether it has smart groups: one query for what three asked.
_CUSTOMER = (
    select(Customer)
    .where(Customer.id == bindparam("customer_id"))
    .options(
        joinedload(Customer.reseller),
        joinedload(Customer.sync_settings),
        with_expression(Customer.has_smart_groups, smart_groups.ANY_RULE),
    )
)


def _under_lock(view, args, kwargs, shared):
    wait = current_app.config["SCIM_LOCK_WAIT_SECONDS"]
    g.shared = False
    if shared:
        g.shared = lock.shared_in_transaction(g.customer_id, wait)
    else:
        lock.in_transaction(g.customer_id, wait)
    # Read under the lock: the source as it is now (scim.source.switch takes the lock too).
    g.customer = db.session.scalar(_CUSTOMER, {"customer_id": g.customer_id})
    if g.customer.directory_source != DirectorySource.SCIM:  # switched while this request waited
        raise ForbiddenException(detail=GRAPH_SOURCE)
    return view(*args, **kwargs)


def _deadlock(exc):
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "40P01"


def read(view):
    return sessionless(view)


def _dump(resource, parameters=None):
    return resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=parameters)


# --- discovery --------------------------------------------------------------------------------------


@bp.get("/ServiceProviderConfig")
@read
def service_provider_config():
    _note(ScimOperation.READ, detail="ServiceProviderConfig")
    config = discovery.with_location(
        discovery.service_provider_config(), f"{base_url()}/ServiceProviderConfig"
    )
    return _answer(_dump(config))


@bp.get("/Schemas")
@bp.get("/Schemas/<path:schema_id>")
@read
def schemas(schema_id=None):
    _note(ScimOperation.READ, detail="Schemas")
    items = [
        discovery.with_location(schema.model_copy(deep=True), f"{base_url()}/Schemas/{schema.id}")
        for schema in discovery.schemas()
    ]
    return _one_or_list(items, schema_id, Schema)


@bp.get("/ResourceTypes")
@bp.get("/ResourceTypes/<name>")
@read
def resource_types(name=None):
    _note(ScimOperation.READ, detail="ResourceTypes")
    items = [
        discovery.with_location(item, f"{base_url()}/ResourceTypes/{item.id}")
        for item in discovery.resource_types()
    ]
    return _one_or_list(items, name, ResourceType)


def _one_or_list(items, wanted, model):
    if wanted is None:
        listed = LISTS[model](
            total_results=len(items), start_index=1, items_per_page=len(items), resources=items
        )
        return _answer(_dump(listed))
    found = next((item for item in items if item.id == wanted), None)
    if found is None:
        raise NotFoundException(detail=f"No {model.__name__} {wanted}.")
    return _answer(_dump(found))


# --- users ------------------------------------------------------------------------------------------


def _contact(user_id, found=writes.ACTIVE_CONTACT):
    """The customer's contact of this SCIM id (archived ones are deleted: 404). `found`: the query,
    writes.CONTACT_TO_CHANGE or CONTACT_TO_DELETE to lock its row for the transaction (PostgreSQL)."""
    contact = None
    if user_id.isdigit() and len(user_id) < 18:
        contact = db.session.scalar(found, {"customer_id": g.customer_id, "contact_id": int(user_id)})
    if contact is None:
        raise NotFoundException(detail=f"No user with the id {user_id[:40]}.")
    return contact


QUERY_PARAMETERS = ("filter", "startIndex", "count", "attributes", "excludedAttributes")


def _query():
    """The list parameters of the query string (others, such as Entra's aadOptscim062020, ignored)."""
    return {key: request.args[key] for key in QUERY_PARAMETERS if key in request.args}


def _search(parameters, model):
    """The list parameters as a SearchRequest of `model`: its filter is parsed (once) against the
    model's attributes; a filter that is too long, malformed or names no attribute answers 400
    invalidFilter, other bad parameters 400 invalidValue."""
    query.check_length(parameters.get("filter") if isinstance(parameters, dict) else None)
    try:
        return SEARCHES[model].model_validate(parameters)
    except ValidationError as exc:
        first = exc.errors()[0]
        detail = str(first.get("msg", "invalid parameters"))[:200]
        if tuple(first.get("loc", ()))[:1] == ("filter",):
            raise InvalidFilterException(detail=f"The filter is not valid: {detail}"[:200]) from None
        raise InvalidValueException(detail=detail) from None


def list_users():
    return _list_users(_search(_query(), USER))


@bp.post("/Users/.search")
@read
def search_users():
    return _list_users(_search(_body() or {}, USER))


def _list_users(search):
    mine = [Contact.customer_id == g.customer_id, Contact.archived_at.is_(None)]
    if search.filter:
        mine.append(query.user_condition(search.filter))
    base = base_url()
    statement = select(Contact).where(*mine)
    return _listed(
        search,
        statement,
        Contact.id,
        USER_TYPE,
        LISTS[USER],
        lambda c: users.to_user(c, base),
        lambda c: users.user_json(c, base),
    )


LIST_SCHEMA = str(ListResponse.__schema__)


def list_json(total, start_index, resources):
    """A ListResponse of resources made as JSON already (what its model's dump says)."""
    page = {"totalResults": total, "startIndex": start_index, "itemsPerPage": len(resources)}
    return {"schemas": [LIST_SCHEMA], **page, "Resources": resources}


def _shaped(search):
    """Whether the request names the attributes its answer holds (else every one is returned)."""
    return bool(search.attributes or search.excluded_attributes)


def _listed(search, statement, order_by, resource_type, model, to_resource, to_json=None):
    """One page (startIndex, count) of `statement`'s rows as a ListResponse, noted in the activity log.
    `to_json`: a row's resource as its JSON, made directly, for an answer with every attribute."""
    offset, limit = query.page(search.start_index, search.count)
    rows = db.session.scalars(statement.order_by(order_by).offset(offset).limit(limit)).all() if limit else []
    if limit and len(rows) < limit and (rows or not offset):
        total = offset + len(rows)  # the last page: no count needed (Entra's filters find 0 or 1)
    else:
        total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    found_by = f" by {str(search.filter)[:150]}" if search.filter else ""
    _note(ScimOperation.QUERY, resource_type, detail=f"{total} found{found_by}")
    if to_json is not None and not _shaped(search):
        return _answer(list_json(total, offset + 1, [to_json(row) for row in rows]))
    listed = model(
        total_results=total,
        start_index=offset + 1,
        items_per_page=len(rows),
        resources=[to_resource(row) for row in rows],
    )
    return _answer(_dump(listed, search))


def get_user(user_id):
    contact = _contact(user_id)
    _note(ScimOperation.READ, USER_TYPE, contact.id)
    search = _search(_query(), USER)
    if not _shaped(search):
        return _answer(users.user_json(contact, base_url()))
    return _answer(_dump(users.to_user(contact, base_url()), search))


def _user_answer(contact, status=200):
    user = users.user_json(contact, base_url())
    return _answer(user, status, location=user["meta"]["location"] if status == 201 else None)


@write(shared=True)
def create_user():
    user = USER.model_validate(_body(), scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY)
    contact, operation = writes.create_user(g.customer, user, shared=g.shared)
    _note(operation, USER_TYPE, contact.id, user.user_name or "")
    return _user_answer(contact, 201)


@write(shared=True)
def replace_user(user_id):
    contact = _contact(user_id, writes.CONTACT_TO_CHANGE)
    user = USER.model_validate(_body(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY)
    _note(writes.update_user(g.customer, contact, user, shared=g.shared), USER_TYPE, contact.id)
    return _user_answer(contact)


@write(shared=True)
def patch_user(user_id):
    contact = _contact(user_id, writes.CONTACT_TO_CHANGE)
    patch = _patch_op(USER, _entra_manager(_body()))
    manager = _manager_change(patch)
    if manager is not None:  # Entra's own manager PATCH: only the manager is looked at
        _note(writes.change_manager(g.customer, contact, manager, shared=g.shared), USER_TYPE, contact.id)
        return _user_answer(contact)
    user = users.to_user(contact, base_url(), patching=True)
    patch.patch(user, scim_policy=POLICY)
    _note(writes.update_user(g.customer, contact, user, shared=g.shared), USER_TYPE, contact.id)
    return _user_answer(contact)


@write(shared=True)
def delete_user(user_id):
    """Beside the upserts too (Entra's deletions came one at a time, each with the book to itself,
    and the requests behind them waited): deletions lock the contact and its reports
    (writes.CONTACT_TO_DELETE), then take turns among themselves (the threshold's count)."""
    contact = _contact(user_id, writes.CONTACT_TO_DELETE)
    _note(writes.delete_user(g.customer, contact, shared=g.shared), USER_TYPE, contact.id)
    return _answer(None, 204)


def _patch_op(model, payload):
    return PATCHES[model].model_validate(payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY)


MANAGER_PATHS = {f"{ENTERPRISE}:manager".lower(), "manager"}


def _manager_change(patch):
    """The manager's id when every operation of `patch` sets the enterprise manager (Entra's own
    manager PATCH, after the users exist), else None: the patch is then applied to the whole User.
    Making the User and applying the patch to it was about a quarter of such a PATCH's time."""
    wanted = None
    for operation in patch.operations:
        value = operation.value
        if not (
            operation.op.value in ("add", "replace")
            and str(operation.path or "").lower() in MANAGER_PATHS
            and isinstance(value, dict)
            and isinstance(value.get("value"), str)
        ):
            return None
        wanted = users.manager_reference(value["value"])
    return wanted


def _entra_manager(payload):
    """Entra sends the manager as a bare id ("value": "42"); the schema's form is {"value": "42"}."""
    if not isinstance(payload, dict):
        return payload  # PatchOp's validation says what is wrong with it
    for operation in payload.get("Operations") or ():
        if not isinstance(operation, dict):
            continue
        value = operation.get("value")
        if str(operation.get("path", "")).lower() in MANAGER_PATHS and isinstance(value, str):
            operation["value"] = {"value": value}
        elif isinstance(value, dict):
            for key, item in value.items():
                if key.lower() in MANAGER_PATHS and isinstance(item, str):
                    value[key] = {"value": item}
    return payload


# --- groups -----------------------------------------------------------------------------------------


def _group(group_id):
    row = None
    if group_id.isdigit() and len(group_id) < 18:
        row = db.session.scalar(groups.provisioned(g.customer_id).where(ContactGroup.id == int(group_id)))
    if row is None:
        raise NotFoundException(detail=f"No group with the id {group_id[:40]}.")
    return row


def _with_members(search):
    excluded = {name.lower() for name in search.excluded_attributes or ()}
    included = {name.lower() for name in search.attributes or ()}
    return "members" not in excluded and (not included or "members" in included)


def list_groups():
    return _list_groups(_search(_query(), Group))


@bp.post("/Groups/.search")
@read
def search_groups():
    return _list_groups(_search(_body() or {}, Group))


def _list_groups(search):
    statement = groups.provisioned(g.customer_id)
    if search.filter:
        statement = statement.where(query.group_condition(search.filter))
    base, members = base_url(), _with_members(search)
    return _listed(
        search,
        statement,
        ContactGroup.id,
        GROUP_TYPE,
        LISTS[Group],
        lambda row: groups.to_group(row, base, members),
    )


def get_group(group_id):
    row, search = _group(group_id), _search(_query(), Group)
    _note(ScimOperation.READ, GROUP_TYPE, row.id)
    return _answer(_dump(groups.to_group(row, base_url(), _with_members(search)), search))


@write
def create_group():
    group = Group.model_validate(_body(), scim_ctx=Context.RESOURCE_CREATION_REQUEST, scim_policy=POLICY)
    row = writes.create_group(g.customer, group)
    _note(ScimOperation.GROUP_CREATE, GROUP_TYPE, row.id, row.name[:100])
    answer = groups.to_group(row, base_url())
    return _answer(_dump(answer), 201, location=answer.meta.location)


@write
def replace_group(group_id):
    row = _group(group_id)
    group = Group.model_validate(_body(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY)
    _note_members(row, writes.update_group(g.customer, row, group))
    return _answer(_dump(groups.to_group(row, base_url())))


@write(shared=True)
def patch_group(group_id):
    """Entra's PATCH of listed members runs beside the customer's other upserts (it writes only the
    group's member rows: two adding one member collide on its key and the second runs again alone);
    any other change of a group runs alone."""
    row = _group(group_id)
    patch = _patch_op(Group, _body())
    members = _member_changes(patch)
    if members is not None:  # Entra's own PATCH: only the members it lists are looked at
        _note_members(row, writes.change_members(g.customer, row, *members))
        return _answer(None, 204)
    if g.shared:
        raise WholeBook("a group's change other than its listed members runs alone")
    group = groups.to_group(row, base_url())
    patch.patch(group, scim_policy=POLICY)
    _note_members(row, writes.update_group(g.customer, row, group))
    return _answer(None, 204)


MEMBER_FILTER = re.compile(r'^members\[value eq "([^"]*)"\]$', re.IGNORECASE)


def _member_changes(patch):
    """(values to add, values to remove) when every operation of `patch` adds or removes listed
    members (`members` with a value list, or `members[value eq "…"]`), else None: the patch is then
    applied to the whole group."""
    add, remove = [], []
    for operation in patch.operations:
        op, path, value = operation.op.value, str(operation.path or ""), operation.value
        if path.lower() == "members" and op in ("add", "remove") and isinstance(value, list) and value:
            items = [item.get("value") if isinstance(item, dict) else None for item in value]
            if None in items:
                return None
            (add if op == "add" else remove).extend(items)
        elif op == "remove" and value is None and (found := MEMBER_FILTER.match(path)):
            remove.append(found.group(1))
        else:
            return None
    return (add, remove) if not set(map(str, add)) & set(map(str, remove)) else None


def _note_members(row, changed):
    added, removed = changed
    operation = ScimOperation.GROUP_UPDATE
    if added and not removed:
        operation = ScimOperation.MEMBERS_ADD
    elif removed and not added:
        operation = ScimOperation.MEMBERS_REMOVE
    _note(operation, GROUP_TYPE, row.id, f"{len(added)} added, {len(removed)} removed")


@write
def delete_group(group_id):
    row = _group(group_id)
    _note(ScimOperation.GROUP_DELETE, GROUP_TYPE, row.id, row.name[:100])
    writes.delete_group(g.customer, row)
    return _answer(None, 204)


# One rule per path (a path with a control character then matches no rule: 404, portal.boundary).


@bp.route("/Users", methods=["GET", "POST"])
@sessionless
def users_endpoint():
    return list_users() if request.method == "GET" else create_user()


@bp.route("/Users/<user_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
@sessionless
def user_endpoint(user_id):
    view = {"GET": get_user, "PUT": replace_user, "PATCH": patch_user, "DELETE": delete_user}
    return view[request.method](user_id)


@bp.route("/Groups", methods=["GET", "POST"])
@sessionless
def groups_endpoint():
    return list_groups() if request.method == "GET" else create_group()


@bp.route("/Groups/<group_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
@sessionless
def group_endpoint(group_id):
    view = {"GET": get_group, "PUT": replace_group, "PATCH": patch_group, "DELETE": delete_group}
    return view[request.method](group_id)


# --- anything else ----------------------------------------------------------------------------------


@bp.post("/.search")
@read
def search_all():
    raise NotImplementedException(detail="Search across resource types is not supported; use /Users/.search.")


ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("/", methods=ANY_METHOD)
@read
def service_root():
    raise NotFoundException(detail="No such SCIM endpoint.")


@bp.route("/<path:rest>", methods=ANY_METHOD)
@read
def not_found(rest):
    if rest.split("/", 1)[0] in ENDPOINTS:
        raise MethodNotAllowed(detail=f"{request.method} is not supported here.")
    raise NotFoundException(detail="No such SCIM endpoint.")
