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


def test_one_allowed_domains_rule_for_contacts_and_the_sync(world):
    from portal.models.tenancy import domain_allowed
    from portal.models.vocabulary import SkipReason
    from portal.sync.people import Person

    assert domain_allowed("anyone@anywhere.example", ())
    assert domain_allowed("Ada@ACME.example", ("acme.example",))
    assert not domain_allowed("ada@other.example", ("acme.example",))
    world.acme.allowed_domains = "@ACME.example"
    assert world.acme.allows_email("Ada@Acme.Example") and not world.acme.allows_email("ada@other.example")
    person = Person(
        m365_id="u1",
        first_name="Ada",
        last_name="L",
        email="Ada@Other.example",
        display_name="Ada",
        department="",
        enabled=True,
        guest=False,
        name_missing=False,
    )
    assert person.skip_reason(tuple(world.acme.effective_domains)) == SkipReason.DOMAIN
