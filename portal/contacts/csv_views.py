"""CSV import: upload, map columns and preview, confirm."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from portal import htmx, search
from portal.auth import access
from portal.contacts import bp, csv_io, importing
from portal.contacts.forms import MappingForm, UploadForm
from portal.extensions import db
from portal.sync import lock
from portal.writes import book_write

PREVIEW_ROWS = 500


def _max_rows():
    return current_app.config["CSV_IMPORT_MAX_ROWS"]


def _render_upload(form, status=200):
    return render_template(
        "contacts/import.html", form=form, max_rows=_max_rows(), limit_mb=_limit_mb()
    ), status


def _limit_mb():
    return format_decimal(round((current_app.config.get("MAX_CONTENT_LENGTH") or 0) / (1024 * 1024), 1))


@bp.route("/import", methods=["GET", "POST"])
@book_write  # one upload of a customer parsed at a time (and none while a sync writes its book)
def csv_import():
    """Upload a CSV file; it is held for the preview, bound to this admin and customer."""
    customer = access.current_customer()
    form = UploadForm()
    if not form.validate_on_submit():
        return _render_upload(form, 422 if form.errors else 200)
    try:
        parsed = csv_io.parse(form.file.data.read(), _max_rows())
    except csv_io.CsvProblem as problem:
        form.file.errors = [str(problem)]
        return _render_upload(form, 422)
    upload = importing.store_upload(customer, current_user, form.file.data.filename, parsed)
    db.session.commit()
    return redirect(url_for(".csv_preview", token=upload.token))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error):
    """A request body over MAX_CONTENT_LENGTH: on the upload page, say so at the file field."""
    if request.endpoint != "contacts.csv_import":
        return render_template(
            "errors/error.html", code=413, title=_("File too large"), description=error.description
        ), 413
    form = UploadForm(formdata=None)
    form.file.errors = [_("The file is too large: at most %(mb)s MB.", mb=_limit_mb())]
    return _render_upload(form, 413)


def _upload_or_404(token):
    upload = importing.load_upload(token, access.current_customer(), current_user)
    if upload is None:
        abort(404, _("This upload has expired or belongs to someone else. Please upload the file again."))
    return upload


def _mapping_form(upload, formdata):
    """The mapping form: the file's columns as choices, guessed from the header unless submitted."""
    rows = upload.data["rows"]
    header = rows[0]
    has_header = csv_io.looks_like_header(header)
    width = max(len(row) for row in rows[:1000])
    choices = [(-1, _("— not imported —"))] + [
        (
            i,
            _("Column %(n)s: %(name)s", n=i + 1, name=header[i][:40])
            if has_header and i < len(header)
            else _("Column %(n)s", n=i + 1),
        )
        for i in range(width)
    ]
    if formdata.get("mapped"):
        form = MappingForm(formdata=formdata)
    else:
        guessed = csv_io.guess_mapping(header if has_header else [], first_row=header)
        form = MappingForm(formdata=None, has_header=has_header, **guessed)
    for name in csv_io.FIELDS:
        getattr(form, name).choices = choices
    if not form.validate():  # a column that is not in the file: fall back to "not imported"
        for name in csv_io.FIELDS:
            if getattr(form, name).errors:
                getattr(form, name).data = -1
    return form


def _plan(upload, form):
    mapping = {name: getattr(form, name).data for name in csv_io.FIELDS}
    if mapping["email"] < 0:
        return None
    return importing.plan_import(
        access.current_customer(), upload.data["rows"], mapping, form.has_header.data
    )


@bp.route("/import/<token>")
def csv_preview(token):
    """Map columns and see, row by row, what the import will create, update or reject."""
    upload = _upload_or_404(token)
    form = _mapping_form(upload, request.args)
    plans = _plan(upload, form)
    show = request.args.get("show", "all")
    shown = [p for p in plans or [] if show == "all" or p.status == show]
    recognised, ignored = _optional_columns(upload, form)
    return htmx.render(
        "contacts/import_preview.html",
        "contacts/_import_preview.html",
        upload=upload,
        form=form,
        plans=plans,
        counts=importing.counts(plans or []),
        shown=shown[:PREVIEW_ROWS],
        shown_total=len(shown),
        show=show,
        max_columns=csv_io.MAX_COLUMNS,
        recognised=recognised,
        ignored=ignored,
    )


def _optional_columns(upload, form):
    """([(header cell, what it fills)], [header cells ignored]) for the preview; none without a header."""
    if not form.has_header.data:
        return [], []
    header = upload.data["rows"][0]
    taken = {getattr(form, name).data for name in csv_io.FIELDS}
    found, ignored = csv_io.optional_columns(header, taken)
    recognised = [(header[index], csv_io.column_label(name)) for name, index in found.items()]
    return recognised, ignored


@bp.route("/import/<token>/confirm", methods=["POST"])
def csv_confirm(token):
    """Apply the previewed import in one transaction, holding the customer's lock (not during a sync)."""
    upload = _upload_or_404(token)
    customer = access.current_customer()
    try:
        with lock.held(customer.id, current_app.config["SYNC_LOCK_WEB_WAIT"]) as lease:
            return _confirm(token, upload, lease)
    except lock.CustomerBusy as busy:
        flash(_(busy.message), "error")
        return redirect(url_for(".csv_preview", token=token, **_mapping_args(request.form)))


def _mapping_args(form):
    """The mapping just posted, so the preview the admin returns to shows it again."""
    return {key: form[key] for key in (*csv_io.FIELDS, "has_header", "mapped") if key in form}


def _confirm(token, upload, lease):
    form = _mapping_form(upload, request.form)
    plans = _plan(upload, form)
    if plans is None:
        flash(_("Choose the column that holds the email address."), "error")
        return redirect(url_for(".csv_preview", token=token))
    try:
        counts = importing.apply_import(access.current_customer(), plans)  # settles the book
        db.session.delete(upload)
        lease.confirm()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash(
            _(
                "The contact book changed while importing. Nothing was imported; please check the preview "
                "again."
            ),
            "error",
        )
        return redirect(url_for(".csv_preview", token=token))
    search.refresh_statistics_after(counts["create"] + counts["update"], ["contact"])
    flash(
        _(
            "Import finished: %(created)s created, %(updated)s updated, %(rejected)s rejected.",
            created=counts["create"],
            updated=counts["update"],
            rejected=counts["reject"],
        ),
        "success",
    )
    return redirect(url_for(".index"))
