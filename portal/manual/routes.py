"""Manual mode: the contact book beside the tenant's users; load, search, select, "Import N users".

The panel is shown on the "Synchronize contacts" page (templates/m365/_mode_manual.html loads it) and
on its own page, /m365/manual. Every endpoint works on the working customer (access.current_customer).
"""

from flask import Blueprint, abort, render_template, request
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import htmx, queue
from portal.auth import access
from portal.boundary import positive_int
from portal.extensions import db
from portal.m365.graph import GraphError
from portal.manual import services
from portal.models import Job, JobKind, SyncMode
from portal.models.directory import DirectoryGroup, DirectoryUser
from portal.sync import directory
from portal.sync.service import sync_blocker

bp = Blueprint("manual", __name__, url_prefix="/m365/manual")

USERS_PER_PAGE = 50
CONTACTS_PER_PAGE = 20
# The group filter is a select of the loaded groups up to this many; a larger tenant finds a group
# with "Group_Users" (a search).
GROUP_FILTER_MAX = 300


@bp.before_request
@login_required
def _signed_in_only():
    """Every Manual-mode endpoint needs a signed-in admin."""


def _term(name="q"):
    return (request.args.get(name) or request.form.get(name) or "").strip()


def _not_ready_reason(customer):
    """Why Manual mode is not available for the customer now (translated), or None."""
    reason = sync_blocker(customer, need_active=False, mode=SyncMode.MANUAL)
    return _(reason) if reason else None


def _ready_customer():
    """The working customer, when Manual mode is available for it; else 404."""
    customer = access.current_customer()
    if _not_ready_reason(customer):
        abort(404)
    return customer


def _shown(customer, term=None):
    """(the list's filters as the request gives them: search, department, country, group, "selected
    only"; a notice when the group's members could not be fetched). Another customer's group: 404."""
    facets = tuple((name, request.values[name]) for name in services.FACETS if request.values.get(name))
    group_id, group, notice = request.values.get("group", type=positive_int), None, None
    if group_id:
        group = access.owned_by_current_customer(DirectoryGroup, group_id)
        try:
            services.load_members(customer, group)
            db.session.commit()
        except (GraphError, services.ManualError) as exc:
            db.session.rollback()
            group, notice = None, ("error", exc.message)
    only = request.values.get("only") == "selected"
    term = _term() if term is None else term
    return services.Shown(term=term, facets=facets, only_selected=only, group=group), notice


def _users_context(customer, term=None, page=None):
    shown, notice = _shown(customer, term)
    listed = services.listed_users(customer, shown)
    users = db.paginate(
        listed,
        per_page=USERS_PER_PAGE,
        error_out=False,
        page=request.args.get("page", 1, type=positive_int) if page is None else page,
    )
    return {
        "customer": customer,
        "term": shown.term,
        "shown": shown,
        "facets": dict(shown.facets),
        "group_id": shown.group.id if shown.group is not None else None,
        "notice": notice,
        "users": users,
        "loaded": directory.user_count(customer),
        "in_book": services.known_user_ids(customer, [u.m365_id for u in users.items]),
        "chosen": services.selected_on_page(customer, users.items),
        "only_selected": shown.only_selected,
        **dict(zip(("importable", "left_out"), services.import_summary(customer), strict=True)),
    }


def _microsoft_context(customer):
    context = _users_context(customer)
    context.update(
        load_job=queue.latest_job(customer, JobKind.DIRECTORY_LOAD),
        import_job=queue.latest_job(customer, JobKind.IMPORT),
        groups=directory.group_count(customer),
        facet_options={name: services.facet_counts(customer, name) for name in services.FACETS},
        group_options=_group_options(customer),
    )
    return context


def _group_options(customer):
    """The groups of the group filter: every loaded group, none when there are more than fit a select."""
    groups = directory.search_groups(customer, limit=GROUP_FILTER_MAX + 1)
    return groups if len(groups) <= GROUP_FILTER_MAX else []


def _contacts_context(customer):
    term = _term()
    contacts = db.paginate(
        services.contacts_query(customer, term),
        per_page=CONTACTS_PER_PAGE,
        page=request.args.get("page", 1, type=positive_int),
        error_out=False,
    )
    return {"customer": customer, "contacts": contacts, "contact_term": term}


def _panel_context(customer):
    reason = _not_ready_reason(customer)
    if reason:
        return {"customer": customer, "not_ready": reason}
    context = _microsoft_context(customer)
    context.update(_contacts_context(customer))
    context["not_ready"] = None
    return context


@bp.route("/")
def index():
    """Manual mode on a page of its own: the contact book and the Microsoft side."""
    customer = access.current_customer()
    return render_template("manual/index.html", **_panel_context(customer))


@bp.route("/panel")
def panel():
    """The Manual panel alone (loaded into the "Synchronize contacts" page)."""
    customer = access.current_customer()
    return render_template("manual/_panel.html", **_panel_context(customer))


@bp.route("/contacts")
def contacts():
    """The contact book side: search and pages."""
    customer = _ready_customer()
    return render_template("manual/_contacts.html", **_contacts_context(customer))


@bp.route("/users")
def users():
    """ "Search Users": the loaded users matching the search, one page, from the local cache."""
    customer = _ready_customer()
    return render_template("manual/_users.html", **_users_context(customer))


@bp.route("/load", methods=["POST"])
def load():
    """ "Load Users from Microsoft": queue the load job and show its progress."""
    customer = _ready_customer()
    services.enqueue_load(customer, current_user)
    db.session.commit()
    return render_template("manual/_microsoft.html", **_microsoft_context(customer))


@bp.route("/load/<int:job_id>")
def load_status(job_id):
    """The load's progress; when it is done, the loaded users (and polling stops)."""
    customer = _ready_customer()
    job = _job_or_404(job_id, JobKind.DIRECTORY_LOAD)
    if not job.is_finished:
        return htmx.poll(False, "manual/_load_progress.html", job=job)
    return htmx.poll(True, "manual/_microsoft.html", **_microsoft_context(customer))


def _job_or_404(job_id, kind):
    job = access.owned_by_current_customer(Job, job_id)
    if job.kind != kind:
        abort(404)
    return job


def _button_context(customer):
    """What manual/_import.html needs to add the "Import N users" button out of band (as _with_button)."""
    importable, left_out = services.import_summary(customer)
    return {
        "oob_button": True,
        "importable": importable,
        "left_out": left_out,
        "button_job": queue.active_job(customer, JobKind.IMPORT),
    }


def _with_button(template, customer, /, **context):
    """A fragment plus the "Import N users" button swapped out of band (N follows the selection)."""
    context["customer"] = customer
    body = render_template(template, **context)
    importable, left_out = services.import_summary(customer)
    button = render_template(
        "manual/_import_button.html",
        importable=importable,
        left_out=left_out,
        oob=True,
        import_job=queue.active_job(customer, JobKind.IMPORT),
    )
    return body + button


@bp.route("/users/<int:user_id>/toggle", methods=["POST"])
def toggle(user_id):
    """Clicking a user deselects it, clicking again selects it; answers its row."""
    customer = _ready_customer()
    row = access.owned_by_current_customer(DirectoryUser, user_id)
    chosen = {row.m365_id} if services.toggle(customer, row) else set()
    db.session.commit()
    in_book = services.known_user_ids(customer, [row.m365_id])
    return _with_button("manual/_user_row.html", customer, user=row, in_book=in_book, chosen=chosen)


@bp.route("/select", methods=["POST"])
def select_all():
    """Select all / select none: exactly the users the filters show; answers the user list."""
    customer = _ready_customer()
    shown, notice = _shown(customer)
    if notice is None:
        services.select_all(customer, on=request.form.get("value") != "none", shown=shown)
    db.session.commit()
    return _with_button("manual/_users.html", customer, **_users_context(customer))


@bp.route("/groups")
def groups():
    """ "Group_Users" picker: loaded groups matching the search."""
    customer = _ready_customer()
    term = _term("gq")
    return render_template(
        "manual/_groups.html", group_list=directory.search_groups(customer, term, limit=20), group_term=term
    )


@bp.route("/groups/<int:group_id>/select", methods=["POST"])
def select_group(group_id):
    """Select exactly the (transitive) members of one group; answers the user list."""
    customer = _ready_customer()
    group = access.owned_by_current_customer(DirectoryGroup, group_id)
    try:
        action, count = services.select_group(customer, group)
    except (GraphError, services.ManualError) as exc:
        db.session.rollback()
        notice = ("error", exc.message)
    else:
        db.session.commit()
        notice = ("success", _group_notice(action, count, group.display_name))
    context = _users_context(customer, term="")
    context["notice"] = notice
    return _with_button("manual/_users.html", customer, **context)


def _group_notice(action, count, name):
    if action == services.GROUP_ONLY:
        return _("Selected the %(count)s members of %(group)s.", count=format_decimal(count), group=name)
    if action == services.GROUP_ADDED:
        return _(
            "Added the %(count)s members of %(group)s to the selection.",
            count=format_decimal(count),
            group=name,
        )
    return _(
        "Took the %(count)s members of %(group)s out of the selection.",
        count=format_decimal(count),
        group=name,
    )


@bp.route("/import", methods=["POST"])
def import_users():
    """ "Import N users": queue the import of the selected users and show its progress."""
    customer = _ready_customer()
    try:
        job = services.enqueue_import(customer, current_user)
    except services.ManualError as exc:
        return render_template("manual/_import.html", import_job=None, import_error=exc.message)
    db.session.commit()
    return _with_button("manual/_import.html", customer, import_job=job)


@bp.route("/import/<int:job_id>")
def import_status(job_id):
    """The import's progress bar; when finished, its counts and skipped users (polling stops)."""
    customer = _ready_customer()
    job = _job_or_404(job_id, JobKind.IMPORT)
    if not job.is_finished:
        return htmx.poll(False, "manual/_import.html", import_job=job)
    response = htmx.poll(
        True, "manual/_import.html", import_job=job, customer=customer, **_button_context(customer)
    )
    response.headers["HX-Trigger"] = "contacts-changed"
    return response
