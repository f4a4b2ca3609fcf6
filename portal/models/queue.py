"""Background work: a Job row per import or sync, claimed by a runner with a lease."""

import enum

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobKind(enum.StrEnum):
    """What a job does: the one list of job kinds, stored in `Job.kind` (existing rows hold these
    strings, so a value never changes). Each kind's handler registers with `portal.queue.handler`
    next to its code; the runner imports those modules and refuses to start when one is missing."""

    SYNC = "m365_sync"  # portal.sync.tasks: one sync pass
    IMPORT = "m365_import"  # portal.sync.tasks: Manual mode's "Import N users"
    SUBSCRIPTION_IMPORT = "m365_subscription_import"  # portal.sync.tasks: a subscribed group's members
    PREVIEW = "m365_preview"  # portal.sync.tasks: "Preview next sync"
    DIRECTORY_LOAD = "m365_directory_load"  # portal.manual.services: "Load Users from Microsoft"
    GROUPS_LOAD = "m365_groups_load"  # portal.sync.subscriptions: the group list


class Job(db.Model):
    """One unit of background work and its progress, shown by the web app, run by a runner."""

    __tablename__ = "job"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED, index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at = mapped_column(UTCDateTime, nullable=True)
    # Work that must be queued once only (e.g. "daily-sync:<customer id>:<date>"): the database
    # refuses a second row with the same key, whichever runner inserts it.
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at = mapped_column(UTCDateTime, nullable=True)
    finished_at = mapped_column(UTCDateTime, nullable=True)

    created_by = relationship("AdminUser")

    @property
    def is_finished(self):
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def percent(self):
        if not self.progress_total:
            return 100 if self.is_finished else 0
        return min(100, round(100 * self.progress_done / self.progress_total))
