"""Identity platform emulation: discovery, sign-in page, token endpoint, ID tokens."""

import base64

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from m365_emulator.demo import DEMO_CLIENT_ID, DEMO_TENANT_ID
from tests.emulator.flows import (
    REDIRECT_URI,
    authorize_url,
    callback_params,
    oauth_client,
    sign_in,
    submit,
)

AAD_ERROR_FIELDS = {
    "error",
    "error_description",
    "error_codes",
    "timestamp",
    "trace_id",
    "correlation_id",
    "error_uri",
}


def token_url(emulator, tenant="organizations"):
    return f"{emulator.authority}/{tenant}/oauth2/v2.0/token"


def test_discovery_uses_tenantid_placeholder_for_organizations_and_guid_for_tenant(emulator):
    multi = requests.get(f"{emulator.authority}/organizations/v2.0/.well-known/openid-configuration").json()
    single = requests.get(
        f"{emulator.authority}/{emulator.tenant_domain}/v2.0/.well-known/openid-configuration"
    ).json()
    assert multi["issuer"] == f"{emulator.authority}/{{tenantid}}/v2.0"
    assert multi["authorization_endpoint"] == f"{emulator.authority}/organizations/oauth2/v2.0/authorize"
    assert single["issuer"] == f"{emulator.authority}/{DEMO_TENANT_ID}/v2.0"
    keys = requests.get(multi["jwks_uri"]).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"] == keys[0]["x5t"]


def test_unknown_tenant_is_rejected_with_aadsts90002(emulator):
    response = requests.get(f"{emulator.authority}/nowhere.example/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_auth_code_pkce_round_trip_yields_verifiable_id_token(emulator):
    client, token, nonce = sign_in(emulator)
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["expires_in"] > 0
    assert token["ext_expires_in"] == token["expires_in"]
    jwks = KeySet.import_key_set(requests.get(f"{emulator.authority}/common/discovery/v2.0/keys").json())
    claims = jwt.decode(token["id_token"], jwks).claims
    assert claims["iss"] == f"{emulator.authority}/{claims['tid']}/v2.0"
    assert claims["tid"] == DEMO_TENANT_ID and claims["aud"] == DEMO_CLIENT_ID
    assert claims["nonce"] == nonce and claims["ver"] == "2.0"
    assert claims["preferred_username"] == emulator.admin_upn
    me = requests.get(
        f"{emulator.graph_url}/me", headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert claims["oid"] == me["id"]
    assert set(token["scope"].split()) >= {"User.Read.All", "GroupMember.Read.All", "openid"}


def test_state_is_echoed_and_code_is_single_use(emulator):
    client = oauth_client()
    url, state, verifier, _ = authorize_url(emulator, client)
    response = submit(url, emulator.admin_upn)
    params = callback_params(response)
    assert params["state"] == state
    data = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    auth = (DEMO_CLIENT_ID, emulator.client_secret)
    assert requests.post(token_url(emulator), data=data, auth=auth).status_code == 200
    again = requests.post(token_url(emulator), data=data, auth=auth)
    assert again.status_code == 400
    body = again.json()
    assert AAD_ERROR_FIELDS <= set(body)
    assert body["error"] == "invalid_grant" and body["error_codes"] == [54005]
    assert body["error_description"].startswith("AADSTS54005:")


def test_wrong_pkce_verifier_and_wrong_redirect_uri_are_invalid_grant(emulator):
    client = oauth_client()
    url, _, verifier, _ = authorize_url(emulator, client)
    code = callback_params(submit(url, emulator.admin_upn))["code"]
    auth = (DEMO_CLIENT_ID, emulator.client_secret)
    base = {"grant_type": "authorization_code", "code": code}
    bad_pkce = requests.post(
        token_url(emulator), auth=auth, data={**base, "redirect_uri": REDIRECT_URI, "code_verifier": "x" * 50}
    ).json()
    assert bad_pkce["error"] == "invalid_grant" and bad_pkce["error_codes"] == [501481]
    bad_uri = requests.post(
        token_url(emulator),
        auth=auth,
        data={**base, "redirect_uri": "http://localhost:5000/m365/callback", "code_verifier": verifier},
    )
    assert bad_uri.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_401_invalid_client_7000215_by_basic_or_body(emulator):
    data = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    url = token_url(emulator, emulator.tenant_id)
    basic = requests.post(url, data=data, auth=(DEMO_CLIENT_ID, "wrong"))
    body = requests.post(url, data={**data, "client_id": DEMO_CLIENT_ID, "client_secret": "wrong"})
    for response in (basic, body):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.json()["error_codes"] == [7000215]


def test_client_credentials_needs_tenant_and_default_scope(emulator):
    emulator.grant_consent()
    ok = requests.post(
        token_url(emulator, emulator.tenant_id),
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": emulator.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert ok.status_code == 200 and "refresh_token" not in ok.json() and "id_token" not in ok.json()
    users = requests.get(
        f"{emulator.graph_url}/users?$top=1", headers={"Authorization": f"Bearer {ok.json()['access_token']}"}
    )
    assert users.status_code == 200
    bad_scope = requests.post(
        token_url(emulator, emulator.tenant_id),
        data={"grant_type": "client_credentials", "scope": "User.Read.All"},
        auth=(DEMO_CLIENT_ID, emulator.client_secret),
    )
    assert bad_scope.json()["error"] == "invalid_scope"


def test_refresh_rotates_and_old_token_keeps_working_until_revoked(emulator):
    client, token, _ = sign_in(emulator)
    first = token["refresh_token"]
    rotated = client.refresh_token(token_url(emulator), refresh_token=first)
    assert rotated["refresh_token"] != first and rotated["access_token"] != token["access_token"]
    assert client.refresh_token(token_url(emulator), refresh_token=first)["access_token"]
    emulator.control("POST", "tokens/revoke", {"user": emulator.admin_upn})
    response = requests.post(
        token_url(emulator),
        data={"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        auth=(DEMO_CLIENT_ID, emulator.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant" and response.json()["error_codes"] == [50173]


def test_refresh_token_expires_after_90_days_of_inactivity(emulator):
    client, token, _ = sign_in(emulator)
    emulator.advance_clock(days=91)
    response = requests.post(
        token_url(emulator),
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(DEMO_CLIENT_ID, emulator.client_secret),
    )
    assert response.json()["error_codes"] == [700082]


def test_cancel_redirects_with_access_denied_65004(emulator):
    url, state, _, _ = authorize_url(emulator, oauth_client())
    params = callback_params(submit(url, emulator.admin_upn, action="cancel"))
    assert params["error"] == "access_denied" and params["state"] == state
    assert params["error_description"].startswith("AADSTS65004")


def test_non_admin_gets_need_admin_approval_page_and_no_redirect(emulator):
    url, _, _, _ = authorize_url(emulator, oauth_client())
    response = submit(url, emulator.user_upn)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Need admin approval" in response.text
    assert emulator.control("GET", "consent") == {}


def test_non_admin_signs_in_once_an_admin_has_consented(emulator):
    sign_in(emulator)
    _, token, _ = sign_in(emulator, account=emulator.user_upn)
    assert token["access_token"]


def test_accept_without_ticking_consent_rerenders_with_error(emulator):
    url, _, _, _ = authorize_url(emulator, oauth_client())
    response = submit(url, emulator.admin_upn, consent=False)
    assert response.status_code == 400
    assert "Consent on behalf of your organization" in response.text and 'role="alert"' in response.text


def test_unknown_client_and_unregistered_redirect_uri_show_error_page(emulator):
    unknown = oauth_client(client_id="00000000-0000-0000-0000-000000000001")
    page = requests.get(authorize_url(emulator, unknown)[0], allow_redirects=False)
    assert page.status_code == 400 and "AADSTS700016" in page.text
    wrong = oauth_client(redirect_uri="http://evil.example/cb")
    page = requests.get(authorize_url(emulator, wrong)[0], allow_redirects=False)
    assert page.status_code == 400 and "AADSTS50011" in page.text


def test_form_post_mode_renders_form_to_redirect_uri(emulator):
    url, state, _, _ = authorize_url(emulator, oauth_client(), response_mode="form_post")
    response = submit(url, emulator.admin_upn)
    assert response.status_code == 200
    assert f'action="{REDIRECT_URI}"' in response.text and 'name="code"' in response.text
    assert state in response.text


def test_registered_app_and_admin_consent_endpoint(emulator):
    emulator.register_app("11111111-2222-3333-4444-555555555555", "s3cret", ["http://localhost:8000/cb"])
    url = (
        f"{emulator.authority}/organizations/v2.0/adminconsent?client_id="
        f"11111111-2222-3333-4444-555555555555&scope=https://graph.microsoft.com/.default"
        f"&redirect_uri=http://localhost:8000/cb&state=xyz"
    )
    params = callback_params(submit(url, emulator.admin_upn))
    assert params["admin_consent"] == "True" and params["tenant"] == DEMO_TENANT_ID
    assert params["state"] == "xyz"
    consent = emulator.control("GET", "consent")
    assert "User.Read.All" in consent["11111111-2222-3333-4444-555555555555"]
    creds = base64.b64encode(b"11111111-2222-3333-4444-555555555555:s3cret").decode()
    token = requests.post(
        token_url(emulator, emulator.tenant_domain),
        headers={"Authorization": f"Basic {creds}"},
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
    )
    assert token.status_code == 200


def test_prompt_none_without_session_answers_login_required(emulator):
    url, _, _, _ = authorize_url(emulator, oauth_client(), prompt="none")
    params = callback_params(requests.get(url, allow_redirects=False))
    assert params["error"] == "login_required"
