"""gunicorn settings for the portal (`gunicorn -c <this file> 'portal:create_app()'`; installed in
<virtualenv>/share/awareness-portal/, overwritten by each upgrade: change settings in the environment).

Every value can be overridden from the environment (GUNICORN_BIND, GUNICORN_WORKERS, ...).
Behind nginx on the same host: listen on localhost only and trust its X-Forwarded-* headers.
"""

import gc
import multiprocessing
import os

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(8, multiprocessing.cpu_count() * 2 + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
worker_class = "gthread"
# Long jobs run in the runner, never in a request; anything slower than this is a bug.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (memory). A worker's start costs about 1.5 s of CPU (the app's
# imports) and its caches (compiled statements): at 2,000 requests, Entra provisioning's load spent
# a tenth of the CPU starting workers (bench/scim.py).
max_requests = 20000
max_requests_jitter = 2000
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Do not log query strings of the OAuth callback (they carry the authorization code).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'


class QuietProbesLogger(Logger):
    """The access log leaves out health probes that passed (a monitor asks every minute or so) and
    Entra provisioning's SCIM requests that succeeded: Entra sends thousands a cycle, each is in the
    customer's provisioning activity log, and nginx's access log has them all (formatting and writing
    the line cost about 3 % of the endpoint's CPU, bench/scim.py). Failures are still logged."""

    def access(self, resp, req, environ, request_time):
        path = environ.get("PATH_INFO") or ""
        if path in ("/healthz", "/readyz") and resp.status_code == 200:
            return
        if path.startswith("/scim/v2/") and resp.status_code < 400:
            return
        super().access(resp, req, environ, request_time)


logger_class = QuietProbesLogger


def post_worker_init(worker):
    """The app is loaded: move its long-lived objects (modules, routes, templates, translations)
    out of the garbage collector's way, so its collections scan only what requests make (measured
    with bench/portal_throughput.py: about a millisecond less per search answer)."""
    gc.collect()
    gc.freeze()
