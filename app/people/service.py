"""The rules for patients and sites, for the web pages, the CSV import and the API alike.

Drafts carry the values as given (strings from a form, JSON values from the API); the
checks here decide, report every problem with its field path in the API's spelling
(``address.zipCode``), and write the record and its history in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth.actor import Actor
from app.db.transactions import write_transaction
from app.extensions import db
from app.history.changes import diff, record_change, snapshot
from app.people.models import MAX_ADDRESS_NOTE_LENGTH, SEXES, Address, Patient, Site
from app.validation import Checker, Problem, Rejected, fetch_by_id, get_or_reject

ADDRESS_FIELDS = [
    "line_one",
    "line_two",
    "line_three",
    "city",
    "state",
    "zip_code",
    "country",
    "note",
]
PATIENT_FIELDS = [
    "external_identifier",
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone_number",
    "sex",
    "enrolled",
    "site_id",
]
SITE_FIELDS = ["name", "phone_number"]


@dataclass
class AddressDraft:
    line_one: Any = None
    line_two: Any = None
    line_three: Any = None
    city: Any = None
    state: Any = None
    zip_code: Any = None
    country: Any = "US"
    note: Any = None


@dataclass
class PatientDraft:
    external_identifier: Any = None
    first_name: Any = None
    last_name: Any = None
    date_of_birth: Any = None
    email: Any = None
    phone_number: Any = None
    sex: Any = None
    enrolled: Any = True
    site_id: Any = None
    address: AddressDraft = field(default_factory=AddressDraft)


@dataclass
class SiteDraft:
    name: Any = None
    phone_number: Any = None
    address: AddressDraft = field(default_factory=AddressDraft)


def _check_address(draft: AddressDraft, check: Checker) -> dict:
    country = check.text(draft.country, "address.country", "Country", required=False, max_length=2)
    if country and country.upper() != "US":
        check.add("unsupported_country", "Only US addresses can be shipped to.", "address.country")
    return {
        "line_one": check.text(
            draft.line_one, "address.lineOne", "Address line 1", required=True, max_length=200
        ),
        "line_two": check.text(
            draft.line_two, "address.lineTwo", "Address line 2", required=False, max_length=200
        ),
        "line_three": check.text(
            draft.line_three, "address.lineThree", "Address line 3", required=False, max_length=200
        ),
        "city": check.text(draft.city, "address.city", "City", required=True, max_length=100),
        "state": check.us_state(draft.state, "address.state"),
        "zip_code": check.zip_code(draft.zip_code, "address.zipCode"),
        "country": "US",
        "note": check.text(
            draft.note,
            "address.note",
            "Address note",
            required=False,
            max_length=MAX_ADDRESS_NOTE_LENGTH,
            free_text=True,
        ),
    }


def check_patient(
    draft: PatientDraft,
    patient_id: int | None = None,
    check_unique: bool = True,
    sites: dict[int, Site] | None = None,
) -> tuple[dict, dict]:
    """The patient's and the address's values, or Rejected with every problem.

    ``sites`` (by id) saves a query per patient when many are checked at once."""
    check = Checker()
    values = {
        "external_identifier": check.identifier(
            draft.external_identifier,
            "externalIdentifier",
            "External identifier",
            required=True,
            max_length=64,
        ),
        "first_name": check.text(
            draft.first_name, "firstName", "First name", required=True, max_length=100
        ),
        "last_name": check.text(
            draft.last_name, "lastName", "Last name", required=True, max_length=100
        ),
        "date_of_birth": check.past_date(draft.date_of_birth, "dateOfBirth", "Date of birth"),
        "email": check.email(draft.email, "email"),
        "phone_number": check.phone(draft.phone_number, "phoneNumber"),
        "sex": check.choice(draft.sex, "sex", "Sex", SEXES, default="unknown"),
        "enrolled": check.boolean(draft.enrolled, "enrolled", "Enrolled", default=True),
        "site_id": None,
    }
    if draft.site_id not in (None, ""):
        site_ref = check.id_of(draft.site_id, "site.id", "site")
        if sites is not None:
            site = sites.get(site_ref)
        else:
            site = fetch_by_id(Site, {site_ref}).get(site_ref) if site_ref else None
        if site_ref and site is None:
            check.add("site_not_found", f"There is no site with id {site_ref}.", "site.id")
        elif (
            site is not None
            and not site.active
            and (patient_id is None or _site_changed(patient_id, site.id))
        ):
            check.add("site_inactive", f"{site.name} is inactive.", "site.id")
        values["site_id"] = site.id if site else None
    address = _check_address(draft.address, check)
    if values["external_identifier"] and check_unique:
        holder = db.session.scalar(
            select(Patient).where(
                func.lower(Patient.external_identifier) == values["external_identifier"].lower()
            )
        )
        if holder is not None and holder.id != patient_id:
            check.add(
                "duplicate_external_identifier",
                f"{values['external_identifier']} already belongs to {holder.full_name}.",
                "externalIdentifier",
            )
    check.raise_if_any()
    return values, address


def _site_changed(patient_id: int, site_id: int) -> bool:
    return db.session.scalar(select(Patient.site_id).where(Patient.id == patient_id)) != site_id


def _create(model, record_type: str, values: dict, address: dict, actor: Actor):
    """Adds the record and its first history entry to the current write transaction."""
    record = model(**values, address=Address(**address))
    db.session.add(record)
    db.session.flush()
    record_change(record_type, record.id, "created", actor, _described(record))
    return record


def _update(record, record_type: str, values: dict, address: dict, actor: Actor):
    """Writes the new values and records what changed (nothing, if nothing did)."""
    before = _described(record)
    for name, value in values.items():
        setattr(record, name, value)
    for name, value in address.items():
        setattr(record.address, name, value)
    db.session.flush()
    changes = diff(before, _described(record))
    if changes:
        record_change(record_type, record.id, "updated", actor, changes)
    return record


def _set(model, record_type: str, record_id: int, attribute: str, value: bool, action: str, actor):
    with write_transaction():
        record = get_or_reject(model, record_id, record_type)
        if getattr(record, attribute) != value:
            setattr(record, attribute, value)
            record_change(record_type, record.id, action, actor)
    return record


def create_patient(draft: PatientDraft, actor: Actor) -> Patient:
    try:
        with write_transaction():
            values, address = check_patient(draft)
            return _create(Patient, "patient", values, address, actor)
    except IntegrityError:
        # Someone else enrolled the same identifier at this very moment.
        raise Rejected(
            [
                Problem(
                    "duplicate_external_identifier",
                    "This external identifier was just given to another patient.",
                    "externalIdentifier",
                )
            ]
        ) from None


def update_patient(patient_id: int, draft: PatientDraft, actor: Actor) -> Patient:
    with write_transaction():
        patient = get_or_reject(Patient, patient_id, "patient")
        return _update(patient, "patient", *check_patient(draft, patient_id), actor)


def set_patient_archived(patient_id: int, archived: bool, actor: Actor) -> Patient:
    """Archive (or restore) a patient: never deleted, only kept from new orders."""
    action = "archived" if archived else "restored"
    return _set(Patient, "patient", patient_id, "archived", archived, action, actor)


def _described(record) -> dict:
    fields = PATIENT_FIELDS if isinstance(record, Patient) else SITE_FIELDS
    values = snapshot(record, fields)
    values.update({f"address.{k}": v for k, v in snapshot(record.address, ADDRESS_FIELDS).items()})
    return values


# --- Sites -------------------------------------------------------------------------------


def check_site(draft: SiteDraft, site_id: int | None = None) -> tuple[dict, dict]:
    check = Checker()
    values = {
        "name": check.text(draft.name, "name", "Name", required=True, max_length=200),
        "phone_number": check.phone(draft.phone_number, "phoneNumber"),
    }
    address = _check_address(draft.address, check)
    if values["name"]:
        holder = db.session.scalar(
            select(Site).where(func.lower(Site.name) == values["name"].lower())
        )
        if holder is not None and holder.id != site_id:
            check.add("duplicate_name", f"There is already a site called {holder.name}.", "name")
    check.raise_if_any()
    return values, address


def create_site(draft: SiteDraft, actor: Actor) -> Site:
    with write_transaction():
        values, address = check_site(draft)
        return _create(Site, "site", values, address, actor)


def update_site(site_id: int, draft: SiteDraft, actor: Actor) -> Site:
    with write_transaction():
        site = get_or_reject(Site, site_id, "site")
        return _update(site, "site", *check_site(draft, site_id), actor)


def set_site_active(site_id: int, active: bool, actor: Actor) -> Site:
    """An inactive site cannot receive orders or new patients; its history stays."""
    return _set(
        Site, "site", site_id, "active", active, "activated" if active else "deactivated", actor
    )
