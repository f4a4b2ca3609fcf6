"""What needs an admin's attention for one customer, each with the action that resolves it.

    problems(customer) -> list[Problem]     most urgent first; [] when all is well

Kinds: REAUTH_REQUIRED (the M365 connection needs a new sign-in: "Release M365 Interface"; with
application permissions, admin consent again: "Grant admin consent again"),
SYNC_FAILED (the last sync that ran failed: its message, a link to the run, "Sync now") and
HELD_DELETIONS (removals held by the deletion threshold: "Allow deletions" / "Keep contacts").

Free of request code and cheap: at most three indexed queries per customer (connection, last
sync, held count), so an overview of many customers can ask for each. Texts are lazy strings,
translated where they are shown (templates/sync/_problems.html renders a list). Actions name an
endpoint of the working customer's pages (access.current_customer), like every page does.
"""

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import func, select

from portal.extensions import db
from portal.m365.connection import connection_for
from portal.models.sync import HeldRemoval, RunStatus, SyncRun

REAUTH_REQUIRED = "reauth_required"
SYNC_FAILED = "sync_failed"
HELD_DELETIONS = "held_deletions"

# A run that ran to the end (skipped runs did not run; running ones have not ended).
_ENDED = (RunStatus.SUCCEEDED.value, RunStatus.HELD.value, RunStatus.FAILED.value)


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
    """The customer's problems, most urgent first (a connection that cannot sync comes first)."""
    found = []
    reauth = _reauth_required(customer)
    if reauth is not None:
        found.append(reauth)
    failed = None if reauth is not None else _last_sync_failed(customer)
    if failed is not None:
        found.append(failed)
    held = _held_deletions(customer)
    if held is not None:
        found.append(held)
    return found


def _reauth_required(customer):
    """The connection needs a new sign-in (only when the prerequisite is on: else none can be made)."""
    connection = connection_for(customer)
    if connection is None or not connection.needs_reauth or not customer.ms_user_sync_in_effect:
        return None
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
    """The last sync that ran to its end failed (a later success clears it; skipped runs don't count)."""
    run = db.session.scalar(
        select(SyncRun)
        .where(SyncRun.customer_id == customer.id, SyncRun.kind == "sync", SyncRun.status.in_(_ENDED))
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    if run is None or run.status != RunStatus.FAILED.value:
        return None
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


def held_count(customer):
    """How many removals wait for "Allow deletions" or "Keep contacts" (as sync.held lists them)."""
    return db.session.scalar(
        select(func.count())
        .select_from(HeldRemoval)
        .join(HeldRemoval.contact)
        .where(HeldRemoval.customer_id == customer.id)
    )


def _held_deletions(customer):
    count = held_count(customer)
    if not count:
        return None
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
