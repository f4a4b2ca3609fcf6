"""Email through the outbox: rendered and stored, delivered to a real SMTP server, retried, never lost."""

import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from portal import mail
from portal.extensions import db
from portal.models import OutboxMail
from portal.models.base import utcnow
from portal.runner import Runner
from tests.factories import reload
from tests.mail_fixtures import Inbox


def _queue_test_mail(customer_id, to="it@acme.example"):
    from portal.models import Customer

    customer = db.session.get(Customer, customer_id)
    message = mail.send_email(
        "test", [to], {"admin": "alice@acme.example", "customer": customer.name}, customer=customer
    )
    db.session.commit()
    return message.id


def test_send_email_renders_the_three_templates_and_stores_the_message(world):
    message = mail.send_email(
        "test", "IT@Acme.example", {"admin": "alice", "customer": "Acme GmbH"}, customer=world.acme
    )
    db.session.commit()
    row = reload(OutboxMail, message.id)
    assert row.recipients == ["IT@Acme.example"] and row.customer_id == world.acme.id
    assert row.kind == "test" and row.status == "pending" and row.attempts == 0
    assert row.subject == "Test message from the Awareness Portal"
    assert "Acme GmbH" in row.body_text and "<p>" in row.body_html


@pytest.mark.parametrize("address", ["it@acme.example\r\nBcc: evil@example.com", "not-an-address", ""])
def test_send_email_refuses_bad_addresses(world, address):
    with pytest.raises(mail.MailError):
        mail.send_email("test", [address], {"admin": "a", "customer": "c"}, customer=world.acme)


def test_subjects_with_line_breaks_are_refused():
    with pytest.raises(mail.MailError):
        mail.clean_subject("Report\r\nBcc: evil@example.com")


def test_outbox_mail_is_delivered_to_the_smtp_server(mail_app, world, smtp_server):
    mail_id = _queue_test_mail(world.acme.id)
    assert mail.deliver_outbox()["sent"] == 1
    row = reload(OutboxMail, mail_id)
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    [(rcpt_tos, received)] = smtp_server.inbox.messages
    assert rcpt_tos == ["it@acme.example"]
    assert received["Subject"] == "Test message from the Awareness Portal"
    assert received["From"] == "Portal <portal@example.test>"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in received.walk()
        if not part.is_multipart()
    }
    assert "Acme GmbH" in parts["text/plain"] and "<p>" in parts["text/html"]
    assert mail.deliver_outbox()["sent"] == 0  # never twice


def test_mail_stays_pending_while_smtp_is_down_and_is_delivered_when_it_comes_back(
    mail_app, world, smtp_port
):
    mail_id = _queue_test_mail(world.acme.id)
    assert mail.deliver_outbox()["retry"] == 1  # nothing listens on the port
    row = reload(OutboxMail, mail_id)
    assert row.status == "pending" and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > utcnow()
    assert mail.deliver_outbox()["sent"] == 0  # backing off
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    server.start()
    try:
        assert mail.deliver_outbox(now=utcnow() + timedelta(minutes=2))["sent"] == 1
    finally:
        server.stop()
    row = reload(OutboxMail, mail_id)
    assert row.status == "sent" and row.attempts == 2 and row.last_error == ""
    assert len(inbox.messages) == 1


def test_backoff_grows_and_is_capped():
    assert [mail.backoff(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert mail.backoff(50) == mail.MAX_BACKOFF_SECONDS


def test_a_tampered_header_is_never_sent(mail_app, world, smtp_server):
    mail_id = _queue_test_mail(world.acme.id)
    db.session.get(OutboxMail, mail_id).subject = "Hi\nBcc: evil@example.com"
    db.session.commit()
    mail.deliver_outbox()
    assert reload(OutboxMail, mail_id).status == "failed"
    assert smtp_server.inbox.messages == []


def test_runner_delivers_the_outbox(mail_app, world, smtp_server):
    mail_id = _queue_test_mail(world.acme.id)
    Runner(mail_app).run_all_periodic()
    assert reload(OutboxMail, mail_id).status == "sent" and len(smtp_server.inbox.messages) == 1


def test_two_runners_delivering_at_once_send_every_mail_exactly_once(mail_app, world, smtp_server):
    mail_ids = [_queue_test_mail(world.acme.id, to=f"it{i}@acme.example") for i in range(12)]
    barrier = threading.Barrier(2)

    def runner_delivers():
        with mail_app.app_context():
            barrier.wait()
            mail.deliver_outbox()
            db.session.remove()

    runners = [threading.Thread(target=runner_delivers) for _ in range(2)]
    for thread in runners:
        thread.start()
    for thread in runners:
        thread.join(30)
    received = sorted(rcpt for rcpt_tos, _message in smtp_server.inbox.messages for rcpt in rcpt_tos)
    assert received == sorted(f"it{i}@acme.example" for i in range(12))  # none twice, none missing
    assert {reload(OutboxMail, mail_id).status for mail_id in mail_ids} == {"sent"}


def test_without_mail_server_messages_are_kept_and_shown_as_not_sent(app, world, alice_client):
    mail_id = _queue_test_mail(world.acme.id)
    assert mail.deliver_outbox()["no_server"] == 1
    assert reload(OutboxMail, mail_id).status == "no_server"
    page = alice_client.get("/notifications/").get_data(as_text=True)
    assert "Test message from the Awareness Portal" in page
    assert "Not sent — no mail server configured" in page
    assert "it@acme.example" in page


def test_notifications_page_shows_only_the_working_customers_mail(app, world, alice_client):
    ours = _queue_test_mail(world.acme.id, to="ours@acme.example")
    theirs = _queue_test_mail(world.globex.id, to="theirs@globex.example")
    page = alice_client.get("/notifications/").get_data(as_text=True)
    assert "ours@acme.example" in page and "theirs@globex.example" not in page
    detail = alice_client.get(f"/notifications/{ours}")
    assert detail.status_code == 200 and "Acme GmbH" in detail.get_data(as_text=True)
    assert alice_client.get(f"/notifications/{theirs}").status_code == 404


def test_admin_can_queue_a_test_message_to_themselves(app, world, alice_client):
    response = alice_client.post("/notifications/test")
    assert response.status_code == 302 and response.headers["Location"].endswith("/notifications/")
    db.session.expire_all()
    row = db.session.query(OutboxMail).one()
    assert row.recipients == ["alice@acme.example"] and row.customer_id == world.acme.id
