"""The sync settings of the "Synchronize contacts" page; each change is audited. Views and runner share these.

    set_sync_active(customer, admin, on)      "Synchronization active"
    set_link_active(customer, admin, on)      "Link active"; off removes the automatic links
    set_mode(customer, admin, mode)           Mode "Manual" / "Automatic"
    automatic_link_count(customer)            links that switching "Link active" off would remove
    audit_log(customer, limit)                the newest audit entries
Every setter commits.
"""

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEntry, Contact, SyncMode, SyncSettings
from portal.models.base import utcnow
from portal.sync import lock
from portal.sync.subscriptions import enqueue_groups_load

SWITCHES = ("sync_active", "link_active")
MODES = tuple(SyncMode)


def setting_labels():
    """The labels users know, by setting name."""
    return {
        "sync_active": _("Synchronization active"),
        "link_active": _("Link active"),
        "mode": _("Mode"),
        "manual": _("Manual"),
        "automatic": _("Automatic"),
    }


def _stamp(settings, name, admin):
    # Reassign the dict: an in-place change of a JSON column is not noticed by SQLAlchemy.
    changed = dict(settings.changed or {})
    changed[name] = {"by": admin.email, "at": utcnow().isoformat()}
    settings.changed = changed


def set_sync_active(customer, admin, on):
    """Switch "Synchronization active"; returns the settings."""
    settings = SyncSettings.for_customer(customer)
    if settings.sync_active != on:
        settings.sync_active = on
        _stamp(settings, "sync_active", admin)
        AuditEntry.record(customer, admin.email, "sync_active_on" if on else "sync_active_off")
    db.session.commit()
    return settings


def automatic_link_count(customer):
    """Contacts linked to an M365 user automatically (by matching email) — what "Link active" off removes."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.customer_id == customer.id,
                Contact.linked_automatically.is_(True),
                Contact.m365_user_id.is_not(None),
            )
        )
        or 0
    )


def set_link_active(customer, admin, on):
    """Switch "Link active"; switching it off unlinks the automatic links (contacts stay).

    Switching off changes the book, so it holds the customer's lock: lock.CustomerBusy (nothing
    changed) while a sync runs. Returns (settings, number of links removed).
    """
    if on:
        return _set_link_active(customer, admin, on)
    with lock.held(customer.id, current_app.config["SYNC_LOCK_WEB_WAIT"]) as lease:
        return _set_link_active(customer, admin, on, lease)


def _set_link_active(customer, admin, on, lease=None):
    settings = SyncSettings.for_customer(customer)
    removed = 0
    if settings.link_active != on:
        settings.link_active = on
        _stamp(settings, "link_active", admin)
        if not on:
            removed = _remove_automatic_links(customer)
        detail = _("%(count)s automatically created links removed", count=removed) if removed else ""
        AuditEntry.record(customer, admin.email, "link_active_on" if on else "link_active_off", detail)
    if lease is not None:
        lease.confirm()
    db.session.commit()
    return settings, removed


def _remove_automatic_links(customer):
    return db.session.execute(
        update(Contact)
        .where(Contact.customer_id == customer.id, Contact.linked_automatically.is_(True))
        .values(m365_user_id=None, linked_automatically=False, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def set_mode(customer, admin, mode):
    """Choose Mode "Manual" or "Automatic"; raises ValueError for anything else."""
    if mode not in MODES:
        raise ValueError(mode)
    settings = SyncSettings.for_customer(customer)
    if settings.mode != mode:
        settings.mode = mode
        _stamp(settings, "mode", admin)
        AuditEntry.record(customer, admin.email, f"mode_{mode}")
        if mode == SyncMode.AUTOMATIC:
            # "Subscribe to Groups" needs the groups with their member counts: load them now.
            enqueue_groups_load(customer, admin)
    db.session.commit()
    return settings


def audit_log(customer, limit=50):
    """The customer's newest audit entries."""
    return db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.customer_id == customer.id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()


def action_labels():
    """Admin-facing words for the audit actions (others may record their own; unknown ones show raw)."""
    return {
        "interface_connected": _("M365 interface connected"),
        "interface_renewed": _("M365 interface signed in again"),
        "interface_ended": _("Interface ended"),
        "sync_active_on": _("Synchronization active switched on"),
        "sync_active_off": _("Synchronization active switched off"),
        "link_active_on": _("Link active switched on"),
        "link_active_off": _("Link active switched off"),
        "mode_manual": _("Mode set to Manual"),
        "mode_automatic": _("Mode set to Automatic"),
        "group_subscribed": _("Group subscribed"),
        "group_unsubscribed": _("Group unsubscribed"),
        "scim_token_created": _("Entra provisioning token created"),
        "scim_token_revoked": _("Entra provisioning token revoked"),
        "source_scim": _("Directory source set to Entra provisioning"),
        "source_graph": _("Directory source set to Microsoft Graph"),
    }
