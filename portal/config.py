"""Every setting, read from the environment, parsed and checked in one place."""

import math
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(__file__).resolve().parent


def resource_dir(name):
    """templates/, static/ or migrations/: beside portal/ in a checkout, inside the package once
    installed (the wheel maps them there, see setup.py)."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else ROOT / name


DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key"
# The placeholder of deploy/portal.env.example: an installation that copied the example unchanged.
EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string"
SECRET_KEY_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


# A key someone could guess signs a session (or OAuth state) they made up: at least as many characters
# as 32 random bytes make in base64, and an estimated entropy (_estimated_bits) that a random key of
# 32 bytes always reaches (in base64 or hex) and a phrase or a pattern does not.
SECRET_KEY_MIN_LENGTH = 43
SECRET_KEY_MIN_BITS = 160


def secret_key_problem(value):
    """Why `value` must not sign production sessions (a phrase), or None when it may."""
    if not value:
        return "is not set"
    if value == DEVELOPMENT_SECRET_KEY:
        return "is the development default"
    if value == EXAMPLE_SECRET_KEY:
        return "is the placeholder of deploy/portal.env.example"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"is too short ({len(value)} characters; at least {SECRET_KEY_MIN_LENGTH} random ones)"
    if _estimated_bits(value) < SECRET_KEY_MIN_BITS:
        return "is not random enough (too few different characters, or a repeated pattern)"
    return None


def _estimated_bits(value):
    """An upper estimate of a string's entropy: its length times the entropy of its characters'
    frequencies (a repeated pattern or a small alphabet scores low; random base64 about 5.5 bits
    a character)."""
    counts = [value.count(char) for char in set(value)]
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts)
    repeated = len(value) - len({value[i : i + 4] for i in range(len(value) - 3)}) - 3
    return per_char * (len(value) - max(0, repeated))


def _secret_key(env):
    """SECRET_KEY; production refuses to start without a key of its own."""
    secret = os.environ.get("SECRET_KEY", "")
    problem = secret_key_problem(secret)
    if problem and env == "production":
        raise ConfigError(
            f"SECRET_KEY {problem}; PORTAL_ENV=production needs a long random key of its own, e.g. from "
            f"{SECRET_KEY_HINT}"
        )
    return secret or DEVELOPMENT_SECRET_KEY


def instance_path():
    """The directory of the portal's own files (the SQLite database, the generated token key).

    PORTAL_INSTANCE_PATH when set (an installation: /opt/awareness-portal/instance); else instance/
    of the checkout, or Flask's default for an installed package (<virtualenv>/var/portal-instance),
    never a directory that depends on where a command happens to be started."""
    configured = os.environ.get("PORTAL_INSTANCE_PATH", "").strip()
    if configured:
        return Path(configured)
    if (ROOT / "pyproject.toml").is_file():  # a checkout: the package sits next to its project file
        return ROOT / "instance"
    return Path(sys.prefix) / "var" / "portal-instance"


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name, default):
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None


def _positive_int(name, default):
    value = _int(name, default)
    if value < 1:
        raise ConfigError(f"{name} must be 1 or more, got {value}")
    return value


CONNECTION_TYPES = ("delegated", "application")


def _choice(name, choices, default):
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _daily_at(value):
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ConfigError(f"SYNC_DAILY_AT must be HH:MM (24 h), got {value!r}")
    return value


def _base_url(env):
    """PORTAL_BASE_URL: the public address behind every link in an email; required in production."""
    value = os.environ.get("PORTAL_BASE_URL", "").strip().rstrip("/")
    if not value:
        if env == "production":
            raise ConfigError(
                "PORTAL_BASE_URL must be set when PORTAL_ENV=production: the portal's public "
                "address, e.g. https://portal.example.com (email links use it)"
            )
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"PORTAL_BASE_URL must be an address like https://portal.example.com, got {value!r}"
        )
    return value


def _url_settings(base_url, https):
    """SERVER_NAME, APPLICATION_ROOT and PREFERRED_URL_SCHEME from PORTAL_BASE_URL, so that
    url_for(..., _external=True) builds the public address outside a request too (the runner).

    Flask 3.1 does not restrict requests to SERVER_NAME and the session cookie does not take its
    domain from it. Without PORTAL_BASE_URL (development) SERVER_NAME stays unset: `make run` is
    reached as 127.0.0.1 and as localhost."""
    if not base_url:
        return {"PREFERRED_URL_SCHEME": "https" if https else "http"}
    parts = urlsplit(base_url)
    return {
        "SERVER_NAME": parts.netloc.lower(),
        "APPLICATION_ROOT": parts.path or "/",
        "PREFERRED_URL_SCHEME": parts.scheme,
    }


def _trusted_hosts(env, base_url):
    """Host names the portal answers to; any other Host header gets 400. None: every host.

    Production defaults to the host of PORTAL_BASE_URL, so a forged Host header can never reach a
    page or a link. Development answers on every host (localhost, 127.0.0.1, a LAN address)."""
    hosts = [h.strip().lower() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()]
    if hosts:
        return hosts
    if env == "production":
        return [urlsplit(base_url).hostname]
    return None


def _lock_lease():
    """(lease, renewal interval) of the customer's lock; renewing must come well before expiry."""
    lease = _positive_int("SYNC_LOCK_LEASE_SECONDS", 60)
    renew = _positive_int("SYNC_LOCK_RENEW_SECONDS", 20)
    if renew * 2 > lease:
        raise ConfigError(
            f"SYNC_LOCK_RENEW_SECONDS ({renew}) must be at most half of SYNC_LOCK_LEASE_SECONDS ({lease})"
        )
    return lease, renew


def from_environment():
    """Return the app's settings as a dict, taken from the process environment."""
    env = os.environ.get("PORTAL_ENV", "development")
    https = _bool("PORTAL_HTTPS", env == "production")
    base_url = _base_url(env)
    lease, renew = _lock_lease()
    database_url = os.environ.get("DATABASE_URL", f"sqlite:///{instance_path()}/portal.db")
    return {
        "PORTAL_ENV": env,
        "SECRET_KEY": _secret_key(env),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "TOKEN_ENCRYPTION_KEY": os.environ.get("TOKEN_ENCRYPTION_KEY", ""),
        # Enforced on the server (admin_session.last_seen_at); the cookie's lifetime follows it.
        "SESSION_IDLE_MINUTES": _positive_int("SESSION_IDLE_MINUTES", 30),
        # However busy: a session ends this long after its sign-in (a stolen cookie is not forever).
        "SESSION_MAX_HOURS": _positive_int("SESSION_MAX_HOURS", 12),
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=_positive_int("SESSION_IDLE_MINUTES", 30)),
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_SECURE": https,
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Sign-in throttle: failed sign-ins counted in the database within a sliding window, per
        # account (the email typed) and per client address (needs TRUSTED_PROXIES behind a proxy).
        "SIGN_IN_WINDOW_MINUTES": _positive_int("SIGN_IN_WINDOW_MINUTES", 15),
        "SIGN_IN_MAX_FAILURES_PER_ACCOUNT": _positive_int("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", 5),
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": _positive_int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", 20),
        "M365_CLIENT_ID": os.environ.get("M365_CLIENT_ID", ""),
        "M365_CLIENT_SECRET": os.environ.get("M365_CLIENT_SECRET", ""),
        # A PEM file with a private key and its certificate (flask m365-certificate makes one); when
        # set, the portal authenticates to Microsoft with it (private_key_jwt) instead of the secret.
        "M365_CLIENT_CERTIFICATE": os.environ.get("M365_CLIENT_CERTIFICATE", ""),
        # The connection type "Release M365 Interface" offers first: application permissions (admin
        # consent, no one's sign-in to lose) or delegated (the administrator's refresh token).
        "M365_DEFAULT_CONNECTION": _choice("M365_DEFAULT_CONNECTION", CONNECTION_TYPES, "delegated"),
        # Seconds the admin-consent check waits for Microsoft to propagate a fresh consent.
        "M365_CONSENT_PROPAGATION_WAIT": _int("M365_CONSENT_PROPAGATION_WAIT", 10),
        "M365_AUTHORITY": os.environ.get("M365_AUTHORITY", "https://login.microsoftonline.com").rstrip("/"),
        "M365_TENANT": os.environ.get("M365_TENANT", "organizations"),
        "M365_GRAPH_URL": os.environ.get("M365_GRAPH_URL", "https://graph.microsoft.com/v1.0").rstrip("/"),
        "M365_REDIRECT_URI": os.environ.get("M365_REDIRECT_URI", ""),
        # Graph client: per-request timeout, total time spent waiting on retries, attempts, backoff base.
        "M365_GRAPH_TIMEOUT": _int("M365_GRAPH_TIMEOUT", 20),
        "M365_GRAPH_MAX_WAIT": _int("M365_GRAPH_MAX_WAIT", 120),
        "M365_GRAPH_MAX_ATTEMPTS": _int("M365_GRAPH_MAX_ATTEMPTS", 6),
        "M365_GRAPH_BACKOFF": _int("M365_GRAPH_BACKOFF", 1),
        # $top on Graph lists (999 is Graph's maximum; tests lower it to exercise paging).
        "M365_GRAPH_PAGE_SIZE": _positive_int("M365_GRAPH_PAGE_SIZE", 999),
        # Seconds an import waits for a running sync of the same customer before giving up.
        "SYNC_LOCK_WAIT": _int("SYNC_LOCK_WAIT", 300),
        # An import of users picked in Manual mode reads them from the loaded directory when it
        # was loaded within this many minutes, instead of listing the tenant again.
        "DIRECTORY_FRESH_MINUTES": _positive_int("DIRECTORY_FRESH_MINUTES", 60),
        # Seconds a change made from the web (held removals, "Link active" off, CSV import) waits for
        # the customer's lock before it tells the admin to try again.
        "SYNC_LOCK_WEB_WAIT": _int("SYNC_LOCK_WEB_WAIT", 5),
        # The customer's lock is a lease: its holder renews it every SYNC_LOCK_RENEW_SECONDS; a holder
        # that died stops renewing and its lock is taken over SYNC_LOCK_LEASE_SECONDS later.
        "SYNC_LOCK_LEASE_SECONDS": lease,
        "SYNC_LOCK_RENEW_SECONDS": renew,
        # A job whose runner died is claimed again until it has had JOB_MAX_ATTEMPTS; then it fails.
        "JOB_MAX_ATTEMPTS": _positive_int("JOB_MAX_ATTEMPTS", 3),
        # Jobs one runner process runs at once, each in its own thread, app context and database
        # session (different customers: the customer's lock keeps one writer per book). SQLite lets
        # one writer in at a time, so it runs one; PostgreSQL four.
        "RUNNER_CONCURRENCY": _positive_int("RUNNER_CONCURRENCY", 1 if "sqlite" in database_url else 4),
        # The runner writes a heartbeat every RUNNER_BEAT_SECONDS; pages and /readyz call it stopped
        # when none is younger than RUNNER_STALE_SECONDS, and tell how to start it.
        "RUNNER_BEAT_SECONDS": _positive_int("RUNNER_BEAT_SECONDS", 15),
        "RUNNER_STALE_SECONDS": _positive_int("RUNNER_STALE_SECONDS", 120),
        "RUNNER_START_HINT": os.environ.get(
            "RUNNER_START_HINT",
            "systemctl start awareness-portal-runner (or: flask --app portal runner)",
        ),
        "TOKEN_KEY_FILE": os.environ.get("TOKEN_KEY_FILE", ""),
        # Public address of the portal, for links in emails (links.portal_url) and the OAuth redirect.
        "PORTAL_BASE_URL": base_url,
        # Without it (development), email links point at the port `make run` serves on (PORTAL_PORT).
        "DEVELOPMENT_BASE_URL": f"http://127.0.0.1:{_positive_int('PORTAL_PORT', 5000)}",
        **_url_settings(base_url, https),
        "TRUSTED_HOSTS": _trusted_hosts(env, base_url),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS"),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "Awareness Portal <noreply@localhost>"),
        "SYNC_DAILY_AT": _daily_at(os.environ.get("SYNC_DAILY_AT", "02:00")),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_SUPPORTED_LOCALES": ["en", "de"],
        "CONTACTS_PER_PAGE": _positive_int("CONTACTS_PER_PAGE", 50),
        # Rows one CSV import may have (the preview refuses larger files).
        "CSV_IMPORT_MAX_ROWS": _positive_int("CSV_IMPORT_MAX_ROWS", 20_000),
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_MB", 10) * 1024 * 1024,
        # Entra provisioning (/scim/v2): body cap, per-token rate limit (requests/s, burst), and how
        # long a write waits for the customer's lock before answering 503 (Entra retries).
        "SCIM_MAX_BODY_BYTES": _positive_int("SCIM_MAX_BODY_BYTES", 1024 * 1024),
        "SCIM_RATE_PER_SECOND": _positive_int("SCIM_RATE_PER_SECOND", 100),
        "SCIM_RATE_BURST": _positive_int("SCIM_RATE_BURST", 200),
        "SCIM_LOCK_WAIT_SECONDS": _positive_int("SCIM_LOCK_WAIT_SECONDS", 10),
    }
