"""Which directory source writes a customer's book: Microsoft Graph or Entra provisioning (SCIM).

    switch(customer, source, actor, wait_seconds=...)   the one rule for changing it (audited)

While the source is Entra provisioning, the Graph daily sync, "Sync now", Manual-mode imports and
Automatic-mode subscriptions do not write the book: `portal.sync.service.RunInputs.blocker` says so,
and every Graph path asks there. Switching back lets them resume; contacts Entra provisioned are
matched by the sync as any other (linked by email when "Link active" is on).
"""

from flask import current_app

from portal.extensions import db
from portal.models import AuditEntry, DirectorySource
from portal.sync import lock

AUDIT_ACTIONS = {DirectorySource.SCIM: "source_scim", DirectorySource.GRAPH: "source_graph"}


def switch(customer, source, actor, wait_seconds=None):
    """Make `source` (a DirectorySource value) the customer's directory source; True when it changed.

    Held under the customer's lock, so a sync that is writing finishes first (lock.CustomerBusy when
    it does not within `wait_seconds`). ValueError for an unknown source. Commits.
    """
    source = DirectorySource(source)
    if customer.directory_source == source:
        return False
    wait = current_app.config["SYNC_LOCK_WEB_WAIT"] if wait_seconds is None else wait_seconds
    with lock.held(customer.id, wait) as lease:
        customer.directory_source = source.value
        AuditEntry.record(customer, actor, AUDIT_ACTIONS[source])
        lease.confirm()
        db.session.commit()
    return True
