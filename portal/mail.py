"""Email through an outbox: render and store now (send_email), deliver later (deliver_outbox, runner).

send_email("removal_report", ["it@acme.example"], {"removed": [...]}, customer=acme)
    renders templates/email/removal_report.subject.txt, .txt and .html with ctx and adds an
    OutboxMail row (the caller commits — so a report is stored in the same transaction as the
    changes it reports, or not at all).
notify_customer("removal_report", customer, ctx, run=run) -> Notice
    the same to the customer's notification recipients, for loops over customers and sync runs:
    a message that cannot be built is logged and reported in the Notice, never raised, so one
    customer's data never stops another's mail; Notice.note() is the sentence for a run's notes.
Links in an email come from portal.links.portal_url (PORTAL_BASE_URL, never the request's Host).
deliver_outbox()  the runner calls it every few seconds: sends due mails with Flask-Mail; when the
    mail server is down a mail stays pending and is retried with backoff (never lost); without a
    MAIL_SERVER (the embedded default) mails are kept as "not sent — no mail server configured"
    and shown on the Notifications page.
send_now("test", "ops@example.com", ctx)  at once, past the outbox: `flask doctor --send-test-mail`.
"""

import logging
import smtplib
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from email.headerregistry import Address

from flask import current_app, render_template
from flask_babel import force_locale
from flask_mail import BadHeaderError, Message
from sqlalchemy import select, update

from portal.extensions import db, mail
from portal.models.base import utcnow
from portal.models.outbox import MailStatus, OutboxMail
from portal.text import single_line

log = logging.getLogger(__name__)

NO_SERVER_ERROR = "not sent — no mail server configured"
CLAIM_SECONDS = 300  # a runner's hold on a mail while it sends it
MAX_BACKOFF_SECONDS = 3600
SMTP_TIMEOUT_SECONDS = 30
SUBJECT_MAX = OutboxMail.__table__.c.subject.type.length


class MailError(ValueError):
    """A message that must not be built (bad address, CR/LF in a header)."""


def clean_address(value):
    """A single mailbox address, checked; raises MailError (no CR/LF, one valid addr-spec).

    The domain must also survive the IDNA encoding delivery does (a label over 63 characters
    does not), so an address that cannot be sent is refused when the mail is queued.
    """
    value = (value or "").strip()
    if not value or "\r" in value or "\n" in value:
        raise MailError(f"invalid email address {value!r}")
    try:
        address = Address(addr_spec=value)
        address.domain.encode("idna")
    except (ValueError, IndexError) as exc:  # UnicodeError is a ValueError
        raise MailError(f"invalid email address {value!r}") from exc
    if not address.domain or not address.username:
        raise MailError(f"invalid email address {value!r}")
    return address.addr_spec


def clean_subject(value):
    """The subject on one line; CR/LF inside it is refused (header injection).

    render() collapses line breaks in what the templates produce, so a stored one here means the
    row was changed after it was queued: refused, never sent.
    """
    subject = (value or "").strip()
    if "\r" in subject or "\n" in subject:
        raise MailError("the subject must be a single line")
    return subject


def render(name, ctx, language=None):
    """(subject, text, html) rendered from templates/email/<name>.*, in `language` (the recipients'),
    else the portal's default language: never the language of whoever's browser triggered it (the
    runner has no request at all)."""
    with force_locale(language or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = render_template(f"email/{name}.subject.txt", **ctx)
        text = render_template(f"email/{name}.txt", **ctx)
        html = render_template(f"email/{name}.html", **ctx)
    # A company name stored with a line break (before names were normalised at input) must not
    # split the subject header, and a long one must still fit the column; PostgreSQL cannot store
    # NUL in the bodies.
    subject = single_line(subject)
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    return clean_subject(subject), text.replace("\x00", ""), html.replace("\x00", "")


def build(name, to, ctx=None, language=None):
    """The checked recipients and rendered parts of email `name`, as OutboxMail fields; writes nothing.

    Raises MailError for a bad address, and whatever a template raises on unexpected data.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    recipients = [clean_address(address) for address in recipients]
    if not recipients:
        raise MailError("no recipients")
    subject, text, html = render(name, dict(ctx or {}), language)
    return {"recipients": recipients, "subject": subject, "body_text": text, "body_html": html}


def _queue(fields, name, customer, kind):
    message = OutboxMail(
        customer_id=customer.id if customer is not None else None,
        kind=kind or name,
        status=MailStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
        last_error="",
        **fields,
    )
    db.session.add(message)
    db.session.flush()
    return message


def send_email(name, to, ctx=None, customer=None, kind=None):
    """Render email `name` for the recipients `to` (str or list) and queue it; the caller commits.
    Written in the customer's email language when the mail is about a customer."""
    language = customer.email_language if customer is not None else None
    return _queue(build(name, to, ctx, language), name, customer, kind)


@dataclass
class Notice:
    """What became of one customer's notification: queued, no recipients, or not buildable (why)."""

    status: str  # "queued" | "no_recipients" | "failed"
    recipients: list = field(default_factory=list)
    reason: str = ""

    @property
    def queued(self):
        return self.status == "queued"

    def note(self, what):
        """The run note about `what` (e.g. "the removal report"), saying what really happened."""
        if self.status == "no_recipients":
            return f"No notification recipients in the master data: {what} was not sent."
        sentence_start = what[:1].upper() + what[1:]
        if self.status == "failed":
            return f"{sentence_start} could not be built and was not sent: {self.reason}"
        count = len(self.recipients)
        return f"{sentence_start} was queued for {count} recipient{'s' if count != 1 else ''}."


def notify_customer(name, customer, ctx, run=None):
    """Queue email `name` to the customer's notification recipients; returns a Notice, never raises
    for the message itself (the caller commits).

    Loops over customers and sync runs call this: a message that cannot be built (an address or
    a template that chokes on the data) is logged with the customer and run and reported in the
    Notice, so the run still finishes and the next customer still gets its mail.
    """
    recipients = customer.effective_recipients
    if not recipients:
        return Notice("no_recipients")
    try:
        fields = build(name, recipients, ctx, customer.email_language)  # recipients have no account
    except Exception as exc:  # any build failure is this one message's problem, not the caller's
        log.exception(
            "email %s for customer %s (run %s) could not be built",
            name,
            customer.id,
            run.id if run is not None else "-",
        )
        return Notice("failed", reason=_describe(exc)[:500])
    _queue(fields, name, customer, None)
    return Notice("queued", recipients=fields["recipients"])


def backoff(attempts):
    """Seconds to wait before attempt number attempts+1: 30 s, 1, 2, 4 ... minutes, at most 1 h."""
    return min(MAX_BACKOFF_SECONDS, 30 * 2 ** max(0, attempts - 1))


def deliver_outbox(now=None, limit=100):
    """Send the due mails; returns {"sent": n, "retry": n, "failed": n, "no_server": n}. Commits."""
    now = now or utcnow()
    counts = {"sent": 0, "retry": 0, "failed": 0, "no_server": 0}
    if not current_app.config.get("MAIL_SERVER"):
        counts["no_server"] = _keep_without_server()
        return counts
    due = db.session.scalars(
        select(OutboxMail.id)
        .where(OutboxMail.status == MailStatus.PENDING, OutboxMail.next_attempt_at <= now)
        .order_by(OutboxMail.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    connection = None
    try:
        for mail_id in due:
            if not _claim(mail_id, now):
                continue  # another runner is sending it
            message = db.session.get(OutboxMail, mail_id, populate_existing=True)
            connection, unreachable = _deliver_one(message, connection, counts, now)
            db.session.commit()
            if unreachable:
                break  # the server is unreachable: the others wait for their next turn
    finally:
        _close(connection)
    return counts


def _deliver_one(message, connection, counts, now):
    """Build and send one claimed mail, recording the outcome on its row; (connection, unreachable).

    Whatever goes wrong with this one mail is recorded on it: the others are still delivered.
    """
    try:
        built = _build(message)
    except Exception as exc:  # its data cannot make a message: retrying will not help
        _failed(message, exc, counts)
        return connection, False
    try:
        connection = connection or open_connection()
        connection.send(built)
    except (BadHeaderError, MailError, smtplib.SMTPNotSupportedError) as exc:
        _failed(message, exc, counts)
    except smtplib.SMTPRecipientsRefused as exc:
        permanent = all(code >= 500 for code, _msg in exc.recipients.values())
        (_failed if permanent else _retry)(message, exc, counts, now=now)
    except smtplib.SMTPResponseException as exc:
        (_failed if exc.smtp_code >= 500 else _retry)(message, exc, counts, now=now)
        connection = _close(connection)
    except (OSError, smtplib.SMTPException) as exc:
        _retry(message, exc, counts, now=now)
        return _close(connection), True
    except Exception as exc:  # unexpected: this mail waits for a retry, the connection is suspect
        log.exception("mail %s: unexpected error while sending", message.id)
        _retry(message, exc, counts, now=now)
        connection = _close(connection)
    else:
        message.status, message.sent_at, message.last_error = MailStatus.SENT, utcnow(), ""
        counts["sent"] += 1
    return connection, False


def _keep_without_server():
    result = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.status == MailStatus.PENDING)
        .values(status=MailStatus.NO_SERVER, last_error=NO_SERVER_ERROR)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount


def _claim(mail_id, now):
    """Hold a due mail for this runner (conditional UPDATE: two runners never send it twice)."""
    claimed = db.session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == mail_id,
            OutboxMail.status == MailStatus.PENDING,
            OutboxMail.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS), attempts=OutboxMail.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1


def open_connection():
    """An SMTP connection through Flask-Mail, with a timeout so a silent server cannot hang us."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(SMTP_TIMEOUT_SECONDS)
    try:
        connection = mail.connect()
        connection.__enter__()
        return connection
    finally:
        socket.setdefaulttimeout(previous)


def send_now(name, to, ctx=None):
    """Build email `name` and send it at once, past the outbox (the operator's test mail); raises
    MailError for a bad address and OSError/SMTPException when the server refuses or cannot be reached."""
    built = _build(OutboxMail(**build(name, to, ctx)))
    connection = open_connection()
    try:
        connection.send(built)
    finally:
        _close(connection)


def _close(connection):
    if connection is not None:
        try:
            connection.__exit__(None, None, None)
        except Exception:  # closing a broken connection may fail; nothing to do about it
            pass
    return None


def _build(message):
    """A Flask-Mail Message from an outbox row; headers re-checked against CR/LF.

    The message is rendered to bytes once here, so a row that cannot become a message fails on
    its own instead of in the middle of an SMTP conversation.
    """
    built = Message(
        subject=clean_subject(message.subject),
        recipients=[clean_address(address) for address in message.recipients],
        body=message.body_text,
        html=message.body_html or None,
        sender=current_app.config.get("MAIL_DEFAULT_SENDER"),
    )
    built.as_bytes()
    return built


def _describe(exc):
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"mail server answered {exc.smtp_code}: {detail}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(exc.recipients)
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def _retry(message, exc, counts, now):
    message.status = MailStatus.PENDING
    message.last_error = _describe(exc)
    message.next_attempt_at = now + timedelta(seconds=backoff(message.attempts))
    counts["retry"] += 1
    log.warning(
        "mail %s not delivered (attempt %s), retrying: %s", message.id, message.attempts, message.last_error
    )


def _failed(message, exc, counts, now=None):
    message.status = MailStatus.FAILED
    message.last_error = _describe(exc)
    counts["failed"] += 1
    log.error("mail %s refused for good: %s", message.id, message.last_error)
