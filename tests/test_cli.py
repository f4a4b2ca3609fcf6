"""Operator commands: create-reseller, create-customer, create-admin and seed-demo."""

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AdminUser, Contact, ContactGroup, Customer, Reseller
from portal.seed import DEMO_PASSWORD


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _count(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_create_reseller_and_customer_print_their_ids(app):
    result = _run(app, "create-reseller", "--name", "Northwind IT")
    assert result.exit_code == 0
    reseller = db.session.get(Reseller, int(result.output.strip()))
    assert reseller.name == "Northwind IT"
    result = _run(app, "create-customer", "--reseller", str(reseller.id), "--name", "Acme GmbH")
    assert result.exit_code == 0
    customer = db.session.get(Customer, int(result.output.strip()))
    assert customer.name == "Acme GmbH" and customer.reseller_id == reseller.id


def test_create_customer_rejects_an_unknown_reseller(app):
    result = _run(app, "create-customer", "--reseller", "9999", "--name", "Acme GmbH")
    assert result.exit_code == 2 and "No reseller with id 9999." in result.output
    assert _count(Customer) == 0


def test_create_admin_prints_the_id_of_a_working_account(app, world):
    result = _run(
        app,
        "create-admin",
        "--email",
        "carla@acme.example",
        "--password",
        "long-enough-1",
        "--role",
        "customer",
        "--customer",
        str(world.acme.id),
    )
    assert result.exit_code == 0
    admin = db.session.get(AdminUser, int(result.output.strip()))
    assert admin.email == "carla@acme.example" and admin.customer_id == world.acme.id
    assert admin.check_password("long-enough-1")


def test_create_admin_rejects_bad_input(app, world):
    before = _count(AdminUser)
    cases = [
        (
            ["--email", "x@acme.example", "--password", "short", "--role", "operator"],
            "at least 10 characters",
        ),
        (
            ["--email", "not-an-email", "--password", "long-enough-1", "--role", "operator"],
            "not a valid email",
        ),
        (
            ["--email", "x@acme.example", "--password", "long-enough-1", "--role", "customer"],
            "existing customer",
        ),
        (
            [
                "--email",
                "x@acme.example",
                "--password",
                "long-enough-1",
                "--role",
                "reseller",
                "--reseller",
                "9999",
            ],
            "existing reseller",
        ),
        (
            ["--email", "ALICE@acme.example", "--password", "long-enough-1", "--role", "operator"],
            "already exists",
        ),
        (["--email", "x@acme.example", "--password", "long-enough-1", "--role", "king"], "Invalid value"),
    ]
    for args, message in cases:
        result = _run(app, "create-admin", *args)
        assert result.exit_code == 2, args
        assert message in result.output, (args, result.output)
    assert _count(AdminUser) == before


def _demo_counts():
    return [_count(m) for m in (Reseller, Customer, AdminUser, Contact, ContactGroup)]


def test_seed_demo_creates_the_demo_and_a_second_run_changes_nothing(app):
    first = _run(app, "seed-demo")
    assert first.exit_code == 0, first.output
    counts = _demo_counts()
    assert counts[:3] == [1, 3, 3] and counts[3] >= 300
    for text in (
        "http://127.0.0.1:5000",
        "operator@demo.example",
        "reseller@demo.example",
        "admin@contoso-demo.example",
        DEMO_PASSWORD,
    ):
        assert text in first.output

    second = _run(app, "seed-demo")
    assert second.exit_code == 0 and "nothing changed" in second.output
    assert "admin@contoso-demo.example" in second.output
    assert _demo_counts() == counts


def test_seed_demo_data_is_ready_to_explore(app):
    _run(app, "seed-demo")
    reseller = db.session.scalar(select(Reseller).where(Reseller.name == "Demo Reseller"))
    assert reseller.ms_user_sync is True and reseller.recipient_list
    contoso = db.session.scalar(select(Customer).where(Customer.name == "Contoso Demo GmbH"))
    assert contoso.ms_user_sync_in_effect is True
    admin = db.session.scalar(select(AdminUser).where(AdminUser.email == "admin@contoso-demo.example"))
    assert admin.customer_id == contoso.id and admin.check_password(DEMO_PASSWORD)
    origins = set(db.session.scalars(select(Contact.origin).where(Contact.customer_id == contoso.id)))
    assert origins == {"manual", "csv"}
    assert _count(ContactGroup, ContactGroup.customer_id == contoso.id) >= 3


def test_seed_demo_contoso_contacts_partly_match_the_emulator_demo_tenant(app):
    from m365_emulator.demo import build_demo_tenant

    _run(app, "seed-demo")
    tenant_mail = {(u.get("mail") or "").lower() for u in build_demo_tenant()["users"]}
    contoso = db.session.scalar(select(Customer).where(Customer.name == "Contoso Demo GmbH"))
    keys = set(db.session.scalars(select(Contact.email_key).where(Contact.customer_id == contoso.id)))
    matching = keys & tenant_mail
    assert 30 <= len(matching) < len(keys)
    mixed_case = db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.customer_id == contoso.id, Contact.email != Contact.email_key)
    )
    assert mixed_case > 0
