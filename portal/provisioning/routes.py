"""The "Entra provisioning" page of the working customer: who writes the book (Microsoft Graph or
Entra provisioning), the Tenant URL and tokens Entra needs, and what Entra's requests did.

The rules live in portal.scim (source.switch, tokens, activity); the views parse, scope and render.
Every endpoint works on the working customer (access.current_customer, as "Synchronize contacts").
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.http import HTTP_STATUS_CODES

from portal.auth import access
from portal.extensions import db
from portal.links import portal_base_url
from portal.models import AuditEntry, DirectorySource, ScimToken, SyncSettings
from portal.models.provisioning import ScimOperation
from portal.scim import activity, source, tokens
from portal.sync import lock
from portal.synchronize import settings
from portal.text import single_line

bp = Blueprint("provisioning", __name__, url_prefix="/provisioning")

SCIM_PATH = "/scim/v2"
AUDIT_ACTIONS = ("scim_token_created", "scim_token_revoked", *source.AUDIT_ACTIONS.values())


def tenant_url():
    """The Tenant URL admins paste into Entra: PORTAL_BASE_URL (as in emails) + /scim/v2."""
    return portal_base_url() + SCIM_PATH


def source_labels():
    """The directory sources as admins read them."""
    return {
        DirectorySource.GRAPH: _("Microsoft Graph (daily sync)"),
        DirectorySource.SCIM: _("Entra provisioning (SCIM)"),
    }


def status_words(status):
    """An HTTP status of a SCIM answer in words."""
    words = {
        200: _("OK"),
        201: _("Created"),
        204: _("Done"),
        400: _("Bad request"),
        401: _("Token refused"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("Conflict"),
        413: _("Request too large"),
        429: _("Too many requests"),
    }
    if status in words:
        return words[status]
    return _("Server error") if status >= 500 else HTTP_STATUS_CODES.get(status, str(status))


def _audit(customer):
    return db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.customer_id == customer.id, AuditEntry.action.in_(AUDIT_ACTIONS))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(20)
    ).all()


def _context(customer, **extra):
    all_tokens = tokens.all_tokens(customer)
    context = {
        "customer": customer,
        "source_labels": source_labels(),
        "tenant_url": tenant_url(),
        "tokens": all_tokens,
        "limit_reached": sum(t.is_active for t in all_tokens) >= tokens.ACTIVE_LIMIT,
        "active_limit": tokens.ACTIVE_LIMIT,
        "activity": activity.recent(customer, 50),
        "counts": activity.last_cycle_counts(customer),
        "operation_label": ScimOperation.label_of,
        "status_words": status_words,
        "audit": _audit(customer),
        "action_labels": settings.action_labels(),
        "link_active": SyncSettings.for_customer(customer).link_active,
        "secret": None,
        "new_token": None,
        "error": None,
    }
    context.update(extra)
    return context


@bp.route("/")
@login_required
def index():
    """The "Entra provisioning" page of the working customer."""
    customer = access.current_customer()
    return render_template("provisioning/index.html", **_context(customer))


@bp.route("/tokens", methods=["POST"])
@login_required
def create_token():
    """Create a token; its secret is in this answer only (never stored, flashed or logged)."""
    customer = access.current_customer()
    try:
        label = single_line(request.form.get("label", ""))
        token, secret = tokens.create(customer, label, current_user.email)
    except tokens.TokenError:
        message = _("%(limit)s tokens are already active; revoke one before creating another.")
        context = _context(customer, error=message % {"limit": tokens.ACTIVE_LIMIT})
        return render_template("provisioning/index.html", **context), 409
    db.session.commit()
    context = _context(customer, secret=secret, new_token=token)
    return render_template("provisioning/index.html", **context), 201, {"Cache-Control": "no-store"}


@bp.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke_token(token_id):
    """ "Revoke": a confirmation page, then the token stops working at once."""
    token = access.owned_by_current_customer(ScimToken, token_id)
    if request.method == "POST":
        tokens.revoke(token, current_user.email)
        db.session.commit()
        message = _("The token “%(label)s” has been revoked; Entra can no longer use it.", label=token.label)
        flash(message, "success")
        return redirect(url_for("provisioning.index"))
    return render_template("provisioning/revoke.html", token=token, customer=access.current_customer())


@bp.route("/link-active", methods=["POST"])
@login_required
def link_active():
    """ "Link active" for Entra provisioning: a user whose email an existing contact has takes that
    contact over (the same setting as on Synchronize contacts, which needs an M365 connection)."""
    customer = access.current_customer()
    on = request.form.get("on") == "1"
    try:
        settings.set_link_active(customer, current_user, on)
    except lock.CustomerBusy as busy:
        flash(_(busy.message), "error")
        return redirect(url_for("provisioning.index"))
    if on:
        flash(_("Entra's next cycle takes over existing contacts with the same email address."), "success")
    else:
        flash(_("Entra no longer takes over existing contacts by email address."), "success")
    return redirect(url_for("provisioning.index"))


@bp.route("/source", methods=["GET", "POST"])
@login_required
def switch_source():
    """Switch the directory source: a confirmation page that explains the consequence, then the switch."""
    customer = access.current_customer()
    other = DirectorySource.GRAPH if customer.provisioned_by_entra else DirectorySource.SCIM
    try:
        target = DirectorySource(request.values.get("to") or other)
    except ValueError:
        abort(400)
    if request.method == "GET":
        if target == customer.directory_source:
            return redirect(url_for("provisioning.index"))
        return render_template(
            "provisioning/switch.html", customer=customer, target=target, source_labels=source_labels()
        )
    try:
        changed = source.switch(customer, target, current_user.email)
    except lock.CustomerBusy as busy:
        flash(_(busy.message), "error")
        return redirect(url_for("provisioning.index"))
    if changed:
        flash(_("The directory source is now %(source)s.", source=source_labels()[target]), "success")
    return redirect(url_for("provisioning.index"))
