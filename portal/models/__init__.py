"""The data model, one module per aggregate. Import from here."""
from portal.models.base import utcnow  # noqa: F401
from portal.models.tenancy import Reseller, Customer  # noqa: F401
from portal.models.accounts import AdminSession, AdminUser, Role, SignInFailure  # noqa: F401
from portal.models.contacts import Contact, ContactGroup, contact_group_members, Origin  # noqa: F401
from portal.models.contacts import ContactImport  # noqa: F401
from portal.models.queue import Job, JobKind, JobStatus  # noqa: F401
from portal.models.m365 import AuditEntry, ConnectionStatus, GroupSubscription, M365Connection, SyncMode, SyncSettings  # noqa: F401
from portal.models.outbox import MailStatus, OutboxMail  # noqa: F401
from portal.models.sync import HeldRemoval, RunStatus, SyncChange, SyncLock, SyncRun  # noqa: F401
from portal.models.directory import DirectoryGroup, DirectoryMembership, DirectorySelection, DirectorySelectionFlip, DirectoryUser  # noqa: F401
