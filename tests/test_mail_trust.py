"""Mail that one customer's data cannot break for anyone else, run notes that tell the truth, and
links that always point at PORTAL_BASE_URL. Delivered to a real SMTP server (aiosmtpd)."""

import re

import pytest
from sqlalchemy import select, update

from portal import config, links, mail
from portal.extensions import db
from portal.models import Customer, M365Connection, OutboxMail
from portal.models.vocabulary import SkipReason
from portal.runner import Runner
from portal.sync import held
from portal.sync.connection import send_pending_reauth_notices
from tests.factories import hold_removal
from tests.sync_helpers import book, import_users, sync, users

BASE = "https://portal.example"
# Passes the address syntax, but no mail can be built for it: a domain label over 63 characters
# fails the IDNA encoding of delivery. Only legacy data holds such a recipient (the form refuses it).
UNSENDABLE = "it@" + "ä" * 70 + ".example"


def set_raw(customer_id, **values):
    """Write a customer's columns directly, as data stored before today's input rules would be."""
    db.session.execute(update(Customer).where(Customer.id == customer_id).values(**values))
    db.session.commit()


def needs_reauth(customer_id, tenant):
    """A connection of the customer in "Re-authentication required", not yet notified."""
    db.session.add(
        M365Connection(
            customer_id=customer_id,
            tenant_id=tenant,
            tenant_domain=f"{tenant}.example",
            status="reauth_required",
            status_reason="The sign-in was revoked.",
        )
    )
    db.session.commit()


def received_by(inbox):
    """{recipient: parsed message} of what the SMTP server received."""
    return {to: message for rcpt_tos, message in inbox.messages for to in rcpt_tos}


def body(message):
    return message.get_body(preferencelist=("plain",)).get_content()


# --- a line break in a stored company name -------------------------------------------------------


def test_line_break_in_a_stored_company_name_gives_a_one_line_subject_and_blocks_nobody(
    mail_app, world, smtp_server
):
    mail_app.config["PORTAL_BASE_URL"] = BASE
    set_raw(world.acme.id, name="Acme\r\nGmbH", notification_recipients="it@acme.example")
    set_raw(world.globex.id, notification_recipients="it@globex.example")
    needs_reauth(world.acme.id, "acme-tenant")
    needs_reauth(world.globex.id, "globex-tenant")
    Runner(mail_app).run_all_periodic()  # one pass: notices are queued, then delivered
    inbox = received_by(smtp_server.inbox)
    assert sorted(inbox) == ["it@acme.example", "it@globex.example"]
    subject = inbox["it@acme.example"]["Subject"].strip()  # Flask-Mail folds long subjects
    assert subject == "Re-authentication required: M365 synchronization of Acme GmbH is paused"
    assert f"{BASE}/m365/" in body(inbox["it@acme.example"])
    assert "the M365 interface of Acme" in body(inbox["it@acme.example"])
    assert (
        db.session.scalar(
            select(M365Connection.reauth_notified_at).where(M365Connection.customer_id == world.acme.id)
        )
        is not None
    )


def test_a_long_company_name_still_fits_the_subject(world):
    set_raw(world.acme.id, name="A" * 200, notification_recipients="it@acme.example")
    message = mail.send_email(
        "reauth_required",
        ["it@acme.example"],
        {
            "customer": db.session.get(Customer, world.acme.id),
            "connection": M365Connection(tenant_id="t"),
            "reason": "r",
            "page_url": "",
        },
    )
    db.session.commit()
    assert len(message.subject) <= 255 and message.subject.endswith("…")


# --- one message that cannot be built ---------------------------------------------------------------


def test_reauth_notice_that_cannot_be_built_waits_alone_and_the_others_are_sent(mail_app, world, smtp_server):
    set_raw(world.acme.id, notification_recipients=UNSENDABLE)
    set_raw(world.globex.id, notification_recipients="it@globex.example")
    needs_reauth(world.acme.id, "acme-tenant")
    needs_reauth(world.globex.id, "globex-tenant")
    Runner(mail_app).run_all_periodic()
    assert list(received_by(smtp_server.inbox)) == ["it@globex.example"]
    notified = dict(
        db.session.execute(select(M365Connection.customer_id, M365Connection.reauth_notified_at)).all()
    )
    assert notified[world.acme.id] is None  # not lost: the next sweep tries again
    assert notified[world.globex.id] is not None
    assert send_pending_reauth_notices() == 0


def test_outbox_row_that_cannot_become_a_message_fails_alone_and_the_others_are_delivered(
    mail_app, world, smtp_server
):
    # Rows queued before addresses were checked for deliverability.
    rows = [
        OutboxMail(
            customer_id=customer_id,
            kind="test",
            recipients=[to],
            subject="Hello",
            body_text="Hi",
            body_html="",
            status="pending",
            attempts=0,
            last_error="",
        )
        for customer_id, to in ((world.acme.id, UNSENDABLE), (world.globex.id, "it@globex.example"))
    ]
    db.session.add_all(rows)
    db.session.commit()
    broken, good = rows[0].id, rows[1].id
    assert mail.deliver_outbox() == {"sent": 1, "retry": 0, "failed": 1, "no_server": 0}
    db.session.expire_all()
    assert db.session.get(OutboxMail, broken).status == "failed"
    assert "invalid email address" in db.session.get(OutboxMail, broken).last_error
    assert db.session.get(OutboxMail, good).status == "sent"
    assert list(received_by(smtp_server.inbox)) == ["it@globex.example"]


def test_removal_report_that_cannot_be_built_is_named_in_the_run_notes_and_others_get_theirs(
    mail_app, world, smtp_server, alice_client
):
    set_raw(world.acme.id, notification_recipients=UNSENDABLE)
    set_raw(world.globex.id, notification_recipients="it@globex.example, boss@globex.example")
    hold_removal(world.acme.id, "gone@acme.example")
    hold_removal(world.globex.id, "gone@globex.example")
    acme_run = held.allow_deletions(db.session.get(Customer, world.acme.id), world.alice)
    globex_run = held.allow_deletions(db.session.get(Customer, world.globex.id), world.bob)
    assert acme_run.status == "succeeded"  # the removals themselves are done
    assert "The removal report could not be built and was not sent: " in acme_run.message
    assert "invalid email address" in acme_run.message
    assert "The removal report was queued for 2 recipients." in globex_run.message
    Runner(mail_app).run_all_periodic()
    inbox = received_by(smtp_server.inbox)
    assert sorted(inbox) == ["boss@globex.example", "it@globex.example"]
    assert "gone@globex.example" in body(inbox["it@globex.example"])
    page = alice_client.get(f"/sync/history/{acme_run.id}").get_data(as_text=True)
    assert "The removal report could not be built and was not sent" in page


def test_run_notes_say_when_nobody_is_there_to_tell(world):
    hold_removal(world.acme.id, "gone@acme.example")
    run = held.allow_deletions(db.session.get(Customer, world.acme.id), world.alice)
    assert "No notification recipients in the master data: the removal report was not sent." in run.message


def test_sync_run_with_an_unbuildable_removal_report_succeeds_and_says_so(app, emulator, connected_acme):
    from tests.sync_helpers import import_users, sync, users

    everyone = users(emulator)
    import_users(app, connected_acme, [everyone["adele.vance"]["id"], everyone["isaiah.langer"]["id"]])
    sync(app, connected_acme)
    set_raw(connected_acme.id, notification_recipients=UNSENDABLE)
    emulator.control("DELETE", f"users/{everyone['isaiah.langer']['id']}")
    run = sync(app, connected_acme)
    assert run.status == "succeeded" and run.counts.get("removals") == 1
    assert "The removal report could not be built and was not sent: " in run.message


# --- links come from PORTAL_BASE_URL ----------------------------------------------------------------


def test_links_in_mail_queued_during_a_request_ignore_the_host_header(app, world, alice_client):
    # Even where the host check lets a forged Host through (no TRUSTED_HOSTS, no SERVER_NAME).
    app.config.update(PORTAL_BASE_URL=f"{BASE}/", SERVER_NAME=None, TRUSTED_HOSTS=None)
    set_raw(world.acme.id, notification_recipients="it@acme.example")
    hold_removal(world.acme.id, "gone@acme.example")
    token = alice_client.csrf_token()
    # The browser's session cookie, sent to the forged host as a browser at that address would.
    alice_client.set_cookie("session", alice_client.get_cookie("session").value, domain="evil.example")
    response = alice_client.post("/sync/held/allow", headers={"Host": "evil.example", "X-CSRFToken": token})
    assert response.status_code == 302
    report = db.session.scalar(select(OutboxMail).where(OutboxMail.kind == "removal_report"))
    links = re.findall(r"https?://[^\s\"<>]+", report.body_text + report.body_html)
    assert links and set(links) == {f"{BASE}/sync/history"}


def test_links_fall_back_to_the_development_address_without_portal_base_url(app):
    app.config["PORTAL_BASE_URL"] = ""
    assert links.portal_url("sync.held") == "http://127.0.0.1:5000/sync/held"
    app.config["PORTAL_BASE_URL"] = "https://example.org/portal"
    assert links.portal_url("m365.index") == "https://example.org/portal/m365/"


def test_development_links_follow_the_port_make_run_serves_on(app, monkeypatch):
    """README: `PORTAL_PORT=8000 make run` — the removal report's links point at port 8000 too."""
    monkeypatch.setenv("PORTAL_PORT", "8000")
    app.config["PORTAL_BASE_URL"] = ""
    app.config["DEVELOPMENT_BASE_URL"] = config.from_environment()["DEVELOPMENT_BASE_URL"]
    assert links.portal_url("sync.history") == "http://127.0.0.1:8000/sync/history"


@pytest.mark.parametrize(
    "name,shown",
    [
        ("Acme\r\nBcc: evil@example.com", "Acme Bcc: evil@example.com"),
        ("Acme\n\x00GmbH", "Acme GmbH"),
        ("  Acme \t GmbH ", "Acme GmbH"),
    ],
)
def test_rendered_subjects_are_one_line_whatever_the_stored_name(app, world, name, shown):
    message = mail.send_email(
        "reauth_required",
        ["it@acme.example"],
        {
            "customer": Customer(name=name),
            "connection": M365Connection(tenant_id="t"),
            "reason": "r",
            "page_url": "",
        },
    )
    assert message.subject == f"Re-authentication required: M365 synchronization of {shown} is paused"
    assert "\x00" not in message.body_text and "\x00" not in message.body_html


def test_oauth_redirect_uri_comes_from_portal_base_url_not_the_host_header(app):
    from portal.m365 import oauth

    app.config.update(PORTAL_BASE_URL=f"{BASE}/", M365_REDIRECT_URI="", SERVER_NAME=None, TRUSTED_HOSTS=None)
    with app.test_request_context("/m365/", headers={"Host": "evil.example"}):
        assert oauth.redirect_uri() == links.portal_url("m365.callback") == f"{BASE}/m365/callback"
    app.config["PORTAL_BASE_URL"] = ""  # development: the address the browser used
    with app.test_request_context("/m365/", base_url="http://127.0.0.1:5000"):
        assert oauth.redirect_uri() == "http://127.0.0.1:5000/m365/callback"


HEADER_INJECTION = "victim@evil.example\r\nBcc: x@evil.example"


def test_a_microsoft_mail_that_is_no_single_address_is_neither_imported_nor_synced(
    app, emulator, connected_acme
):
    """One email rule for every way in: Microsoft's `mail` goes through the form's and the CSV's."""
    people = users(emulator)
    newcomer, linked = people["adele.vance"], people["isaiah.langer"]
    assert import_users(app, connected_acme, [linked["id"]]).status == "succeeded"
    emulator.control("PATCH", f"users/{newcomer['id']}", {"mail": HEADER_INJECTION})
    emulator.control("PATCH", f"users/{linked['id']}", {"mail": HEADER_INJECTION})
    job = import_users(app, connected_acme, [newcomer["id"]])
    assert job.status == "succeeded" and job.result["created"] == 0
    run = sync(app, connected_acme)
    contacts = book(connected_acme)
    assert all("evil.example" not in key for key in contacts) and linked["mail"].lower() in contacts
    reasons = {change.detail for change in run.changes if change.kind == "skip"}
    assert SkipReason.EMAIL_INVALID in reasons
