"""A customer's M365 connection: store it after sign-in, end it, keep its health.

Shared by the web (the "Synchronize contacts" page) and the runner (the daily sync):

    save_connection(customer, admin, sign_in)   after a successful sign-in (commits); returns how
                                                many contacts of another tenant were unlinked
    end_interface(customer, admin)              "End Interface" (commits)
    connection_for_sync(customer)               the connection the runner may use, or None
    graph_client(connection)                    a GraphClient for it, with the two hooks below
    store_refresh_token(connection, plain)      the Graph client's hook for rotated tokens
    mark_reauth_required(connection, reason)    the Graph client's hook for invalid_grant/403
    notify_reauth_required(connection, reason)  the ONE email to the recipients (caller commits)
    send_pending_reauth_notices()               the runner's sweep for notices not yet sent (commits)

Why rotated refresh tokens and the re-auth status are committed in their own short transaction:
the Graph client is used inside a caller's unit of work (a sync run that may roll back when it
fails). Microsoft returns a new refresh token on every refresh; if it only rode along with the
caller's transaction, a rollback would silently throw it away and leave an older token in the
database. So the UPDATE goes through a separate database connection and is committed at once;
the caller's in-memory row is updated without being marked dirty. If that separate write cannot
get its lock (the caller itself holds a write lock on the row or, on SQLite, on the database),
waiting would deadlock us, so after a short lock timeout we fall back to writing through the
caller's session: the value is then saved with the caller's commit.
"""

import logging

from flask_babel import gettext as _
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.attributes import set_committed_value

from portal.extensions import db
from portal.i18n import N_
from portal.links import portal_url
from portal.m365 import tokens
from portal.m365.graph import GraphClient
from portal.mail import notify_customer
from portal.models import (
    AuditEntry,
    ConnectionStatus,
    ConnectionType,
    Contact,
    Customer,
    GroupSubscription,
    M365Connection,
    SyncSettings,
)
from portal.models.base import utcnow
from portal.models.sync import HeldRemoval
from portal.sync import directory

log = logging.getLogger(__name__)
LOCK_TIMEOUT_MS = 3000


class TenantTaken(Exception):
    """The tenant already feeds another customer (one tenant feeds one customer)."""


def tenant_owner(tenant_id):
    """The connection that already holds `tenant_id`, or None."""
    return db.session.scalar(select(M365Connection).where(M365Connection.tenant_id == tenant_id))


def tenant_free(customer, tenant_id):
    """False when the tenant is connected to a different customer (one tenant feeds one customer)."""
    owner = tenant_owner(tenant_id)
    return owner is None or owner.customer_id == customer.id


def save_connection(customer, admin, sign_in):
    """Store (or renew) the customer's connection after a successful sign-in (an oauth.SignIn); commits.

    A renewed sign-in (re-authentication, admin consent again, or a switch between delegated and
    application permissions) updates the same row and makes it healthy again: in the same tenant,
    contacts, links, subscriptions and delta links stay. Signing in to a different tenant than
    before discards the old tenant's delta state, group subscriptions and contact links (their ids
    mean nothing in the new tenant).
    """
    if not tenant_free(customer, sign_in.tenant_id):
        raise TenantTaken(sign_in.tenant_id)
    connection = db.session.scalar(select(M365Connection).where(M365Connection.customer_id == customer.id))
    renewed = connection is not None
    switched = renewed and connection.connection_type != sign_in.connection_type
    unlinked = _forget_other_tenant(customer, admin, sign_in.tenant_id)
    if connection is None:
        connection = M365Connection(customer_id=customer.id)
        db.session.add(connection)
    elif connection.tenant_id != sign_in.tenant_id:
        _forget_sync_state(connection)
    connection.tenant_id = sign_in.tenant_id
    connection.tenant_domain = sign_in.tenant_domain
    connection.connected_by_id = admin.id
    connection.connected_by_name = sign_in.account
    connection.connected_at = utcnow()
    connection.scopes = sign_in.scopes
    connection.connection_type = sign_in.connection_type
    connection.refresh_token_encrypted = tokens.encrypt(sign_in.refresh_token)
    connection.status = ConnectionStatus.OK
    connection.status_reason = ""
    connection.status_changed_at = utcnow() if renewed else None
    connection.reauth_notified_at = None
    action = "interface_switched" if switched else "interface_renewed" if renewed else "interface_connected"
    AuditEntry.record(
        customer,
        admin.email,
        action,
        f"{sign_in.tenant_domain} ({sign_in.tenant_id}), M365 account {sign_in.account}, "
        f"{sign_in.connection_type} permissions",
    )
    try:
        db.session.commit()
    except IntegrityError:  # another customer took the tenant at the same moment
        db.session.rollback()
        raise TenantTaken(sign_in.tenant_id) from None
    return unlinked


def _forget_other_tenant(customer, admin, tenant_id):
    """Before a customer's book follows `tenant_id`: drop what refers to another tenant's objects.

    Contacts linked to users of the tenant their links were made in stay, but unlinked: the new
    tenant lacking those users must never read as "deleted in Microsoft 365". Held removals,
    group subscriptions and the loaded directory of the old tenant go. An unknown earlier tenant
    (links made before this was recorded, after "End Interface") counts as another tenant: losing
    a link is harmless, removing a contact is not. Returns the number of contacts unlinked.
    """
    settings = SyncSettings.for_customer(customer)
    if settings.links_tenant_id == tenant_id:
        return 0
    settings.links_tenant_id = tenant_id
    db.session.execute(delete(GroupSubscription).where(GroupSubscription.customer_id == customer.id))
    db.session.execute(delete(HeldRemoval).where(HeldRemoval.customer_id == customer.id))
    directory.clear(customer)
    unlinked = db.session.execute(
        update(Contact)
        .where(Contact.customer_id == customer.id, Contact.m365_user_id.is_not(None))
        .values(m365_user_id=None, linked_automatically=False)
    ).rowcount
    if unlinked:
        AuditEntry.record(
            customer,
            admin.email,
            "contacts_unlinked",
            f"{unlinked} contacts linked to users of another tenant",
        )
    return unlinked


def _forget_sync_state(connection):
    connection.users_delta_link = connection.users_delta_select = ""
    connection.groups_delta_link = ""
    connection.delta_saved_at = None


def end_interface(customer, admin):
    """ "End Interface": remove the tokens and the sync state; contacts and groups stay. Commits.

    The connection row (refresh token, delta links) and the group subscriptions go; contacts,
    their links to M365 users and the contact groups stay, so a later connection picks them up.
    """
    connection = db.session.scalar(select(M365Connection).where(M365Connection.customer_id == customer.id))
    if connection is None:
        return False
    detail = f"{connection.tenant_domain} ({connection.tenant_id})"
    db.session.execute(delete(GroupSubscription).where(GroupSubscription.customer_id == customer.id))
    db.session.delete(connection)
    AuditEntry.record(customer, admin.email, "interface_ended", detail)
    db.session.commit()
    return True


def connection_for(customer):
    """The customer's connection row, or None."""
    return db.session.scalar(select(M365Connection).where(M365Connection.customer_id == customer.id))


# The one "not connected" message: Manual mode, the sync, the jobs and the history page all show it.
NOT_CONNECTED = N_(
    'Connect the M365 interface first ("Release M365 Interface"): it is not connected or needs a new sign-in.'
)


def connection_for_sync(customer):
    """The connection the runner may use: prerequisite on, connected and healthy; else None.

    A connection that needs re-authentication (or admin consent) is skipped until an admin acts.
    A delegated connection needs its refresh token; an application connection never has one.
    """
    if not customer.ms_user_sync_in_effect:
        return None
    connection = connection_for(customer)
    if connection is None or connection.needs_reauth:
        return None
    if not connection.is_application and not connection.refresh_token_encrypted:
        return None
    return connection


# --- written apart from the caller's transaction ---------------------------------------------


def _commit_apart(statement):
    """Run one UPDATE in its own short transaction; rowcount, or None when the row is locked."""
    try:
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
                return conn.execute(statement).rowcount
            # SQLite: the busy timeout is per connection (not per transaction): restore it.
            previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_TIMEOUT_MS}")
            try:
                return conn.execute(statement).rowcount
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")
    except OperationalError as exc:
        log.warning(
            "M365 connection update deferred to the caller's transaction: %s", exc.orig.__class__.__name__
        )
        return None


def _apply(connection, values, statement):
    """Commit `statement` apart; mirror `values` on the caller's row (dirty only on fallback)."""
    rowcount = _commit_apart(statement)
    for key, value in values.items():
        if rowcount is None:
            setattr(connection, key, value)
        else:
            set_committed_value(connection, key, value)
    return rowcount


def graph_client(connection, **kwargs):
    """A GraphClient for a stored connection: from its (decrypted) refresh token, or (application
    permissions) with client-credentials tokens for its tenant.

    Each rotated refresh token is persisted at once (store_refresh_token); ReauthRequired and
    PermissionMissing mark the connection "Re-authentication required" before they are raised.
    """
    on_auth_lost = lambda reason: mark_reauth_required(connection, reason)  # noqa: E731
    if connection.is_application:
        return GraphClient.for_application(connection.tenant_id, on_auth_lost=on_auth_lost, **kwargs)
    return GraphClient.for_refresh_token(
        tokens.decrypt(connection.refresh_token_encrypted),
        connection.tenant_id,
        on_refresh_token=lambda plain: store_refresh_token(connection, plain),
        on_auth_lost=on_auth_lost,
        **kwargs,
    )


def store_refresh_token(connection, plain_token):
    """Persist a rotated refresh token (encrypted) at once, whatever the caller does later."""
    values = {"refresh_token_encrypted": tokens.encrypt(plain_token)}
    _apply(
        connection, values, update(M365Connection).where(M365Connection.id == connection.id).values(**values)
    )


def mark_reauth_required(connection, reason):
    """Flip the connection to "Re-authentication required" with `reason`; notify once.

    The status is committed apart (it must survive the caller's rollback); the email is queued
    in the caller's session; if the caller rolls back, send_pending_reauth_notices() sends it.
    """
    if connection.needs_reauth:
        return
    now = utcnow()
    values = {
        "status": ConnectionStatus.REAUTH_REQUIRED,
        "status_reason": reason,
        "status_changed_at": now,
    }
    statement = (
        update(M365Connection)
        .where(M365Connection.id == connection.id, M365Connection.status == ConnectionStatus.OK)
        .values(**values)
    )
    _apply(connection, values, statement)
    log.warning("M365 connection of customer %s needs re-authentication: %s", connection.customer_id, reason)
    try:
        notify_reauth_required(connection, reason)
    except Exception:  # the notice must not hide the Graph error; the sweep retries it
        log.exception("could not queue the re-authentication notice")


def notify_reauth_required(connection, reason=None):
    """Queue the ONE "Re-authentication required" email to the recipients; the caller commits.

    A conditional UPDATE of reauth_notified_at claims the notice, so two processes never both
    send it and a connection that stays broken for weeks produces one email, not one per day.
    A notice that cannot be built gives the claim back (the sweep tries again, and logs why).
    Returns True when an email was queued.
    """

    customer = db.session.get(Customer, connection.customer_id)
    if customer is None or not customer.effective_recipients:
        log.warning(
            "no notification recipients for customer %s: re-auth notice not sent", connection.customer_id
        )
        return False
    if not _claim_notice(connection):
        return False
    notice = notify_customer(
        "reauth_required",
        customer,
        {
            "customer": customer,
            "connection": connection,
            "reason": reason or connection.status_reason,
            "page_url": portal_url("m365.index"),
        },
    )
    if not notice.queued:
        db.session.execute(
            update(M365Connection)
            .where(M365Connection.id == connection.id)
            .values(reauth_notified_at=None)
            .execution_options(synchronize_session=False)
        )
    return notice.queued


def _claim_notice(connection):
    """Mark the notice as sent unless it already is (conditional UPDATE); True when this caller won."""
    return (
        db.session.execute(
            update(M365Connection)
            .where(
                M365Connection.id == connection.id,
                M365Connection.reauth_notified_at.is_(None),
                M365Connection.status == ConnectionStatus.REAUTH_REQUIRED,
            )
            .values(reauth_notified_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def send_pending_reauth_notices():
    """Queue the notices of connections that need re-authentication and were not notified.

    Each customer's notice is its own transaction: one that fails (its data, a database error)
    is logged and rolled back alone, and the other customers are still notified.
    """
    pending = db.session.execute(
        select(M365Connection.id, M365Connection.customer_id).where(
            M365Connection.status == ConnectionStatus.REAUTH_REQUIRED,
            M365Connection.reauth_notified_at.is_(None),
        )
    ).all()
    sent = 0
    for connection_id, customer_id in pending:
        try:
            sent += bool(notify_reauth_required(db.session.get(M365Connection, connection_id)))
            db.session.commit()
        except Exception:  # this customer's notice only; the loop goes on
            db.session.rollback()
            log.exception("re-authentication notice for customer %s not queued", customer_id)
    return sent


def health_label(connection):
    """The name of a broken connection's health: what it lacks (a sign-in, or admin consent)."""
    if connection.is_application:
        return _("Admin consent required")
    return _("Re-authentication required")


def type_label(connection_type):
    """The admin-facing name of a connection type."""
    if connection_type == ConnectionType.APPLICATION:
        return _("Application permissions (admin consent)")
    return _("Delegated permissions (administrator's sign-in)")
