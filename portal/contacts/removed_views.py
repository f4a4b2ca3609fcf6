"""Removed contacts: the sync's archive of the last 30 days, with "Restore" (blueprint `contacts`).

The list and the restore are portal.sync.removed; another customer's contact id answers 404.
"""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import htmx
from portal.auth import access
from portal.boundary import positive_int
from portal.contacts import bp
from portal.models import Contact
from portal.sync import removed


@bp.route("/removed")
def removed_list():
    """Contacts the sync removed: when, why, by whom, when they go for good; search and pages."""
    customer = access.current_customer()
    q = (request.args.get("q") or "").strip()[:100]
    page = removed.removed_page(
        customer,
        q,
        page=request.args.get("page", 1, type=positive_int),
        per_page=current_app.config["CONTACTS_PER_PAGE"],
    )
    return htmx.render(
        "contacts/removed.html",
        "contacts/_removed_results.html",
        customer=customer,
        page=page,
        q=q,
        total=removed.removed_count(customer) if not htmx.is_htmx() else None,
    )


@bp.route("/removed/<int:contact_id>/restore", methods=["POST"])
def restore(contact_id):
    """ "Restore": the archived contact goes back into the book (unlinked); htmx swaps its row."""
    customer = access.current_customer()
    contact = access.owned_by_current_customer(Contact, contact_id)
    try:
        removed.restore_contact(customer, contact.id, current_user)
    except removed.NotRestored as problem:
        if htmx.is_htmx():
            return render_template("contacts/_removed_done.html", contact=contact, problem=str(problem))
        flash(str(problem), "error")
        return redirect(url_for(".removed_list"))
    if htmx.is_htmx():
        return render_template("contacts/_removed_done.html", contact=contact, problem=None)
    flash(_("Contact %(email)s restored.", email=contact.email), "success")
    return redirect(url_for(".detail", contact_id=contact.id))
