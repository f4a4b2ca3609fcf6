"""The customer switcher and query scoping."""


def test_reseller_admin_switches_customer(rita_client, world):
    response = rita_client.post("/switch-customer", data={"customer_id": world.globex.id, "next": "/"})
    assert response.status_code == 302
    assert "Globex AG" in rita_client.get("/").get_data(as_text=True).split("<main")[0]


def test_switcher_search_lists_only_own_customers(rita_client, world):
    page = rita_client.get("/customers/search?q=", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Acme GmbH" in page and "Globex AG" in page
    assert "Initech" not in page


def test_switching_to_another_resellers_customer_answers_404(rita_client, world):
    assert rita_client.post("/switch-customer", data={"customer_id": world.initech.id}).status_code == 404


def test_customer_admin_cannot_switch_to_a_colleague_customer(alice_client, world):
    assert alice_client.post("/switch-customer", data={"customer_id": world.globex.id}).status_code == 404
