"""The sync and the import, orchestrated: fetch -> plan -> guard (threshold) -> apply -> report.

    run_sync(customer_id, trigger, job=None)  one sync pass (runner job, "Sync now", CLI); -> SyncRun
    preview_sync(customer)                    the same fetch and plan, nothing written; -> Preview
    import_users(customer, user_ids | subscription=...)   Manual-mode import, or a subscribed
                                              group's members; -> (SyncRun, ImportOutcome)
    purge_expired()                           archived contacts after 30 days, history after 90

Job handlers and the runner's periodic triggers are in portal/sync/tasks.py.
The web app and the runner call these same functions. Every writing pass holds the customer's
sync lock (portal.sync.lock) and writes its changes, the run record, the new delta links and the
removal report in ONE transaction: a failure leaves the book as it was. A run reads its customer,
settings and connection once (RunInputs), under the lock.
"""

import logging
import sys
from dataclasses import dataclass, field, replace
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, select, update

from portal import attributes, search
from portal.book import delete_contacts
from portal.extensions import db
from portal.i18n import N_
from portal.models import (
    Contact,
    ContactGroup,
    Customer,
    GroupSubscription,
    SyncMode,
    SyncSettings,
    contact_group_members,
)
from portal.models.base import chunks, utcnow
from portal.models.sync import HeldRemoval, RunStatus, SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind, RunKind
from portal.sync import fetch, lock, reports
from portal.sync.apply import apply_plan
from portal.sync.connection import NOT_CONNECTED, connection_for_sync, graph_client
from portal.sync.import_slices import ImportUsers, import_in_slices
from portal.sync.people import ManagerRef
from portal.sync.plan import ContactSnap, ImportPlanner, Rules, build
from portal.sync.removed import ARCHIVE_DAYS

log = logging.getLogger(__name__)
HISTORY_DAYS = 90
# The changes that write contacts: enough of them in one run and the planner's statistics are refreshed.
WRITING_KINDS = (ChangeKind.CREATE, ChangeKind.LINK, ChangeKind.UPDATE, ChangeKind.REMOVE, ChangeKind.RESTORE)


class SyncNotPossible(Exception):
    """The customer cannot be synced now; the message says why."""


@dataclass
class Preview:
    """What the next sync would do ("Preview next sync")."""

    plan: object
    resync_reason: str = ""
    graph_requests: int = 0
    notes: list = field(default_factory=list)


# --- who may be synced ------------------------------------------------------------------------


@dataclass
class RunInputs:
    """What a run reads about its customer, once: the customer, its settings (None before the first
    use) and the connection the runner may use (None when it may not: connection_for_sync)."""

    customer: object
    settings: object
    connection: object

    @classmethod
    def load(cls, customer):
        """Read them for `customer` (a Customer)."""
        settings = db.session.get(SyncSettings, customer.id)
        return cls(customer, settings, connection_for_sync(customer))

    def blocker(self, need_active=True, mode=None):
        """Why the customer cannot be synced or imported now, or None (see sync_blocker)."""
        if self.customer.provisioned_by_entra:  # one source at a time (portal.scim.source)
            return ENTRA_PROVISIONING
        if not self.customer.ms_user_sync_in_effect:
            return N_("Microsoft User Synchronization is switched off in the master data.")
        if self.connection is None:
            return NOT_CONNECTED
        settings = self.settings
        if need_active and (settings is None or not settings.sync_active):
            return N_("Synchronization active is switched off.")
        if mode is not None and settings is not None and settings.mode != mode:
            return MODE_BLOCKERS[mode]
        return None


def sync_blocker(customer, need_active=True, mode=None):
    """Why `customer` cannot be synced or imported now (an English sentence, N_-marked), or None.

    The one answer to "is this customer ready": the runner's daily sync, "Sync now", the preview,
    imports, Automatic mode and the Manual panel all ask here. `need_active`: "Synchronization
    active" must be on (the sync; imports and previews don't need it). `mode`: the panel asking
    only works in that SyncMode (Manual mode's panel is not offered in Automatic mode).
    """
    return RunInputs.load(customer).blocker(need_active, mode)


ENTRA_PROVISIONING = N_(
    "The directory source is Entra provisioning: Microsoft Entra ID keeps the contact book up to date, "
    "so the daily sync and imports from Microsoft Graph do not change it."
)
MODE_BLOCKERS = {
    SyncMode.MANUAL: N_("The synchronization mode is Automatic; switch to Manual to select users yourself."),
}


def rules_for(customer, settings):
    """The plan's Rules from the customer's settings and master data."""
    held = db.session.scalars(
        select(HeldRemoval.contact_id).join(HeldRemoval.contact).where(HeldRemoval.customer_id == customer.id)
    ).all()
    return Rules(
        link_active=settings.link_active,
        skip_disabled=settings.skip_disabled,
        skip_guests=settings.skip_guests,
        allowed_domains=tuple(customer.effective_domains),
        threshold_percent=settings.delete_threshold_percent,
        threshold_min=settings.delete_threshold_min,
        held_contact_ids=frozenset(held),
    )


def snapshot(customer):
    """The customer's book as the plan sees it (archived contacts included)."""
    memberships = {}
    rows = db.session.execute(
        select(contact_group_members.c.contact_id, contact_group_members.c.group_id)
        .join(Contact, Contact.id == contact_group_members.c.contact_id)
        .where(Contact.customer_id == customer.id)
    )
    for contact_id, group_id in rows:
        memberships.setdefault(contact_id, set()).add(group_id)
    columns = (
        Contact.id,
        Contact.first_name,
        Contact.last_name,
        Contact.email,
        Contact.m365_user_id,
        Contact.archived_at,
        Contact.manager_m365_id,
        Contact.manager_name,
        Contact.manager_email,
        *(getattr(Contact, name) for name in attributes.NAMES),
    )
    return [
        ContactSnap(
            id=cid,
            first_name=first or "",
            last_name=last or "",
            email=email,
            m365_user_id=uid,
            archived=archived is not None,
            group_ids=frozenset(memberships.get(cid, ())),
            # Departments, offices and countries repeat across a book: one string each in memory.
            attributes=tuple(zip(attributes.NAMES, (sys.intern(v or "") for v in values), strict=True)),
            manager=ManagerRef(manager_id, manager_name, manager_email) if manager_id else None,
        )
        for cid, first, last, email, uid, archived, manager_id, manager_name, manager_email, *values in (
            db.session.execute(select(*columns).where(Contact.customer_id == customer.id))
        )
    ]


def active_subscriptions(customer, settings):
    """Subscribed groups that feed contact groups (Automatic mode only)."""
    if settings.mode != SyncMode.AUTOMATIC:
        return []
    return db.session.scalars(
        select(GroupSubscription)
        .join(
            ContactGroup,
            and_(
                ContactGroup.id == GroupSubscription.contact_group_id,
                ContactGroup.customer_id == GroupSubscription.customer_id,
            ),
        )
        .where(GroupSubscription.customer_id == customer.id)
        .order_by(GroupSubscription.id)
    ).all()


# --- the sync ---------------------------------------------------------------------------------


def _fetch_and_plan(inputs, client, now):
    customer, settings = inputs.customer, inputs.settings
    contacts = snapshot(customer)
    fetched = fetch.fetch_for_sync(
        client, inputs.connection, contacts, active_subscriptions(customer, settings), now
    )
    plan = build(contacts, fetched.data, rules_for(customer, settings))
    return fetched, plan


def _with_settings(inputs):
    """`inputs` whose settings exist (created with defaults on first use; the caller commits)."""
    if inputs.settings is None:
        inputs.settings = SyncSettings.for_customer(inputs.customer)
    return inputs


def preview_sync(customer):
    """What the next sync would change, computed by the same code; writes nothing."""
    inputs = RunInputs.load(customer)
    problem = inputs.blocker(need_active=False)
    if problem:
        raise SyncNotPossible(problem)
    with graph_client(inputs.connection) as client:
        fetched, plan = _fetch_and_plan(_with_settings(inputs), client, utcnow())
        requests = client.request_count
    db.session.rollback()
    return Preview(
        plan=plan, resync_reason=fetched.resync_reason, graph_requests=requests, notes=fetched.notes
    )


def run_sync(customer_id, trigger, job=None, wait_seconds=0.0, clock=utcnow):
    """One sync pass for the customer; returns its SyncRun (status skipped when locked/ineligible).

    The customer, its settings and connection are read once, under the customer's lock (RunInputs).
    Raises GraphError (and any other error) after recording a failed run, so a runner job ends
    failed too. `clock` is the lock's clock (tests move it past a dead holder's lease).
    """
    try:
        with lock.held(customer_id, wait_seconds, clock=clock) as lease:
            inputs = RunInputs.load(db.session.get(Customer, customer_id))
            problem = inputs.blocker()
            if problem:
                return _record_skip(customer_id, RunKind.SYNC, trigger, job, problem)
            return _locked_sync(inputs, trigger, job, lease)
    except lock.CustomerBusy:
        message = "Another sync of this customer is running."
        return _record_skip(customer_id, RunKind.SYNC, trigger, job, message)


def _locked_sync(inputs, trigger, job, lease):
    customer, connection = inputs.customer, inputs.connection
    run = _start_run(customer.id, RunKind.SYNC, trigger, job)
    with _client_or_fail(run, connection) as client:
        try:
            now = utcnow()
            fetched, plan = _fetch_and_plan(inputs, client, now)
            counts = apply_plan(plan, customer, run, now)
            fetch.save_users_link(connection, fetched.users_link, now)
            connection.groups_delta_link = fetched.groups_link
            inputs.settings.last_sync_at = now
            notes = list(fetched.notes) + reports.send_reports(customer, plan, run, now)
            _finish_run(
                run,
                client,
                counts,
                RunStatus.HELD if plan.holds else RunStatus.SUCCEEDED,
                resync=fetched.resync_reason,
                notes=notes,
            )
            lease.confirm()
            db.session.commit()
        except Exception as error:
            _fail_run(run, client, error)
            raise
    _learn_sizes(run)
    return run


def _learn_sizes(run):
    """After a run that wrote many contacts (a first import, a reorganisation), the query planner
    learns the book's new shape at once (search.refresh_statistics_after), as the CSV import does:
    PostgreSQL otherwise plans the book's filters for the table it knew before the run."""
    written = sum((run.counts or {}).get(kind.plural, 0) for kind in WRITING_KINDS)
    try:
        search.refresh_statistics_after(written)
    except Exception:  # the run is committed; the hourly upkeep gathers them instead
        db.session.rollback()
        log.exception("customer %s: statistics after run %s not refreshed", run.customer_id, run.id)


def _client_or_fail(run, connection):
    """The Graph client of the run's connection; a client that cannot be made fails the run."""
    try:
        return graph_client(connection)
    except Exception as error:  # e.g. a stored token that cannot be decrypted
        _fail_run(run, None, error)
        raise


# --- imports ----------------------------------------------------------------------------------


def import_users(customer, user_ids=(), trigger="manual", job=None, subscription=None):
    """Import M365 users as contacts (create / link / already present / skipped); -> (run, outcome).

    With `subscription`, the users are the group's transitive members and go into its contact
    group. Graph errors end the import before anything is written (the run is recorded failed).
    """
    try:
        with lock.held(customer.id, current_app.config["SYNC_LOCK_WAIT"]) as lease:
            inputs = RunInputs.load(db.session.get(Customer, customer.id))  # read once, under the lock
            problem = inputs.blocker(need_active=False)
            if problem:
                raise SyncNotPossible(problem)
            return _locked_import(inputs, user_ids, trigger, job, subscription, lease)
    except lock.CustomerBusy:
        raise SyncNotPossible(
            "Another sync of this customer is running; try again in a few minutes."
        ) from None


def _locked_import(inputs, user_ids, trigger, job, subscription, lease):
    customer = inputs.customer
    run = _start_run(customer.id, RunKind.IMPORT, trigger, job)
    with _client_or_fail(run, inputs.connection) as client:
        try:
            baseline = fetch.take_baseline(
                client,
                inputs.connection,
                book_has_links(customer),
                utcnow(),
                groups=subscription is not None and not _subscription_imported(customer),
            )
            if subscription is not None:
                user_ids = client.group_member_ids(subscription.m365_group_id, transitive=True)
            group_id = subscription.contact_group_id if subscription is not None else None
            outcome = _import(_with_settings(inputs), client, run, user_ids, group_id, from_graph=baseline)
            _finish_run(run, client, outcome.counts, RunStatus.SUCCEEDED)
            lease.confirm()
            db.session.commit()
        except Exception as error:
            _fail_run(run, client, error)
            raise
    _learn_sizes(run)
    return run, outcome


def book_has_links(customer):
    """True when any contact of the customer (archived ones too) is linked to an M365 user."""
    return (
        db.session.scalar(
            select(Contact.id)
            .where(Contact.customer_id == customer.id, Contact.m365_user_id.is_not(None))
            .limit(1)
        )
        is not None
    )


def _subscription_imported(customer):
    """True when the members of a subscribed group were imported before (a run succeeded)."""
    return (
        db.session.scalar(
            select(SyncRun.id)
            .where(
                SyncRun.customer_id == customer.id,
                SyncRun.kind == RunKind.IMPORT,
                SyncRun.trigger == "subscription",
                SyncRun.status == RunStatus.SUCCEEDED,
            )
            .limit(1)
        )
        is not None
    )


def _import(inputs, client, run, user_ids, group_id, from_graph):
    """Plan and write the import a slice at a time (portal.sync.import_slices); -> ImportOutcome.
    `from_graph`: read every user from Graph (a delta baseline was taken just now, so the
    directory cache predates it)."""
    customer = inputs.customer
    rules = rules_for(customer, inputs.settings)
    planner = ImportPlanner(
        snapshot(customer), replace(rules, update_all=False, held_contact_ids=frozenset())
    )
    fresh = utcnow() - timedelta(minutes=current_app.config["DIRECTORY_FRESH_MINUTES"])
    users = ImportUsers(customer, client, loaded_after=fresh, from_graph=from_graph)
    wanted = [(uid, group_id) for uid in dict.fromkeys(user_ids)]
    return import_in_slices(planner, users, wanted, customer, run)


def import_result(run, outcome):
    """The result the Manual-mode page shows for an import job (`outcome`: an ImportOutcome)."""
    counts = outcome.counts
    return {
        "run_id": run.id,
        "created": counts.get("creates", 0),
        "linked": counts.get("links", 0),
        "already_present": counts.get("present", 0),
        "updated": counts.get("updates", 0) + counts.get("restores", 0),
        "added_to_group": counts.get("group_adds", 0),
        "skipped": [{"name": c.name, "email": c.email, "reason": c.reason} for c in outcome.skipped],
    }


# --- run records ------------------------------------------------------------------------------


def _start_run(customer_id, kind, trigger, job):
    run = SyncRun(
        customer_id=customer_id,
        kind=kind,
        trigger=trigger,
        status=RunStatus.RUNNING,
        started_at=utcnow(),
        counts={},
        job_id=job.id if job is not None else None,
    )
    db.session.add(run)
    _commit_keeping_loaded()  # visible in the history while it runs
    return run


def _commit_keeping_loaded():
    """Commit without expiring what the session loaded: the run goes on with the inputs it read
    (under the customer's lock) instead of reading them again."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def _finish_run(run, client, counts, status, resync="", notes=()):
    run.status = status
    run.finished_at = utcnow()
    run.counts = {
        k: v
        for k, v in counts.items()
        if v and not (run.kind == RunKind.SYNC and k == ChangeKind.PRESENT.plural)
    }
    run.full_resync = bool(resync)
    run.resync_reason = resync
    run.graph_requests = client.request_count if client is not None else 0
    run.resource_units = client.resource_units if client is not None else 0
    run.message = "\n".join(notes)


def _fail_run(run, client, error):
    """Record a failed run in its own transaction: nothing of the run's changes is kept."""
    db.session.rollback()
    run = db.session.get(SyncRun, run.id)
    message = getattr(error, "message", None) or f"{error.__class__.__name__}: {error}"
    log.warning("customer %s: %s run %s failed: %s", run.customer_id, run.kind, run.id, message)
    _finish_run(
        run, client, {}, RunStatus.FAILED, notes=[f"{message} Nothing was changed; no contact was removed."]
    )
    db.session.commit()


def _record_skip(customer_id, kind, trigger, job, reason):
    run = SyncRun(
        customer_id=customer_id,
        kind=kind,
        trigger=trigger,
        status=RunStatus.SKIPPED,
        started_at=utcnow(),
        finished_at=utcnow(),
        counts={},
        message=reason,
        job_id=job.id if job is not None else None,
    )
    db.session.add(run)
    db.session.commit()
    return run


def successful_sync():
    """The condition on SyncRun rows that are successful syncs (a held run succeeded too)."""
    return and_(SyncRun.kind == RunKind.SYNC, SyncRun.status.in_([RunStatus.SUCCEEDED, RunStatus.HELD]))


def last_successful_sync(customer_id):
    """When the customer's last successful sync started, or None."""
    return db.session.scalar(
        select(SyncRun.started_at)
        .where(SyncRun.customer_id == customer_id, successful_sync())
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    )


# --- housekeeping -----------------------------------------------------------------------------


def purge_expired(now=None):
    """Delete contacts archived more than 30 days ago, and runs older than 90 days. Commits.

    Every archived contact counts, linked or not: a new tenant's connection unlinks archived
    contacts too (sync.connection._forget_other_tenant), and they must not stay forever.
    """
    now = now or utcnow()
    expired = select(Contact.customer_id, Contact.id).where(
        Contact.archived_at < now - timedelta(days=ARCHIVE_DAYS)
    )
    by_customer = {}
    for customer_id, contact_id in db.session.execute(expired):
        by_customer.setdefault(customer_id, []).append(contact_id)
    purged = sum(_purge_customer(customer_id, ids) for customer_id, ids in by_customer.items())
    old_runs = db.session.scalars(  # an Entra removal still to be reported waits for its report
        select(SyncRun.id).where(
            SyncRun.started_at < now - timedelta(days=HISTORY_DAYS), SyncRun.report_pending.is_(False)
        )
    ).all()
    # Dependants first, in code: ON DELETE is not something to rely on (see delete_contacts).
    for chunk in chunks(old_runs):
        db.session.execute(delete(SyncChange).where(SyncChange.run_id.in_(chunk)))
        db.session.execute(update(HeldRemoval).where(HeldRemoval.run_id.in_(chunk)).values(run_id=None))
        db.session.execute(delete(SyncRun).where(SyncRun.id.in_(chunk)))
    db.session.commit()
    return {"contacts": purged, "runs": len(old_runs)}


def _purge_customer(customer_id, contact_ids):
    """Delete one customer's expired contacts in its own transaction; a failure is logged, not raised."""
    try:
        purged = delete_contacts(customer_id, contact_ids)
        db.session.commit()
        return purged
    except Exception:
        db.session.rollback()
        log.exception("customer %s: expired contacts could not be purged", customer_id)
        return 0
