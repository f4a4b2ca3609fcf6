"""Identity platform v2.0 metadata: OpenID configuration, JWKS, logout, and the error page."""

from flask import Blueprint, jsonify, redirect, render_template, request

from .app import base_url, get_state
from .errors import aad_error

bp = Blueprint("identity", __name__)

MULTI_TENANT = ("organizations", "common")


def issuer_for(tenant_id):
    """The ID-token issuer for a tenant GUID (or the `{tenantid}` placeholder)."""
    return f"{base_url()}/{tenant_id}/v2.0"


def unknown_tenant(tenant):
    """400 for a `{tenant}` segment that isn't this emulator's tenant (AADSTS90002)."""
    return aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
        f"ID and are signing into the correct cloud.",
        base_url=base_url(),
    )


def error_page(code, message, status=400):
    """Microsoft's "Sorry, but we're having trouble signing you in" page."""
    return render_template(
        "message.html",
        title="Sorry, but we’re having trouble signing you in.",
        code=f"AADSTS{code}",
        message=message,
    ), status


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant):
    """Discovery document; `organizations`/`common` advertise the literal `{tenantid}` issuer."""
    state = get_state()
    if not state.resolve_tenant(tenant):
        return unknown_tenant(tenant)
    root = f"{base_url()}/{tenant}"
    issuer_tid = "{tenantid}" if tenant.lower() in MULTI_TENANT else state.directory.id
    return jsonify(
        {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer_for(issuer_tid),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url()}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": request.host,
            "rbac_url": "https://pas.windows.net",
        }
    )


@bp.get("/<tenant>/discovery/v2.0/keys")
def jwks(tenant):
    """The signing keys (one RS256 key; kid == x5t)."""
    state = get_state()
    if tenant.lower() != "common" and not state.resolve_tenant(tenant):
        return unknown_tenant(tenant)
    return jsonify({"keys": [state.key.jwk(issuer_for("{tenantid}"))]})


@bp.get("/<tenant>/oauth2/v2.0/logout")
def logout(tenant):
    """Front-channel sign-out: back to post_logout_redirect_uri when given."""
    target = request.args.get("post_logout_redirect_uri")
    if target:
        return redirect(target)
    return render_template(
        "message.html",
        title="You signed out of your account",
        code=None,
        message="It’s a good idea to close all browser windows.",
    )


@bp.get("/error")
def error_info():
    """Target of `error_uri`: a short page naming the AADSTS code."""
    code = request.args.get("code", "")
    return render_template(
        "message.html",
        title=f"Error AADSTS{code}",
        code=f"AADSTS{code}",
        message="See the error_description of the response for details.",
    )
