"""What needs an admin's attention for one customer, each with the action that resolves it.

    problems(customer) -> list[Problem]     most urgent first; [] when all is well

Kinds: REAUTH_REQUIRED (the M365 connection needs a new sign-in: "Release M365 Interface"; with
application permissions, admin consent again: "Grant admin consent again"),
SYNC_FAILED (the last sync that ran failed: its message, a link to the run, "Sync now") and
HELD_DELETIONS (removals held by the deletion threshold: "Allow deletions" / "Keep contacts").

    facts_statement(customer_ids) -> (SELECT, sort columns)   facts and FLAGS of many customers

Free of request code. Which problems a customer has is decided in SQL (FLAGS), by the statement the
customer overview runs for a page of customers; problems() runs it for one and reads the details
of what it found. Texts are lazy strings,
translated where they are shown (templates/sync/_problems.html renders a list). Actions name an
endpoint of the working customer's pages (access.current_customer), like every page does.
"""

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import and_, case, false, func, not_, or_, select

from portal.extensions import db
from portal.models import (
    ConnectionStatus,
    ConnectionType,
    Contact,
    Customer,
    DirectorySource,
    M365Connection,
    Reseller,
    SyncMode,
    SyncSettings,
)
from portal.models.sync import HeldRemoval, RunStatus, SyncRun
from portal.models.vocabulary import RunKind
from portal.sync.connection import connection_for
from portal.sync.service import successful_sync

REAUTH_REQUIRED = "reauth_required"
SYNC_FAILED = "sync_failed"
HELD_DELETIONS = "held_deletions"

# Which problems a customer has, decided in SQL for one customer or a page of them (the overview).
FLAGS = ("reauth_required", "last_sync_failed", "deletions_held", "sync_inactive", "prerequisite_off")

# A run that ran to the end (skipped runs did not run; running ones have not ended).
_ENDED = (RunStatus.SUCCEEDED, RunStatus.HELD, RunStatus.FAILED)


@dataclass
class Action:
    """What resolves a problem: a link (method "get") or a button that POSTs, maybe after `confirm`."""

    label: str
    endpoint: str
    values: dict = field(default_factory=dict)
    method: str = "get"
    confirm: str | None = None
    style: str = ""  # "primary" | "danger" | ""


@dataclass
class Problem:
    """One thing an admin should act on. `detail`: the stored reason or run message (as recorded)."""

    kind: str
    message: str
    actions: list
    detail: str = ""
    since: datetime | None = None
    count: int = 0
    run_id: int | None = None


def problems(customer):
    """The customer's problems, most urgent first (a connection that cannot sync comes first).

    Which problems there are is decided by the same SQL as the customer overview's (FLAGS); only
    the details of a problem found (the connection's reason, the failed run) are read after it."""
    statement, _order = facts_statement(select(Customer.id).where(Customer.id == customer.id))
    facts = db.session.execute(statement.where(Customer.id == customer.id)).one()
    found = []
    reauth = facts.reauth_required and not facts.prerequisite_off
    if reauth:
        found.append(_reauth_required(customer))
    if facts.last_sync_failed and not reauth:
        found.append(_last_sync_failed(customer))
    if facts.deletions_held:
        found.append(_held_deletions(facts.held))
    return found


def _reauth_required(customer):
    """The connection needs a new sign-in: "Release M365 Interface"."""
    connection = connection_for(customer)
    if connection.is_application:
        return Problem(
            kind=REAUTH_REQUIRED,
            message=_l(
                "Admin consent required: synchronization is paused until an administrator grants "
                "admin consent again."
            ),
            detail=connection.status_reason,
            since=connection.status_changed_at,
            actions=[
                Action(
                    _l("Grant admin consent again"),
                    "m365.connect",
                    {"connection_type": "application"},
                    method="post",
                    style="primary",
                )
            ],
        )
    return Problem(
        kind=REAUTH_REQUIRED,
        message=_l(
            "Re-authentication required: synchronization is paused until an administrator signs in again."
        ),
        detail=connection.status_reason,
        since=connection.status_changed_at,
        actions=[Action(_l("Release M365 Interface"), "m365.connect", method="post", style="primary")],
    )


def _last_sync_failed(customer):
    """The last sync that ran to its end failed: its message, the run, "Sync now"."""
    run = db.session.scalar(
        select(SyncRun)
        .where(SyncRun.customer_id == customer.id, SyncRun.kind == RunKind.SYNC, SyncRun.status.in_(_ENDED))
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    return Problem(
        kind=SYNC_FAILED,
        message=_l("The last synchronization failed."),
        detail=run.message,
        since=run.started_at,
        run_id=run.id,
        actions=[
            Action(_l("Show the run"), "sync.run", {"run_id": run.id}),
            Action(_l("Sync now"), "sync.now", method="post", style="primary"),
        ],
    )


def _held_deletions(count):
    return Problem(
        kind=HELD_DELETIONS,
        message=lazy_ngettext(
            "%(num)s removal is held by the deletion threshold and waits for your decision.",
            "%(num)s removals are held by the deletion threshold and wait for your decision.",
            count,
        ),
        count=count,
        actions=[
            Action(_l("Review held deletions"), "sync.held"),
            Action(
                _l("Allow deletions"),
                "sync.allow_deletions",
                method="post",
                style="danger",
                confirm=lazy_ngettext("Remove this contact?", "Remove these %(num)s contacts?", count),
            ),
            Action(
                _l("Keep contacts"),
                "sync.keep_contacts",
                method="post",
                confirm=lazy_ngettext(
                    "Keep this contact? It is no longer tied to its M365 user.",
                    "Keep these %(num)s contacts? They are no longer tied to their M365 users.",
                    count,
                ),
            ),
        ],
    )


# --- the facts, in SQL ---------------------------------------------------------------------


def facts_statement(customer_ids):
    """(SELECT of the facts and problem FLAGS of the customers whose ids `customer_ids` selects,
    {sort key: its column}); the caller adds the same condition as WHERE."""
    contacts, held, runs = _grouped(customer_ids)
    connected = M365Connection.id.is_not(None)
    reauth = M365Connection.status == ConnectionStatus.REAUTH_REQUIRED
    held_count = func.coalesce(held.c.n, 0)
    columns = {
        "connection": case((~connected, 0), (reauth, 2), else_=1),  # not connected, connected, re-auth
        "mode": func.coalesce(SyncSettings.mode, SyncMode.MANUAL),
        "last_sync": runs.c.last_ok,
        "contacts": func.coalesce(contacts.c.n, 0),
        "held": held_count,
    }
    flags = _flags(connected, reauth, held_count, runs)
    columns["problems"] = sum(flags.values())
    labelled = {key: expression.label(key) for key, expression in {**columns, **flags}.items()}
    statement = (
        select(
            Customer.id,
            Customer.name,
            Reseller.name.label("reseller"),
            (M365Connection.connection_type == ConnectionType.APPLICATION).label("application"),
            *labelled.values(),
        )
        .select_from(Customer)
        .join(Reseller, Reseller.id == Customer.reseller_id)
        .outerjoin(M365Connection, M365Connection.customer_id == Customer.id)
        .outerjoin(SyncSettings, SyncSettings.customer_id == Customer.id)
        .outerjoin(contacts, contacts.c.customer_id == Customer.id)
        .outerjoin(held, held.c.customer_id == Customer.id)
        .outerjoin(runs, runs.c.customer_id == Customer.id)
    )
    order = {"name": Customer.name, "reseller": Reseller.name, **{k: labelled[k] for k in columns}}
    return statement, order


def _flags(connected, reauth, held_count, runs):
    """{problem: 1 when it applies to the row, else 0}: the one place that says what a problem is."""
    last_failed, last_ok = runs.c.last_failed, runs.c.last_ok
    user_sync_on = func.coalesce(Customer.ms_user_sync, Reseller.ms_user_sync)  # ms_user_sync_in_effect
    conditions = {
        "reauth_required": reauth,
        # The latest sync that finished failed (skipped and running ones do not count).
        "last_sync_failed": and_(last_failed.is_not(None), or_(last_ok.is_(None), last_failed > last_ok)),
        "deletions_held": held_count > 0,
        # Connected, but the daily sync leaves the customer out (not a problem while Entra
        # provisioning writes the book: portal.scim.source).
        "sync_inactive": and_(
            connected,
            Customer.directory_source == DirectorySource.GRAPH,
            not_(func.coalesce(SyncSettings.sync_active, false())),
        ),
        "prerequisite_off": and_(connected, not_(user_sync_on)),
    }
    return {key: case((conditions[key], 1), else_=0) for key in FLAGS}


def _grouped(customer_ids):
    """Active contacts, held deletions and sync runs per customer, for the customers selected."""
    failed = SyncRun.status == RunStatus.FAILED
    contacts = (
        select(Contact.customer_id, func.count().label("n"))
        .where(Contact.customer_id.in_(customer_ids), Contact.archived_at.is_(None))
        .group_by(Contact.customer_id)
        .subquery("contacts")
    )
    held = (
        select(HeldRemoval.customer_id, func.count().label("n"))
        .join(HeldRemoval.contact)
        .where(HeldRemoval.customer_id.in_(customer_ids))
        .group_by(HeldRemoval.customer_id)
        .subquery("held")
    )
    runs = (
        select(
            SyncRun.customer_id,
            func.max(case((successful_sync(), SyncRun.started_at))).label("last_ok"),
            func.max(case((failed, SyncRun.started_at))).label("last_failed"),
        )
        .where(SyncRun.customer_id.in_(customer_ids), SyncRun.kind == RunKind.SYNC)
        .group_by(SyncRun.customer_id)
        .subquery("runs")
    )
    return contacts, held, runs
