"""The emails a sync sends: the removal report (every removed contact) and the deletions-held notice.

Both are queued in the outbox inside the run's transaction (portal.mail.send_email adds a row),
so a report exists exactly when the removals it reports were written.
"""
import logging

from flask import current_app, url_for

from portal.mail import MailError, send_email

log = logging.getLogger(__name__)


def page_url(endpoint):
    """An absolute link to a portal page, when the portal's address is known (else "")."""
    try:
        return url_for(endpoint, _external=True)
    except RuntimeError:  # the runner: no request and no SERVER_NAME
        base = current_app.config.get("PORTAL_BASE_URL", "")
        path = {"sync.held": "/sync/held", "sync.history": "/sync/history"}.get(endpoint, "/")
        return f"{base.rstrip('/')}{path}" if base else ""


def removed_rows(changes, when):
    """Rows of the removal report: name, email, when, why."""
    from portal.sync.apply import archive_reason

    return [{"name": c.name, "email": c.email, "when": when, "why": archive_reason(c.reason)}
            for c in changes]


def send_removal_report(customer, removed, when):
    """Queue the removal report listing `removed` (plan changes) to the customer's recipients."""
    return _send(customer, "removal_report", {
        "customer": customer, "removed": removed_rows(removed, when), "when": when,
        "history_url": page_url("sync.history")})


def send_reports(customer, plan, run, now):
    """Queue what this run must tell the recipients; returns notes for the run's message."""
    notes = []
    if plan.removals and not send_removal_report(customer, plan.removals, now):
        notes.append("No notification recipients in the master data: the removal report was not sent.")
    if plan.holds:
        sent = _send(customer, "deletions_held", {
            "customer": customer, "held": removed_rows(plan.holds, now), "when": now,
            "synced": plan.synced_count, "held_url": page_url("sync.held")})
        notes.append(f"{len(plan.holds)} removals held by the deletion threshold; "
                     "an administrator must allow them or keep the contacts.")
        if not sent:
            notes.append("No notification recipients in the master data: nobody was told.")
    return notes


def _send(customer, name, ctx):
    recipients = customer.effective_recipients
    if not recipients:
        return False
    try:
        send_email(name, recipients, ctx, customer=customer)
    except MailError:
        log.exception("sync report %s for customer %s not queued", name, customer.id)
        return False
    return True
