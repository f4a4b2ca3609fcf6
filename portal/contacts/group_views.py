"""Contact groups: list with member counts, create, rename (click to edit), delete, members."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import htmx, smart_groups
from portal.auth import access
from portal.boundary import positive_int
from portal.contacts import bp, services
from portal.contacts.forms import GroupForm
from portal.extensions import db
from portal.models import Contact, ContactGroup, contact_group_members
from portal.text import single_line
from portal.writes import book_write

MEMBERS_SHOWN = 100


def _name_checked(form, customer, group=None):
    """True when the form is valid and the name is free in this customer; errors go to the field."""
    if not form.validate_on_submit():
        return False
    problem = services.group_name_problem(customer, form.name.data, exclude_group_id=group and group.id)
    if problem:
        form.name.errors = [*form.name.errors, problem]
        return False
    return True


def _committed_unless_taken(form, change):
    """Make the change and commit; False (the field says why) when a group of that name came in
    between the check and the commit (two tabs, a double click): the unique key refused it."""
    try:
        change()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        form.name.errors = [*form.name.errors, _("A contact group with this name already exists.")]
        return False
    return True


@bp.route("/groups", methods=["GET", "POST"])
@book_write
def groups():
    """The customer's contact groups with member counts; create a new one."""
    customer = access.current_customer()
    form = GroupForm()
    if _name_checked(form, customer) and _committed_unless_taken(
        form, lambda: services.create_group(customer, form.name.data)
    ):
        flash(_("Contact group %(name)s created.", name=single_line(form.name.data)), "success")
        return redirect(url_for(".groups"))
    return render_template(
        "contacts/groups.html",
        groups=services.customer_groups(customer),
        counts=services.member_counts(customer),
        form=form,
    ), 422 if form.errors else 200


def _members(group):
    """(the first MEMBERS_SHOWN non-archived members by name, services.MemberCount of them all)."""
    query = (
        select(Contact)
        .join(contact_group_members, contact_group_members.c.contact_id == Contact.id)
        .where(
            contact_group_members.c.group_id == group.id,
            Contact.customer_id == group.customer_id,
            Contact.archived_at.is_(None),
        )
    )
    every = query.subquery()
    counted = select(func.count(), func.count(every.c.deactivated_at)).select_from(every)
    total, inactive = db.session.execute(counted).one()
    shown = db.session.scalars(
        query.order_by(Contact.last_name, Contact.first_name, Contact.id).limit(MEMBERS_SHOWN)
    ).all()
    return shown, services.MemberCount(total, inactive)


def _candidates(group):
    """(search term, contacts matching it that are not yet members) for the "Add members" search."""
    term = (request.args.get("q") or "").strip()[:100]
    return term, services.member_candidates(group, term) if term else []


@bp.route("/groups/<int:group_id>")
def group(group_id):
    """One group: its members, removing them, and finding contacts to add."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    members, count = _members(group)
    term, candidates = _candidates(group) if not group.is_smart else ("", [])
    return render_template(
        "contacts/group.html",
        group=group,
        members=members,
        total=count.total,
        count=count,
        term=term,
        candidates=candidates,
        rule_words=smart_groups.describe(group.customer_id, group.rule) if group.is_smart else "",
        recent=smart_groups.recent_changes(group) if group.is_smart else [],
    )


@bp.route("/groups/<int:group_id>/candidates")
def group_candidates(group_id):
    """Contacts matching the search that are not yet members (htmx fragment)."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    term, candidates = _candidates(group)
    if not htmx.is_htmx():
        return redirect(url_for(".group", group_id=group.id, q=term or None))
    return render_template("contacts/_group_candidates.html", group=group, candidates=candidates, term=term)


@bp.route("/groups/<int:group_id>/name")
def group_name(group_id):
    """The group's name with its edit button (htmx: cancel of the rename form)."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    if not htmx.is_htmx():
        return redirect(url_for(".group", group_id=group.id))
    return render_template("contacts/_group_name.html", group=group)


@bp.route("/groups/<int:group_id>/rename", methods=["GET", "POST"])
@book_write
def group_rename(group_id):
    """Rename a group: click to edit in place (htmx) or a plain form page."""
    customer = access.current_customer()
    group = access.owned_by_current_customer(ContactGroup, group_id)
    form = GroupForm(obj=group)
    if _name_checked(form, customer, group) and _committed_unless_taken(
        form, lambda: setattr(group, "name", single_line(form.name.data))
    ):
        if htmx.is_htmx():
            return render_template("contacts/_group_name.html", group=group)
        flash(_("Contact group renamed."), "success")
        return redirect(url_for(".group", group_id=group.id))
    if htmx.is_htmx():  # htmx swaps only 2xx answers: the field error must come back as 200
        return render_template("contacts/_group_name_form.html", group=group, form=form)
    return render_template("contacts/group_rename.html", group=group, form=form), 422 if form.errors else 200


@bp.route("/groups/<int:group_id>/delete", methods=["GET", "POST"])
@book_write
def group_delete(group_id):
    """Ask, then delete the group; its contacts stay in the book."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    if request.method == "POST":
        name = group.name
        services.delete_group(access.current_customer(), group, current_user.email)
        db.session.commit()
        flash(
            _("Contact group %(name)s deleted. Its contacts stay in the contact book.", name=name), "success"
        )
        return redirect(url_for(".groups"))
    _shown, count = _members(group)
    return render_template(
        "contacts/group_delete.html",
        group=group,
        total=count.total,
        subscriptions=services.group_subscriptions(group),
    )


@bp.route("/groups/<int:group_id>/members", methods=["POST"])
@book_write
def group_add_member(group_id):
    """Add a contact of the same customer to the group."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    if group.is_smart:
        return _members_follow_the_rule(group)
    contact_id = request.form.get("contact_id", type=positive_int)
    contact = access.owned_by_current_customer(Contact, contact_id)
    services.add_member(group, contact)
    db.session.commit()
    flash(
        _("%(name)s added to %(group)s.", name=contact.full_name or contact.email, group=group.name),
        "success",
    )
    return redirect(url_for(".group", group_id=group.id))


@bp.route("/groups/<int:group_id>/members/<int:contact_id>/remove", methods=["POST"])
@book_write
def group_remove_member(group_id, contact_id):
    """Take a contact out of the group (the contact stays in the book)."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    contact = access.owned_by_current_customer(Contact, contact_id)
    if group.is_smart:
        return _members_follow_the_rule(group)
    services.remove_member(group, contact)
    db.session.commit()
    if htmx.is_htmx():
        return ""  # the member's row is swapped away
    flash(
        _("%(name)s removed from %(group)s.", name=contact.full_name or contact.email, group=group.name),
        "success",
    )
    return redirect(url_for(".group", group_id=group.id))


def _members_follow_the_rule(group):
    """A smart group's members are not added or removed by hand: say so, change nothing."""
    flash(_("Members follow the rule."), "error")
    return redirect(url_for(".group", group_id=group.id))
