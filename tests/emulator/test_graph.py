"""Emulated Graph: auth errors, users and groups listing, paging, members, deleted items, $batch."""

import re

import pytest
import requests

from tests.emulator.flows import graph

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def token(emulator):
    """An application token with User.Read.All + GroupMember.Read.All consented."""
    emulator.grant_consent()
    return emulator.app_token()


def test_missing_unknown_and_expired_tokens_answer_401_with_www_authenticate(emulator, token):
    missing = requests.get(f"{emulator.graph_url}/users")
    unknown = graph(emulator, "/users", "not-a-token")
    emulator.control("POST", "tokens/expire")
    expired = graph(emulator, "/users", token)
    for response in (missing, unknown, expired):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm=""')
    assert expired.json()["error"]["message"] == "Lifetime validation failed, the token is expired."


def test_short_token_lifetime_is_configurable(emulator):
    emulator.grant_consent()
    emulator.control("POST", "tokens/lifetime", {"seconds": 5})
    token = emulator.app_token()
    assert graph(emulator, "/users", token, **{"$top": "1"}).status_code == 200
    emulator.advance_clock(seconds=6)
    assert graph(emulator, "/users", token).status_code == 401


def test_withdrawn_permission_answers_403_authorization_request_denied(emulator, token):
    emulator.withdraw_consent(scope="User.Read.All")
    response = graph(emulator, "/users", token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"
    assert graph(emulator, "/groups", token).status_code == 200


def test_error_json_has_request_ids_and_echoes_client_request_id(emulator, token):
    response = graph(
        emulator,
        "/users/00000000-0000-0000-0000-000000000000",
        token,
        headers={"client-request-id": "abc-123"},
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert error["innerError"]["client-request-id"] == "abc-123" == response.headers["client-request-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", error["innerError"]["date"])


def test_default_properties_differ_from_select(emulator, token):
    default = graph(emulator, "/users", token).json()
    assert len(default["value"]) == 100 and "@odata.nextLink" in default
    assert "accountEnabled" not in default["value"][0] and "businessPhones" in default["value"][0]
    chosen = graph(emulator, "/users", token, **{"$select": "id,displayName,accountEnabled,userType"}).json()
    assert set(chosen["value"][0]) == {"id", "displayName", "accountEnabled", "userType"}
    assert chosen["@odata.context"].endswith("$metadata#users(id,displayName,accountEnabled,userType)")
    assert graph(emulator, "/users", token, **{"$select": "skills"}).status_code == 501
    assert graph(emulator, "/users", token, **{"$top": "1000"}).status_code == 400


def test_user_by_id_or_upn_and_realities_of_the_demo_tenant(emulator, token):
    select = "id,displayName,mail,proxyAddresses,userType,accountEnabled,userPrincipalName"
    by_upn = graph(
        emulator, "/users/juergen.mueller@contosodemo.onmicrosoft.com", token, **{"$select": select}
    ).json()
    assert by_upn["displayName"] == "Jürgen Müller"
    assert graph(emulator, f"/users/{by_upn['id']}", token).json()["id"] == by_upn["id"]
    users = graph(emulator, "/users", token, **{"$select": select, "$top": "999"}).json()["value"]
    assert any(u["displayName"] == "Siobhán O'Brien" for u in users)
    assert any(u["mail"] is None and u["proxyAddresses"] for u in users)
    assert any(u["mail"] is None and not u["proxyAddresses"] for u in users)
    assert any(u["userType"] == "Guest" and "#EXT#" in u["userPrincipalName"] for u in users)
    assert any(not u["accountEnabled"] for u in users)


def test_paging_2500_users_at_top_999_takes_exactly_3_requests(emulator):
    emulator.load_tenant("generated:2500")
    emulator.grant_consent()
    token = emulator.app_token()
    emulator.control("DELETE", "log")
    url, ids, pages = f"{emulator.graph_url}/users?$select=id,displayName&$top=999", set(), 0
    while url:
        body = graph(emulator, url, token).json()
        ids.update(u["id"] for u in body["value"])
        url = body.get("@odata.nextLink")
        pages += 1
        if url:
            skiptoken = url.split("$skiptoken=")[1]
            assert not skiptoken.isdigit() and len(skiptoken) > 16
            assert "$top=999" in url and "$select=id,displayName" in url
    assert pages == 3 and len(ids) == 2500
    log = [e for e in emulator.log() if e["path"] == "/v1.0/users"]
    assert len(log) == 3 and all(e["resource_units"] == 1 for e in log)


def test_search_needs_consistency_level_header(emulator, token):
    without = graph(emulator, "/users", token, **{"$search": '"displayName:jürgen"'})
    assert without.status_code == 400
    assert without.json()["error"]["code"] == "Request_UnsupportedQuery"
    found = graph(
        emulator, "/users", token, headers=EVENTUAL, **{"$search": '"displayName:jürgen"', "$count": "true"}
    ).json()
    assert found["@odata.count"] == len(found["value"]) >= 1
    assert all("Jürgen" in u["displayName"] for u in found["value"])


def test_filters_by_default_and_advanced_ones_need_count_and_header(emulator, token):
    some = graph(emulator, "/users", token, **{"$filter": "startswith(displayName,'Sio')"}).json()
    assert [u["displayName"] for u in some["value"]] == ["Siobhán O'Brien"]
    user_id = some["value"][0]["id"]
    by_id = graph(emulator, "/users", token, **{"$filter": f"id eq '{user_id}'"}).json()
    assert len(by_id["value"]) == 1
    guests = graph(
        emulator, "/users", token, **{"$filter": "userType eq 'Guest'", "$select": "userType"}
    ).json()["value"]
    assert guests and all(u["userType"] == "Guest" for u in guests)
    advanced = graph(emulator, "/users", token, **{"$filter": "userType ne 'Guest'"})
    assert advanced.status_code == 400 and "ConsistencyLevel" in advanced.json()["error"]["message"]
    ok = graph(
        emulator, "/users", token, headers=EVENTUAL, **{"$filter": "userType ne 'Guest'", "$count": "true"}
    )
    assert ok.status_code == 200
    assert graph(emulator, "/users/$count", token).status_code == 400
    count = graph(emulator, "/users/$count", token, headers=EVENTUAL)
    assert count.text == "300" and count.headers["Content-Type"].startswith("text/plain")


def test_groups_of_every_kind(emulator, token):
    groups = graph(
        emulator,
        "/groups",
        token,
        **{
            "$select": "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,"
            "resourceProvisioningOptions"
        },
    ).json()["value"]
    by_name = {g["displayName"]: g for g in groups}
    assert 14 <= len(groups) <= 20
    assert by_name["All Company"]["resourceProvisioningOptions"] == ["Team"]
    assert by_name["Project Phoenix"]["groupTypes"] == ["Unified"]
    assert by_name["Project Phoenix"]["resourceProvisioningOptions"] == []
    assert (by_name["Leadership"]["mailEnabled"], by_name["Leadership"]["securityEnabled"]) == (True, True)
    assert (
        by_name["Newsletter Recipients"]["mailEnabled"],
        by_name["Newsletter Recipients"]["securityEnabled"],
    ) == (True, False)
    assert by_name["Dept - IT"]["mail"] is None
    assert "DynamicMembership" in by_name["Berlin Office"]["groupTypes"]
    teams = graph(
        emulator, "/groups", token, **{"$filter": "resourceProvisioningOptions/Any(x:x eq 'Team')"}
    ).json()["value"]
    assert {g["displayName"] for g in teams} == {"All Company", "Sales Team"}


def _group(emulator, token, name):
    groups = graph(emulator, "/groups", token, **{"$filter": f"displayName eq '{name}'"}).json()
    return groups["value"][0]["id"]


def test_members_carry_odata_type_including_devices_contacts_and_nested_groups(emulator, token):
    rooms = graph(emulator, f"/groups/{_group(emulator, token, 'Meeting Rooms')}/members", token).json()
    assert {m["@odata.type"] for m in rooms["value"]} == {"#microsoft.graph.device", "#microsoft.graph.user"}
    assert rooms["@odata.context"].endswith("$metadata#directoryObjects")
    newsletter = graph(
        emulator,
        f"/groups/{_group(emulator, token, 'Newsletter Recipients')}/members",
        token,
        **{"$top": "999"},
    ).json()["value"]
    assert "#microsoft.graph.orgContact" in {m["@odata.type"] for m in newsletter}
    # Without OrgContact.Read.All / Device.Read.All those members come with id and type only.
    contact = next(m for m in newsletter if m["@odata.type"] == "#microsoft.graph.orgContact")
    assert set(contact) == {"@odata.type", "id"}
    nested = _group(emulator, token, "All Departments")
    direct = graph(emulator, f"/groups/{nested}/members", token).json()["value"]
    assert {m["@odata.type"] for m in direct} == {"#microsoft.graph.group"}
    transitive = graph(emulator, f"/groups/{nested}/transitiveMembers", token, **{"$top": "999"}).json()[
        "value"
    ]
    assert len([m for m in transitive if m["@odata.type"] == "#microsoft.graph.user"]) > 200
    cast = graph(
        emulator,
        f"/groups/{nested}/transitiveMembers/microsoft.graph.user",
        token,
        headers=EVENTUAL,
        **{"$count": "true", "$top": "999"},
    ).json()
    assert cast["@odata.context"].endswith("$metadata#users")
    assert (
        graph(emulator, f"/groups/{nested}/transitiveMembers/microsoft.graph.user", token).status_code == 400
    )


def test_members_are_limited_info_without_user_read_all(emulator):
    emulator.grant_consent(scopes=["GroupMember.Read.All"])
    token = emulator.app_token()
    members = graph(emulator, f"/groups/{_group(emulator, token, 'Leadership')}/members", token).json()
    assert all(set(m) == {"@odata.type", "id"} for m in members["value"])


def test_large_group_members_page_at_100(emulator, token):
    everyone = _group(emulator, token, "All Company")
    first = graph(emulator, f"/groups/{everyone}/members", token).json()
    assert len(first["value"]) == 100 and "$skiptoken=" in first["@odata.nextLink"]
    assert emulator.log()[-1]["resource_units"] == 3


def test_soft_deleted_user_moves_to_deleted_items_then_purged_after_30_days(emulator, token):
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    emulator.control("DELETE", f"users/{adele['id']}")
    assert graph(emulator, f"/users/{adele['id']}", token).status_code == 404
    deleted = graph(emulator, "/directory/deletedItems/microsoft.graph.user", token).json()["value"]
    assert [u["id"] for u in deleted] == [adele["id"]] and deleted[0]["deletedDateTime"].endswith("Z")
    assert graph(emulator, "/directory/deletedItems", token).status_code == 400
    emulator.advance_clock(days=31)
    token = emulator.app_token()  # the clock moved past the old token's lifetime
    assert graph(emulator, "/directory/deletedItems/microsoft.graph.user", token).json()["value"] == []
    assert graph(emulator, f"/users/{adele['id']}", token).status_code == 404


def test_batch_answers_each_request_and_refuses_more_than_20(emulator, token):
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    body = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"/users/{adele['id']}?$select=displayName"},
            {"id": "2", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
            {"id": "3", "method": "GET", "url": "/users/$count", "headers": EVENTUAL},
            {"id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["2"]},
        ]
    }
    headers = {"Authorization": f"Bearer {token}"}
    responses = requests.post(f"{emulator.graph_url}/$batch", json=body, headers=headers).json()["responses"]
    by_id = {r["id"]: r for r in responses}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["displayName"] == "Adele Vance"
    assert by_id["2"]["status"] == 404
    assert by_id["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert by_id["3"]["body"] == "300"
    assert by_id["4"]["status"] == 424
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}
    assert requests.post(f"{emulator.graph_url}/$batch", json=too_many, headers=headers).status_code == 400
    duplicate = {
        "requests": [
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "A", "method": "GET", "url": "/groups"},
        ]
    }
    assert requests.post(f"{emulator.graph_url}/$batch", json=duplicate, headers=headers).status_code == 400


def test_batch_sub_requests_are_throttled_individually(emulator, token):
    emulator.add_fault("/v1.0/groups", status=429, retry_after=3)
    body = {
        "requests": [
            {"id": "1", "method": "GET", "url": "/users?$top=1"},
            {"id": "2", "method": "GET", "url": "/groups?$top=1"},
        ]
    }
    responses = requests.post(
        f"{emulator.graph_url}/$batch", json=body, headers={"Authorization": f"Bearer {token}"}
    ).json()["responses"]
    by_id = {r["id"]: r for r in responses}
    assert by_id["1"]["status"] == 200
    assert by_id["2"]["status"] == 429 and by_id["2"]["headers"]["Retry-After"] == "3"
