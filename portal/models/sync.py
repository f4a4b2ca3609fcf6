"""The sync's records: each run and its contact changes, removals held for an admin, the sync lock."""

import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.i18n import N_
from portal.models.base import UTCDateTime, utcnow
from portal.models.vocabulary import RunKind


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    HELD = "held"  # succeeded, but removals wait for "Allow deletions"
    FAILED = "failed"
    SKIPPED = "skipped"  # not eligible, or another sync of the customer was running
    INTERRUPTED = "interrupted"  # its process stopped mid-run (its lock was taken over); nothing written


# Stored in English on an interrupted run; the pages translate it where they show it.
INTERRUPTED_MESSAGE = N_("The synchronization was interrupted (the process stopped) and will be repeated.")


class SyncRun(db.Model):
    """One sync or import of one customer: when, how, what it cost and what it changed."""

    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_customer_started", "customer_id", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default=RunKind.SYNC)  # a RunKind
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # daily | manual | subscription
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING)
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    finished_at = mapped_column(UTCDateTime, nullable=True)
    full_resync: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why this run read everything instead of the delta ("first run", "delta token expired", ...).
    resync_reason: Mapped[str] = mapped_column(String(200), default="")
    graph_requests: Mapped[int] = mapped_column(Integer, default=0)
    resource_units: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    # An Entra provisioning removal whose removal report goes out with its cycle's (portal.scim.reports).
    report_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    changes = relationship(
        "SyncChange",
        back_populates="run",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SyncChange.id",
    )

    @classmethod
    def admin_action(cls, customer, kind, message, now, counts=None, trigger="manual"):
        """The run record of a change an admin made to the book at `now` (a decision on held
        removals, a restore), or Entra provisioning (`trigger`): finished at once; added and
        flushed, so its changes can refer to it."""
        run = cls(
            customer_id=customer.id,
            kind=kind,
            trigger=trigger,
            started_at=now,
            finished_at=now,
            status=RunStatus.SUCCEEDED,
            counts=dict(counts or {}),
            message=message,
        )
        db.session.add(run)
        db.session.flush()
        return run

    @property
    def duration(self):
        """Seconds the run took, or None while it runs."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SyncChange(db.Model):
    """One change a run made to one contact (or one user it skipped), with field old -> new."""

    __tablename__ = "sync_change"
    __table_args__ = (Index("ix_sync_change_run_kind", "run_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    m365_user_id: Mapped[str | None] = mapped_column(String(64))
    # a ChangeKind (portal.models.vocabulary); detail: its reason or note
    kind: Mapped[str] = mapped_column(String(20))
    contact_name: Mapped[str] = mapped_column(String(210), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    field: Mapped[str] = mapped_column(String(40), default="")
    old_value: Mapped[str] = mapped_column(String(254), default="")
    new_value: Mapped[str] = mapped_column(String(254), default="")
    detail: Mapped[str] = mapped_column(String(254), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    run = relationship("SyncRun", back_populates="changes")


class HeldRemoval(db.Model):
    """A removal the deletion threshold held back until an admin allows it or keeps the contact."""

    __tablename__ = "held_removal"
    __table_args__ = (UniqueConstraint("customer_id", "contact_id", name="uq_held_removal_contact"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    m365_user_id: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(100), default="")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    held_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    # Joined on the customer too: a held removal can only ever reach its own customer's contact.
    contact = relationship(
        "Contact",
        viewonly=True,
        primaryjoin=(
            "and_(HeldRemoval.contact_id == Contact.id, HeldRemoval.customer_id == Contact.customer_id)"
        ),
    )


class SyncLock(db.Model):
    """At most one writer changes a customer's book at a time: a lease (owner until expires_at),
    claimed by conditional UPDATE and renewed while its holder works (portal.sync.lock)."""

    __tablename__ = "sync_lock"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(100))
    expires_at = mapped_column(UTCDateTime, nullable=True)
