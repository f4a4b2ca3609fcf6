"""The M365 interface of a customer: the connection, the sync settings, subscriptions, the audit log."""

import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.m365.permissions import ConnectionType
from portal.models.base import UTCDateTime, utcnow


class ConnectionStatus(enum.StrEnum):
    OK = "ok"
    REAUTH_REQUIRED = "reauth_required"


class SyncMode(enum.StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"


class M365Connection(db.Model):
    """A customer's connected Microsoft 365 tenant ("M365-API: Interface to M365 stored").

    One tenant feeds one customer: tenant_id is unique.
    """

    __tablename__ = "m365_connection"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_domain: Mapped[str] = mapped_column(String(255), default="")
    connected_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id", ondelete="SET NULL"))
    connected_by_name: Mapped[str] = mapped_column(String(254), default="")  # M365 account that consented
    connected_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    scopes: Mapped[str] = mapped_column(Text, default="")
    connection_type: Mapped[str] = mapped_column(
        String(20), default=ConnectionType.DELEGATED, server_default=ConnectionType.DELEGATED
    )
    # Fernet ciphertext of the refresh token (delegated only; application connections hold none);
    # never store or log the plain token.
    refresh_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    users_delta_link: Mapped[str] = mapped_column(Text, default="")
    # The users delta link tracks only the properties its first request selected
    # (m365.graph.USER_DELTA_SELECT then): when the portal selects others, it starts a new round.
    users_delta_select: Mapped[str] = mapped_column(Text, default="", server_default="")
    groups_delta_link: Mapped[str] = mapped_column(Text, default="")
    delta_saved_at = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=ConnectionStatus.OK)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_at = mapped_column(UTCDateTime, nullable=True)
    reauth_notified_at = mapped_column(UTCDateTime, nullable=True)

    customer = relationship("Customer")
    connected_by = relationship("AdminUser")

    @property
    def needs_reauth(self):
        """Microsoft refused the stored access: a new sign-in (delegated) or admin consent is needed."""
        return self.status == ConnectionStatus.REAUTH_REQUIRED

    @property
    def is_application(self):
        """Whether the connection reads with application permissions (no refresh token)."""
        return self.connection_type == ConnectionType.APPLICATION


class SyncSettings(db.Model):
    """How a customer's sync behaves; each switch records who changed it last."""

    __tablename__ = "sync_settings"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    sync_active: Mapped[bool] = mapped_column(Boolean, default=False)
    link_active: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(20), default=SyncMode.MANUAL)
    # Deletion threshold: removals are held when they exceed BOTH the share and the count.
    delete_threshold_percent: Mapped[int] = mapped_column(Integer, default=10)
    delete_threshold_min: Mapped[int] = mapped_column(Integer, default=10)
    skip_disabled: Mapped[bool] = mapped_column(Boolean, default=True)
    skip_guests: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"sync_active": {"by": "alice@...", "at": "ISO"}, ...}
    changed: Mapped[dict] = mapped_column(JSON, default=dict)
    last_sync_at = mapped_column(UTCDateTime, nullable=True)
    # The tenant whose user ids the contacts' M365 links hold; kept when the interface ends, so
    # connecting another tenant later unlinks them instead of reading them as deleted.
    links_tenant_id: Mapped[str | None] = mapped_column(String(64))

    customer = relationship("Customer")

    @classmethod
    def for_customer(cls, customer):
        """The customer's settings, created with defaults on first use (caller commits)."""
        settings = db.session.get(cls, customer.id)
        if settings is None:
            settings = cls(customer_id=customer.id, changed={})
            db.session.add(settings)
            db.session.flush()
        return settings


class GroupSubscription(db.Model):
    """An M365 group subscribed in Automatic mode; its members feed a contact group."""

    __tablename__ = "group_subscription"
    __table_args__ = (UniqueConstraint("customer_id", "m365_group_id", name="uq_group_subscription"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    m365_group_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    contact_group_id: Mapped[int | None] = mapped_column(ForeignKey("contact_group.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id", ondelete="SET NULL"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    # Joined on the customer too: a subscription can only ever feed its own customer's group.
    contact_group = relationship(
        "ContactGroup",
        viewonly=True,
        primaryjoin=(
            "and_(GroupSubscription.contact_group_id == ContactGroup.id, "
            "GroupSubscription.customer_id == ContactGroup.customer_id)"
        ),
    )


class AuditEntry(db.Model):
    """Who changed what on a customer's M365 page (settings, connect, disconnect, subscriptions)."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    actor: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)

    @classmethod
    def record(cls, customer, actor, action, detail=""):
        """Add an audit entry (caller commits)."""
        entry = cls(customer_id=customer.id, actor=actor, action=action, detail=detail)
        db.session.add(entry)
        return entry
