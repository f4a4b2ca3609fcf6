"""The control API and console page: faults, latency, log, reset, tenant load/save."""

import time

import pytest
import requests

from tests.emulator.flows import graph


@pytest.fixture
def token(emulator):
    emulator.grant_consent()
    return emulator.app_token()


def test_fault_429_with_retry_after_after_n_requests_for_m_times(emulator, token):
    emulator.add_fault("/v1.0/users*", status=429, retry_after=2.5, after=1, times=2)
    statuses = [graph(emulator, "/users", token, **{"$top": "1"}) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 429, 200]
    throttled = statuses[1]
    assert throttled.headers["Retry-After"] == "2.5"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert throttled.json()["error"]["innerError"]["status"] == "429"
    assert throttled.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"


@pytest.mark.parametrize(
    "status,code",
    [
        (500, "generalException"),
        (503, "serviceNotAvailable"),
        (504, "UnknownError"),
        (403, "Authorization_RequestDenied"),
    ],
)
def test_faults_answer_graph_errors(emulator, token, status, code):
    emulator.add_fault("/v1.0/groups", status=status, method="GET")
    response = graph(emulator, "/groups", token)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert response.headers["request-id"]


def test_fault_on_token_endpoint_answers_identity_error(emulator):
    emulator.grant_consent()
    emulator.add_fault("*/oauth2/v2.0/token", status=503, retry_after=1)
    response = requests.post(
        f"{emulator.authority}/{emulator.tenant_id}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
        auth=(emulator.client_id, emulator.client_secret),
    )
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    assert emulator.app_token()
    assert emulator.control("DELETE", "faults") == []


def test_latency_delays_requests(emulator, token):
    emulator.control("POST", "latency", {"ms": 200})
    started = time.monotonic()
    graph(emulator, "/users", token, **{"$top": "1"})
    assert time.monotonic() - started >= 0.2


def test_log_records_method_path_query_status_and_units_and_can_be_cleared(emulator, token):
    emulator.control("DELETE", "log")
    graph(emulator, "/users", token, **{"$select": "id", "$top": "5"})
    graph(emulator, "/groups/00000000-0000-0000-0000-000000000000/transitiveMembers", token)
    first, second = emulator.log()
    assert (first["method"], first["path"], first["status"]) == ("GET", "/v1.0/users", 200)
    assert "%24top=5" in first["query"] or "$top=5" in first["query"]
    assert first["resource_units"] == 1  # 2, −1 for $select, −1 for $top < 20, minimum 1
    assert second["status"] == 404
    assert emulator.control("DELETE", "log") == []


def test_reset_restores_the_demo_tenant_and_forgets_tokens(emulator, token):
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    emulator.control("DELETE", f"users/{adele['id']}?hard=1")
    emulator.reset()
    assert emulator.control("GET", f"users/{adele['id']}")["displayName"] == "Adele Vance"
    assert graph(emulator, "/users", token).status_code == 401


def test_users_and_groups_crud(emulator, token):
    user = emulator.control(
        "POST",
        "users",
        {"displayName": "Zoë Ødegaard", "givenName": "Zoë", "surname": "Ødegaard", "department": "Legal"},
    )
    group = emulator.control(
        "POST", "groups", {"displayName": "Pilots", "kind": "team", "members": [user["id"]]}
    )
    members = graph(emulator, f"/groups/{group['id']}/members", token).json()["value"]
    assert [m["displayName"] for m in members] == ["Zoë Ødegaard"]
    emulator.control("PATCH", f"users/{user['id']}", {"accountEnabled": False})
    fetched = graph(emulator, f"/users/{user['id']}", token, **{"$select": "accountEnabled"}).json()
    assert fetched["accountEnabled"] is False
    emulator.control("DELETE", f"groups/{group['id']}/members/{user['id']}")
    assert graph(emulator, f"/groups/{group['id']}/members", token).json()["value"] == []
    emulator.control("DELETE", f"groups/{group['id']}")
    assert graph(emulator, f"/groups/{group['id']}", token).status_code == 404
    with pytest.raises(requests.HTTPError):
        emulator.control("DELETE", "users/nobody@nowhere")


def test_tenant_save_and_load_round_trip(emulator):
    saved = emulator.control("GET", "tenant")
    saved["users"] = saved["users"][:3]
    emulator.control("POST", "tenant", {"data": saved})
    assert emulator.control("GET", "status")["users"] == 3
    generated = emulator.load_tenant("generated:50", seed=7)
    again = emulator.load_tenant("generated:50", seed=7)
    assert generated["tenant_id"] == again["tenant_id"] and generated["users"] == 50


def test_console_page_renames_and_deletes_a_user(emulator):
    page = requests.get(f"{emulator.base_url}/_emulator/?q=adele")
    assert page.status_code == 200 and "Adele Vance" in page.text and "<script" not in page.text
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    renamed = requests.post(
        f"{emulator.base_url}/_emulator/ui/users/{adele['id']}/rename",
        data={"displayName": "Adele Vance-Miller"},
        allow_redirects=False,
    )
    assert renamed.status_code == 303
    assert emulator.control("GET", f"users/{adele['id']}")["displayName"] == "Adele Vance-Miller"
    requests.post(f"{emulator.base_url}/_emulator/ui/users/{adele['id']}/delete")
    assert emulator.control("GET", f"users/{adele['id']}")["_deleted"] is True


def test_tenant_aliases_let_more_tenant_ids_use_the_token_endpoint_until_a_reset(emulator):
    emulator.grant_consent()
    alias = "0a1b2c3d-0000-4000-8000-00000000000a"
    emulator.control("POST", "tenant/aliases", {"ids": [alias]})
    emulator.tenant_id = alias
    assert emulator.app_token()
    emulator.reset()
    emulator.tenant_id = alias
    with pytest.raises(requests.HTTPError):
        emulator.app_token()


def test_pages_of_a_listing_follow_changes_made_between_them(emulator, token):
    first = graph(
        emulator, "/users", token, **{"$top": "5", "$select": "id,displayName", "$orderby": "displayName"}
    ).json()
    emulator.control("POST", "users", {"displayName": "Zz Late Arrival", "mailNickname": "zz.late"})
    names, link = [], first["@odata.nextLink"]
    while link:
        page = requests.get(link, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        names += [u["displayName"] for u in page["value"]]
        link = page.get("@odata.nextLink")
    assert "Zz Late Arrival" in names  # the sorted listing is cached per state of the directory
