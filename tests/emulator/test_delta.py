"""Delta query emulation: rounds, changes, removals, members@delta, replays, expiry."""

import pytest

from tests.emulator.flows import graph, run_round

USER_SELECT = "displayName,givenName,surname,mail,userPrincipalName,accountEnabled"


@pytest.fixture
def token(emulator):
    emulator.grant_consent()
    return emulator.app_token()


def users_delta(emulator, token):
    return run_round(emulator, token, f"{emulator.graph_url}/users/delta?$select={USER_SELECT}")


def test_initial_round_pages_to_a_delta_link_with_replays(emulator, token):
    entries, delta_link, pages = users_delta(emulator, token)
    ids = [e["id"] for e in entries]
    assert pages == 4 and len(set(ids)) == 300
    assert len(ids) > 300  # the same object can come twice in a round
    assert "$deltatoken=" in delta_link
    again, _, _ = run_round(emulator, token, delta_link)
    assert again == []


def test_incremental_round_has_only_changes_and_removals(emulator, token):
    _, delta_link, _ = users_delta(emulator, token)
    users = {u["userPrincipalName"].split("@")[0]: u for u in emulator.control("GET", "users")}
    emulator.control("PATCH", f"users/{users['adele.vance']['id']}", {"surname": "Vance-Miller"})
    emulator.control("PATCH", f"users/{users['nestor.wilke']['id']}", {"officeLocation": "Mars"})
    emulator.control("DELETE", f"users/{users['juergen.mueller']['id']}")
    emulator.control("DELETE", f"users/{users['isaiah.langer']['id']}?hard=1")
    created = emulator.control(
        "POST",
        "users",
        {"givenName": "Neu", "surname": "Ling", "mail": "neu.ling@contosodemo.onmicrosoft.com"},
    )
    entries, next_link, _ = run_round(emulator, token, delta_link)
    by_id = {e["id"]: e for e in entries}
    assert by_id[users["adele.vance"]["id"]]["surname"] == "Vance-Miller"
    assert users["nestor.wilke"]["id"] not in by_id  # officeLocation wasn't selected
    assert by_id[users["juergen.mueller"]["id"]]["@removed"] == {"reason": "changed"}
    assert by_id[users["isaiah.langer"]["id"]]["@removed"] == {"reason": "deleted"}
    assert by_id[created["id"]]["mail"] == "neu.ling@contosodemo.onmicrosoft.com"
    assert len(entries) == 4
    emulator.control("POST", f"users/{users['juergen.mueller']['id']}/restore")
    restored, _, _ = run_round(emulator, token, next_link)
    assert restored[0]["id"] == users["juergen.mueller"]["id"] and "@removed" not in restored[0]
    assert restored[0]["displayName"] == "Jürgen Müller"


def test_prefer_return_minimal_sends_only_changed_properties(emulator, token):
    _, delta_link, _ = users_delta(emulator, token)
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    emulator.control("PATCH", f"users/{adele['id']}", {"givenName": "Ada", "mail": None})
    response = graph(emulator, delta_link, token, headers={"Prefer": "return=minimal"})
    assert response.headers["Preference-Applied"] == "return=minimal"
    assert response.json()["value"] == [{"id": adele["id"], "givenName": "Ada", "mail": None}]


def test_deltatoken_latest_returns_only_a_delta_link(emulator, token):
    body = graph(emulator, f"/users/delta?$deltatoken=latest&$select={USER_SELECT}", token).json()
    assert body["value"] == [] and "$deltatoken=" in body["@odata.deltaLink"]
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    emulator.control("PATCH", f"users/{adele['id']}", {"givenName": "Ada"})
    entries, _, _ = run_round(emulator, token, body["@odata.deltaLink"])
    assert [e["id"] for e in entries] == [adele["id"]]


def test_delta_token_older_than_7_days_is_400_sync_state_not_found(emulator, token):
    _, delta_link, _ = users_delta(emulator, token)
    emulator.advance_clock(days=8)
    response = graph(emulator, delta_link, emulator.app_token())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "syncStateNotFound"


def test_forced_resync_answers_410_with_location(emulator, token):
    _, delta_link, _ = users_delta(emulator, token)
    emulator.control("POST", "delta/gone", {"kind": "users"})
    response = graph(emulator, delta_link, token)
    assert response.status_code == 410
    location = response.headers["Location"]
    assert "/v1.0/users/delta?" in location and "$deltatoken=" in location
    entries, _, _ = run_round(emulator, token, location)
    assert len({e["id"] for e in entries}) == 300


def test_groups_delta_splits_members_of_large_groups_across_pages(emulator, token):
    url = f"{emulator.graph_url}/groups/delta?$select=displayName,members"
    entries, delta_link, pages = run_round(emulator, token, url)
    assert pages > 1
    everyone = [e for e in entries if e.get("displayName") == "All Company"]
    assert len(everyone) > 2  # one group object, several members@delta slices
    member_ids = {m["id"] for e in everyone for m in e["members@delta"]}
    assert len(member_ids) == 284
    assert all(m["@odata.type"] == "#microsoft.graph.user" for e in everyone for m in e["members@delta"])
    rooms = next(e for e in entries if e.get("displayName") == "Meeting Rooms")
    assert "#microsoft.graph.device" in {m["@odata.type"] for m in rooms["members@delta"]}
    # Membership changes afterwards: one added, one removed, one user soft-deleted.
    groups = {g["displayName"]: g for g in emulator.control("GET", "groups")}
    leadership = groups["Leadership"]
    adele = emulator.control("GET", "users/adele.vance@contosodemo.onmicrosoft.com")
    emulator.control("POST", f"groups/{leadership['id']}/members/{adele['id']}")
    emulator.control("DELETE", f"groups/{leadership['id']}/members/{leadership['members'][0]}")
    emulator.control("DELETE", f"users/{leadership['members'][1]}")
    changes, _, _ = run_round(emulator, token, delta_link)
    lead = [e for e in changes if e["id"] == leadership["id"]]
    refs = {m["id"]: m for e in lead for m in e["members@delta"]}
    assert "@removed" not in refs[adele["id"]]
    assert refs[leadership["members"][0]]["@removed"] == {"reason": "deleted"}
    assert refs[leadership["members"][1]]["@removed"] == {"reason": "deleted"}
    deleted_group = groups["Project Phoenix"]
    emulator.control("DELETE", f"groups/{deleted_group['id']}")
    emulator.control("DELETE", f"groups/{groups['Dept - Legal']['id']}")
    removed, _, _ = run_round(emulator, token, delta_link)
    by_id = {e["id"]: e for e in removed}
    assert by_id[deleted_group["id"]]["@removed"] == {"reason": "changed"}
    assert by_id[groups["Dept - Legal"]["id"]]["@removed"] == {"reason": "deleted"}
