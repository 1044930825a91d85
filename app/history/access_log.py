"""Reading the PHI access log: its entries grouped into visits, each said in words.

The log itself stays complete: every request that showed a patient wrote its own entry
(``patient_access``), so an audit can count every look. What an admin reads is grouped:
the entries of one person (or API key), one patient, one order, one page and one action,
each at most VISIT_GAP after the one before, are one visit. A packing session (the order
page opened, then a request for each scan) is one row that says "13 times", not 13 rows.

Grouping on display, not at writing: writing stays one insert per request (no read of the
log before it on the hot path of an order read), and nothing an auditor may ask for later
is thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.auth.actor import actor_name
from app.auth.models import ApiKey, User, full_name
from app.extensions import db
from app.history.models import PatientDataAccess
from app.history.patient_access import EXPORTED, PRINTED, VIEWED

# Visits shown on one page of the log, newest first.
PAGE_SIZE = 100
# Entries read for one page at most: a page of visits of many scans each still ends.
ENTRIES_READ = PAGE_SIZE * 20
# Two looks further apart than this are two visits.
VISIT_GAP = timedelta(minutes=30)

# What each source of the log is, in words (the sources are named where each view notes
# what it shows: ``note_patient_access("orderPage", ...)``).
SOURCE_WORDS = {
    "patientPage": "the patient's page",
    "patientEdit": "the patient's edit form",
    "patientSearch": "the patient search",
    "orderPage": "the order page",
    "newOrder": "the new-order page",
    "recipientSearch": "the new-order page's recipient search",
    "sendToMany": "Send to many",
    "packingSummary": "a packing summary",
    "ordersCsv": "the orders CSV export",
    "apiOrder": "an order, through the API",
    "apiPatient": "the patient, through the API",
    "webhook": "a webhook event",
}
ACTION_WORDS = {VIEWED: "Viewed", PRINTED: "Printed", EXPORTED: "Exported"}
# Where "<action> <source>" reads wrong.
PHRASES = {
    (VIEWED, "patientSearch"): "Found in the patient search",
    (VIEWED, "recipientSearch"): "Found in the new-order page's recipient search",
    (VIEWED, "sendToMany"): "Listed on Send to many",
    (VIEWED, "apiOrder"): "Read an order through the API",
    (VIEWED, "apiPatient"): "Read the patient through the API",
    (EXPORTED, "webhook"): "Sent in a webhook event",
}


def what_was_done(action: str, source: str) -> str:
    """An entry's action and source as a person says them: "Viewed the order page"."""
    phrase = PHRASES.get((action, source))
    if phrase:
        return phrase
    verb = ACTION_WORDS.get(action, action.capitalize())
    return f"{verb} {SOURCE_WORDS.get(source, source)}"


@dataclass
class Visit:
    """Looks of one person at one patient through one page, close together."""

    first_at: datetime
    last_at: datetime
    times: int
    who: str
    action: str
    source: str
    patient_id: int
    order_id: int | None

    @property
    def what(self) -> str:
        return what_was_done(self.action, self.source)


@dataclass
class VisitPage:
    visits: list[Visit]
    # Where the next page starts (entries with a smaller id), or None on the last page.
    older: int | None


def visits(
    patient_id: int | None, user_id: int | None, api_key_id: int | None, before: int | None
) -> VisitPage:
    """A page of visits, newest first, filtered by patient and/or by person or key: one
    query, however many entries a visit holds. A visit cut by the end of a page goes on,
    as a row of its own, on the next."""
    log, user, key = PatientDataAccess, aliased(User), aliased(ApiKey)
    query = (
        select(
            log.id,
            log.at,
            log.patient_id,
            log.order_id,
            log.action,
            log.source,
            log.user_id,
            log.api_key_id,
            user.first_name,
            user.last_name,
            key.name.label("key_name"),
        )
        .outerjoin(user, user.id == log.user_id)
        .outerjoin(key, key.id == log.api_key_id)
        .order_by(log.id.desc())
        .limit(ENTRIES_READ + 1)
    )
    if patient_id is not None:
        query = query.where(log.patient_id == patient_id)
    if user_id is not None:
        query = query.where(log.user_id == user_id)
    if api_key_id is not None:
        query = query.where(log.api_key_id == api_key_id)
    if before is not None:
        query = query.where(log.id < before)
    rows = db.session.execute(query).all()
    found: list[Visit] = []
    open_visits: dict[tuple, Visit] = {}
    for n, row in enumerate(rows):
        if n == ENTRIES_READ:
            return VisitPage(found, row.id + 1)
        key_of = (row.user_id, row.api_key_id, row.patient_id, row.order_id, row.source, row.action)
        visit = open_visits.get(key_of)
        if visit is not None and visit.first_at - row.at <= VISIT_GAP:
            visit.first_at = row.at
            visit.times += 1
            continue
        if len(found) == PAGE_SIZE:
            return VisitPage(found, row.id + 1)
        user_name = full_name(row.first_name, row.last_name) if row.user_id else None
        visit = Visit(
            row.at,
            row.at,
            1,
            actor_name(user_name, row.key_name),
            row.action,
            row.source,
            row.patient_id,
            row.order_id,
        )
        open_visits[key_of] = visit
        found.append(visit)
    return VisitPage(found, None)
