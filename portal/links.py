"""Absolute addresses of portal pages where no request may choose the host: emails, Microsoft's redirect URI.

portal_url("sync.history")  PORTAL_BASE_URL + the page's path
portal_base_url()           PORTAL_BASE_URL (or the development address), without a trailing slash
"""

from flask import current_app

# Without PORTAL_BASE_URL (development only: production requires it, see portal/config.py) links
# point at the address `make run` serves on. Never the request's Host header, which the client picks.
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"


def portal_url(endpoint, **values):
    """The absolute address of a portal page for an email: PORTAL_BASE_URL + the page's path.

    Built from the URL map, not from the request: in a web request url_for(_external=True) would
    use the Host header, which the client chooses (a link to an attacker's site in our mail).
    """
    path = current_app.url_map.bind("portal.invalid").build(endpoint, values)
    return portal_base_url() + path


def portal_base_url():
    """PORTAL_BASE_URL, or in development the address `make run` serves on; no trailing slash."""
    config = current_app.config
    base = config["PORTAL_BASE_URL"] or config.get("DEVELOPMENT_BASE_URL") or DEVELOPMENT_BASE_URL
    return base.rstrip("/")
