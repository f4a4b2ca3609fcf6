"""The bearer tokens of Entra provisioning ("Secret Token" in Entra's provisioning settings).

    create(customer, label, created_by)   -> (ScimToken, secret); the secret is shown once, only its
                                             SHA-256 is stored; at most ACTIVE_LIMIT active per customer
    authenticate(secret, remote_addr)     -> the active token (id, customer_id, token_hash,
                                             directory_source), its use recorded; None otherwise
    revoke(token, actor)                  ends it at once (audited)
    active_tokens(customer), all_tokens(customer)

A token identifies its customer alone. Callers commit. Secrets are never logged: the audit log and
the page name a token by its label and `hint` (its last characters).
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select, update

from portal.extensions import db
from portal.models import AuditEntry, Customer, ScimToken, utcnow

PREFIX = "scim_"
ACTIVE_LIMIT = 2  # one in use and one to rotate to
HINT_LENGTH = 4
LAST_USED_GRANULARITY = timedelta(minutes=1)  # "last used" is written at most once a minute per token


class TokenError(Exception):
    """The token was not created; the message says why (in the admin's language at the caller)."""


def _hash(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def active_tokens(customer):
    query = select(ScimToken).where(ScimToken.customer_id == customer.id, ScimToken.revoked_at.is_(None))
    return db.session.scalars(query.order_by(ScimToken.created_at, ScimToken.id)).all()


def all_tokens(customer):
    query = select(ScimToken).where(ScimToken.customer_id == customer.id)
    return db.session.scalars(query.order_by(ScimToken.created_at.desc(), ScimToken.id.desc())).all()


def create(customer, label, created_by):
    """A new active token of `customer`: (row, secret). TokenError when ACTIVE_LIMIT are active."""
    if len(active_tokens(customer)) >= ACTIVE_LIMIT:
        raise TokenError(f"At most {ACTIVE_LIMIT} tokens can be active; revoke one first.")
    secret = PREFIX + secrets.token_urlsafe(32)
    label = (label or "").strip()[:100] or "Entra provisioning"
    token = ScimToken(
        customer_id=customer.id,
        label=label,
        token_hash=_hash(secret),
        hint=secret[-HINT_LENGTH:],
        created_by=created_by,
    )
    db.session.add(token)
    AuditEntry.record(customer, created_by, "scim_token_created", f"{label} (…{token.hint})")
    return token, secret


# Built once (every SCIM request runs them): executed on the session's connection, outside the ORM.
_TOKENS, _CUSTOMERS = ScimToken.__table__, Customer.__table__
_FIND = (
    select(
        _TOKENS.c.id,
        _TOKENS.c.customer_id,
        _TOKENS.c.token_hash,
        _TOKENS.c.last_used_at,
        _TOKENS.c.last_used_from,
        _CUSTOMERS.c.directory_source,
    )
    .join(_CUSTOMERS, _CUSTOMERS.c.id == _TOKENS.c.customer_id)
    .where(_TOKENS.c.token_hash == bindparam("digest"), _TOKENS.c.revoked_at.is_(None))
)


def authenticate(secret, remote_addr=""):
    """The active token whose secret this is, as a row (id, customer_id, token_hash and the customer's
    directory_source), else None; records when and from where it was used."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    digest = _hash(secret)
    token = db.session.connection().execute(_FIND, {"digest": digest}).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now, remote_addr = utcnow(), (remote_addr or "")[:45]
    used = {}
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        used = {"last_used_at": now, "last_used_from": remote_addr}
    elif remote_addr and token.last_used_from != remote_addr:
        used = {"last_used_from": remote_addr}
    if used:  # in a transaction of its own: the token's row is never locked while a request waits
        with db.engine.begin() as own:  # for the book (concurrent requests would queue, or deadlock)
            own.execute(_TOUCH.values(**used), {"token_id": token.id})
    return token


# Once a minute every request in flight finds the token's use out of date: one writes it, the others
# go on (SKIP LOCKED, PostgreSQL) instead of queueing for the row one commit after another.
_TOUCH = update(_TOKENS).where(
    _TOKENS.c.id.in_(
        select(_TOKENS.c.id)
        .where(_TOKENS.c.id == bindparam("token_id"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)


def revoke(token, actor):
    """End `token` now; the next request with it answers 401."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        customer = token.customer_id
        db.session.add(
            AuditEntry(
                customer_id=customer,
                actor=actor,
                action="scim_token_revoked",
                detail=f"{token.label} (…{token.hint})",
            )
        )
