"""The removal report of Entra's deletions: one per cycle, not one per deleted user.

Entra deletes users one request at a time; the daily sync reports a run's removals in one email,
and Entra provisioning does the same for a cycle's. A deletion's run is marked `report_pending`
(portal.scim.writes); the runner (every REPORT_CHECK_SECONDS) sends the report of a customer's
pending removals once Entra has removed no one for QUIET (activity.CYCLE_GAP: its cycles are about
40 minutes apart), or at the latest LATEST after the first of them.

    send_pending_removal_reports(now=None)  -> how many reports were queued
"""

import logging
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from portal.extensions import db
from portal.models import Customer, utcnow
from portal.models.sync import SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind
from portal.scim.activity import CYCLE_GAP
from portal.sync import reports

log = logging.getLogger(__name__)

REPORT_CHECK_SECONDS = 60
QUIET = CYCLE_GAP
LATEST = timedelta(hours=1)
PENDING_NOTE = "The removal report goes out with the other removals of Entra's cycle."


def send_pending_removal_reports(now=None):
    """Queue the removal report of each customer whose pending Entra removals are due. Each customer
    is its own transaction (one that fails is logged and rolled back alone); several runners may run
    this at once: the runs are claimed by a conditional UPDATE."""
    now = now or utcnow()
    due = db.session.scalars(
        select(SyncRun.customer_id)
        .where(SyncRun.report_pending.is_(True))
        .group_by(SyncRun.customer_id)
        .having(
            or_(func.max(SyncRun.started_at) <= now - QUIET, func.min(SyncRun.started_at) <= now - LATEST)
        )
    ).all()
    queued = 0
    for customer_id in due:
        try:
            queued += _report(db.session.get(Customer, customer_id), now)
            db.session.commit()
        except Exception:  # this customer's report only; the loop goes on
            db.session.rollback()
            log.exception("Entra removal report for customer %s not queued", customer_id)
    return queued


def _report(customer, now):
    """Claim the customer's pending runs and queue one report of their removals: 1, or 0 when another
    runner claimed them first."""
    claimed = db.session.scalars(
        update(SyncRun)
        .where(SyncRun.customer_id == customer.id, SyncRun.report_pending.is_(True))
        .values(report_pending=False)
        .returning(SyncRun.id)
    ).all()
    if not claimed:
        return 0
    removals = db.session.scalars(
        select(SyncChange)
        .where(SyncChange.run_id.in_(claimed), SyncChange.kind == ChangeKind.REMOVE)
        .order_by(SyncChange.created_at, SyncChange.id)
    ).all()
    notice = reports.queue_removal_report(customer, reports.recorded_rows(removals), now, by_entra=True)
    listed = f"{len(removals)} removal{'s' if len(removals) != 1 else ''}"
    note = f"{notice.note(reports.REMOVAL_REPORT)} It lists {listed} of the cycle."
    for run in db.session.scalars(select(SyncRun).where(SyncRun.id.in_(claimed))):
        run.message = run.message.replace(PENDING_NOTE, note)
    return 1
