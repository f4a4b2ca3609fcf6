"""A local copy of a customer's M365 directory, for Manual mode: search and select without Graph calls.

Loaded by the "Load Users from Microsoft" job. The selection ("Import N users") lives here too, on the
server: a per-customer default (everyone / no one) plus the users whose state differs from it, so
"select all", "select none" and a group pick touch a handful of rows even in a 50,000-user tenant.
"""

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal import search
from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class DirectoryUser(db.Model):
    """One M365 user of a customer's tenant as last loaded, with its selection for import."""

    __tablename__ = "directory_user"
    __table_args__ = (
        UniqueConstraint("customer_id", "m365_id", name="uq_directory_user_customer_m365"),
        Index("ix_directory_user_list", "customer_id", "sort_key", "id"),
        Index("ix_directory_user_customer", "customer_id"),
        Index("ix_directory_user_department", "customer_id", "department"),
        Index("ix_directory_user_country", "customer_id", "country"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    m365_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    given_name: Mapped[str] = mapped_column(String(100), default="")
    surname: Mapped[str] = mapped_column(String(100), default="")
    # The mailbox address per portal/sync/people.py (mail, else primary SMTP proxy); None = no mailbox.
    email: Mapped[str | None] = mapped_column(String(254))
    upn: Mapped[str] = mapped_column(String(254), default="")
    department: Mapped[str] = mapped_column(String(255), default="")
    country: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # The user's attribute properties as Graph gave them (portal.attributes.GRAPH_PROPERTIES and
    # "manager"), so an import from this cache writes the same attributes as one from Graph.
    attributes: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    guest: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why the import would skip this user ("" = importable), per people.Person.skip_reason.
    skip_reason: Mapped[str] = mapped_column(String(60), default="")
    sort_key: Mapped[str] = mapped_column(String(255), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")  # search.document(names, email, department...)
    loaded_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class DirectoryGroup(db.Model):
    """One M365 group of a customer's tenant as last loaded (for "Group_Users")."""

    __tablename__ = "directory_group"
    __table_args__ = (
        UniqueConstraint("customer_id", "m365_id", name="uq_directory_group_customer_m365"),
        Index("ix_directory_group_list", "customer_id", "sort_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    m365_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(30), default="")
    sort_key: Mapped[str] = mapped_column(String(255), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Transitive members are fetched when the group is first picked, then kept until the next load.
    members_loaded_at = mapped_column(UTCDateTime, nullable=True)
    member_count: Mapped[int | None] = mapped_column(Integer)
    loaded_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


search.index_with_table(DirectoryUser.__table__)
search.index_with_table(DirectoryGroup.__table__)


class DirectoryMembership(db.Model):
    """A user (by M365 id) among the transitive members of a loaded group."""

    __tablename__ = "directory_membership"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("directory_group.id", ondelete="CASCADE"), primary_key=True
    )
    user_m365_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class DirectorySelection(db.Model):
    """A customer's selection state: everyone selected or no one, before the flips below."""

    __tablename__ = "directory_selection"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    all_selected: Mapped[bool] = mapped_column(Boolean, default=True)


class DirectorySelectionFlip(db.Model):
    """A loaded user whose selection differs from the customer's default (deselected, or picked)."""

    __tablename__ = "directory_selection_flip"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    m365_id: Mapped[str] = mapped_column(String(64), primary_key=True)
