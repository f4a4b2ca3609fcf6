"""The runners' heartbeats: each runner process writes when it was last seen alive."""

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class RunnerHeartbeat(db.Model):
    """One row per runner process (its owner name); `seen_at` moves while it runs."""

    __tablename__ = "runner_heartbeat"
    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(100), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    stopped_at = mapped_column(UTCDateTime, nullable=True)
