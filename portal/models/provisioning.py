"""Entra provisioning (SCIM 2.0 push): a customer's directory source, its tokens and activity log.

A customer's book is written by one directory source at a time (Customer.directory_source):
Microsoft Graph (the daily sync and imports pull) or Entra provisioning (Microsoft Entra ID pushes
users and groups to /scim/v2 with a bearer token of the customer).
"""

import enum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.i18n import N_
from portal.models.base import UTCDateTime, utcnow
from portal.models.vocabulary import Labelled


class DirectorySource(enum.StrEnum):
    GRAPH = "graph"  # Microsoft Graph: the daily sync and the imports pull (the default)
    SCIM = "scim"  # Entra provisioning: Entra ID pushes over SCIM 2.0


class ScimOperation(Labelled):
    """What one request to /scim/v2 did (ScimActivity.operation), as the activity log names it.

    The cycle counts on the page (created / updated / disabled / deleted) count these."""

    CREATE = "create", N_("Created")
    UPDATE = "update", N_("Updated")
    DISABLE = "disable", N_("Disabled")
    ENABLE = "enable", N_("Enabled")
    DELETE = "delete", N_("Deleted")
    DELETE_HELD = "delete held", N_("Deletion held")  # above the deletion threshold: waits for an admin
    RESTORE = "restore", N_("Brought back")  # a POST matching an archived contact restores it
    READ = "read", N_("Read")
    QUERY = "query", N_("Queried")
    GROUP_CREATE = "group create", N_("Group created")
    GROUP_UPDATE = "group update", N_("Group updated")
    MEMBERS_ADD = "add members", N_("Members added")
    MEMBERS_REMOVE = "remove members", N_("Members removed")
    GROUP_DELETE = "group delete", N_("Group deleted")
    REFUSED = "refused", N_("Refused")  # an error answer: bad token, bad request, source is Graph, limit


class ScimToken(db.Model):
    """A bearer token Entra sends to /scim/v2; it alone identifies the customer.

    Only its SHA-256 is stored (`token_hash`); `hint` is its last characters, for the page to tell
    tokens apart. Revoked tokens stay listed (and in the audit log) but no longer authenticate."""

    __tablename__ = "scim_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12), default="")
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at = mapped_column(UTCDateTime, nullable=True)
    last_used_from: Mapped[str] = mapped_column(String(45), default="")
    revoked_at = mapped_column(UTCDateTime, nullable=True)

    @property
    def is_active(self):
        return self.revoked_at is None


class ScimActivity(db.Model):
    """One request to /scim/v2 as the provisioning activity log shows it (never a secret or a body)."""

    __tablename__ = "scim_activity"
    __table_args__ = (Index("ix_scim_activity_customer_at", "customer_id", "at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("scim_token.id", ondelete="SET NULL"))
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    method: Mapped[str] = mapped_column(String(8))
    # What the request did: a ScimOperation value.
    operation: Mapped[str] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(10), default="")  # "User", "Group" or ""
    resource_id: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(200), default="")
