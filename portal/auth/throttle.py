"""Sign-in throttle: failed sign-ins counted in the database, per account and per client address.

The counts are SignInFailure rows, so every gunicorn worker and every host sees the same numbers
(an in-memory limiter counts per worker). Each failure counts for two keys:

- the account: the email as typed, whether or not it exists, so the answer never reveals which
  accounts exist;
- the client address: the real one (behind nginx, TRUSTED_PROXIES makes ProxyFix take it from
  X-Forwarded-For; IPv6 counts per /64, the block one subscriber usually holds).

Someone guessing from one address locks out that address and the accounts they tried, nobody
else. Only failures count, over a sliding window; a successful sign-in clears the account's count.

The limit holds under concurrency: an attempt is counted (its rows committed) BEFORE its password is
checked, and then goes ahead only if the OTHER counted attempts are still under the limit. Of the
attempts that go ahead, the one that counted last saw every other one's rows, so no more than the
limit can ever be checked, whatever the interleaving, on SQLite and PostgreSQL alike. A refused
attempt takes its rows back (it does not extend the lock); a failed one leaves them as its failure.
"""

import ipaddress
from datetime import timedelta

from flask import current_app, request
from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import SignInFailure, utcnow


def client_address():
    """The visitor's address as the throttle counts it (an IPv6 address: its /64 network)."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:45]
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def _window():
    return timedelta(minutes=current_app.config["SIGN_IN_WINDOW_MINUTES"])


def _account_key(email):
    return f"account:{email}"


def _keys_and_limits(email):
    config = current_app.config
    return [
        (_account_key(email), config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]),
        (f"address:{client_address()}", config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]),
    ]


def locked_until(email, now=None, besides=()):
    """When sign-in opens again for this account or this address; None when it is open now.

    `besides`: rows not to count (the attempt's own)."""
    now = now or utcnow()
    until = None
    for key, limit in _keys_and_limits(email):
        recent = db.session.scalars(
            select(SignInFailure.failed_at)
            .where(SignInFailure.key == key, SignInFailure.failed_at > now - _window())
            .where(SignInFailure.id.not_in([row.id for row in besides]))
            .order_by(SignInFailure.failed_at.desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit:
            # Open again once the oldest of the `limit` newest failures leaves the window.
            opens = recent[-1] + _window()
            until = max(until, opens) if until else opens
    return until


def begin_attempt(email, now=None):
    """Count a sign-in attempt before its password is checked (commits): (rows, None) when it may
    go ahead, (None, until) when the account or the address is locked until then.

    Failures older than the window no longer count for anybody: they are purged here, so the
    table stays as small as the last few minutes of failures."""
    now = now or utcnow()
    db.session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= now - _window()))
    rows = [SignInFailure(key=key, failed_at=now) for key, _limit in _keys_and_limits(email)]
    db.session.add_all(rows)
    db.session.commit()
    until = locked_until(email, now, besides=rows)
    if until is None:
        return rows, None
    _forget(rows)
    db.session.commit()
    return None, until


def succeeded(email, rows):
    """A successful sign-in forgets the account's failures and its own attempt (the caller commits);
    the address keeps the count of its failures."""
    _forget(rows)
    db.session.execute(delete(SignInFailure).where(SignInFailure.key == _account_key(email)))


def _forget(rows):
    db.session.execute(delete(SignInFailure).where(SignInFailure.id.in_([row.id for row in rows])))
