"""The contact book's contact views: list, detail, create, edit, delete, export (blueprint `contacts`).

Every view works on `access.current_customer()`; other customers' ids answer 404.
"""

from datetime import date

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.utils import secure_filename

from portal import attributes, book, htmx
from portal.auth import access
from portal.contacts import bp, csv_io, facets, listing, services
from portal.contacts.forms import ContactForm, MembershipForm
from portal.extensions import db
from portal.models import Contact, ContactGroup
from portal.sync.removed import removed_count
from portal.text import email_key
from portal.writes import book_write


@bp.before_request
@login_required
def _signed_in_only():
    """Every page of the contact book needs a signed-in admin."""
    return None


@bp.context_processor
def _attribute_names():
    """The contact book's templates name attributes and columns by the one definition."""
    return {"attribute_label": attributes.label, "column_names": listing.COLUMNS}


@bp.route("/")
def index():
    """The contact book: search, filter by group, attributes and team, choose columns, sort, page."""
    customer = access.current_customer()
    query = listing.ContactQuery.from_args(request.args)
    query.columns = _remembered_columns(query.columns)
    group = access.owned_by_current_customer(ContactGroup, query.group_id) if query.group_id else None
    manager = access.owned_by_current_customer(Contact, query.manager_id) if query.manager_id else None
    page = listing.contact_page(customer, query, per_page=current_app.config["CONTACTS_PER_PAGE"])
    empty_book = page.total == 0 and not listing.customer_has_contacts(customer)
    # An htmx search or page swaps the results only: the filter bar's menus and counts stay.
    whole_page = not htmx.is_htmx()
    return htmx.render(
        "contacts/index.html",
        "contacts/_results.html",
        customer=customer,
        page=page,
        query=query,
        group=group,
        manager=manager,
        groups=services.customer_groups(customer) if whole_page else None,
        value_counts=facets.value_counts(customer) if whole_page else None,
        empty_book=empty_book,
        removed_count=removed_count(customer) if whole_page else None,
    )


def _remembered_columns(asked):
    """The list's optional columns: those the request names (then remembered in the admin's
    session), else the ones remembered, else none."""
    if asked is not None:
        session["contact_columns"] = list(asked)
        return asked
    return listing.chosen_columns(session.get("contact_columns") or ())


def _form_with_groups(customer, contact=None):
    """The contact form offering the customer's groups (checked: the contact's, on first show)."""
    form = ContactForm(obj=contact)
    form.groups.choices = [(g.id, g.name) for g in services.manual_groups(customer)]
    if contact is not None and request.method == "GET":
        form.groups.data = [g.id for g in contact.groups]
        manager = facets.manager_in_book(contact)
        if manager is not None and not form.manager_email.data:
            form.manager_email.data = manager.email
    return form


def _save_from_form(customer, form, contact=None):
    """Validate the form with the book's rules and save; returns the contact or None. The book is
    settled before the commit: the manager is linked, and what follows from attributes follows."""
    if not form.validate_on_submit():
        return None
    problem = book.email_problem(customer, form.email.data, exclude_contact_id=contact and contact.id)
    if problem:
        form.email.errors = [*form.email.errors, problem]
    manager_problem = services.manager_problem(form.manager_email.data, form.email.data)
    if manager_problem:
        form.manager_email.errors = [*form.manager_email.errors, manager_problem]
    if problem or manager_problem:
        return None
    # Another contact finds this one by its email (as their manager): a new contact or a new email
    # settles the whole book, any other change only what follows from this contact.
    found_as_before = contact is not None and contact.email_key == email_key(form.email.data.strip())
    contact = services.save_contact(
        customer,
        contact,
        salutation=form.salutation.data,
        first_name=form.first_name.data,
        last_name=form.last_name.data,
        email=form.email.data,
        groups=services.groups_by_ids(customer, form.groups.data or []),
        attributes=form.attribute_values(),
        manager=(form.manager_email.data or "", form.manager_name.data or ""),
    )
    book.settle(customer.id, only=[contact.id] if found_as_before else None)
    db.session.commit()
    return contact


@bp.route("/new", methods=["GET", "POST"])
@book_write
def new():
    """Add a contact by hand."""
    customer = access.current_customer()
    form = _form_with_groups(customer)
    contact = _save_from_form(customer, form)
    if contact is not None:
        flash(_("Contact %(email)s added.", email=contact.email), "success")
        return redirect(url_for(".detail", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=None), 422 if form.errors else 200


@bp.route("/<int:contact_id>")
def detail(contact_id):
    """All there is to know about one contact: attributes, manager, team and group memberships."""
    contact = access.owned_by_current_customer(Contact, contact_id)
    reports, team_size = facets.team(contact)
    return render_template(
        "contacts/detail.html",
        contact=contact,
        manager=facets.manager_in_book(contact),
        reports=reports,
        team_size=team_size,
        attribute_set=attributes.ATTRIBUTES,
        membership_form=_membership_form(contact),
    )


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@book_write
def edit(contact_id):
    """Change a contact's salutation, names, email, attributes, manager and groups."""
    customer = access.current_customer()
    contact = access.owned_by_current_customer(Contact, contact_id)
    form = _form_with_groups(customer, contact)
    if _save_from_form(customer, form, contact) is not None:
        flash(_("Contact saved."), "success")
        return redirect(url_for(".detail", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=contact), 422 if form.errors else 200


@bp.route("/<int:contact_id>/delete", methods=["GET", "POST"])
@book_write
def delete(contact_id):
    """Ask, then delete the contact."""
    contact = access.owned_by_current_customer(Contact, contact_id)
    if request.method == "POST":
        email = contact.email
        book.delete_contact(contact)
        book.settle(contact.customer_id)
        db.session.commit()
        flash(_("Contact %(email)s deleted.", email=email), "success")
        return redirect(url_for(".index"))
    return render_template("contacts/confirm_delete.html", contact=contact)


def _membership_form(contact, formdata=None):
    """ "Add to group" offering the customer's groups the contact is not in yet."""
    form = MembershipForm(formdata=formdata)
    current = {g.id for g in contact.groups}
    form.group_id.choices = [
        (g.id, g.name) for g in services.manual_groups(access.current_customer()) if g.id not in current
    ]
    return form


def _memberships_response(contact, form=None):
    """The detail page's group list (htmx) or a redirect back to the detail page."""
    if htmx.is_htmx():
        return render_template(
            "contacts/_contact_groups.html",
            contact=contact,
            membership_form=form or _membership_form(contact),
        )
    return redirect(url_for(".detail", contact_id=contact.id))


@bp.route("/<int:contact_id>/groups", methods=["POST"])
@book_write
def add_to_group(contact_id):
    """Put the contact into one of the customer's groups."""
    contact = access.owned_by_current_customer(Contact, contact_id)
    form = _membership_form(contact, formdata=request.form)
    if not form.validate():
        abort(404)  # not one of this customer's groups (or already a member)
    services.add_member(access.owned_by_current_customer(ContactGroup, form.group_id.data), contact)
    db.session.commit()
    return _memberships_response(contact)


@bp.route("/<int:contact_id>/groups/<int:group_id>/remove", methods=["POST"])
@book_write
def remove_from_group(contact_id, group_id):
    """Take the contact out of a group."""
    contact = access.owned_by_current_customer(Contact, contact_id)
    services.remove_member(access.owned_by_current_customer(ContactGroup, group_id), contact)
    db.session.commit()
    return _memberships_response(contact)


@bp.route("/export.csv")
def export_csv():
    """Download the book as CSV (UTF-8 with BOM, formula-safe): columns scripts rely on."""
    customer = access.current_customer()
    name = secure_filename(customer.name) or "customer"
    filename = f"contacts-{name}-{date.today().isoformat()}.csv"
    response = Response(stream_with_context(csv_io.export_chunks(customer)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
