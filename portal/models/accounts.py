"""Admin accounts, their roles, their server-side sessions and failed sign-ins."""

import enum
import functools
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow

_hasher = PasswordHasher()
# A hash of a random password nobody kept, checked when the account does not exist so that a failed
# sign-in takes the same time either way. Written out rather than hashed at import: argon2 takes
# 64 MiB for a moment, and every process (runner, CLI, each gunicorn worker) would pay that peak.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$FhaD/8M2/cib3YtURk6bKQ$ggGq/twuYcyN5t4NsoLhuJP7iXNOEc0e69oybS6Qm2I"
)


@functools.cache
def _fresh_dummy_hash():
    return _hasher.hash(secrets.token_urlsafe(16))


def _dummy_hash():
    """The dummy hash, made anew (once) if the hasher's parameters no longer match it."""
    return _fresh_dummy_hash() if _hasher.check_needs_rehash(_DUMMY_HASH) else _DUMMY_HASH


class Role(enum.StrEnum):
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
    # The admin's language ("en", "de"): taken from the browser at the first sign-in, changed in the
    # account menu; None until then (the browser decides).
    language: Mapped[str | None] = mapped_column(String(5), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_login_at = mapped_column(UTCDateTime, nullable=True)

    reseller = relationship("Reseller")
    customer = relationship("Customer")
    # Deleted with the account (in code as well: SQLite may run without foreign key enforcement).
    sessions = relationship("AdminSession", back_populates="admin", cascade="all, delete-orphan")

    # The token of the server-side session this object was signed in or loaded with (not a column):
    # Flask-Login keeps it in the session cookie as the login identity.
    session_token = None
    # UserMixin compares accounts by get_id(), which is now per session (None for most objects):
    # compare by identity like every other model (the identity map gives one object per row).
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

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
            _hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass

    def end_sessions(self):
        """End every session of this account (disabling, new password): its rows are deleted."""
        db.session.execute(delete(AdminSession).where(AdminSession.admin_id == self.id))

    def get_id(self):
        """Flask-Login's identity for the cookie: the token of this admin's current session."""
        return self.session_token

    @property
    def is_active(self):
        return self.is_enabled

    @property
    def role_label(self):
        return {"operator": "Operator", "reseller": "Reseller admin", "customer": "Customer admin"}[self.role]


def _token_hash(token):
    # The cookie's token is 256 random bits: one SHA-256 is enough, and a stolen database
    # (or backup) does not hand out live cookies.
    return hashlib.sha256(token.encode()).hexdigest()


class AdminSession(db.Model):
    """One signed-in browser of an admin. The cookie carries a random token, the row its hash;
    signing out, disabling the account or a new password deletes the row and the cookie is dead."""

    __tablename__ = "admin_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"), index=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Moved forward at most once a minute (TOUCH_EVERY), so a busy page is not a write per request.
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ip_address: Mapped[str] = mapped_column(String(45), default="")

    admin = relationship("AdminUser", back_populates="sessions")

    TOUCH_EVERY = timedelta(minutes=1)

    @classmethod
    def start(cls, admin, user_agent="", ip_address="", now=None):
        """A new session for `admin` (caller commits); its token is set on `admin` for login_user."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        row = cls(
            token_hash=_token_hash(token),
            admin=admin,
            created_at=now,
            last_seen_at=now,
            user_agent=(user_agent or "")[:200],
            ip_address=(ip_address or "")[:45],
        )
        db.session.add(row)
        admin.session_token = token
        return row

    @classmethod
    def find(cls, token):
        """The session row of a cookie's token with its admin (every request asks), or None."""
        if not token or not isinstance(token, str):
            return None
        query = select(cls).where(cls.token_hash == _token_hash(token)).options(joinedload(cls.admin))
        return db.session.scalar(query)

    def is_expired(self, idle, max_age, now=None):
        """True when nothing happened in this session for longer than `idle`, or it was started
        longer than `max_age` ago (timedeltas)."""
        now = now or utcnow()
        return now - self.last_seen_at > idle or now - self.created_at > max_age

    def touch(self, now=None):
        """Note activity; True when a write was issued (then the caller commits).

        Plain UPDATE/DELETE statements here and in end(): a parallel request (another tab)
        may have ended the row already, which is no error."""
        now = now or utcnow()
        if now - self.last_seen_at < self.TOUCH_EVERY:
            return False
        db.session.execute(update(AdminSession).where(AdminSession.id == self.id).values(last_seen_at=now))
        return True

    def end(self):
        """Delete this session (caller commits)."""
        db.session.execute(delete(AdminSession).where(AdminSession.id == self.id))

    @classmethod
    def purge_expired(cls, idle, max_age, now=None):
        """Delete every session idle for longer than `idle` or older than `max_age` (caller
        commits); returns how many."""
        now = now or utcnow()
        expired = or_(cls.last_seen_at < now - idle, cls.created_at < now - max_age)
        return db.session.execute(delete(cls).where(expired)).rowcount


class OAuthFlow(db.Model):
    """A Microsoft sign-in or admin consent this admin session started and has not finished: the
    only evidence the callback believes (its own parameters prove nothing). Kept on the server,
    bound to the session, found by its state's hash, used once, and worth nothing after MAX_AGE."""

    __tablename__ = "oauth_flow"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("admin_session.id", ondelete="CASCADE"), index=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  # SIGN_IN or CONSENT
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # connection type; who signed in
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    SIGN_IN = "sign_in"
    CONSENT = "consent"
    MAX_AGE = timedelta(minutes=10)
    MAX_OPEN = 3  # per session: abandoned attempts beyond the newest few are dropped

    @classmethod
    def remember(cls, session_row, state, purpose, customer, now=None, **details):
        """Keep a started flow for `session_row` (caller commits); drops its expired and oldest ones."""
        now = now or utcnow()
        mine = (
            select(cls.id)
            .where(cls.session_id == session_row.id)
            .order_by(cls.created_at.desc(), cls.id.desc())
        )
        stale = db.session.scalars(mine.offset(cls.MAX_OPEN - 1)).all()
        db.session.execute(delete(cls).where(or_(cls.id.in_(stale), cls.created_at < now - cls.MAX_AGE)))
        db.session.add(
            cls(
                session_id=session_row.id,
                state_hash=_token_hash(state),
                purpose=purpose,
                customer_id=customer.id,
                details=details,
                created_at=now,
            )
        )

    @classmethod
    def take(cls, session_row, state, now=None):
        """The flow `state` names if this session started it less than MAX_AGE ago, else None; in
        either case it is gone afterwards (committed at once: a state works once, whatever follows)."""
        if not state or not isinstance(state, str) or session_row is None:
            return None
        flow = db.session.scalar(select(cls).where(cls.state_hash == _token_hash(state)))
        if flow is None:
            return None
        db.session.execute(delete(cls).where(cls.id == flow.id))
        db.session.commit()
        fresh = (now or utcnow()) - flow.created_at <= cls.MAX_AGE
        return flow if flow.session_id == session_row.id and fresh else None


class SignInFailure(db.Model):
    """One failed sign-in, counted for a key ("account:<email>" or "address:<ip>").

    Kept in the database so every worker and host sees the same counts; rows older than the
    window are purged when new failures are recorded."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_key_failed_at", "key", "failed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    failed_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
