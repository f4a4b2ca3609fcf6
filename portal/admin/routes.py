"""Administration pages: admin accounts (create, disable/enable, reset password) and customers."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal import accounts, htmx
from portal.admin import overview as customer_overview
from portal.admin.forms import AccountForm, CustomerForm, PasswordResetForm, tenant_choices
from portal.auth import access, throttle
from portal.auth.session import start_session
from portal.boundary import positive_int
from portal.extensions import db
from portal.models import AdminUser, Contact, Customer, Role

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 50


def _search_term():
    return (request.args.get("q") or "").strip()


def _page_of(query):
    """The page of `query` the request asks for (an empty page past the end, not a 404)."""
    return db.paginate(
        query, page=request.args.get("page", 1, type=positive_int), per_page=PER_PAGE, error_out=False
    )


@bp.route("/accounts", endpoint="accounts")
@login_required
def accounts_list():
    """Admin accounts the viewer may manage, with live search."""
    term = _search_term()
    query = access.admins_query().options(selectinload(AdminUser.customer), selectinload(AdminUser.reseller))
    if term:
        query = query.where(
            or_(
                AdminUser.email.icontains(term, autoescape=True),
                AdminUser.name.icontains(term, autoescape=True),
            )
        )
    page = _page_of(query)
    return htmx.render("admin/accounts.html", "admin/_accounts_table.html", page=page, term=term)


@bp.route("/accounts/new", methods=["GET", "POST"])
@login_required
def account_new():
    """Create an admin account with a role the viewer may grant, for a tenant the viewer sees."""
    form = _account_form()
    if form.validate_on_submit():
        try:
            account = accounts.create_account(
                current_user,
                email=form.email.data,
                password=form.password.data,
                role=form.role.data,
                name=form.name.data,
                reseller=_chosen(form, "reseller", Role.RESELLER, access.get_reseller_or_404),
                customer=_chosen(form, "customer", Role.CUSTOMER, access.get_customer_or_404),
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            _field_for(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Account %(email)s created.", email=account.email), "success")
            return redirect(url_for("admin.accounts"))
    return render_template("admin/account_new.html", form=form)


def _account_form():
    """The account form with choices limited to the viewer's grants and tenants."""
    defaults = {}
    if request.method == "GET":
        defaults = {
            "role": request.args.get("role"),
            "customer": request.args.get("customer_id", type=positive_int),
        }
    form = AccountForm(data=defaults)
    resellers = db.session.scalars(access.resellers_query()).all() if access.is_operator() else []
    customers = db.session.scalars(access.customers_query()).all()
    form.offer(accounts.grantable_roles(current_user), resellers, customers)
    if not access.is_operator():
        del form.reseller  # a reseller admin's colleagues work for the same reseller
    if current_user.role == Role.CUSTOMER:
        del form.customer  # a customer admin's colleagues work for the same customer
    return form


def _chosen(form, name, role, loader):
    """The reseller/customer picked in the form for that role, loaded through the scoping helper."""
    field = getattr(form, name, None)
    if field is None or field.data is None or form.role.data != role:
        return None
    return loader(field.data)


def _field_for(form, name):
    """The form field an AccountError belongs to (the email field when it names none we show)."""
    return getattr(form, name or "email", None) or form.email


@bp.route("/accounts/<int:admin_id>/disable", methods=["POST"])
@login_required
def account_disable(admin_id):
    """Disable an account and end its sessions (never one's own)."""
    return _set_enabled(admin_id, False)


@bp.route("/accounts/<int:admin_id>/enable", methods=["POST"])
@login_required
def account_enable(admin_id):
    """Enable a disabled account again."""
    return _set_enabled(admin_id, True)


def _set_enabled(admin_id, enabled):
    """Disable or enable an account; answers its row (htmx) or goes back to the list."""
    account = access.get_admin_or_404(admin_id)
    try:
        accounts.set_enabled(current_user, account, enabled)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return _back_to_accounts()
    db.session.commit()
    if htmx.is_htmx():
        return render_template("admin/_account_row.html", account=account)
    if enabled:
        flash(_("%(email)s is enabled again.", email=account.email), "success")
    else:
        flash(_("%(email)s is disabled and signed out everywhere.", email=account.email), "success")
    return _back_to_accounts()


def _back_to_accounts():
    """Back to the account list: a redirect, or HX-Redirect for htmx requests."""
    return htmx.redirect(url_for("admin.accounts"))


@bp.route("/accounts/<int:admin_id>/password", methods=["GET", "POST"])
@login_required
def account_password(admin_id):
    """Set a new password for an account; its other sessions end."""
    account = access.get_admin_or_404(admin_id)
    own = account.id == current_user.id
    form = PasswordResetForm()
    if form.validate_on_submit() and (not own or _current_password_confirmed(form, account)):
        try:
            accounts.reset_password(account, form.password.data)
        except accounts.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            if own:
                # This browser stays signed in, with a new session: every other one has ended.
                start_session(account)
            db.session.commit()
            flash(_("The password of %(email)s has been reset.", email=account.email), "success")
            return redirect(url_for("admin.accounts"))
    return render_template("admin/account_password.html", form=form, account=account, own=own)


def _current_password_confirmed(form, account):
    """The signed-in admin typed their current password (counted by the sign-in throttle, so the
    form is no way around it); else the field says why and False."""
    attempt, until = throttle.begin_attempt(account.email)
    if until is not None:
        form.current_password.errors.append(_("Too many wrong passwords. Please try again later."))
        return False
    if not account.check_password(form.current_password.data or ""):
        form.current_password.errors.append(_("The current password is not correct."))
        return False
    throttle.succeeded(account.email, attempt)
    return True


@bp.route("/customers")
@login_required
def customers():
    """The customers of the viewer's reseller (all for the operator), with live search."""
    _require_reseller_or_operator()
    term = _search_term()
    query = access.customers_query().options(selectinload(Customer.reseller))
    if term:
        query = query.where(Customer.name.icontains(term, autoescape=True))
    page = _page_of(query)
    ids = [c.id for c in page.items]
    contacts = _counts(Contact.customer_id, ids, Contact.archived_at.is_(None))
    admins = _counts(AdminUser.customer_id, ids)
    return htmx.render(
        "admin/customers.html",
        "admin/_customers_table.html",
        page=page,
        term=term,
        contacts=contacts,
        admins=admins,
        reseller_needed=not page.items and _no_reseller_yet(),
    )


def _no_reseller_yet():
    """A fresh installation: the operator has no reseller that a customer could belong to."""
    return (
        access.is_operator()
        and db.session.scalar(select(func.count()).select_from(access.resellers_query().subquery())) == 0
    )


@bp.route("/overview")
@login_required
def overview():
    """Every visible customer's sync health (connection, mode, last sync, problems): sortable, searchable."""
    _require_reseller_or_operator()
    query = customer_overview.OverviewQuery.from_args(request.args)
    page = customer_overview.overview_page(query)
    return htmx.render("admin/overview.html", "admin/_overview_table.html", page=page, query=query)


def _counts(column, ids, *conditions):
    """{customer id: number of rows} for the given customers."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(column, func.count()).where(column.in_(ids), *conditions).group_by(column)
    )
    return dict(rows.all())


@bp.route("/customers/new", methods=["GET", "POST"])
@login_required
def customer_new():
    """Create a customer: for the viewer's reseller, or (operator) for a chosen reseller."""
    _require_reseller_or_operator()
    if _no_reseller_yet():
        return render_template("admin/customer_new.html", form=None, reseller_needed=True)
    form = CustomerForm()
    if access.is_operator():
        form.reseller.choices = tenant_choices(db.session.scalars(access.resellers_query()))
    else:
        del form.reseller
    if form.validate_on_submit():
        reseller = current_user.reseller
        if access.is_operator():
            reseller = form.reseller.data and access.get_reseller_or_404(form.reseller.data)
        if not reseller:
            form.reseller.errors.append(_("Choose the reseller that looks after this customer."))
        else:
            customer = accounts.new_customer(reseller, form.name.data)
            db.session.commit()
            flash(_("Customer %(name)s created.", name=customer.name), "success")
            return redirect(url_for("admin.customers"))
    return render_template("admin/customer_new.html", form=form)


def _require_reseller_or_operator():
    """Customer admins have no customer list (404, like any page that is not theirs)."""
    if current_user.role == Role.CUSTOMER:
        abort(404)
