"""Admin consent for application permissions (Microsoft identity platform v2 endpoint).

    start(sign_in)                      -> (redirect to {authority}/{tid}/v2.0/adminconsent, state)
    started_for(sign_in)                -> what the caller keeps on the server under that state
    finish(started, answer)             -> oauth.SignIn (raises oauth.SignInFailed)

The administrator has just signed in (OpenID Connect, portal.m365.oauth), so the portal knows who
and which tenant (`tid` of a verified ID token). Microsoft's answer names a tenant too, but the
documentation warns it can be forged: it must equal the signed-in `tid`, and `state` must be one
this session started. Then a client-credentials token for that tenant and the same test read as a
delegated sign-in prove the application permissions; nothing is stored before all of that passed.
"""

import logging
import time
from urllib.parse import urlencode

from authlib.common.security import generate_token
from flask import current_app, redirect

from portal.m365 import apponly, oauth
from portal.m365.graph import (
    ConsentLost,
    GraphClient,
    GraphError,
    GraphUnavailable,
    PermissionMissing,
    aadsts_code,
)
from portal.m365.oauth import SignIn
from portal.m365.permissions import GRAPH_PERMISSIONS, ConnectionType

log = logging.getLogger(__name__)
# error= values of a consent the administrator declined or could not give.
DECLINED = {"access_denied", "consent_required", "permission_denied", "admin_consent_required"}


def start(sign_in):
    """(the redirect to admin consent in the signed-in tenant, its state). The caller keeps on the
    server who signed in to which tenant under that state: `finish` is handed it back."""
    state = generate_token(32)
    config = current_app.config
    query = urlencode(
        {
            "client_id": config["M365_CLIENT_ID"],
            "scope": apponly.GRAPH_DEFAULT_SCOPE,
            "redirect_uri": oauth.redirect_uri(),
            "state": state,
        }
    )
    return redirect(f"{config['M365_AUTHORITY']}/{sign_in.tenant_id}/v2.0/adminconsent?{query}"), state


def started_for(sign_in):
    """What `finish` needs to know of the sign-in that preceded the consent."""
    return {"tid": sign_in.tenant_id, "account": sign_in.account, "domain": sign_in.tenant_domain}


def finish(started, answer):
    """Check Microsoft's answer (`answer`: the callback's query) and prove the application permissions."""
    error = answer.get("error")
    if error:
        code = aadsts_code(answer.get("error_description"))
        log.info("Microsoft admin consent refused: %s %s", error, code)
        if error in DECLINED:
            oauth.fail("consent_declined")
        if error in ("temporarily_unavailable", "server_error"):
            oauth.fail("unreachable")
        oauth.fail("failed", " ".join(filter(None, [error, code])))
    if (answer.get("admin_consent") or "").lower() != "true":
        oauth.fail("consent_declined")
    if (answer.get("tenant") or "").lower() != started["tid"].lower():
        log.warning("admin consent answered for tenant %r, not %s", answer.get("tenant"), started["tid"])
        oauth.fail("tenant_mismatch")
    _probe(started["tid"])
    granted = oauth.normalise_scopes(answer.get("scope") or "")
    return SignIn(
        tenant_id=started["tid"],
        tenant_domain=started["domain"],
        account=started["account"],
        scopes=granted or " ".join(GRAPH_PERMISSIONS),
        refresh_token="",
        connection_type=ConnectionType.APPLICATION,
    )


def _probe(tenant_id):
    """The test read with a fresh client-credentials token; retried while the consent propagates."""
    apponly.forget(tenant_id)
    waited, wait = 0.0, 1.0
    limit = float(current_app.config["M365_CONSENT_PROPAGATION_WAIT"])
    while True:
        try:
            with GraphClient.for_application(tenant_id) as graph:
                graph.probe_read_access()
            return
        except (PermissionMissing, ConsentLost):
            # Microsoft documents that a token right after consent may still lack the roles.
            apponly.forget(tenant_id)
            if waited + wait > limit:
                oauth.fail("app_permissions_missing")
        except GraphUnavailable:
            oauth.fail("unreachable")
        except GraphError as exc:
            oauth.fail_on_graph_error(exc)
        time.sleep(wait)
        waited, wait = waited + wait, wait * 2
