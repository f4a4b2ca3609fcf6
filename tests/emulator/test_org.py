"""Per-user organization attributes and the manager: $select, $expand=manager, manager@delta,
control-API and console edits, and the demo tenant's org chart."""

import pytest
import requests

from tests.emulator.flows import console_forms, graph, post_console_form, run_round

ATTRIBUTES = (
    "department,jobTitle,officeLocation,companyName,country,usageLocation,preferredLanguage,"
    "employeeId,employeeType"
)
MANAGER_OF = "manager($select=id,displayName,mail)"


@pytest.fixture
def token(emulator):
    emulator.grant_consent()
    return emulator.app_token()


@pytest.fixture
def people(emulator):
    """Demo users by UPN local part, as the control API shows them (manager = the manager's id)."""
    return {u["userPrincipalName"].split("@")[0]: u for u in emulator.control("GET", "users")}


def all_pages(emulator, token, path, **params):
    response = graph(emulator, path, token, **params)
    values = []
    while True:
        assert response.status_code == 200, response.text
        values += response.json()["value"]
        link = response.json().get("@odata.nextLink")
        if not link:
            return values
        response = graph(emulator, link, token)


def test_select_returns_the_organization_attributes_on_list_and_single_user(emulator, token):
    users = all_pages(emulator, token, "/users", **{"$select": f"id,{ATTRIBUTES}", "$top": "999"})
    assert len(users) == 300
    members = [u for u in users if u["employeeType"]]
    assert {u["companyName"] for u in members} == {"Contoso Demo"}
    assert {"Employee", "Contractor"} == {u["employeeType"] for u in members}
    assert {"DE", "GB", "US", "FR"} <= {u["usageLocation"] for u in users}
    assert any(u["country"] is None and u["usageLocation"] for u in users)
    assert {u["preferredLanguage"] for u in users if u["officeLocation"] == "London"} == {"en-GB"}
    assert len({u["employeeId"] for u in members}) == len(members)
    adele = graph(emulator, f"/users/{emulator.user_upn}", token, **{"$select": ATTRIBUTES}).json()
    assert set(ATTRIBUTES.split(",")) <= set(adele) and adele["department"] == "Sales"
    plain = graph(emulator, f"/users/{emulator.user_upn}", token).json()
    assert "usageLocation" not in plain and "employeeType" not in plain and "manager" not in plain


def test_filter_on_usage_location_and_employee_type(emulator, token):
    contractors = all_pages(emulator, token, "/users", **{"$filter": "employeeType eq 'Contractor'"})
    germans = all_pages(emulator, token, "/users", **{"$filter": "usageLocation eq 'DE'"})
    assert contractors and germans


def test_expand_manager_on_the_collection_only_where_there_is_one(emulator, token, people):
    users = all_pages(
        emulator, token, "/users", **{"$select": "id,displayName", "$expand": MANAGER_OF, "$top": "120"}
    )
    assert len(users) == 300
    adele = next(u for u in users if u["id"] == people["adele.vance"]["id"])
    boss = people["juergen.mueller"]
    assert adele["manager"] == {
        "@odata.type": "#microsoft.graph.user",
        "id": boss["id"],
        "displayName": "Jürgen Müller",
        "mail": boss["mail"],
    }
    without = [u for u in users if "manager" not in u]
    ceo = next(u for u in people.values() if u["jobTitle"] == "Chief Executive Officer")
    assert ceo["id"] in {u["id"] for u in without}
    assert 0 < len(without) < 60


def test_expand_manager_on_one_user_present_bare_and_absent(emulator, token, people):
    adele = graph(emulator, f"/users/{emulator.user_upn}", token, **{"$expand": MANAGER_OF}).json()
    assert set(adele["manager"]) == {"@odata.type", "id", "displayName", "mail"}
    bare = graph(emulator, f"/users/{emulator.user_upn}", token, **{"$expand": "manager"}).json()
    assert bare["manager"]["userPrincipalName"] == people["juergen.mueller"]["userPrincipalName"]
    emulator.control("PATCH", "users/adele.vance@contosodemo.onmicrosoft.com", {"manager": None})
    alone = graph(emulator, f"/users/{emulator.user_upn}", token, **{"$expand": MANAGER_OF})
    assert alone.status_code == 200 and "manager" not in alone.json()
    wrong = graph(emulator, "/users", token, **{"$expand": "manager($select=nosuch)"})
    assert wrong.status_code == 400


def test_delta_does_not_take_expand(emulator, token):
    response = graph(emulator, "/users/delta", token, **{"$expand": "manager"})
    assert response.status_code == 400


def manager_round(emulator, token, select="displayName,department,manager"):
    return run_round(emulator, token, f"{emulator.graph_url}/users/delta?$select={select}")


def test_initial_delta_round_carries_manager_delta(emulator, token, people):
    entries, _, _ = manager_round(emulator, token)
    adele = next(e for e in entries if e["id"] == people["adele.vance"]["id"])
    assert adele["manager@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": people["juergen.mueller"]["id"]}
    ]
    assert "manager" not in adele
    ceo = next(u for u in people.values() if u["jobTitle"] == "Chief Executive Officer")
    assert "manager@delta" not in next(e for e in entries if e["id"] == ceo["id"])
    unselected, _, _ = manager_round(emulator, token, select="displayName")
    assert not any("manager@delta" in e for e in unselected)


def test_manager_changed_and_cleared_in_an_incremental_round(emulator, token, people):
    _, delta_link, _ = manager_round(emulator, token)
    adele, nestor, isaiah = people["adele.vance"], people["nestor.wilke"], people["isaiah.langer"]
    emulator.control("PATCH", f"users/{adele['id']}", {"manager": isaiah["userPrincipalName"]})
    emulator.control("PATCH", f"users/{nestor['id']}", {"manager": None})
    entries, next_link, _ = run_round(emulator, token, delta_link, headers={"Prefer": "return=minimal"})
    by_id = {e["id"]: e for e in entries}
    assert len(entries) == 2
    assert by_id[adele["id"]] == {
        "id": adele["id"],
        "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": isaiah["id"]}],
    }
    assert by_id[nestor["id"]] == {
        "id": nestor["id"],
        "manager@delta": [
            {
                "@odata.type": "#microsoft.graph.user",
                "id": nestor["manager"],
                "@removed": {"reason": "changed"},
            }
        ],
    }
    emulator.control("PATCH", f"users/{adele['id']}", {"department": None, "officeLocation": "Paris"})
    entries, _, _ = run_round(emulator, token, next_link, headers={"Prefer": "return=minimal"})
    assert entries == [{"id": adele["id"], "department": None}]


def test_manager_changes_are_not_tracked_unless_selected(emulator, token, people):
    _, delta_link, _ = manager_round(emulator, token, select="displayName,department")
    emulator.control("PATCH", f"users/{people['adele.vance']['id']}", {"manager": None})
    entries, _, _ = run_round(emulator, token, delta_link)
    assert entries == []


def test_deleting_a_manager_clears_their_reports_manager(emulator, token, people):
    _, delta_link, _ = manager_round(emulator, token)
    boss = people["juergen.mueller"]
    reports = [u["id"] for u in people.values() if u.get("manager") == boss["id"]]
    assert reports
    emulator.control("DELETE", f"users/{boss['id']}")
    entries, _, _ = run_round(emulator, token, delta_link)
    cleared = {e["id"]: e["manager@delta"] for e in entries if "manager@delta" in e}
    assert set(cleared) == set(reports)
    assert all(refs[0]["id"] == boss["id"] and "@removed" in refs[0] for refs in cleared.values())
    assert all(emulator.control("GET", f"users/{r}")["manager"] is None for r in reports)


def test_control_api_sets_and_clears_attributes_and_manager(emulator, people):
    adele = people["adele.vance"]
    changed = emulator.control(
        "PATCH",
        f"users/{adele['id']}",
        {
            "usageLocation": "FR",
            "employeeType": "Contractor",
            "country": None,
            "manager": "admin@contosodemo.onmicrosoft.com",
        },
    )
    assert (changed["usageLocation"], changed["employeeType"], changed["country"]) == (
        "FR",
        "Contractor",
        None,
    )
    assert changed["manager"] == people["admin"]["id"]
    created = emulator.control(
        "POST", "users", {"givenName": "Neu", "surname": "Ling", "manager": adele["id"]}
    )
    assert created["manager"] == adele["id"] and created["employeeType"] is None
    with pytest.raises(requests.HTTPError):
        emulator.control("PATCH", f"users/{adele['id']}", {"manager": "nobody@nowhere"})
    cycle = emulator.control("PATCH", f"users/{adele['id']}", {"manager": created["id"]})
    assert cycle["manager"] == created["id"]  # a cycle is the client's problem, as in Entra


def test_console_edits_attributes_and_manager(emulator, token, people):
    adele = people["adele.vance"]
    forms = console_forms(emulator, "adele.vance")
    suffix = f"/users/{adele['id']}/rename"
    action = next(a for a in forms if a.endswith(suffix))
    assert forms[action]["manager"] == people["juergen.mueller"]["userPrincipalName"]
    post_console_form(
        emulator,
        forms,
        suffix,
        department="Legal",
        jobTitle="Paralegal",
        usageLocation="gb",
        preferredLanguage="en-GB",
        employeeType="Contractor",
        manager=people["isaiah.langer"]["userPrincipalName"],
    )
    fetched = graph(
        emulator, f"/users/{adele['id']}", token, **{"$select": ATTRIBUTES, "$expand": MANAGER_OF}
    ).json()
    assert (fetched["department"], fetched["jobTitle"], fetched["usageLocation"]) == (
        "Legal",
        "Paralegal",
        "GB",
    )
    assert (
        fetched["employeeType"] == "Contractor" and fetched["manager"]["id"] == people["isaiah.langer"]["id"]
    )
    bad = post_console_form(emulator, console_forms(emulator, "adele.vance"), suffix, manager="nobody")
    assert "error=" in bad.headers["Location"]
    page = requests.get(f"{emulator.base_url}{bad.headers['Location']}", timeout=10).text
    assert 'role="alert"' in page
    forms = console_forms(emulator, "adele.vance")
    post_console_form(emulator, forms, suffix, no_manager="on", employeeId="")
    after = emulator.control("GET", f"users/{adele['id']}")
    assert after["manager"] is None and after["employeeId"] is None


def test_demo_org_chart_has_a_ceo_and_a_cfo_with_direct_and_indirect_reports(people):
    by_id = {u["id"]: u for u in people.values()}
    cfo = next(u for u in people.values() if u["jobTitle"] == "Chief Financial Officer")
    ceo = by_id[cfo["manager"]]
    assert cfo["department"] == "Finance" and ceo["jobTitle"] == "Chief Executive Officer"
    direct = [u for u in people.values() if u.get("manager") == cfo["id"]]
    indirect = [u for u in people.values() if u.get("manager") in {d["id"] for d in direct}]
    assert len(direct) >= 3 and len(indirect) >= 3
    for user in people.values():  # no cycles: every chain ends
        seen = set()
        while user.get("manager"):
            assert user["id"] not in seen
            seen.add(user["id"])
            user = by_id[user["manager"]]


def test_generated_tenants_get_attributes_and_a_manager_tree(emulator):
    emulator.load_tenant("generated:500", seed=4)
    users = emulator.control("GET", "users")
    with_manager = [u for u in users if u.get("manager")]
    assert len(with_manager) > 400
    assert any(u["jobTitle"] == "Chief Financial Officer" for u in users)
    assert {u["employeeType"] for u in users} >= {"Employee", "Contractor"}
