"""Admin accounts and their roles."""
import enum
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow

_hasher = PasswordHasher()
# A hash of a random password, checked when the account does not exist so that
# a failed sign-in takes the same time either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(str, enum.Enum):
    OPERATOR = "operator"
    RESELLER = "reseller"
    CUSTOMER = "customer"


class AdminUser(UserMixin, db.Model):
    """A person who signs in to the portal."""

    __tablename__ = "admin_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    reseller_id: Mapped[int | None] = mapped_column(ForeignKey("reseller.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of the session identity: changing it ends every session of the account.
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_login_at = mapped_column(UTCDateTime, nullable=True)

    reseller = relationship("Reseller")
    customer = relationship("Customer")

    def set_password(self, password):
        self.password_hash = _hasher.hash(password)

    def check_password(self, password):
        """True when the password matches; rehashes when the parameters changed."""
        try:
            _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return True

    @classmethod
    def authenticate(cls, email, password):
        """The enabled account with this email and password, else None.

        The password is checked before anything else is decided, against the account's hash
        or a dummy one, so an unknown, a disabled and a known account with a wrong password
        all take the time of one argon2 check and get the same answer."""
        user = db.session.scalar(select(cls).where(func.lower(cls.email) == email.strip().lower()))
        if user is None:
            cls.burn_password_check(password)
            return None
        password_ok = user.check_password(password)
        return user if password_ok and user.is_enabled else None

    @staticmethod
    def burn_password_check(password):
        """Spend the time of a password check for an unknown account."""
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass

    def end_sessions(self):
        """Invalidate every session of this account (sign-out everywhere, disabling)."""
        self.session_token = secrets.token_hex(16)

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self):
        return self.is_enabled

    @property
    def role_label(self):
        return {"operator": "Operator", "reseller": "Reseller admin", "customer": "Customer admin"}[self.role]
