"""Error bodies exactly as Microsoft sends them: Graph's OData error and the identity platform's
AADSTS JSON."""

import datetime
import uuid

from flask import g, jsonify, request

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

GRAPH_DEFAULT_ERRORS = {
    400: ("Request_BadRequest", "Invalid request."),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource does not exist."),
    405: ("Request_BadRequest", "Specified HTTP method is not allowed for the request uri."),
    410: (
        "resyncRequired",
        "Resync required. Replace any local cached copy of the data with the response of a fresh request.",
    ),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "General exception while processing."),
    502: ("badGateway", "Bad gateway."),
    503: ("serviceNotAvailable", "Service is temporarily unavailable. Please retry later."),
    504: ("UnknownError", "Gateway timeout."),
}


class GraphError(Exception):
    """Raise from a Graph handler to answer with the OData error JSON."""

    def __init__(self, status, code=None, message=None, headers=None):
        default_code, default_message = GRAPH_DEFAULT_ERRORS.get(status, ("UnknownError", "Error."))
        super().__init__(message or default_message)
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.headers = headers or {}


def graph_date():
    """Graph's innerError date format (UTC, no zone suffix)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def graph_error_response(error, base_url=""):
    """The JSON response for a GraphError, with WWW-Authenticate on 401 and Retry-After on 429."""
    inner = {
        "date": graph_date(),
        "request-id": g.get("request_id", str(uuid.uuid4())),
        "client-request-id": g.get("client_request_id", ""),
    }
    body = {"error": {"code": error.code, "message": error.message, "innerError": inner}}
    if error.status == 429:
        inner.update({"code": "429", "message": "Please retry after", "status": "429"})
    response = jsonify(body)
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="", authorization_uri="{base_url}/common/oauth2/authorize", '
            f'client_id="{GRAPH_APP_ID}"'
        )
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def aad_error_body(error, code, description, suberror=None, base_url=""):
    """The identity platform's error JSON (error, error_description, error_codes, ids, time)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id, correlation_id = str(uuid.uuid4()), request.headers.get("client-request-id", str(uuid.uuid4()))
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url}/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    return body


def aad_error(status, error, code, description, suberror=None, base_url=""):
    """A JSON error response from the token endpoint."""
    response = jsonify(aad_error_body(error, code, description, suberror, base_url))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store, no-cache"
    return response
