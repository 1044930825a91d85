"""Finding recipients by what a coordinator knows: a name, an identifier, a date of birth."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.people.models import Patient, Site, name_key
from app.people.views import PatientName
from app.validation import MAX_SEARCH_LENGTH, like_escaped, normalised_identifier

RESULT_LIMIT = 8
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y")


def _as_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _starts_with(column, text: str):
    escaped = like_escaped(text.lower())
    # A bound parameter (never written into the SQL: errors in the logs carry no names).
    # PostgreSQL plans each run knowing the prefix: see app.db.postgresql.postgresql_settings.
    return func.lower(column).like(escaped + "%", escape="\\")


def _name_starts_with(column, text: str):
    """A name's search key (``name_key``) starting with what was typed, said the same way:
    "obrien", "o'brien" and "O’Brien" all find O'Brien."""
    key = name_key(text)
    if not key:
        return false()
    return column.like(like_escaped(key) + "%", escape="\\")


def patient_match(query: str, names: bool = True):
    """The condition for patients matching a name, an external identifier or a birth date.

    ``names=False`` leaves names out: a query known to be a number can only be the start
    of an identifier, and a name match over every patient would be wasted.
    """
    query = query.strip()[:MAX_SEARCH_LENGTH]
    # Identifiers are stored in one spelling ("MRN‑１" is "MRN-1"): searched in it too.
    # (Only format characters typed: nothing is their start, not every identifier.)
    identifier = _starts_with(Patient.external_identifier, normalised_identifier(query) or query)
    if not names:
        return identifier
    born = _as_date(query)
    if born is not None:
        return Patient.date_of_birth == born
    words = [w for w in re.split(r"[\s,]+", query) if w]
    if len(words) >= 2:
        first, last = words[0], words[-1]
        return or_(
            and_(
                _name_starts_with(Patient.first_name_key, first),
                _name_starts_with(Patient.last_name_key, last),
            ),
            # "Lovelace, Ada" and "Lovelace Ada"
            and_(
                _name_starts_with(Patient.last_name_key, first),
                _name_starts_with(Patient.first_name_key, last),
            ),
        )
    return or_(
        _name_starts_with(Patient.first_name_key, query),
        _name_starts_with(Patient.last_name_key, query),
        identifier,
    )


def find_patients(query: str, limit: int = RESULT_LIMIT) -> list[Patient]:
    """Patients matching what was typed, those who can receive orders first."""
    if not query.strip():
        return []
    order = (Patient.archived, Patient.last_name, Patient.first_name, Patient.id)
    # The first few chosen before their addresses are joined: a common surname matches
    # hundreds of patients, and joining first read every address to keep eight.
    first = select(Patient.id).where(patient_match(query)).order_by(*order).limit(limit).subquery()
    return list(
        db.session.scalars(
            select(Patient)
            .join(first, Patient.id == first.c.id)
            # The site's name is shown, not its address.
            .options(joinedload(Patient.site).lazyload(Site.address))
            .order_by(*order)
        )
    )


def find_sites(query: str, limit: int = RESULT_LIMIT) -> list[Site]:
    query = query.strip()[:MAX_SEARCH_LENGTH]
    if not query:
        return []
    escaped = like_escaped(query.lower())
    return list(
        db.session.scalars(
            select(Site)
            .where(func.lower(Site.name).like(f"%{escaped}%", escape="\\"))
            .order_by(Site.active.desc(), Site.name)
            .limit(limit)
        )
    )


def patients_for_batch(ids: list[int], identifiers: list[str]) -> tuple[list[Patient], list[str]]:
    """The patients named by id or by external identifier (one query), in the order given,
    each once; and the identifiers that name no one.

    An identifier matches in any case and spelling ("mrn‑10" is MRN-10): identifiers are
    unique so compared (people.service), and stored in one spelling (``normalised_identifier``).
    """
    keys = {i.strip(): normalised_identifier(i).lower() for i in identifiers if i.strip()}
    wanted = set(keys.values()) - {""}
    if not ids and not wanted:
        return [], []
    found = db.session.scalars(
        select(Patient)
        .where(
            or_(
                Patient.id.in_(ids or [-1]),
                func.lower(Patient.external_identifier).in_(wanted or [""]),
            )
        )
        .options(joinedload(Patient.site))
    ).all()
    by_id = {p.id: p for p in found}
    by_identifier = {p.external_identifier.lower(): p for p in found}
    named = [by_identifier.get(keys[i.strip()]) for i in identifiers if i.strip()]
    chosen: list[Patient] = []
    for patient in [by_id.get(i) for i in ids] + named:
        if patient is not None and patient not in chosen:
            chosen.append(patient)
    unknown = [
        i
        for i in dict.fromkeys(x.strip() for x in identifiers)
        if i and by_identifier.get(keys[i]) is None
    ]
    return chosen, unknown


def patient_names(ids: set[int]) -> dict[int, PatientName]:
    """Patients' names and identifiers by id (one query): for pages that name them."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(*(getattr(Patient, f) for f in PatientName.__struct_fields__)).where(
            Patient.id.in_(ids)
        )
    )
    return {row.id: PatientName(*row) for row in rows}


def patient_with_identifier(text: str) -> PatientName | None:
    """The patient whose external identifier (MRN) is ``text``, in any case and spelling."""
    key = normalised_identifier(text[:MAX_SEARCH_LENGTH]).lower()
    if not key:
        return None
    row = db.session.execute(
        select(*(getattr(Patient, f) for f in PatientName.__struct_fields__)).where(
            func.lower(Patient.external_identifier) == key
        )
    ).first()
    return PatientName(*row) if row else None
