"""The emails a sync sends: the removal report (every removed contact) and the deletions-held notice.

Both are queued in the outbox inside the run's transaction (portal.mail.notify_customer adds a
row), so a report exists exactly when the removals it reports were written. A report that cannot
be built never fails the run: the run's notes say what became of each one.
"""

from portal.links import portal_url
from portal.mail import notify_customer
from portal.sync.apply import archive_reason

REMOVAL_REPORT = "the removal report"
HELD_NOTICE = "the notice of the held removals"


def removed_rows(changes, when):
    """Rows of the removal report: name, email, when, why."""
    return [
        {"name": c.name, "email": c.email, "when": when, "why": archive_reason(c.reason)} for c in changes
    ]


def recorded_rows(changes):
    """Rows of the removal report for removals recorded earlier (SyncChange rows), each at its time."""
    return [
        {
            "name": c.contact_name,
            "email": c.contact_email,
            "when": c.created_at,
            "why": archive_reason(c.detail),
        }
        for c in changes
    ]


def send_removal_report(customer, removed, when, run=None):
    """Queue the removal report listing `removed` (plan changes); returns the mail.Notice."""
    return queue_removal_report(customer, removed_rows(removed, when), when, run=run)


def queue_removal_report(customer, rows, when, run=None, by_entra=False):
    """Queue the removal report of `rows` (removed_rows, recorded_rows); `by_entra`: the removals of
    an Entra provisioning cycle (portal.scim.reports), else the M365 sync's. Returns the mail.Notice."""
    return notify_customer(
        "removal_report",
        customer,
        {
            "customer": customer,
            "removed": rows,
            "when": when,
            "history_url": portal_url("sync.history"),
            "by_entra": by_entra,
        },
        run=run,
    )


def send_reports(customer, plan, run, now):
    """Queue what this run must tell the recipients; returns notes for the run's message."""
    notes = []
    if plan.removals:
        notes.append(send_removal_report(customer, plan.removals, now, run=run).note(REMOVAL_REPORT))
    if plan.holds:
        notice = notify_customer(
            "deletions_held",
            customer,
            {
                "customer": customer,
                "held": removed_rows(plan.holds, now),
                "when": now,
                "synced": plan.synced_count,
                "held_url": portal_url("sync.held"),
            },
            run=run,
        )
        notes.append(
            f"{len(plan.holds)} removals held by the deletion threshold; "
            "an administrator must allow them or keep the contacts."
        )
        notes.append(notice.note(HELD_NOTICE))
    return notes
