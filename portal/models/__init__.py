"""The data model, one module per aggregate. Import from here."""

from portal.models.accounts import AdminSession, AdminUser, OAuthFlow, Role, SignInFailure  # noqa: F401
from portal.models.base import utcnow  # noqa: F401
from portal.models.contacts import (  # noqa: F401
    Contact,
    ContactGroup,
    ContactImport,  # noqa: F401
    Origin,
    contact_group_members,
)
from portal.models.directory import (  # noqa: F401
    DirectoryGroup,
    DirectoryMembership,
    DirectorySelection,
    DirectorySelectionFlip,
    DirectoryUser,
)
from portal.models.m365 import (  # noqa: F401
    AuditEntry,
    ConnectionStatus,
    ConnectionType,
    GroupSubscription,
    M365Connection,
    SyncMode,
    SyncSettings,
)
from portal.models.outbox import MailStatus, OutboxMail  # noqa: F401
from portal.models.provisioning import DirectorySource, ScimActivity, ScimOperation, ScimToken  # noqa: F401
from portal.models.queue import Job, JobKind, JobStatus  # noqa: F401
from portal.models.runner import RunnerHeartbeat  # noqa: F401
from portal.models.sync import HeldRemoval, RunStatus, SyncChange, SyncLock, SyncRun  # noqa: F401
from portal.models.tenancy import Customer, Reseller  # noqa: F401
