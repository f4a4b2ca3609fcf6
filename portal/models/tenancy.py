"""Resellers own customers; both carry master data."""

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


def split_list(text):
    """Split a comma/semicolon/newline separated setting into clean, unique lower-case items."""
    seen = []
    for item in (text or "").replace(";", ",").replace("\n", ",").split(","):
        item = item.strip().lower()
        if item and item not in seen:
            seen.append(item)
    return seen


def domain_allowed(email, domains):
    """The one "allowed domains" rule: True when `domains` is empty (any) or holds the address's domain.

    `domains` are lower-case without "@" (split_list, Customer.effective_domains); the address's
    domain is compared case-insensitively. Contacts, CSV import, Manual mode and the sync use it."""
    return not domains or (email or "").rsplit("@", 1)[-1].lower() in domains


class MasterDataMixin:
    """Company name and address, notification recipients and allowed email domains."""

    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    notification_recipients: Mapped[str] = mapped_column(Text, default="")
    allowed_domains: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @property
    def recipient_list(self):
        return split_list(self.notification_recipients)

    @property
    def domain_list(self):
        return [d.lstrip("@") for d in split_list(self.allowed_domains)]


class Reseller(MasterDataMixin, db.Model):
    """An IT partner looking after many customers."""

    __tablename__ = "reseller"
    id: Mapped[int] = mapped_column(primary_key=True)
    ms_user_sync: Mapped[bool] = mapped_column(Boolean, default=False)
    customers = relationship("Customer", back_populates="reseller", order_by="Customer.name")


class Customer(MasterDataMixin, db.Model):
    """A company whose employees are in the contact book."""

    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    reseller_id: Mapped[int] = mapped_column(ForeignKey("reseller.id"), index=True)
    # None = inherit the reseller's "Microsoft User Synchronization" setting.
    ms_user_sync: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    # The language of the emails to its notification recipients ("en", "de"; None: the portal's).
    email_language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    # Who writes the book: "graph" (the daily sync and imports pull from Microsoft Graph) or "scim"
    # (Entra provisioning pushes); portal.models.provisioning.DirectorySource.
    directory_source: Mapped[str] = mapped_column(String(10), default="graph", server_default="graph")
    reseller = relationship("Reseller", back_populates="customers")
    # Read with the customer where a request needs them together (the SCIM endpoint's writes: one
    # query instead of three); SyncSettings.customer is the side that writes.
    sync_settings = relationship("SyncSettings", uselist=False, viewonly=True)
    # Whether the customer has groups with a rule (smart_groups.ANY_RULE) where the query that read
    # the customer asked (with_expression); else None.
    has_smart_groups: Mapped[bool | None] = query_expression()

    @property
    def provisioned_by_entra(self):
        """True while Entra provisioning, not the Graph sync, writes this customer's book."""
        return self.directory_source == "scim"

    @property
    def ms_user_sync_in_effect(self):
        """Whether "Microsoft User Synchronization" is on for this customer, own or inherited."""
        return self.reseller.ms_user_sync if self.ms_user_sync is None else self.ms_user_sync

    @property
    def ms_user_sync_source(self):
        """'customer' when the customer's own master data decides, else 'reseller'."""
        return "reseller" if self.ms_user_sync is None else "customer"

    @property
    def effective_recipients(self):
        """Who gets sync reports: the customer's recipients, else the reseller's."""
        return self.recipient_list or self.reseller.recipient_list

    @property
    def effective_domains(self):
        """Allowed email domains (empty = any): the customer's, else the reseller's."""
        return self.domain_list or self.reseller.domain_list

    def allows_email(self, email):
        """True when `email`'s domain is allowed for the customer's contacts."""
        return domain_allowed(email, self.effective_domains)
