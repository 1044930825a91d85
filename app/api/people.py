"""/api/v3/patient and /api/v3/site, in the public v3 API's shapes."""

from __future__ import annotations

from flask import jsonify, url_for
from sqlalchemy import func, select

from app.api import bp, parse
from app.api.auth import api_actor
from app.api.errors import ApiError, problems_response
from app.auth import scopes
from app.auth.scopes import scope_required
from app.extensions import db
from app.history.patient_access import VIEWED, note_patient_access
from app.orders import serialize
from app.people import service
from app.people.models import Patient, Site
from app.people.views import patient_view, site_view
from app.validation import Rejected


def _address_draft(body: dict) -> service.AddressDraft:
    address = parse.object_at(body.get("address"), "address", required=True)
    return service.AddressDraft(
        line_one=address.get("lineOne"),
        line_two=address.get("lineTwo"),
        line_three=address.get("lineThree"),
        city=address.get("city"),
        state=address.get("state"),
        zip_code=address.get("zipCode"),
        country=address.get("country", "US"),
        note=address.get("note"),
    )


def patient_draft(body) -> service.PatientDraft:
    body = parse.object_at(body, "The request body", required=True)
    site = parse.object_at(body.get("site"), "site")
    return service.PatientDraft(
        external_identifier=body.get("externalIdentifier"),
        first_name=body.get("firstName"),
        last_name=body.get("lastName"),
        date_of_birth=body.get("dateOfBirth"),
        email=body.get("email"),
        phone_number=body.get("phoneNumber"),
        sex=body.get("sex"),
        enrolled=body.get("enrolled", True),
        site_id=None if site is None else parse.ref_id(site, "site"),
        address=_address_draft(body),
    )


def _rejected(rejected: Rejected):
    response = problems_response(rejected.problems)
    if any(p.code.startswith("duplicate_") for p in rejected.problems):
        response.status_code = 409
    return response


@bp.post("/patient")
@scope_required(scopes.PATIENTS_WRITE)
def create_patient():
    parse.only_args()
    draft = patient_draft(parse.json_body())
    try:
        patient = service.create_patient(draft, api_actor())
    except Rejected as rejected:
        return _rejected(rejected)
    response = jsonify(
        serialize.plain(serialize.patient(patient_view(db.session.get(Patient, patient.id))))
    )
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_patient", patient_id=patient.id)
    return response


@bp.get("/patient/<int:patient_id>")
@scope_required(scopes.PATIENTS_READ)
def get_patient(patient_id: int):
    parse.only_args()
    patient = db.session.get(Patient, patient_id)  # the route's <int:> is a bounded id
    if patient is None:
        raise ApiError(404, "patient_not_found", f"There is no patient with id {patient_id}.")
    note_patient_access("apiPatient", VIEWED, [(patient.id, None)])
    return jsonify(serialize.plain(serialize.patient(patient_view(patient))))


@bp.get("/site")
@scope_required(scopes.PATIENTS_READ)
def list_sites():
    parse.only_args("page", "size", "active")
    active = parse.choice_arg("active", ("true", "false"))
    page, size = parse.page_args()
    where = [] if active is None else [Site.active.is_(active == "true")]
    total = db.session.scalar(select(func.count(Site.id)).where(*where))
    sites = db.session.scalars(
        select(Site).where(*where).order_by(Site.id).limit(size).offset((page - 1) * size)
    )
    content = [serialize.site(site_view(s)) for s in sites]
    return jsonify(
        serialize.plain(serialize.page_of(serialize.SitePageJson, content, page, size, total))
    )
