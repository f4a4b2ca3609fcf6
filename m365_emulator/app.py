"""The emulator's Flask app: identity endpoints, Graph, the control API and the console page.

Cross-cutting behaviour lives in the request hooks here: request ids, fixed latency, injected
faults, the 30-day purge of deleted users, resource-unit headers and the request log.
"""

import time
import uuid

from flask import Flask, current_app, g, request

from .errors import GraphError, aad_error, graph_error_response
from .state import State, utc

BATCH_HEADER = "X-Emulator-Batch"


def get_state():
    """The State of the running app."""
    return current_app.extensions["m365_state"]


def base_url():
    """This emulator's own base URL as the caller reached it (authority and Graph host)."""
    return request.host_url.rstrip("/")


def is_control(path):
    """Control API, console and static files: no faults, latency or logging."""
    return path.startswith("/_emulator") or path.startswith("/static/") or path == "/favicon.ico"


def is_graph(path):
    """Whether a path belongs to the emulated Graph."""
    return path.startswith("/v1.0/") or path == "/v1.0"


def create_app(state=None):
    """The emulator app around `state` (a fresh demo State when omitted)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["m365_state"] = state or State()
    from . import batch, console, control, delta, graph, identity, signin, token

    for module in (identity, signin, token, delta, graph, batch, control, console):
        app.register_blueprint(module.bp)
    app.before_request(_begin)
    app.after_request(_finish)
    app.register_error_handler(GraphError, lambda e: graph_error_response(e, base_url()))
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_allowed)
    return app


def _not_found(error):
    if is_graph(request.path):
        segment = request.path.rstrip("/").rsplit("/", 1)[-1]
        return graph_error_response(
            GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'."), base_url()
        )
    return error


def _not_allowed(error):
    if is_graph(request.path):
        return graph_error_response(
            GraphError(
                405,
                "Request_BadRequest",
                (
                    "Specified HTTP method is not allowed for the request uri. The emulator's Graph is "
                    "read-only: change the tenant through /_emulator/."
                ),
            ),
            base_url(),
        )
    return error


def _begin():
    g.request_id = str(uuid.uuid4())
    g.client_request_id = request.headers.get("client-request-id") or g.request_id
    g.resource_units = None
    if is_control(request.path):
        return None
    state = get_state()
    if state.latency_ms and not request.headers.get(BATCH_HEADER):
        time.sleep(state.latency_ms / 1000)
    with state.lock:
        state.purge()
    fault = state.take_fault(request.method, request.path)
    return _fault_response(fault) if fault else None


def _fault_response(fault):
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = _number(fault.retry_after)
    if is_graph(request.path):
        g.resource_units = 1
        if fault.status == 429:
            state = get_state()
            headers["x-ms-throttle-scope"] = (
                f"Tenant_Application/ReadWrite/{g.get('client_id') or 'unknown'}/{state.directory.id}"
            )
            headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
        return graph_error_response(GraphError(fault.status, code=fault.code, headers=headers), base_url())
    response = aad_error(
        fault.status,
        "temporarily_unavailable",
        90033,
        "A transient error has occurred. Please try again.",
        base_url=base_url(),
    )
    response.headers.update(headers)
    return response


def _number(value):
    return str(int(value)) if float(value).is_integer() else str(value)


def _finish(response):
    if is_control(request.path):
        return response
    response.headers["request-id"] = g.request_id
    response.headers["client-request-id"] = g.client_request_id
    units = None
    if is_graph(request.path):
        units = g.resource_units or 1
        response.headers["x-ms-resource-unit"] = str(units)
    state = get_state()
    state.record(
        {
            "time": utc(state.now()),
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "status": response.status_code,
            "resource_units": units,
            "request_id": g.request_id,
            "client_request_id": g.client_request_id,
            "batch": bool(request.headers.get(BATCH_HEADER)),
        }
    )
    return response
