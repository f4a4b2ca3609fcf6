"""Automatic mode: "Subscribe to Groups" on the "Synchronize contacts" page (and on its own page).

The panel is loaded by templates/m365/_mode_automatic.html; subscribing to a group creates its contact
group and queues the import of its members (portal.sync.subscriptions). Every endpoint works on the
working customer (access.current_customer).
"""

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal import htmx
from portal.auth import access
from portal.extensions import db
from portal.models import JobKind
from portal.queue import latest_job
from portal.sync import directory, service, subscriptions
from portal.writes import book_write

bp = Blueprint("automatic", __name__, url_prefix="/m365/automatic")


def _automatic_context(customer):
    term = request.values.get("q", "")
    groups = subscriptions.groups_overview(customer, term)
    load_job = latest_job(customer, JobKind.GROUPS_LOAD)
    import_job = latest_job(customer, JobKind.SUBSCRIPTION_IMPORT)
    busy = [j for j in (load_job, import_job) if j is not None and not j.is_finished]
    return {
        "customer": customer,
        "groups": groups,
        "q": term,
        "load_job": load_job,
        "import_job": import_job,
        "busy": busy,
        "all_subscribed": bool(groups) and all(s for _g, s in groups),
        "subscribed_count": subscriptions.subscription_count(customer),
    }


def _ready_customer():
    """The working customer, when subscriptions may change: Microsoft User Synchronization switched
    on and the interface connected (as for loading the groups); else 404, as Manual mode does."""
    customer = access.current_customer()
    if service.sync_blocker(customer, need_active=False) is not None:
        abort(404)
    return customer


@bp.route("/")
@login_required
def index():
    """ "Subscribe to Groups": the tenant's groups with kind and member count; search as you type."""
    customer = access.current_customer()
    context = _automatic_context(customer)
    if request.args.get("part") == "rows":
        return render_template("automatic/_group_rows.html", **context)
    return htmx.render("automatic/index.html", "automatic/_panel.html", **context)


@bp.route("/load", methods=["POST"])
@login_required
def load_groups():
    """Load (or refresh) the tenant's groups and their member counts, as a job."""
    customer = access.current_customer()
    if service.sync_blocker(customer, need_active=False) is None:
        subscriptions.enqueue_groups_load(customer, current_user)
        db.session.commit()
    return _automatic_response(customer)


@bp.route("/groups/<m365_id>", methods=["POST"])
@login_required
@book_write
def toggle_group(m365_id):
    """Subscribe to a group (contact group + import job) or end the subscription (toggle)."""
    customer = _ready_customer()
    group = directory.find_group(customer, m365_id) or abort(404)
    subscribed = not subscriptions.unsubscribe(customer, current_user, m365_id)
    if subscribed:
        subscriptions.subscribe(customer, current_user, group)
    db.session.commit()
    return render_template(
        "automatic/_group_row.html",
        group=group,
        subscribed=subscribed,
        customer=customer,
        start_progress=subscribed,
    )


@bp.route("/all", methods=["POST"])
@login_required
@book_write
def toggle_all():
    """The select-all checkbox: subscribe to every group the search shows, or end their subscriptions.
    Subscribing to more than one group is confirmed first, with how many groups and people it brings in."""
    customer = _ready_customer()
    on, term = request.form.get("on") == "1", request.form.get("q", "")
    if on and request.form.get("confirm") != "yes":
        groups, people, exact = subscriptions.reach(customer, term)
        if groups > 1:
            confirm = {"groups": groups, "people": people, "exact": exact}
            context = _automatic_context(customer)
            return htmx.render(
                "automatic/index.html", "automatic/_panel.html", **context, confirm_all=confirm
            )
    subscriptions.set_all(customer, current_user, on, term)
    db.session.commit()
    return _automatic_response(customer)


@bp.route("/progress")
@login_required
def progress():
    """Progress of the group load and of subscription imports (polled; 286 when both are done)."""
    customer = access.current_customer()
    context = _automatic_context(customer)
    return htmx.poll(
        not context["busy"], "automatic/_progress.html", last_poll=not context["busy"], **context
    )


def _automatic_response(customer):
    """The refreshed panel for htmx, else back to the page."""
    if htmx.is_htmx():
        return render_template("automatic/_panel.html", **_automatic_context(customer))
    return redirect(url_for("automatic.index"))
