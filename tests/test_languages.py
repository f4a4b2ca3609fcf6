"""Each admin's language, and each recipient's: pages in the account's language (from the browser at
the first sign-in, changed in the account menu), emails in the customer's email language."""

from types import SimpleNamespace

import pytest

from portal import mail
from portal.extensions import db
from portal.models import AdminUser, M365Connection, OutboxMail, utcnow
from tests.catalogue import GERMAN, ensure_compiled
from tests.conftest import PASSWORD
from tests.factories import reload


def test_the_first_sign_in_takes_the_browsers_language_and_the_menu_switches_it(app, client, world):
    ensure_compiled()
    form = {"email": "alice@acme.example", "password": PASSWORD}
    assert client.post("/login", data=form, headers=GERMAN).status_code == 302
    assert reload(AdminUser, world.alice.id).language == "de"
    page = client.get("/").get_data(as_text=True)  # no Accept-Language now: the account decides
    assert (
        '<html lang="de">' in page
        and "Abmelden" in page
        and 'value="en" lang="en" class="link">English</button>' in page
    )
    client.post("/account/language", data={"language": "en", "next": "/contacts/"})
    assert reload(AdminUser, world.alice.id).language == "en"
    page = client.get("/", headers=GERMAN).get_data(as_text=True)  # a German browser: still English
    assert (
        '<html lang="en">' in page
        and "Sign out" in page
        and 'value="de" lang="de" class="link">Deutsch</button>' in page
    )


def test_an_unknown_language_is_refused_and_changes_nothing(app, alice_client, world):
    assert alice_client.post("/account/language", data={"language": "xx"}).status_code == 400
    assert reload(AdminUser, world.alice.id).language is None


def _contexts(world):
    """A context each email template can render with."""
    removed = [SimpleNamespace(name="Anna Schmidt", email="anna@acme.example", when=utcnow(), why="deleted")]
    connection = M365Connection(customer_id=world.acme.id, tenant_id="t", connection_type="delegated")
    base = {"customer": world.acme, "admin": world.alice, "page_url": "https://portal.example/m365/"}
    return {
        "removal_report": {**base, "removed": removed, "history_url": "https://portal.example/sync/history"},
        "removal_report by Entra": {
            **base,
            "removed": removed,
            "history_url": "https://portal.example/sync/history",
            "by_entra": True,
        },
        "deletions_held": {
            **base,
            "held": removed,
            "synced": 40,
            "held_url": "https://portal.example/sync/held",
        },
        "reauth_required": {**base, "connection": connection},
        "test": {**base},
    }


@pytest.mark.parametrize(
    "name", ["removal_report", "removal_report by Entra", "deletions_held", "reauth_required", "test"]
)
def test_every_email_is_written_in_the_customers_email_language(app, world, name):
    ensure_compiled()
    ctx = _contexts(world)[name]
    name = name.split()[0]  # the template; the context says whose removals
    english, german = mail.render(name, ctx, "en"), mail.render(name, ctx, "de")
    assert english[0] != german[0] and english[1] != german[1]  # subject and text both translated
    world.acme.email_language, world.acme.notification_recipients = "de", "it@acme.example"
    db.session.commit()
    with app.test_request_context(headers={"Accept-Language": "en"}):  # whoever's browser sends it
        assert mail.notify_customer(name, world.acme, ctx).queued
    assert db.session.scalars(db.select(OutboxMail.subject).order_by(OutboxMail.id)).all()[-1] == german[0]
