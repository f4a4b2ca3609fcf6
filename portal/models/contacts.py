"""The employee contact book: contacts and contact groups."""

import enum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from portal import search
from portal.attributes import VALUE_LENGTH
from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow
from portal.text import email_key, name_key


class Origin(enum.StrEnum):
    MANUAL = "manual"
    CSV = "csv"
    M365 = "m365"
    SCIM = "scim"  # pushed by Entra provisioning (portal.scim)


def contact_search_text(first_name, last_name, email):
    """A contact's `search_text`: what the contact book's search looks in (portal.search)."""
    return search.document(first_name, last_name, email)


def _search_text_on_insert(context):
    """Column default: every INSERT, the ORM's and bulk ones (CSV import, seeds), fills search_text."""
    row = context.get_current_parameters()
    return contact_search_text(row.get("first_name"), row.get("last_name"), row.get("email"))


contact_group_members = Table(
    "contact_group_member",
    db.metadata,
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("contact_group.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Contact(db.Model):
    """An employee of a customer."""

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("customer_id", "email_key", name="uq_contact_customer_email"),
        Index("ix_contact_customer_name", "customer_id", "last_name", "first_name", "id"),
        # The book sorts by "updated" with keyset pagination; email sorting uses the unique key.
        Index("ix_contact_customer_updated", "customer_id", "updated_at", "id"),
        # Counting a customer's active contacts ("N contacts") reads only this index.
        Index("ix_contact_customer_archived", "customer_id", "archived_at"),
        # The book's filters (portal.attributes.FILTERS) and "team of …" read these.
        Index("ix_contact_customer_department", "customer_id", "department"),
        Index("ix_contact_customer_office", "customer_id", "office"),
        Index("ix_contact_customer_country", "customer_id", "country"),
        Index("ix_contact_customer_language", "customer_id", "language"),
        Index("ix_contact_customer_manager", "customer_id", "manager_id"),
        # A contact that arrives finds the contacts naming it as their manager, by email or M365 id
        # (portal.scim.writes: without these, each new user read every contact not linked to one yet).
        Index("ix_contact_customer_manager_email", "customer_id", text("lower(manager_email)")),
        Index("ix_contact_customer_manager_m365", "customer_id", "manager_m365_id"),
        # book.link_managers finds a manager by M365 id among the customer's active contacts.
        Index("ix_contact_customer_m365_user", "customer_id", "m365_user_id", "archived_at"),
        # Entra provisioning matches users by externalId and by userName (portal.scim).
        Index("ix_contact_customer_external_id", "customer_id", "external_id"),
        Index("ix_contact_customer_user_name_key", "customer_id", "user_name_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    salutation: Mapped[str] = mapped_column(String(40), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased email: uniqueness and matching are case-insensitive.
    email_key: Mapped[str] = mapped_column(String(254))
    origin: Mapped[str] = mapped_column(String(10), default=Origin.MANUAL)
    m365_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    linked_automatically: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at = mapped_column(UTCDateTime, nullable=True, index=True)
    archive_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    # The attribute set (portal.attributes.ATTRIBUTES): "" when unknown.
    department: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    job_title: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    office: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    company: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    country: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    language: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    employee_id: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    employee_type: Mapped[str] = mapped_column(String(VALUE_LENGTH), default="", server_default="")
    # The manager: another contact of the customer when they are in the book (manager_id, kept by
    # book.link_managers), their name and email as last known otherwise. manager_m365_id: the
    # manager's M365 user id when the manager came from Microsoft 365.
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    manager_m365_id: Mapped[str | None] = mapped_column(String(64))
    manager_name: Mapped[str] = mapped_column(String(210), default="", server_default="")
    manager_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    # Entra provisioning (portal.scim): SCIM's externalId and userName (user_name_key: lower-cased,
    # for matching), and when the user was disabled there (active false: kept, shown as inactive,
    # not an active member of groups; NULL: active).
    external_id: Mapped[str | None] = mapped_column(String(255))
    user_name: Mapped[str | None] = mapped_column(String(254))
    user_name_key: Mapped[str | None] = mapped_column(String(254))
    deactivated_at = mapped_column(UTCDateTime, nullable=True)
    # Folded names and email (contact_search_text): set on insert by the default, on an ORM update
    # by _refresh_search_text; a bulk UPDATE of names must set it too (contacts.importing does).
    search_text: Mapped[str] = mapped_column(Text, default=_search_text_on_insert, server_default="")

    manager = relationship("Contact", remote_side=[id], foreign_keys=[manager_id])

    groups = relationship(
        "ContactGroup",
        secondary=contact_group_members,
        back_populates="contacts",
        order_by="ContactGroup.name",
    )

    def set_email(self, email):
        self.email = email.strip()
        self.email_key = email_key(self.email)

    def set_user_name(self, user_name):
        self.user_name = user_name
        self.user_name_key = email_key(user_name) if user_name else None

    @property
    def is_active(self):
        """False while Entra provisioning has the user disabled (`active` false)."""
        return self.deactivated_at is None

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()


@event.listens_for(Contact, "before_update")
def _refresh_search_text(_mapper, _connection, contact):
    """Every ORM update (form, sync, archive, restore) writes search_text from the fields it has now."""
    contact.search_text = contact_search_text(contact.first_name, contact.last_name, contact.email)


search.index_with_table(Contact.__table__)


class ContactGroup(db.Model):
    """A named set of contacts; M365 subscriptions create these."""

    __tablename__ = "contact_group"
    __table_args__ = (UniqueConstraint("customer_id", "name_key", name="uq_contact_group_customer_name_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # text.name_key(name), kept by the validator below: the name as compared for uniqueness.
    name_key: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(10), default=Origin.MANUAL)
    m365_group_id: Mapped[str | None] = mapped_column(String(64))
    # A group provisioned by Entra (origin "scim"): SCIM's externalId.
    external_id: Mapped[str | None] = mapped_column(String(255))
    # A smart group's rule (portal.smart_groups): its members are exactly the contacts matching it.
    # None: an ordinary group whose members are added and removed by hand, import or subscription.
    rule: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    contacts = relationship("Contact", secondary=contact_group_members, back_populates="groups")

    @property
    def is_smart(self):
        return self.rule is not None

    @validates("name")
    def _keep_name_key(self, _attribute, name):
        self.name_key = name_key(name)
        return name


class ContactImport(db.Model):
    """An uploaded CSV file between upload and confirm, bound to one admin and one customer.

    The parsed cells live here (not in the cookie session, which is too small); the row is
    deleted when the import is confirmed, and stale ones are purged on the next upload.
    """

    __tablename__ = "contact_import"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    encoding: Mapped[str] = mapped_column(String(20), default="utf-8")
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    # {"rows": [[cell, ...], ...]} — every row of the file including a header row, as text.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
