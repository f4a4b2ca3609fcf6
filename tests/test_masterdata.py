"""Reseller and customer master data: inheritance of Microsoft User Synchronization, validation, access."""

import pytest

from portal.extensions import db
from portal.models import AdminUser, Customer, Reseller
from tests.conftest import make_admin
from tests.factories import ACME_FORM, reload


def test_customer_inherits_reseller_setting_and_page_says_where_it_comes_from(alice_client, world):
    world.northwind.ms_user_sync = True
    db.session.commit()
    page = alice_client.get("/masterdata/customer").get_data(as_text=True)
    assert "Inherit from reseller (currently On)" in page
    assert 'checked id="ms_user_sync-0" name="ms_user_sync" type="radio" value="inherit"' in page
    assert "inherited from the reseller master data of Northwind IT" in page
    assert reload(Customer, world.acme.id).ms_user_sync_in_effect is True


def test_customer_own_setting_overrides_the_reseller_and_can_go_back_to_inherit(alice_client, world):
    world.northwind.ms_user_sync = True
    db.session.commit()
    alice_client.post("/masterdata/customer", data=dict(ACME_FORM, ms_user_sync="off"))
    acme = reload(Customer, world.acme.id)
    assert acme.ms_user_sync is False and acme.ms_user_sync_in_effect is False
    page = alice_client.get("/masterdata/customer").get_data(as_text=True)
    assert "set in this customer's master data" in page

    alice_client.post("/masterdata/customer", data=dict(ACME_FORM, ms_user_sync="inherit"))
    acme = reload(Customer, world.acme.id)
    assert acme.ms_user_sync is None and acme.ms_user_sync_in_effect is True


def test_customer_admin_saves_master_data_and_sees_confirmation(alice_client, world):
    data = dict(
        ACME_FORM,
        notification_recipients="it@acme.example, Boss@Acme.example",
        allowed_domains="@acme.example\nacme.de",
    )
    response = alice_client.post("/masterdata/customer", data=data)
    assert response.status_code == 302
    assert "Master data saved." in alice_client.get(response.headers["Location"]).get_data(as_text=True)
    acme = reload(Customer, world.acme.id)
    assert acme.city == "München"
    assert acme.recipient_list == ["it@acme.example", "boss@acme.example"]
    assert acme.domain_list == ["acme.example", "acme.de"]


def test_bad_recipient_email_is_named_at_the_field_and_nothing_is_saved(alice_client, world):
    data = dict(ACME_FORM, city="Hamburg", notification_recipients="ok@acme.example\nnot-an-email")
    response = alice_client.post("/masterdata/customer", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "“not-an-email” is not a valid email address" in page
    assert "ok@acme.example” is not" not in page
    acme = reload(Customer, world.acme.id)
    assert acme.city == "" and acme.notification_recipients == ""


def test_bad_allowed_domain_is_named_at_the_field(alice_client, world):
    page = alice_client.post(
        "/masterdata/customer", data=dict(ACME_FORM, allowed_domains="acme.example, not_a domain")
    ).get_data(as_text=True)
    assert "“not_a” is not a valid domain name." in page
    assert reload(Customer, world.acme.id).allowed_domains == ""


def test_customer_admin_views_but_cannot_edit_the_resellers_master_data(alice_client, world):
    page = alice_client.get(f"/masterdata/resellers/{world.northwind.id}").get_data(as_text=True)
    assert "Northwind IT" in page and 'name="street"' not in page
    response = alice_client.post(
        f"/masterdata/resellers/{world.northwind.id}", data={"name": "Hijacked", "ms_user_sync": "y"}
    )
    assert response.status_code == 404
    reseller = reload(Reseller, world.northwind.id)
    assert reseller.name == "Northwind IT" and reseller.ms_user_sync is False


def test_customer_admin_gets_404_for_another_resellers_master_data(alice_client, world):
    assert alice_client.get(f"/masterdata/resellers/{world.partners.id}").status_code == 404
    assert alice_client.get(f"/masterdata/customers/{world.globex.id}").status_code == 404


def test_reseller_admin_edits_own_reseller_and_its_customers(rita_client, world):
    assert (
        rita_client.get("/masterdata/resellers").headers["Location"]
        == f"/masterdata/resellers/{world.northwind.id}"
    )
    rita_client.post(
        f"/masterdata/resellers/{world.northwind.id}",
        data={
            "name": "Northwind IT",
            "ms_user_sync": "y",
            "notification_recipients": "noc@northwind.example",
        },
    )
    reseller = reload(Reseller, world.northwind.id)
    assert reseller.ms_user_sync is True and reseller.recipient_list == ["noc@northwind.example"]
    rita_client.post(
        f"/masterdata/customers/{world.globex.id}", data=dict(ACME_FORM, name="Globex AG", ms_user_sync="off")
    )
    globex = reload(Customer, world.globex.id)
    assert globex.city == "München" and globex.ms_user_sync is False


def test_reseller_admin_gets_404_for_another_resellers_tenants(rita_client, world):
    assert rita_client.get(f"/masterdata/resellers/{world.partners.id}").status_code == 404
    assert rita_client.post(f"/masterdata/customers/{world.initech.id}", data=ACME_FORM).status_code == 404
    assert rita_client.get("/masterdata/resellers/new").status_code == 404


def test_operator_lists_resellers_and_creates_one_with_its_first_admin(app, world):
    olga = app.test_client().sign_in_as(world.olga)
    page = olga.get("/masterdata/resellers").get_data(as_text=True)
    assert "Northwind IT" in page and "Contoso Partners" in page
    response = olga.post(
        "/masterdata/resellers/new",
        data={
            "name": "Fabrikam Services",
            "city": "Leeds",
            "ms_user_sync": "y",
            "admin_email": "fiona@fabrikam.example",
            "admin_name": "Fiona",
            "admin_password": "long-enough-1",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    reseller = db.session.scalar(db.select(Reseller).filter_by(name="Fabrikam Services"))
    admin = db.session.scalar(db.select(AdminUser).filter_by(email="fiona@fabrikam.example"))
    assert reseller.ms_user_sync is True and admin.reseller_id == reseller.id and admin.role == "reseller"


def test_new_reseller_with_a_taken_admin_email_is_not_created(app, world):
    olga = app.test_client().sign_in_as(world.olga)
    page = olga.post(
        "/masterdata/resellers/new",
        data={
            "name": "Duplicate Ltd",
            "admin_email": "rita@northwind.example",
            "admin_password": "long-enough-1",
        },
    ).get_data(as_text=True)
    assert "already exists" in page
    assert db.session.scalar(db.select(Reseller).filter_by(name="Duplicate Ltd")) is None


def test_operator_without_customers_sees_an_empty_state(app):
    olga = make_admin("olga@operator.example", "operator")
    db.session.commit()
    page = app.test_client().sign_in_as(olga).get("/masterdata/customer").get_data(as_text=True)
    assert "There is no customer yet." in page


@pytest.mark.parametrize(
    "url",
    [
        "/masterdata/customer",
        "/masterdata/customers/1",
        "/masterdata/resellers",
        "/masterdata/resellers/1",
        "/masterdata/resellers/new",
    ],
)
def test_anonymous_visitor_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    "url", ["/masterdata/customer", "/masterdata/resellers/{reseller}", "/masterdata/resellers/new"]
)
def test_post_without_csrf_token_is_refused(app, world, url):
    olga = app.test_client().sign_in_as(world.olga)
    response = olga.post(url.format(reseller=world.northwind.id), data={"name": "X"}, csrf=False)
    assert response.status_code == 400
    assert reload(Reseller, world.northwind.id).name == "Northwind IT"
