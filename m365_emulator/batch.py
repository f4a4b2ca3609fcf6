"""`POST /v1.0/$batch`: up to 20 requests, each answered with its own status, headers and body."""

from flask import Blueprint, current_app, jsonify, request

from .app import BATCH_HEADER
from .errors import GraphError
from .listing import authorize

bp = Blueprint("batch", __name__, url_prefix="/v1.0")
MAX_REQUESTS = 20


def _validate(payload):
    requests_ = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests_, list) or not requests_:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests_) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"Too many requests in a batch: {len(requests_)}. Limit is {MAX_REQUESTS}."
        )
    seen = set()
    for item in requests_:
        if not isinstance(item, dict) or not item.get("id") or not item.get("url") or not item.get("method"):
            raise GraphError(400, "BadRequest", "Each request needs id, method and url.")
        if str(item["id"]).lower() in seen:
            raise GraphError(400, "BadRequest", f"Batch request id '{item['id']}' is not unique.")
        seen.add(str(item["id"]).lower())
        headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
        if "body" in item and "content-type" not in headers:
            raise GraphError(400, "BadRequest", "Content-Type header is required when a request has a body.")
        if str(item["url"]).lower().startswith(("http://", "https://")):
            raise GraphError(400, "BadRequest", "Batch request urls must be relative.")
    return requests_


def _run(item, auth):
    """Execute one sub-request against this app with a fresh app context (own `g`)."""
    url = str(item["url"])
    url = url[len("/v1.0") :] if url.startswith("/v1.0/") else url
    url = "/v1.0" + (url if url.startswith("/") else "/" + url)
    headers = dict(item.get("headers") or {})
    headers[BATCH_HEADER] = "1"
    if auth:
        headers["Authorization"] = auth
    with current_app.app_context():
        client = current_app.test_client()
        response = client.open(url, method=item["method"].upper(), headers=headers, json=item.get("body"))
    out_headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower()
        in (
            "content-type",
            "retry-after",
            "location",
            "request-id",
            "client-request-id",
            "x-ms-resource-unit",
            "preference-applied",
        )
    }
    body = response.get_json(silent=True)
    if body is None and response.data:
        body = response.get_data(as_text=True)
    return {"id": str(item["id"]), "status": response.status_code, "headers": out_headers, "body": body}


@bp.post("/$batch")
def batch():
    """Run the batch's requests in order; dependsOn on a failed request answers 424."""
    authorize(None)
    items = _validate(request.get_json(silent=True))
    auth = request.headers.get("Authorization")
    results, status_by_id = [], {}
    for item in items:
        depends = [str(d).lower() for d in item.get("dependsOn") or []]
        if any(d not in status_by_id for d in depends):
            raise GraphError(400, "BadRequest", "dependsOn must name an earlier request id.")
        if any(status_by_id[d] >= 400 for d in depends):
            result = {
                "id": str(item["id"]),
                "status": 424,
                "headers": {},
                "body": {"error": {"code": "FailedDependency", "message": "Dependent request failed."}},
            }
        else:
            result = _run(item, auth)
        status_by_id[str(item["id"]).lower()] = result["status"]
        results.append(result)
    return jsonify({"responses": results})
