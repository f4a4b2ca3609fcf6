"""The "Synchronize contacts" page: connect (Release M365 Interface), end, settings, audit log."""

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import htmx
from portal.auth import access
from portal.auth.session import current_session
from portal.extensions import db
from portal.m365 import consent, credentials, oauth, tokens
from portal.models import ConnectionType, OAuthFlow, SyncSettings
from portal.sync import connection as service
from portal.sync import lock
from portal.sync.attention import problems
from portal.synchronize import settings
from portal.writes import book_write

bp = Blueprint("m365", __name__, url_prefix="/m365")


@bp.record_once
def _init(state):
    # Resolve the token key at start-up: a bad key fails loudly, a generated one is reported.
    tokens.init_app(state.app)


@bp.app_template_filter("isodatetime")
def _isodatetime(value):
    """Format an ISO timestamp string (as kept in SyncSettings.changed) like the |datetime filter."""
    try:
        return format_datetime(datetime.fromisoformat(value), "medium")
    except (TypeError, ValueError):
        return value or "—"


def _page_context(customer, **extra):
    sync_settings = SyncSettings.for_customer(customer)
    db.session.commit()  # the defaults row, created on first visit
    context = {
        "customer": customer,
        "connection": service.connection_for(customer),
        "settings": sync_settings,
        "labels": settings.setting_labels(),
        "audit": settings.audit_log(customer),
        "action_labels": settings.action_labels(),
        "configured": oauth.is_configured(),
        "default_type": oauth.default_connection_type(),
        "type_label": service.type_label,
        "health_label": service.health_label,
        "confirm_unlink": None,
        "problems": problems(customer),
        "credential": credentials.in_use(),
    }
    context.update(extra)
    return context


@bp.route("/")
@login_required
def index():
    """The "Synchronize contacts" page of the working customer."""
    customer = access.current_customer()
    return render_template("m365/index.html", **_page_context(customer))


@bp.route("/connect", methods=["POST"])
@login_required
def connect():
    """ "Release M365 Interface": start Microsoft sign-in (also to re-authenticate, grant admin
    consent again, or switch the connection type)."""
    customer = access.current_customer()
    if not customer.ms_user_sync_in_effect:
        abort(400)
    connection_type = request.values.get("connection_type") or oauth.default_connection_type()
    if connection_type not in oauth.CONNECTION_TYPES:
        abort(400)
    try:
        response, state = oauth.start_sign_in(connection_type)
    except oauth.SignInFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("m365.index"))
    OAuthFlow.remember(current_session(), state, OAuthFlow.SIGN_IN, customer, type=connection_type)
    db.session.commit()
    return response


@bp.route("/callback")
@login_required
def callback():
    """Microsoft sends the admin back here (after the sign-in, and after the admin consent): check
    everything, then store the connection."""
    flow = OAuthFlow.take(current_session(), request.args.get("state"))  # once, this session's, fresh
    customer = access.get_customer_or_404(flow.customer_id) if flow else access.current_customer()
    try:
        if flow is None:
            oauth.fail("state")
        if not customer.ms_user_sync_in_effect:
            oauth.fail("failed", _("Microsoft User Synchronization is switched off"))
        if flow.purpose == OAuthFlow.CONSENT:
            sign_in = consent.finish(flow.details, request.args)
        else:
            sign_in = oauth.finish_sign_in(
                flow.details["type"],
                tenant_free=lambda tenant_id: service.tenant_free(customer, tenant_id),
            )
            if sign_in.connection_type == ConnectionType.APPLICATION:
                return _ask_admin_consent(customer, sign_in)  # nothing stored until consent is proven
        with lock.held(customer.id, current_app.config["SYNC_LOCK_WEB_WAIT"]):  # never under a sync
            unlinked = service.save_connection(customer, current_user, sign_in)
    except oauth.SignInFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
    except service.TenantTaken:
        flash(oauth._messages()["tenant_taken"], "error")
    else:
        _flash_connected(unlinked)
    access.choose_customer(customer.id)
    return redirect(url_for("m365.index"))


def _ask_admin_consent(customer, sign_in):
    """Send the administrator who just signed in on to admin consent; keep who it was, and for
    which tenant, under the consent's state (on the server)."""
    response, state = consent.start(sign_in)
    OAuthFlow.remember(current_session(), state, OAuthFlow.CONSENT, customer, **consent.started_for(sign_in))
    db.session.commit()
    return response


def _flash_connected(unlinked):
    flash(_("M365 interface has been connected"), "success")
    if unlinked:
        flash(
            ngettext(
                "%(num)s contact was linked to a user of the previously connected tenant. "
                "It was unlinked and stays in the contact book.",
                "%(num)s contacts were linked to users of the previously connected tenant. "
                "They were unlinked and stay in the contact book.",
                unlinked,
            ),
            "info",
        )


@bp.route("/end", methods=["GET", "POST"])
@login_required
@book_write
def end():
    """ "End Interface": a confirmation page, then remove tokens and sync state."""
    customer = access.current_customer()
    connection = service.connection_for(customer)
    if connection is None:
        return redirect(url_for("m365.index"))
    if request.method == "POST":
        service.end_interface(customer, current_user)
        flash(_("The M365 interface has been ended. Contacts and contact groups stay."), "success")
        return redirect(url_for("m365.index"))
    return render_template("m365/end.html", customer=customer, connection=connection)


def _switch_response(customer, name, **extra):
    """The switch's own row for htmx (plus events that refresh the audit log and mode panel)."""
    context = _page_context(customer, **extra)
    if not htmx.is_htmx():
        if extra.get("confirm_unlink"):
            return render_template("m365/index.html", **context)
        return redirect(url_for("m365.index"))
    template = "m365/_mode_row.html" if name == "mode" else "m365/_switch_row.html"
    response = render_template(template, name=name, **context)
    events = "m365-audit-changed" + (", m365-mode-changed" if name == "mode" else "")
    return response, 200, {"HX-Trigger": events}


@bp.route("/settings/<name>", methods=["GET", "POST"])
@login_required
def setting(name):
    """Save one switch at once (htmx swaps its own row); GET returns the row (cancel a confirmation)."""
    customer = access.current_customer()
    if name not in (*settings.SWITCHES, "mode"):
        abort(404)
    if not customer.ms_user_sync_in_effect or service.connection_for(customer) is None:
        abort(409)
    if request.method == "GET":
        return _switch_response(customer, name)
    if name == "mode":
        try:
            settings.set_mode(customer, current_user, request.form.get("mode", ""))
        except ValueError:
            abort(400)
        return _switch_response(customer, name)
    on = request.form.get("value") == "on"
    if name == "sync_active":
        settings.set_sync_active(customer, current_user, on)
        return _switch_response(customer, name)
    if not on and request.form.get("confirm") != "yes":
        count = settings.automatic_link_count(customer)
        if count and SyncSettings.for_customer(customer).link_active:
            return _switch_response(customer, name, confirm_unlink=count)
    try:
        _settings, removed = settings.set_link_active(customer, current_user, on)
    except lock.CustomerBusy as busy:  # a sync holds the book: nothing changed
        if not htmx.is_htmx():
            flash(_(busy.message), "error")
        return _switch_response(customer, name, busy=_(busy.message))
    if removed and not htmx.is_htmx():
        flash(
            _("%(count)s automatically created links were removed; the contacts stay.", count=removed),
            "success",
        )
    return _switch_response(customer, name, removed_links=removed)


@bp.route("/audit")
@login_required
def audit():
    """The audit log table (refreshed by htmx after each change)."""
    customer = access.current_customer()
    return render_template(
        "m365/_audit.html", audit=settings.audit_log(customer), action_labels=settings.action_labels()
    )


@bp.route("/mode-panel")
@login_required
def mode_panel():
    """The Manual/Automatic panel of the current mode (refreshed by htmx when the mode changes)."""
    customer = access.current_customer()
    return render_template("m365/_mode_panel.html", **_page_context(customer))
