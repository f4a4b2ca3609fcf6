"""Emulator behaviours beyond the main flows: admin-consent endpoints (v1 and v2), the fragment
response mode, silent sign-in (`prompt=none`), the HTML console's forms and `$orderby` on users."""

import urllib.parse

import pytest
import requests

from m365_emulator.demo import DEMO_CLIENT_ID, DEMO_TENANT_ID
from tests.emulator.flows import (
    REDIRECT_URI,
    authorize_url,
    callback_params,
    console_forms,
    graph,
    oauth_client,
    post_console_form,
    sign_in,
    submit,
)

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def token(emulator):
    """An application token with User.Read.All + GroupMember.Read.All consented."""
    emulator.grant_consent()
    return emulator.app_token()


def token_url(emulator, tenant="organizations"):
    return f"{emulator.authority}/{tenant}/oauth2/v2.0/token"


def admin_consent_url(emulator, version, tenant="organizations", state="xyz"):
    """The v1 (`/{tenant}/adminconsent`) or v2 (`/{tenant}/v2.0/adminconsent`) URL for the demo app."""
    params = {"client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": state}
    path = "adminconsent"
    if version == 2:
        params["scope"] = "https://graph.microsoft.com/.default"
        path = "v2.0/adminconsent"
    return f"{emulator.authority}/{tenant}/{path}?{urllib.parse.urlencode(params)}"


def redeem(emulator, code, verifier):
    """POST the authorization code to the token endpoint; returns the response."""
    return requests.post(
        token_url(emulator),
        auth=(DEMO_CLIENT_ID, emulator.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        timeout=10,
    )


def silent_url(emulator, **extra):
    """An authorize URL with prompt=none; returns (url, state, verifier)."""
    url, state, verifier, _ = authorize_url(emulator, oauth_client(), prompt="none", **extra)
    return url, state, verifier


# -- admin consent ---------------------------------------------------------------------------
def test_v1_admin_consent_redirects_with_tenant_and_state_and_grants_app_permissions(emulator):
    params = callback_params(submit(admin_consent_url(emulator, 1), emulator.admin_upn))
    assert params == {"tenant": DEMO_TENANT_ID, "admin_consent": "True", "state": "xyz"}
    assert set(emulator.control("GET", "consent")[DEMO_CLIENT_ID]) == {
        "User.Read.All",
        "GroupMember.Read.All",
    }
    assert graph(emulator, "/users", emulator.app_token(), **{"$top": "1"}).status_code == 200


def test_v2_admin_consent_redirects_with_admin_consent_tenant_scope_and_state(emulator):
    url = admin_consent_url(emulator, 2, tenant=emulator.tenant_domain, state="s-2")
    params = callback_params(submit(url, emulator.admin_upn))
    assert params["admin_consent"] == "True" and params["tenant"] == DEMO_TENANT_ID
    assert params["state"] == "s-2"
    assert "https://graph.microsoft.com/User.Read.All" in params["scope"].split()
    assert "GroupMember.Read.All" in emulator.control("GET", "consent")[DEMO_CLIENT_ID]


def test_v1_admin_consent_cancel_redirects_with_permission_denied_and_grants_nothing(emulator):
    params = callback_params(submit(admin_consent_url(emulator, 1), emulator.admin_upn, action="cancel"))
    assert params["error"] == "permission_denied" and params["state"] == "xyz"
    assert params["error_description"] == "The admin canceled the request"
    assert "admin_consent" not in params
    assert emulator.control("GET", "consent") == {}


def test_v2_admin_consent_cancel_redirects_with_access_denied_and_grants_nothing(emulator):
    params = callback_params(submit(admin_consent_url(emulator, 2), emulator.admin_upn, action="cancel"))
    assert params["error"] == "access_denied" and params["state"] == "xyz"
    assert params["admin_consent"] == "True"
    assert params["error_description"].startswith("AADSTS65004")
    assert emulator.control("GET", "consent") == {}


@pytest.mark.parametrize("version", [1, 2])
def test_admin_consent_by_a_non_admin_shows_need_admin_approval(emulator, version):
    response = submit(admin_consent_url(emulator, version), emulator.user_upn)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Need admin approval" in response.text
    assert emulator.control("GET", "consent") == {}


# -- response_mode=fragment ------------------------------------------------------------------
def test_fragment_mode_returns_code_and_state_in_the_fragment(emulator):
    url, state, verifier, _ = authorize_url(emulator, oauth_client(), response_mode="fragment")
    response = submit(url, emulator.admin_upn)
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert location.query == ""
    params = dict(urllib.parse.parse_qsl(location.fragment))
    assert params["state"] == state and params["code"]
    assert redeem(emulator, params["code"], verifier).status_code == 200


def test_fragment_mode_cancel_returns_the_error_in_the_fragment(emulator):
    url, state, _, _ = authorize_url(emulator, oauth_client(), response_mode="fragment")
    response = submit(url, emulator.admin_upn, action="cancel")
    location = urllib.parse.urlsplit(response.headers["Location"])
    params = dict(urllib.parse.parse_qsl(location.fragment))
    assert location.query == "" and params["error"] == "access_denied"
    assert params["state"] == state


# -- prompt=none -----------------------------------------------------------------------------
def test_prompt_none_after_consent_returns_a_code_without_showing_the_page(emulator):
    sign_in(emulator)
    url, state, verifier = silent_url(emulator, login_hint=emulator.admin_upn)
    params = callback_params(requests.get(url, allow_redirects=False, timeout=10))
    assert params["state"] == state and "error" not in params
    token = redeem(emulator, params["code"], verifier)
    assert token.status_code == 200
    me = graph(emulator, "/me", token.json()["access_token"]).json()
    assert me["userPrincipalName"] == emulator.admin_upn


def test_prompt_none_for_a_non_admin_works_once_an_admin_has_consented(emulator):
    emulator.grant_consent()
    url, _, verifier = silent_url(emulator, login_hint=emulator.user_upn)
    params = callback_params(requests.get(url, allow_redirects=False, timeout=10))
    assert redeem(emulator, params["code"], verifier).status_code == 200


def test_prompt_none_without_consent_answers_consent_required(emulator):
    url, state, _ = silent_url(emulator, login_hint=emulator.admin_upn)
    params = callback_params(requests.get(url, allow_redirects=False, timeout=10))
    assert params["error"] == "consent_required" and params["state"] == state
    assert "code" not in params


def test_prompt_none_without_a_known_user_answers_login_required(emulator):
    emulator.grant_consent()
    for extra in (
        {},
        {"login_hint": "nobody@contosodemo.onmicrosoft.com"},
        {"login_hint": "lars.lindqvist@contosodemo.onmicrosoft.com"},
    ):
        url, state, _ = silent_url(emulator, **extra)
        params = callback_params(requests.get(url, allow_redirects=False, timeout=10))
        assert params["error"] == "login_required", extra
        assert params["state"] == state and "code" not in params


# -- HTML console ----------------------------------------------------------------------------


def test_console_rename_form_changes_the_display_name_seen_through_graph(emulator, token):
    adele = graph(emulator, f"/users/{emulator.user_upn}", token).json()
    forms = console_forms(emulator, "adele.vance")
    response = post_console_form(
        emulator, forms, f"/users/{adele['id']}/rename", displayName="Adele Vance-Miller"
    )
    assert "q=adele.vance" in response.headers["Location"]
    fetched = graph(emulator, f"/users/{adele['id']}", token).json()
    assert fetched["displayName"] == "Adele Vance-Miller"
    assert (
        "Adele Vance-Miller"
        in requests.get(f"{emulator.base_url}/_emulator/", params={"q": "adele"}, timeout=10).text
    )


def test_the_console_shows_its_entra_provisioning_section_once_in_the_page_body(emulator):
    page = requests.get(f"{emulator.base_url}/_emulator/", timeout=10).text
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<form" not in title and "Entra provisioning" not in title
    assert page.count('id="entra"') == 1


def test_console_delete_form_makes_the_user_404_and_restore_brings_it_back(emulator, token):
    adele = graph(emulator, f"/users/{emulator.user_upn}", token).json()
    forms = console_forms(emulator, "adele.vance")
    post_console_form(emulator, forms, f"/users/{adele['id']}/delete")
    missing = graph(emulator, f"/users/{adele['id']}", token)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"
    deleted = graph(emulator, f"/directory/deletedItems/{adele['id']}", token)
    assert deleted.status_code == 200
    post_console_form(emulator, console_forms(emulator, "adele.vance"), f"/users/{adele['id']}/restore")
    assert graph(emulator, f"/users/{adele['id']}", token).status_code == 200


# -- $orderby --------------------------------------------------------------------------------
def display_names(response):
    assert response.status_code == 200, response.text
    return [u["displayName"] for u in response.json()["value"]]


def test_users_orderby_display_name_ascending_and_descending(emulator, token):
    up = display_names(
        graph(emulator, "/users", token, **{"$orderby": "displayName", "$select": "displayName"})
    )
    down = display_names(
        graph(emulator, "/users", token, **{"$orderby": "displayName desc", "$select": "displayName"})
    )
    assert up == sorted(up, key=str.lower) and len(up) == 100
    assert down == sorted(down, key=str.lower, reverse=True)
    assert up[0].lower() < down[0].lower()


def test_users_orderby_keeps_the_order_across_pages(emulator, token):
    first = graph(
        emulator, "/users", token, **{"$orderby": "displayName", "$top": "150", "$select": "displayName"}
    )
    names = display_names(first)
    second = graph(emulator, first.json()["@odata.nextLink"], token)
    names += display_names(second)
    assert len(names) == emulator.control("GET", "status")["users"]
    assert names == sorted(names, key=str.lower)
    assert "@odata.nextLink" not in second.json()


def test_users_orderby_unsupported_property_needs_advanced_query(emulator, token):
    plain = graph(emulator, "/users", token, **{"$orderby": "department"})
    assert plain.status_code == 400
    assert plain.json()["error"]["code"] == "Request_UnsupportedQuery"
    advanced = graph(
        emulator, "/users", token, headers=EVENTUAL, **{"$orderby": "department", "$count": "true"}
    )
    assert advanced.status_code == 200


def test_console_edits_what_a_sync_reads_adds_a_user_and_changes_group_members(emulator, token):
    """Every README demo step is a click: names and mail, a new user, a group member in or out."""
    adele = graph(emulator, f"/users/{emulator.user_upn}", token).json()
    forms = console_forms(emulator, "adele.vance")
    post_console_form(
        emulator,
        forms,
        f"/users/{adele['id']}/rename",
        givenName="Ada",
        surname="Neumann",
        mail="ada@x.example",
    )
    fetched = graph(emulator, f"/users/{adele['id']}", token, **{"$select": "givenName,surname,mail"}).json()
    assert (fetched["givenName"], fetched["surname"], fetched["mail"]) == ("Ada", "Neumann", "ada@x.example")

    leadership = next(g for g in emulator.control("GET", "groups") if g["displayName"] == "Leadership")
    added = requests.post(
        f"{emulator.base_url}/_emulator/ui/users",
        data={"givenName": "Nora", "surname": "Neu", "mail": "nora.neu@x.example", "group": leadership["id"]},
        allow_redirects=False,
        timeout=10,
    )
    assert added.status_code == 303
    nora = next(u for u in emulator.control("GET", "users") if u.get("mail") == "nora.neu@x.example")
    members = graph(emulator, f"/groups/{leadership['id']}/members", token).json()["value"]
    assert nora["id"] in {m["id"] for m in members}
    requests.post(
        f"{emulator.base_url}/_emulator/ui/groups/{leadership['id']}/members/{nora['id']}/remove", timeout=10
    )
    requests.post(
        f"{emulator.base_url}/_emulator/ui/groups/{leadership['id']}/members",
        data={"user": "ada@x.example"},
        timeout=10,
    )
    members = {m["id"] for m in graph(emulator, f"/groups/{leadership['id']}/members", token).json()["value"]}
    assert nora["id"] not in members and adele["id"] in members
