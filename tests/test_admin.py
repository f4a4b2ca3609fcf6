"""Administration: admin accounts and customers, each viewer within their own tenants."""

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AdminUser, Customer
from tests.conftest import PASSWORD


def _account(email):
    db.session.expire_all()
    return db.session.scalar(select(AdminUser).where(AdminUser.email == email))


def _account_count():
    return db.session.scalar(select(func.count()).select_from(AdminUser))


def test_account_list_shows_only_accounts_the_viewer_manages(rita_client, alice_client, world):
    page = rita_client.get("/admin/accounts").get_data(as_text=True)
    assert all(e in page for e in ("rita@northwind.example", "alice@acme.example", "bob@globex.example"))
    assert "charlie@partners.example" not in page and "olga@operator.example" not in page
    page = alice_client.get("/admin/accounts").get_data(as_text=True).split("<main")[1]
    assert "alice@acme.example" in page and "bob@globex.example" not in page


def test_account_search_answers_htmx_with_the_table_only(rita_client, world):
    response = rita_client.get("/admin/accounts?q=ALICE", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "alice@acme.example" in fragment and "bob@" not in fragment


def test_reseller_admin_creates_a_customer_and_an_account_for_it(rita_client, world):
    response = rita_client.post("/admin/customers/new", data={"name": "Umbrella AG"})
    assert response.headers["Location"] == "/admin/customers"
    db.session.expire_all()
    umbrella = db.session.scalar(select(Customer).where(Customer.name == "Umbrella AG"))
    assert umbrella.reseller_id == world.northwind.id
    assert "Umbrella AG" in rita_client.get("/admin/customers").get_data(as_text=True)

    response = rita_client.post(
        "/admin/accounts/new",
        data={
            "email": "ursula@umbrella.example",
            "name": "Ursula",
            "role": "customer",
            "customer": umbrella.id,
            "password": "initial-pass-1",
        },
    )
    assert response.headers["Location"] == "/admin/accounts"
    ursula = _account("ursula@umbrella.example")
    assert ursula.role == "customer" and ursula.customer_id == umbrella.id
    assert ursula.check_password("initial-pass-1")


def test_reseller_admin_creates_a_colleague_at_the_reseller(rita_client, world):
    rita_client.post(
        "/admin/accounts/new",
        data={"email": "ralf@northwind.example", "role": "reseller", "password": "initial-pass-1"},
    )
    ralf = _account("ralf@northwind.example")
    assert ralf.role == "reseller" and ralf.reseller_id == world.northwind.id


def test_customer_admin_cannot_create_a_reseller_role_account(alice_client, world):
    before = _account_count()
    page = alice_client.post(
        "/admin/accounts/new",
        data={"email": "mallory@acme.example", "role": "reseller", "password": "initial-pass-1"},
    ).get_data(as_text=True)
    assert "You may not give this role." in page
    assert _account_count() == before


def test_customer_admin_creates_a_colleague_for_the_same_customer(alice_client, world):
    alice_client.post(
        "/admin/accounts/new",
        data={
            "email": "anton@acme.example",
            "role": "customer",
            "password": "initial-pass-1",
            "customer": world.globex.id,
        },
    )  # ignored: a customer admin's colleagues work for Acme
    assert _account("anton@acme.example").customer_id == world.acme.id


def test_reseller_admin_cannot_create_an_account_for_another_resellers_customer(rita_client, world):
    before = _account_count()
    page = rita_client.post(
        "/admin/accounts/new",
        data={
            "email": "ivan@initech.example",
            "role": "customer",
            "customer": world.initech.id,
            "password": "initial-pass-1",
        },
    ).get_data(as_text=True)
    assert "Choose one of your customers." in page and _account_count() == before


def test_create_account_shows_field_errors(rita_client, world):
    page = rita_client.post(
        "/admin/accounts/new",
        data={
            "email": "ALICE@acme.example",
            "role": "customer",
            "customer": world.acme.id,
            "password": "short",
        },
    ).get_data(as_text=True)
    assert "at least 10 characters" in page
    page = rita_client.post(
        "/admin/accounts/new",
        data={
            "email": "ALICE@acme.example",
            "role": "customer",
            "customer": world.acme.id,
            "password": "initial-pass-1",
        },
    ).get_data(as_text=True)
    assert "already exists" in page
    page = rita_client.post(
        "/admin/accounts/new",
        data={"email": "nobody@acme.example", "role": "customer", "password": "initial-pass-1"},
    ).get_data(as_text=True)
    assert "Choose the customer this admin works for." in page


def test_operator_creates_a_reseller_admin_for_a_chosen_reseller(app, world):
    olga = app.test_client().sign_in_as(world.olga)
    olga.post(
        "/admin/accounts/new",
        data={
            "email": "paula@partners.example",
            "role": "reseller",
            "reseller": world.partners.id,
            "password": "initial-pass-1",
        },
    )
    assert _account("paula@partners.example").reseller_id == world.partners.id


def test_alice_cannot_see_or_disable_bobs_account(alice_client, world):
    assert alice_client.post(f"/admin/accounts/{world.bob.id}/disable").status_code == 404
    assert alice_client.get(f"/admin/accounts/{world.bob.id}/password").status_code == 404
    assert _account("bob@globex.example").is_enabled


def test_disabling_an_account_ends_its_session(app, rita_client, world):
    bob = app.test_client().sign_in_as(world.bob)
    assert bob.get("/").status_code == 200
    response = rita_client.post(f"/admin/accounts/{world.bob.id}/disable")
    assert response.headers["Location"] == "/admin/accounts"
    assert not _account("bob@globex.example").is_enabled
    response = bob.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_disable_and_enable_over_htmx_swap_the_row(rita_client, world):
    row = rita_client.post(
        f"/admin/accounts/{world.bob.id}/disable", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="account-{world.bob.id}"') and "Disabled" in row
    row = rita_client.post(f"/admin/accounts/{world.bob.id}/enable", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Active" in row and _account("bob@globex.example").is_enabled


def test_nobody_disables_themselves(rita_client, world):
    response = rita_client.post(f"/admin/accounts/{world.rita.id}/disable")
    assert "You cannot disable your own account." in rita_client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert _account("rita@northwind.example").is_enabled
    assert rita_client.get("/").status_code == 200


def test_password_reset_sets_the_new_password_and_ends_the_accounts_sessions(app, rita_client, world):
    alice = app.test_client().sign_in_as(world.alice)
    page = rita_client.post(
        f"/admin/accounts/{world.alice.id}/password", data={"password": "short", "confirm": "short"}
    ).get_data(as_text=True)
    assert "at least 10 characters" in page
    response = rita_client.post(
        f"/admin/accounts/{world.alice.id}/password",
        data={"password": "brand-new-pass", "confirm": "brand-new-pass"},
    )
    assert response.status_code == 302
    assert _account("alice@acme.example").check_password("brand-new-pass")
    assert alice.get("/").status_code == 302


def test_resetting_ones_own_password_keeps_one_signed_in(rita_client, world):
    rita_client.post(
        f"/admin/accounts/{world.rita.id}/password",
        data={"current_password": PASSWORD, "password": "brand-new-pass", "confirm": "brand-new-pass"},
    )
    assert _account("rita@northwind.example").check_password("brand-new-pass")
    assert rita_client.get("/").status_code == 200


@pytest.mark.parametrize("current", ["", "not-my-password"])
def test_changing_ones_own_password_needs_the_current_one(rita_client, world, current):
    """A session left open on a shared computer is not enough to take the account over."""
    assert 'name="current_password"' in rita_client.get(f"/admin/accounts/{world.rita.id}/password").text
    response = rita_client.post(
        f"/admin/accounts/{world.rita.id}/password",
        data={"current_password": current, "password": "brand-new-pass", "confirm": "brand-new-pass"},
    )
    assert response.status_code == 200 and "The current password is not correct." in response.text
    assert _account("rita@northwind.example").check_password(PASSWORD)
    # Another admin's password (a reset by their reseller) asks for no password of theirs.
    assert 'name="current_password"' not in rita_client.get(f"/admin/accounts/{world.alice.id}/password").text


def test_guessing_the_current_password_is_throttled_like_a_sign_in(rita_client, world):
    for _ in range(5):
        rita_client.post(
            f"/admin/accounts/{world.rita.id}/password",
            data={"current_password": "guess", "password": "brand-new-pass", "confirm": "brand-new-pass"},
        )
    response = rita_client.post(
        f"/admin/accounts/{world.rita.id}/password",
        data={"current_password": PASSWORD, "password": "brand-new-pass", "confirm": "brand-new-pass"},
    )
    assert "Too many wrong passwords. Please try again later." in response.text
    assert _account("rita@northwind.example").check_password(PASSWORD)


def test_customer_list_is_scoped_and_customer_admins_have_none(rita_client, alice_client, world):
    page = rita_client.get("/admin/customers").get_data(as_text=True).split("<main")[1]
    assert "Acme GmbH" in page and "Globex AG" in page and "Initech" not in page
    assert alice_client.get("/admin/customers").status_code == 404
    assert alice_client.post("/admin/customers/new", data={"name": "Sneaky"}).status_code == 404


def test_operator_creates_a_customer_for_a_chosen_reseller(app, world):
    olga = app.test_client().sign_in_as(world.olga)
    page = olga.post("/admin/customers/new", data={"name": "Hooli"}).get_data(as_text=True)
    assert "Choose the reseller" in page
    olga.post("/admin/customers/new", data={"name": "Hooli", "reseller": world.partners.id})
    db.session.expire_all()
    assert (
        db.session.scalar(select(Customer).where(Customer.name == "Hooli")).reseller_id == world.partners.id
    )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts",
        "/admin/accounts/new",
        "/admin/accounts/1/password",
        "/admin/customers",
        "/admin/customers/new",
    ],
)
def test_anonymous_visitor_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/new",
        "/admin/accounts/{bob}/disable",
        "/admin/accounts/{bob}/enable",
        "/admin/accounts/{bob}/password",
        "/admin/customers/new",
    ],
)
def test_post_without_csrf_token_is_refused(rita_client, world, url):
    response = rita_client.post(url.format(bob=world.bob.id), data={"name": "X"}, csrf=False)
    assert response.status_code == 400
    assert _account("bob@globex.example").is_enabled


def test_an_operator_without_resellers_is_led_to_create_one_first(app):
    """A fresh installation: "Create a customer" says a reseller comes first and links to it."""
    operator = AdminUser(email="first@operator.example", name="First", role="operator", password_hash="x")
    db.session.add(operator)
    db.session.commit()
    client = app.test_client().sign_in_as(operator)
    for page in (client.get("/admin/customers").text, client.get("/admin/customers/new").text):
        assert "there is no reseller yet" in page and 'href="/masterdata/resellers/new"' in page
    assert "Choose the reseller" not in client.get("/admin/customers/new").text
    assert 'name="name"' not in client.get("/admin/customers/new").text.split("<main")[1]


def test_with_a_reseller_the_operator_gets_the_customer_form(app, world):
    olga = app.test_client().sign_in_as(world.olga)
    page = olga.get("/admin/customers/new").text
    assert 'name="name"' in page and "there is no reseller yet" not in page
