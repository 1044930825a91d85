"""Patients and sites in the browser: lists, forms, archive and restore, history, CSV import."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select, tuple_
from sqlalchemy.orm import joinedload

from app.auth.access import role_required, signed_in_actor
from app.extensions import db
from app.formats import plural
from app.forms import ActionForm, form_page, put_problems_on_fields, record_or_404
from app.history.changes import history_of
from app.history.patient_access import VIEWED, note_patient_access
from app.orders.lookups import out_with_recipient, recent_orders_of_patient
from app.orders.owed import overdue_days, owed_by_patient
from app.people import importing, service
from app.people.forms import (
    ImportForm,
    PatientForm,
    SiteForm,
    address_draft,
    patient_draft,
    site_choices,
)
from app.people.models import Patient, PatientImport, Site
from app.people.search import patient_match
from app.validation import MAX_SEARCH_LENGTH, Rejected, parse_int

RECENT_ORDERS = 10

bp = Blueprint("people", __name__)

PAGE_SIZE = 25
PATIENT_EDITORS = ("coordinator",)
SITE_VIEWERS = ("coordinator",)


def patient_form(patient: Patient | None = None, formdata=None, prefix: str = "") -> PatientForm:
    if patient is None:
        form = (
            PatientForm(formdata=formdata, prefix=prefix)
            if formdata is not None
            else PatientForm(prefix=prefix)
        )
    else:
        data = {
            "external_identifier": patient.external_identifier,
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "date_of_birth": patient.date_of_birth.isoformat() if patient.date_of_birth else "",
            "sex": patient.sex,
            "email": patient.email,
            "phone_number": patient.phone_number,
            "site_id": str(patient.site_id or ""),
            "enrolled": patient.enrolled,
            "line_one": patient.address.line_one,
            "line_two": patient.address.line_two,
            "line_three": patient.address.line_three,
            "city": patient.address.city,
            "state": patient.address.state,
            "zip_code": patient.address.zip_code,
            "note": patient.address.note,
        }
        form = PatientForm(data=data) if request.method == "GET" else PatientForm()
    form.site_id.choices = site_choices(patient.site_id if patient else None)
    return form


# --- Patients ----------------------------------------------------------------------------


@bp.get("/patients/")
@role_required(*PATIENT_EDITORS)
def list_patients():
    q = request.args.get("q", "").strip()[:MAX_SEARCH_LENGTH]
    show = request.args.get("show", "current")
    after = request.args.get("after", "")
    where = []
    if q:
        where.append(patient_match(q))
    if show == "current":
        where.append(Patient.archived.is_(False))
    elif show == "archived":
        where.append(Patient.archived.is_(True))
    key = tuple_(Patient.last_name, Patient.first_name, Patient.id)
    last, _, rest = after.partition("\x1f")
    first, _, ident = rest.partition("\x1f")
    if parse_int(ident) is not None:
        where.append(key > (last, first, parse_int(ident)))
    patients = db.session.scalars(
        select(Patient)
        .where(*where)
        .options(joinedload(Patient.site))
        .order_by(Patient.last_name, Patient.first_name, Patient.id)
        .limit(PAGE_SIZE + 1)
    ).all()
    more = len(patients) > PAGE_SIZE
    patients = patients[:PAGE_SIZE]
    next_after = (
        "\x1f".join([patients[-1].last_name, patients[-1].first_name, str(patients[-1].id)])
        if more
        else None
    )
    if q:
        # A search is a look-up of these patients: each one shown is in the PHI access log.
        note_patient_access("patientSearch", VIEWED, [(p.id, None) for p in patients])
    template = "people/_patient_results.html" if request.htmx else "people/patients.html"
    return render_template(
        template, patients=patients, q=q, show=show, next_after=next_after, after=after
    )


@bp.route("/patients/new", methods=["GET", "POST"])
@role_required(*PATIENT_EDITORS)
def new_patient():
    form = patient_form()
    return form_page(
        form,
        "people/patient_form.html",
        save=lambda: service.create_patient(patient_draft(form), signed_in_actor()),
        done=lambda p: (f"{p.full_name} added.", url_for("people.show_patient", patient_id=p.id)),
        patient=None,
    )


@bp.get("/patients/<int:patient_id>")
@role_required(*PATIENT_EDITORS)
def show_patient(patient_id: int):
    patient = record_or_404(Patient, patient_id)
    orders = recent_orders_of_patient(patient_id, limit=RECENT_ORDERS)
    note_patient_access("patientPage", VIEWED, [(patient_id, None)])
    return render_template(
        "people/patient.html",
        patient=patient,
        orders=orders,
        with_recipient=out_with_recipient(patient_id=patient_id),
        owed=owed_by_patient(patient_id),
        overdue_days=overdue_days(),
        history=history_of("patient", patient_id),
        action_form=ActionForm(),
    )


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@role_required(*PATIENT_EDITORS)
def edit_patient(patient_id: int):
    patient = record_or_404(Patient, patient_id)
    form = patient_form(patient)
    note_patient_access("patientEdit", VIEWED, [(patient_id, None)])  # (written on a 2xx only)
    return form_page(
        form,
        "people/patient_form.html",
        save=lambda: service.update_patient(patient_id, patient_draft(form), signed_in_actor()),
        done=lambda p: ("Changes saved.", url_for("people.show_patient", patient_id=p.id)),
        patient=patient,
    )


@bp.post("/patients/<int:patient_id>/archive")
@role_required(*PATIENT_EDITORS)
def archive_patient(patient_id: int):
    record_or_404(Patient, patient_id)
    patient = service.set_patient_archived(patient_id, True, signed_in_actor())
    flash(f"{patient.full_name} archived: kept on record, no new orders.", "info")
    return redirect(url_for("people.show_patient", patient_id=patient_id), code=303)


@bp.post("/patients/<int:patient_id>/restore")
@role_required(*PATIENT_EDITORS)
def restore_patient(patient_id: int):
    record_or_404(Patient, patient_id)
    patient = service.set_patient_archived(patient_id, False, signed_in_actor())
    flash(f"{patient.full_name} restored.", "success")
    return redirect(url_for("people.show_patient", patient_id=patient_id), code=303)


# --- Sites -------------------------------------------------------------------------------


def site_draft(form: SiteForm) -> service.SiteDraft:
    return service.SiteDraft(
        name=form.name.data, phone_number=form.phone_number.data, address=address_draft(form)
    )


@bp.get("/sites/")
@role_required(*SITE_VIEWERS)
def list_sites():
    sites = db.session.scalars(select(Site).order_by(Site.active.desc(), Site.name)).all()
    return render_template("people/sites.html", sites=sites)


@bp.get("/sites/<int:site_id>")
@role_required(*SITE_VIEWERS)
def show_site(site_id: int):
    site = record_or_404(Site, site_id)
    return render_template(
        "people/site.html", site=site, history=history_of("site", site_id), action_form=ActionForm()
    )


def _site_form(site: Site | None) -> SiteForm:
    if site is not None and request.method == "GET":
        return SiteForm(
            data={
                "name": site.name,
                "phone_number": site.phone_number,
                "line_one": site.address.line_one,
                "line_two": site.address.line_two,
                "line_three": site.address.line_three,
                "city": site.address.city,
                "state": site.address.state,
                "zip_code": site.address.zip_code,
                "note": site.address.note,
            }
        )
    return SiteForm()


@bp.route("/sites/new", methods=["GET", "POST"])
@role_required()
def new_site():
    return _save_site(None)


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@role_required()
def edit_site(site_id: int):
    return _save_site(record_or_404(Site, site_id))


def _save_site(site: Site | None):
    form = _site_form(site)

    def save():
        if site is None:
            return service.create_site(site_draft(form), signed_in_actor())
        return service.update_site(site.id, site_draft(form), signed_in_actor())

    return form_page(
        form,
        "people/site_form.html",
        save=save,
        done=lambda s: ("Site saved.", url_for("people.show_site", site_id=s.id)),
        site=site,
    )


@bp.post("/sites/<int:site_id>/activate")
@role_required()
def activate_site(site_id: int):
    record_or_404(Site, site_id)
    service.set_site_active(site_id, True, signed_in_actor())
    flash("Site activated.", "success")
    return redirect(url_for("people.show_site", site_id=site_id), code=303)


@bp.post("/sites/<int:site_id>/deactivate")
@role_required()
def deactivate_site(site_id: int):
    record_or_404(Site, site_id)
    service.set_site_active(site_id, False, signed_in_actor())
    flash("Site deactivated: it receives no new orders.", "info")
    return redirect(url_for("people.show_site", site_id=site_id), code=303)


# --- Importing patients from CSV -----------------------------------------------------------


@bp.route("/patients/import", methods=["GET", "POST"])
@role_required(*PATIENT_EDITORS)
def import_patients():
    form = ImportForm()
    if form.validate_on_submit():
        try:
            upload = importing.store(
                form.file.data.filename,
                form.file.data.read(),
                signed_in_actor(),
                form.encoding.data,
            )
        except Rejected as rejected:
            put_problems_on_fields(form, rejected.problems)
        else:
            return redirect(url_for("people.import_preview", import_id=upload.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("people/import.html", form=form, columns=importing.LABELS), status


@bp.get("/patients/import/<int:import_id>")
@role_required(*PATIENT_EDITORS)
def import_preview(import_id: int):
    upload = db.session.get(PatientImport, import_id)  # <int:> is a bounded record id
    if upload is None:
        abort(404)
    return render_template(
        "people/import_preview.html",
        upload=upload,
        # After the import too: the rows refused, and why, stay on the page.
        preview=importing.check_file(upload.content),
        labels=importing.LABELS,
        action_form=ActionForm(),
    )


@bp.post("/patients/import/<int:import_id>")
@role_required(*PATIENT_EDITORS)
def run_import(import_id: int):
    try:
        result = importing.run_import(import_id, signed_in_actor())
    except Rejected as rejected:
        flash(rejected.problems[0].message, "error")
    else:
        flash(
            f"Imported {plural(result['created'], 'patient')}; "
            f"{plural(result['skipped'], 'patient')} already on record "
            f"{'was' if result['skipped'] == 1 else 'were'} skipped; "
            f"{plural(result['problems'], 'row')} with problems "
            f"{'was' if result['problems'] == 1 else 'were'} not imported.",
            "success",
        )
    return redirect(url_for("people.import_preview", import_id=import_id), code=303)


@bp.get("/patients/import/<int:import_id>/rejected.csv")
@role_required(*PATIENT_EDITORS)
def rejected_rows(import_id: int):
    """The rows with problems, to fix and import again."""
    upload = record_or_404(PatientImport, import_id)
    response = Response(importing.rejected_rows_csv(upload.content), mimetype="text/csv")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", upload.filename.rsplit(".", 1)[0])[:60] or "import"
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-rejected.csv"'
    return response
