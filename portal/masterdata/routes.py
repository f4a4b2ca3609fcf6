"""Reseller and customer master data pages."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from portal import accounts
from portal.auth import access
from portal.extensions import db
from portal.masterdata import services
from portal.masterdata.forms import CustomerMasterDataForm, NewResellerForm, ResellerMasterDataForm
from portal.models import Customer, Role

bp = Blueprint("masterdata", __name__, url_prefix="/masterdata")


@bp.route("/customer", methods=["GET", "POST"])
@bp.route("/customers/<int:customer_id>", methods=["GET", "POST"])
@login_required
def customer(customer_id=None):
    """View and edit a customer's master data (the working customer unless an id is given)."""
    if customer_id is None:
        tenant = access.current_customer(required=False)
        if tenant is None:
            return render_template("masterdata/customer.html", customer=None, form=None)
    else:
        tenant = access.get_customer_or_404(customer_id)
    form = CustomerMasterDataForm(data=services.form_data(tenant))
    form.describe_inherit_choice(tenant.reseller.ms_user_sync)
    if form.validate_on_submit():
        services.apply_master_data(tenant, form.master_data())
        tenant.ms_user_sync = services.SYNC_CHOICES[form.ms_user_sync.data]
        tenant.email_language = form.email_language.data or None
        db.session.commit()
        flash(_("Master data saved."), "success")
        return redirect(url_for("masterdata.customer", customer_id=customer_id))
    return render_template("masterdata/customer.html", customer=tenant, form=form)


@bp.route("/resellers")
@login_required
def resellers():
    """Reseller master data: the operator's list of resellers, everybody else their own reseller."""
    if current_user.role == Role.RESELLER:
        return redirect(url_for("masterdata.reseller", reseller_id=current_user.reseller_id))
    if current_user.role == Role.CUSTOMER:
        customer = access.current_customer()
        return redirect(url_for("masterdata.reseller", reseller_id=customer.reseller_id))
    counts = dict(
        db.session.execute(select(Customer.reseller_id, func.count()).group_by(Customer.reseller_id)).all()
    )
    rows = db.session.scalars(access.resellers_query()).all()
    return render_template("masterdata/resellers.html", resellers=rows, counts=counts)


@bp.route("/resellers/<int:reseller_id>", methods=["GET", "POST"])
@login_required
def reseller(reseller_id):
    """View a reseller's master data; edit it when the viewer administers that reseller."""
    tenant, editable = access.reseller_for_viewing_or_404(reseller_id)
    form = ResellerMasterDataForm(obj=tenant) if editable else None
    if form is None and request.method not in ("GET", "HEAD"):
        abort(404)
    if form is not None and form.validate_on_submit():
        services.apply_master_data(tenant, form.master_data())
        tenant.ms_user_sync = form.ms_user_sync.data
        db.session.commit()
        flash(_("Master data saved."), "success")
        return redirect(url_for("masterdata.reseller", reseller_id=tenant.id))
    return render_template("masterdata/reseller.html", reseller=tenant, form=form)


@bp.route("/resellers/new", methods=["GET", "POST"])
@login_required
def reseller_new():
    """The operator creates a reseller and, optionally, its first reseller admin."""
    if not access.is_operator():
        abort(404)
    form = NewResellerForm()
    if form.validate_on_submit():
        try:
            tenant = accounts.new_reseller(ms_user_sync=form.ms_user_sync.data, **form.master_data())
            if form.admin_email.data:
                accounts.new_admin(
                    email=form.admin_email.data,
                    password=form.admin_password.data,
                    name=form.admin_name.data,
                    role=Role.RESELLER,
                    reseller_id=tenant.id,
                )
        except accounts.AccountError as exc:
            db.session.rollback()
            getattr(form, _admin_field(exc.field)).errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Reseller %(name)s created.", name=tenant.name), "success")
            return redirect(url_for("masterdata.reseller", reseller_id=tenant.id))
    return render_template("masterdata/reseller_new.html", form=form)


def _admin_field(field):
    """The form field an AccountError about the first admin belongs to."""
    return {"email": "admin_email", "password": "admin_password", "name": "name"}.get(field, "admin_email")
