"""Email waiting to be sent, or sent: the outbox the runner delivers from."""

import enum

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class MailStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for (another) delivery attempt
    SENT = "sent"
    NO_SERVER = "no_server"  # kept, not sent: no mail server configured
    FAILED = "failed"  # the mail server refused it for good (e.g. bad recipient)


class OutboxMail(db.Model):
    """One rendered message to one or more recipients, with its delivery state."""

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_mail_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))  # the template name, e.g. "removal_report"
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)

    @property
    def recipient_text(self):
        return ", ".join(self.recipients or [])
