"""Sync history, "Sync now", "Preview next sync" and held deletions."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from portal import book, htmx
from portal.auth import access
from portal.boundary import positive_int
from portal.extensions import db
from portal.models import ContactGroup, JobKind
from portal.models.sync import SyncChange, SyncRun
from portal.models.vocabulary import ChangeKind
from portal.queue import active_job, enqueue, latest_job
from portal.sync import held as held_service
from portal.sync import lock, service, tasks
from portal.sync.apply import split_decided_by

bp = Blueprint("sync", __name__, url_prefix="/sync")


@bp.app_context_processor
def _sync_labels():
    """Templates show the admin who decided a change apart from its reason."""
    return {"split_decided_by": split_decided_by}


PAGE_SIZE = 50


def _page():
    return request.args.get("page", 1, type=positive_int)


@bp.route("/history")
@login_required
def history():
    """Sync history: every run of the working customer, newest first."""
    customer = access.current_customer()
    page = _page()
    runs = db.session.scalars(
        select(SyncRun)
        .where(SyncRun.customer_id == customer.id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    context = {
        "customer": customer,
        "runs": runs[:PAGE_SIZE],
        "page": page,
        "has_next": len(runs) > PAGE_SIZE,
        "sync_job": latest_job(customer, JobKind.SYNC),
        "blocker": service.sync_blocker(customer),
        "held_count": len(held_service.held_removals(customer)),
    }
    return htmx.render("sync/history.html", "sync/_runs.html", **context)


@bp.route("/history/<int:run_id>")
@login_required
def run(run_id):
    """One run: its figures and each contact change, filterable by kind of change."""
    customer = access.current_customer()
    sync_run = access.owned_by_current_customer(SyncRun, run_id)
    kind = request.args.get("kind", "")
    query = select(SyncChange).where(SyncChange.run_id == sync_run.id, SyncChange.customer_id == customer.id)
    if kind in set(ChangeKind):
        query = query.where(SyncChange.kind == kind)
    page = _page()
    changes = db.session.scalars(
        query.order_by(SyncChange.id).offset((page - 1) * PAGE_SIZE * 4).limit(PAGE_SIZE * 4 + 1)
    ).all()
    kinds = dict(
        db.session.execute(
            select(SyncChange.kind, func.count())
            .where(SyncChange.run_id == sync_run.id, SyncChange.customer_id == customer.id)
            .group_by(SyncChange.kind)
        ).all()
    )
    context = {
        "customer": customer,
        "run": sync_run,
        "changes": changes[: PAGE_SIZE * 4],
        "kind": kind,
        "kinds": kinds,
        "page": page,
        "has_next": len(changes) > PAGE_SIZE * 4,
        "group_names": _group_names(customer),
    }
    return htmx.render("sync/run.html", "sync/_changes.html", **context)


def _group_names(customer):
    return dict(
        db.session.execute(
            select(ContactGroup.id, ContactGroup.name).where(ContactGroup.customer_id == customer.id)
        ).all()
    )


@bp.route("/now", methods=["POST"])
@login_required
def now():
    """ "Sync now": queue a sync of the working customer (the runner does it within seconds)."""
    customer = access.current_customer()
    problem = service.sync_blocker(customer)
    if not problem:
        tasks.request_sync(customer, "manual", created_by=current_user)
        db.session.commit()
    if htmx.is_htmx():
        if problem:
            return render_template("sync/_sync_problem.html", problem=problem)
        return _job_status(customer, JobKind.SYNC, "sync/_sync_status.html")
    if problem:
        flash(_(problem), "error")
    else:
        flash(_("The synchronization has been queued."), "success")
    return redirect(url_for("sync.history"))


@bp.route("/status")
@login_required
def status():
    """The running "Sync now" (polled by htmx; answers 286 when finished, to stop the polling)."""
    return _job_status(access.current_customer(), JobKind.SYNC, "sync/_sync_status.html", announce_end=True)


def _job_status(customer, kind, template, **context):
    """The latest job of `kind` in `template`, as a poll answer (286 once it has finished)."""
    job = latest_job(customer, kind)
    return htmx.poll(job is None or job.is_finished, template, job=job, customer=customer, **context)


@bp.route("/preview", methods=["GET", "POST"])
@login_required
def preview():
    """ "Preview next sync": queue a preview (POST), then show its result (what the run would do)."""
    customer = access.current_customer()
    if request.method == "POST":
        problem = service.sync_blocker(customer, need_active=False)
        if problem:
            flash(_(problem), "error")
            return redirect(url_for("sync.history"))
        if active_job(customer, JobKind.PREVIEW) is None:
            enqueue(JobKind.PREVIEW, customer, created_by=current_user)
            db.session.commit()
        return redirect(url_for("sync.preview"))
    job = latest_job(customer, JobKind.PREVIEW)
    context = {"group_names": _group_names(customer), "outdated": _outdated(customer, job)}
    if htmx.is_htmx():
        return _job_status(customer, JobKind.PREVIEW, "sync/_preview.html", **context)
    return render_template("sync/preview.html", customer=customer, job=job, **context)


def _outdated(customer, job):
    """True when the book changed since the finished preview was made: its list is no longer shown."""
    if job is None or job.status != "succeeded":
        return False
    return (job.result or {}).get("book_state") != book.state(customer)


@bp.route("/held")
@login_required
def held():
    """Removals held by the deletion threshold, with "Allow deletions" and "Keep contacts"."""
    customer = access.current_customer()
    return render_template("sync/held.html", customer=customer, held=held_service.held_removals(customer))


@bp.route("/held/allow", methods=["POST"])
@login_required
def allow_deletions():
    """ "Allow deletions": remove (archive) every held contact and send the removal report."""
    return _decide(held_service.allow_deletions, _("The held contacts were removed."))


@bp.route("/held/keep", methods=["POST"])
@login_required
def keep_contacts():
    """ "Keep contacts": keep every held contact; they are no longer tied to M365 users."""
    return _decide(held_service.keep_contacts, _("The held contacts were kept."))


def _decide(action, message):
    customer = access.current_customer()
    try:
        done = action(customer, current_user)
    except lock.CustomerBusy as busy:
        flash(_(busy.message), "error")
        return redirect(url_for("sync.held"))
    flash(message if done else _("No removals are waiting."), "success" if done else "info")
    return redirect(url_for("sync.held"))
