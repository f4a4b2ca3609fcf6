"""Application permissions: client-credentials tokens for a customer's tenant.

    access_token(tenant_id, force=False) -> token dict for Authlib (access_token, expires_at)
    forget(tenant_id)                    drop the cached token (Graph refused it)

A token is asked for with `grant_type=client_credentials` and
`scope=https://graph.microsoft.com/.default` at the tenant's own token endpoint (never
`organizations`). It is kept in this process's memory only — never in the database, never logged —
and reused until MARGIN seconds before it expires; each process (web worker, runner) asks for its
own. Errors are Authlib's OAuthError (the token endpoint's `error`, AADSTS code in the
description), requests' exceptions, or credentials.CertificateExpired; the Graph client maps them.
"""

import threading
import time

from flask import current_app

from portal.m365 import credentials

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
# Ask for a new token this many seconds before the cached one expires.
MARGIN = 300
_CACHE_KEY = "m365_app_tokens"
_LOCK = threading.Lock()


def token_endpoint(tenant_id):
    """The tenant's v2.0 token endpoint."""
    return f"{current_app.config['M365_AUTHORITY']}/{tenant_id}/oauth2/v2.0/token"


def _cache():
    return current_app.extensions.setdefault(_CACHE_KEY, {})


def _key(tenant_id):
    credential = credentials.in_use()
    thumbprint = credential.thumbprint if credential else ""
    return (current_app.config["M365_CLIENT_ID"], thumbprint, tenant_id.lower())


def access_token(tenant_id, force=False, clock=time.time):
    """A client-credentials token for `tenant_id`, from the cache unless `force` or nearly expired."""
    key = _key(tenant_id)
    with _LOCK:
        cached = _cache().get(key)
    if cached and not force and cached["expires_at"] - MARGIN > clock():
        return dict(cached)
    timeout = float(current_app.config["M365_GRAPH_TIMEOUT"])
    with credentials.oauth_session(default_timeout=timeout) as session:
        token = session.fetch_token(
            token_endpoint(tenant_id), grant_type="client_credentials", scope=GRAPH_DEFAULT_SCOPE
        )
    fresh = {
        "access_token": token["access_token"],
        "token_type": token.get("token_type", "Bearer"),
        "expires_at": int(clock()) + int(token.get("expires_in") or 3599),
    }
    with _LOCK:
        _cache()[key] = fresh
    return dict(fresh)


def forget(tenant_id):
    """Drop the cached token of `tenant_id` (Graph refused it, or the consent changed)."""
    with _LOCK:
        _cache().pop(_key(tenant_id), None)
