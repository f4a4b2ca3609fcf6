"""Health probes for monitoring and process managers, answered without signing in.

`GET /healthz`: the web process answers (touches no database). `GET /readyz`: it can do its work
— the database answers, its schema is current, a runner is alive (portal.health.readiness); 503
with the reason of each failing check otherwise. Both answer JSON that names no customer.

They answer whatever Host a monitor sends (`curl http://127.0.0.1:8000/readyz`, a load balancer
probing by IP address): TRUSTED_HOSTS keeps forged host names out of pages and links, and these
answers have neither. `AnyHostProbes` gives exactly these two paths a trusted Host.
"""

from flask import Blueprint, jsonify

from portal import health
from portal.auth.session import sessionless

bp = Blueprint("probes", __name__)
PATHS = frozenset({"/healthz", "/readyz"})


@bp.route("/healthz")
@sessionless
def healthz():
    """Liveness: the process answers requests (no database involved)."""
    return _no_store(jsonify(status="ok"))


@bp.route("/readyz")
@sessionless
def readyz():
    """Readiness: 200 when every check passes, else 503 with the reason of each failing one."""
    checks = health.readiness()
    ready = all(answer == health.OK for answer in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    return _no_store(response)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


class AnyHostProbes:
    """WSGI middleware: a probe's Host header is replaced by the first trusted host, so the probes
    answer on any address while every other path keeps Flask's TRUSTED_HOSTS check.

    Install it inside ProxyFix, so an X-Forwarded-Host cannot override it again."""

    def __init__(self, wsgi_app, trusted_hosts):
        self.wsgi_app = wsgi_app
        self.host = trusted_hosts[0].lstrip(".") if trusted_hosts else None

    def __call__(self, environ, start_response):
        if self.host and environ.get("PATH_INFO") in PATHS:
            environ = {**environ, "HTTP_HOST": self.host}
        return self.wsgi_app(environ, start_response)
