"""`flask --app wsgi doctor`: checks an installation end to end, one line per check with a fix hint.

Each check is a small function answering a Result. The statuses:
  OK    works.
  WARN  works, but needs the operator's attention (no mail server: mails stay on the Notifications
        page; a generated token key file that every host must share; no M365 app registration yet).
  FAIL  does not work, or is not safe, as it is: the command exits 1.
  SKIP  not checked: the database it reads is unreachable or not migrated (or, for the M365
        credential, none is configured: the app registration check warns about that).
Tokens, passwords and keys are never printed.
"""

import smtplib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from portal import config as config_module
from portal import links, mail
from portal.extensions import db
from portal.health import runner_health, schema_revisions
from portal.m365 import credentials, oauth, tokens
from portal.models import M365Connection
from portal.models.base import utcnow

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"


@dataclass(frozen=True)
class Result:
    """One check's outcome: a status, what was found, and (when not OK) how to fix it."""

    status: str
    text: str
    hint: str = ""

    def line(self):
        """The line the operator reads: "FAIL migrations: … — run: flask --app portal db upgrade"."""
        line = f"{self.status:<4} {self.text}"
        return f"{line} — {self.hint}" if self.hint else line


def _reason(exc):
    """A one-line reason for an exception: the driver's message for a database error, urllib3's
    reason (without the connection object's repr) for an HTTP one, else its first line."""
    exc = getattr(exc, "orig", None) or exc
    if isinstance(exc, requests.RequestException) and exc.args:
        cause = getattr(exc.args[0], "reason", None) or exc.args[0]
        return f"{type(exc).__name__}: {str(cause).split('>: ', 1)[-1]}"[:200]
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:200] if message else type(exc).__name__


def check_database():
    """The database answers a query."""
    url = db.engine.url
    where = f"{url.get_backend_name()}, {url.host or url.database}"
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return Result(
            FAIL,
            f"database unreachable ({where}): {_reason(exc)}",
            "check DATABASE_URL and that the database server runs",
        )
    return Result(OK, f"database reachable ({where})")


def check_migrations():
    """The database's Alembic revision is the code's head."""
    with db.engine.connect() as conn:
        current, heads, unknown = schema_revisions(conn)
    code_at = ", ".join(sorted(heads))
    if current == heads:
        return Result(OK, f"migrations current ({code_at})")
    database_at = ", ".join(sorted(current)) or "no revision (empty)"
    if unknown:
        return Result(
            FAIL,
            f"migrations: database at {database_at}, code at {code_at} (the database is newer)",
            "deploy the release that upgraded the database",
        )
    return Result(
        FAIL,
        f"migrations: database at {database_at}, code at {code_at}",
        "run: flask --app portal db upgrade",
    )


def check_secret_key():
    """SECRET_KEY is set and is neither the development default nor the example's placeholder."""
    problem = config_module.secret_key_problem(current_app.config.get("SECRET_KEY"))
    if problem:
        return Result(
            FAIL,
            f"SECRET_KEY {problem}",
            f"set SECRET_KEY to a long random value: {config_module.SECRET_KEY_HINT}",
        )
    return Result(OK, "SECRET_KEY set")


def check_base_url():
    """PORTAL_BASE_URL is set (every link in an email, and the M365 redirect URI, start with it)."""
    base_url = current_app.config.get("PORTAL_BASE_URL")
    if not base_url:
        return Result(
            FAIL,
            f"PORTAL_BASE_URL not set: links in emails point at {links.DEVELOPMENT_BASE_URL}",
            "set PORTAL_BASE_URL to the portal's public address, e.g. https://portal.example.com",
        )
    return Result(OK, f"PORTAL_BASE_URL {base_url}")


def check_token_key():
    """Where the key of the stored M365 tokens comes from."""
    key_file = tokens.key_file_in_use(current_app)
    if key_file is None:
        return Result(OK, "token key from TOKEN_ENCRYPTION_KEY")
    return Result(
        WARN,
        f"TOKEN_ENCRYPTION_KEY not set: tokens are encrypted with the key file {key_file}",
        tokens.KEY_FILE_ADVICE,
    )


def check_stored_tokens():
    """Every stored refresh token decrypts with the configured key (the tokens themselves stay unseen)."""
    stored = db.session.execute(
        select(M365Connection.customer_id, M365Connection.refresh_token_encrypted)
        .where(M365Connection.refresh_token_encrypted != "")
        .order_by(M365Connection.customer_id)
    ).all()
    if not stored:
        return Result(OK, "stored M365 tokens: none yet")
    failing = []
    for customer_id, ciphertext in stored:
        try:
            tokens.decrypt(ciphertext)
        except tokens.TokenDecryptError:
            failing.append(str(customer_id))
    if failing:
        return Result(
            FAIL,
            f"stored M365 tokens: {len(failing)} of {len(stored)} cannot be decrypted with this key "
            f"(customers {', '.join(failing)})",
            "set TOKEN_ENCRYPTION_KEY to the key they were encrypted with (old keys may follow the new one, "
            "comma-separated), or those customers release the M365 interface again",
        )
    return Result(OK, f"stored M365 tokens: all {len(stored)} decrypt with this key")


MAIL_HINT = "check MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME/MAIL_PASSWORD and the firewall"


def _mail_server():
    config = current_app.config
    return f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"


def check_mail_server():
    """The SMTP server accepts a connection (with STARTTLS and sign-in, as delivery does), EHLO and NOOP."""
    if not current_app.config.get("MAIL_SERVER"):
        return Result(
            WARN,
            "no MAIL_SERVER: mails are kept on the Notifications page, never sent",
            "set MAIL_SERVER (and MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME, MAIL_PASSWORD)",
        )
    try:
        connection = mail.open_connection()
        try:
            if connection.host is None:
                return Result(WARN, "mail is suppressed (MAIL_SUPPRESS_SEND)", "unset MAIL_SUPPRESS_SEND")
            connection.host.ehlo()
            connection.host.noop()
        finally:
            connection.__exit__(None, None, None)
    except (OSError, smtplib.SMTPException) as exc:
        return Result(FAIL, f"mail server {_mail_server()} unreachable: {_reason(exc)}", MAIL_HINT)
    return Result(OK, f"mail server reachable ({_mail_server()})")


def check_test_mail(address):
    """Send the test mail (templates/email/test.*) to `address` at once, past the outbox."""
    if not current_app.config.get("MAIL_SERVER"):
        return Result(FAIL, f"test mail to {address} not sent: no MAIL_SERVER", "set MAIL_SERVER")
    customer = current_app.config["PORTAL_BASE_URL"] or "-"
    context = {"admin": "the operator (flask doctor)", "customer": customer}
    try:
        mail.send_now("test", [address], context)
    except mail.MailError as exc:
        return Result(FAIL, f"test mail not sent: {exc}", "give one valid address")
    except (OSError, smtplib.SMTPException) as exc:
        return Result(FAIL, f"test mail to {address} not sent: {_reason(exc)}", MAIL_HINT)
    return Result(OK, f"test mail sent to {address} through {_mail_server()}")


def check_m365_app():
    """The Microsoft app registration's client id and a credential (secret or certificate) are set."""
    if not current_app.config.get("M365_CLIENT_ID") or not (
        current_app.config.get("M365_CLIENT_SECRET") or current_app.config.get("M365_CLIENT_CERTIFICATE")
    ):
        return Result(
            WARN,
            'M365_CLIENT_ID and M365_CLIENT_SECRET or M365_CLIENT_CERTIFICATE not set: "Release M365 '
            'Interface" is refused',
            "register the app (README, Connecting Microsoft 365) and set the client id and a credential",
        )
    return Result(OK, f"M365 app registration {current_app.config['M365_CLIENT_ID']}")


CERTIFICATE_WARN_DAYS = 30
CERTIFICATE_HINT = (
    "create a new one (flask --app portal m365-certificate --out FILE), upload its certificate to "
    "the app registration, set M365_CLIENT_CERTIFICATE to FILE and restart web and runner"
)


def check_m365_credential(now=None):
    """Which credential authenticates the portal to Microsoft; a certificate's expiry (WARN within
    CERTIFICATE_WARN_DAYS days, FAIL when expired or unreadable)."""
    try:
        credential = credentials.in_use()
    except config_module.ConfigError as exc:
        return Result(FAIL, f"M365 credential: {exc}", CERTIFICATE_HINT)
    if credential is None:
        return Result(SKIP, "M365 credential: none configured")
    if credential.kind == credentials.SECRET:
        return Result(OK, "M365 credential: client secret (M365_CLIENT_SECRET)")
    now = now or utcnow()
    facts = f"certificate {credential.thumbprint} ({credential.path})"
    expires = credential.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if credential.expired(now):
        return Result(FAIL, f"M365 credential: {facts} expired on {expires}", CERTIFICATE_HINT)
    if credential.not_after - now <= timedelta(days=CERTIFICATE_WARN_DAYS):
        days = (credential.not_after - now).days
        text = f"M365 credential: {facts} expires on {expires}, in {days} days"
        return Result(WARN, text, CERTIFICATE_HINT)
    return Result(OK, f"M365 credential: {facts}, valid until {expires}")


def _get(url):
    return requests.get(url, timeout=float(current_app.config["M365_GRAPH_TIMEOUT"]), allow_redirects=False)


def check_authority():
    """Microsoft's sign-in answers its OpenID discovery document."""
    url = oauth.metadata_url()
    hint = "check M365_AUTHORITY and M365_TENANT, and that this host may reach them (proxy, firewall)"
    try:
        response = _get(url)
        document = response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError) as exc:
        return Result(FAIL, f"Microsoft sign-in unreachable at {url}: {_reason(exc)}", hint)
    if "authorization_endpoint" not in document:
        answer = f"{url} answered {response.status_code}, no discovery document"
        return Result(FAIL, f"Microsoft sign-in: {answer}", hint)
    return Result(OK, f"Microsoft sign-in reachable ({url})")


def check_graph():
    """Microsoft Graph answers; 401 to a request without a token is the expected answer."""
    url = current_app.config["M365_GRAPH_URL"] + "/users?$top=1"
    hint = "check M365_GRAPH_URL and that this host may reach it (proxy, firewall)"
    try:
        response = _get(url)
    except requests.RequestException as exc:
        return Result(FAIL, f"Microsoft Graph unreachable at {url}: {_reason(exc)}", hint)
    if response.status_code != 401:
        return Result(FAIL, f"Microsoft Graph: {url} answered {response.status_code} instead of 401", hint)
    return Result(OK, f"Microsoft Graph reachable ({url} answered 401 without a token)")


def check_redirect_uri():
    """The redirect URI the portal sends to Microsoft (it must be registered exactly)."""
    uri = oauth.configured_redirect_uri()
    if not uri:
        return Result(
            WARN,
            "M365 redirect URI follows the browser's address (no M365_REDIRECT_URI, no PORTAL_BASE_URL)",
            "set PORTAL_BASE_URL (or M365_REDIRECT_URI) and register that callback in the app registration",
        )
    parts = urlsplit(uri)
    if parts.scheme != "https" and parts.hostname not in ("localhost", "127.0.0.1"):
        return Result(
            WARN, f"M365 redirect URI {uri} is not https", "Microsoft accepts http only for localhost"
        )
    return Result(OK, f"M365 redirect URI {uri} (register exactly this in the app registration)")


def _age(delta):
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def check_runner(now=None):
    """A runner wrote a heartbeat recently (portal.health.runner_health)."""
    now = now or utcnow()
    health = runner_health(now=now)
    hint = f"start it: {health.start_hint}"
    if health.never_seen:
        return Result(FAIL, "runner never seen on this database", hint)
    age = _age(now - health.last_seen)
    if not health.alive:
        stale = _age(timedelta(seconds=current_app.config["RUNNER_STALE_SECONDS"]))
        return Result(FAIL, f"runner last seen {age} ago (stopped or stuck after {stale})", hint)
    return Result(OK, f"runner alive (last seen {age} ago)")


# (check, needs the database reachable and migrated: skipped otherwise)
CHECKS = (
    (check_database, False),
    (check_migrations, True),
    (check_secret_key, False),
    (check_base_url, False),
    (check_token_key, False),
    (check_stored_tokens, True),
    (check_mail_server, False),
    (check_m365_app, False),
    (check_m365_credential, False),
    (check_authority, False),
    (check_graph, False),
    (check_redirect_uri, False),
    (check_runner, True),
)


def run(send_test_mail_to=None):
    """Every check in order (the test mail after the mail server), as Results."""
    results = []
    schema_ok = True
    for check, needs_schema in CHECKS:
        if needs_schema and not schema_ok:
            results.append(Result(SKIP, f"{_title(check)}: needs a reachable, migrated database"))
            continue
        results.append(_safely(check))
        if check in (check_database, check_migrations) and results[-1].status != OK:
            schema_ok = False
        if check is check_mail_server and send_test_mail_to:
            results.append(_safely(check_test_mail, send_test_mail_to))
    return results


def _title(check):
    return check.__name__.removeprefix("check_").replace("_", " ")


def _safely(check, *args):
    """A check that raises is reported as failed; the others still run."""
    try:
        return check(*args)
    except Exception as exc:  # the doctor reports what it finds, it never stops half-way
        db.session.rollback()
        return Result(FAIL, f"{_title(check)}: {_reason(exc)}", "unexpected: check the settings it reads")
