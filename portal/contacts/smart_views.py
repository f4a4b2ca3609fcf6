"""Smart groups: create one from a rule, edit its rule, the rule builder's rows and live preview.

The builder is a plain form: rows of attribute, operator and value named `attribute-N`,
`operator-N`, `value-N`. "Add condition" and "Remove" are submit buttons (`action`), so it works
without JavaScript; with htmx they swap only the rows (/groups/smart/rows) and every change asks
for the preview (/groups/smart/preview). The rule's logic is portal.smart_groups.
"""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portal import htmx, search, smart_groups
from portal.auth import access
from portal.contacts import bp, services
from portal.contacts.forms import GroupForm
from portal.extensions import db
from portal.models import Contact, ContactGroup, Origin
from portal.text import single_line
from portal.writes import book_write

MANAGER_CHOICES = 10


def _rows(form):
    """The builder's rows as posted ([{attribute, operator, value}]), with "Add"/"Remove" applied."""
    indices = sorted(
        {int(key.split("-", 1)[1]) for key in form if key.startswith("attribute-") and key[10:].isdigit()}
    )[: smart_groups.MAX_CONDITIONS]
    rows = [
        {
            "attribute": form.get(f"attribute-{i}", ""),
            "operator": form.get(f"operator-{i}", ""),
            "value": form.get(f"value-{i}", ""),
        }
        for i in indices
    ]
    action = form.get("action", "")
    if action == "add" and len(rows) < smart_groups.MAX_CONDITIONS:
        rows.append({"attribute": "department", "operator": "is", "value": ""})
    elif action.startswith("remove-") and action[7:].isdigit() and int(action[7:]) < len(rows):
        rows.pop(int(action[7:]))
    return rows or [{"attribute": "department", "operator": "is", "value": ""}]


def _checked(rows):
    """(the rule validated, None) or (None, why it cannot be used)."""
    try:
        return smart_groups.validate({"conditions": rows}), None
    except smart_groups.RuleError as error:
        return None, str(error)


def _builder(template, group=None, status=200, **context):
    context.setdefault("rows", [dict(c) for c in group.rule["conditions"]] if group else None)
    rule, problem = _checked(context["rows"])
    count, first = smart_groups.preview(access.current_customer().id, rule) if rule else (0, [])
    context.setdefault("problem", None)
    context["preview"] = {"count": count, "first": first, "problem": problem if rule is None else None}
    return render_template(
        template,
        group=group,
        attribute_choices=smart_groups.attribute_choices(),
        operators=smart_groups.OPERATORS,
        manager_operators=smart_groups.MANAGER_OPERATORS,
        without_value=smart_groups.WITHOUT_VALUE,
        **context,
    ), status


@bp.route("/groups/smart/new", methods=["GET", "POST"])
@book_write
def smart_new():
    """A new smart group: a name and a rule, previewed before it is saved."""
    customer = access.current_customer()
    form = GroupForm()
    rows = _rows(request.form)
    if request.method == "POST" and request.form.get("action") == "save":
        rule, problem = _checked(rows)
        name_ok = form.validate_on_submit() and not _name_problem(form, customer)
        if rule is not None and name_ok:
            group = services.create_group(customer, form.name.data, origin=Origin.MANUAL)
            group.rule = rule
            smart_groups.refresh(customer.id, record=False)
            db.session.commit()
            flash(_("Smart group %(name)s created.", name=single_line(form.name.data)), "success")
            return redirect(url_for(".group", group_id=group.id))
        return _builder("contacts/smart_group.html", form=form, rows=rows, problem=problem, status=422)
    return _builder("contacts/smart_group.html", form=form, rows=rows, problem=None)


def _name_problem(form, customer, group=None):
    problem = services.group_name_problem(customer, form.name.data, exclude_group_id=group and group.id)
    if problem:
        form.name.errors = [*form.name.errors, problem]
    return problem


@bp.route("/groups/<int:group_id>/rule", methods=["GET", "POST"])
@book_write
def smart_edit(group_id):
    """Change a smart group's rule; its members follow at once."""
    group = access.owned_by_current_customer(ContactGroup, group_id)
    if not group.is_smart:
        abort(404)
    form = GroupForm(obj=group)
    if request.method == "GET":
        return _builder("contacts/smart_group.html", group=group, form=form, problem=None)
    rows = _rows(request.form)
    if request.form.get("action") == "save":
        rule, problem = _checked(rows)
        name_ok = form.validate_on_submit() and not _name_problem(form, access.current_customer(), group)
        if rule is not None and name_ok:
            group.name = single_line(form.name.data)
            group.rule = rule
            smart_groups.refresh(group.customer_id, record=False)
            db.session.commit()
            flash(_("Rule saved. The members follow it."), "success")
            return redirect(url_for(".group", group_id=group.id))
        return _builder("contacts/smart_group.html", group, 422, form=form, rows=rows, problem=problem)
    return _builder("contacts/smart_group.html", group, form=form, rows=rows, problem=None)


@bp.route("/groups/smart/rows", methods=["POST"])
def smart_rows():
    """The builder's rows after "Add condition" or "Remove" (htmx fragment)."""
    if not htmx.is_htmx():
        abort(404)
    return _builder("contacts/_smart_rows_swap.html", rows=_rows(request.form))


@bp.route("/groups/smart/preview", methods=["POST"])
def smart_preview():
    """How many contacts the rule in the builder matches now, and the first of them (htmx fragment)."""
    customer = access.current_customer()
    rule, problem = _checked(_rows({k: v for k, v in request.form.items() if k != "action"}))
    count, first = smart_groups.preview(customer.id, rule) if rule else (0, [])
    return render_template("contacts/_smart_preview.html", count=count, first=first, problem=problem)


@bp.route("/groups/smart/managers")
def smart_managers():
    """Contacts matching what is typed in a manager condition: the options of its list (htmx)."""
    customer = access.current_customer()
    term = (request.args.get("q") or "").strip()[:100]
    for key, value in request.args.items():
        if key.startswith("value-"):
            term = value.strip()[:100]
    query = select(Contact).where(Contact.customer_id == customer.id, Contact.archived_at.is_(None))
    by_name = (Contact.last_name, Contact.first_name, Contact.id)
    people = db.session.scalars(search.ranked(query, Contact, term, *by_name).limit(MANAGER_CHOICES)).all()
    return render_template("contacts/_smart_managers.html", people=people if term else [])
