"""Send to many: one set of lines to many patients at once, one order each.

The preview checks every patient's order with the order service's own rules
(``check_draft``), so what it refuses is what placing would refuse. Placing places one
order per patient that passed, each under a key made of the batch token and the patient:
submitting the same batch again places nothing twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sqlalchemy import select

from app.extensions import db
from app.inventory import ledger, reservations
from app.orders.demand import demand_lines
from app.orders.models import Order, SubmissionKey
from app.orders.service import (
    Actor,
    OrderDraft,
    OrderRejected,
    PlacedOrder,
    check_draft,
    patient_problems,
    place_order,
)
from app.orders.views import BatchOrder
from app.people.models import Patient
from app.people.search import patients_for_batch
from app.people.views import PatientName
from app.validation import like_escaped

MAX_PATIENTS = 200
MAX_IDENTIFIERS_TEXT = 20_000
FIRST_CELL = re.compile(r'\s*("[^"]*"|[^,;\t]*)')


def split_identifiers(text: str) -> list[str]:
    """Identifiers pasted or uploaded: separated by commas, semicolons, tabs or lines."""
    return [v.strip().strip('"') for v in re.split(r"[,;\t\r\n]+", text or "") if v.strip()]


def identifiers_in_file(raw: bytes) -> list[str]:
    """The first column of an uploaded CSV or text file, without its header row. NUL
    characters, which no identifier has and PostgreSQL cannot compare, are dropped. Not the
    import's strict reading: a byte read wrongly here only makes an identifier that matches
    no patient, which the preview lists as unknown."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\x00", "")
    values = [
        v.strip().strip('"').strip()
        for v in (FIRST_CELL.match(line).group(0) for line in text.splitlines())
    ]
    values = [v for v in values if v]
    # A header row ("MRN", "external_identifier"...) is not an identifier.
    if values and not any(ch.isdigit() for ch in values[0]):
        values = values[1:]
    return values


@dataclass
class BatchLine:
    """One patient of the batch, as the preview shows them."""

    patient: Patient
    problems: list[str] = field(default_factory=list)

    @property
    def good(self) -> bool:
        return not self.problems


@dataclass
class BatchPreview:
    lines: list[BatchLine]
    unknown_identifiers: list[str]
    too_many: bool = False
    # Problems with the lines themselves (the same for every patient).
    order_problems: list[str] = field(default_factory=list)

    @property
    def good(self) -> list[BatchLine]:
        return [line for line in self.lines if line.good]


PATIENT_NAME = PatientName.__struct_fields__
# A refusal is shown beside the patient's name and MRN, so it does not repeat them: the
# service's words for these problems name the patient.
BESIDE_THE_NAME = {"patient_archived": "Archived: cannot receive orders."}


def _reasons(problems) -> list[str]:
    """Why a patient is refused, in words that go beside their name."""
    return [BESIDE_THE_NAME.get(p.code, p.message) for p in problems]


def _key(token: str, patient_id: int) -> str:
    return f"batch:{token[:64]}:{patient_id}"


def preview_batch(
    draft: OrderDraft, patient_ids: list[int], identifiers: list[str]
) -> BatchPreview:
    """Each patient's order checked as if placed now; nothing is written. The lines are
    checked once (they are the same for everyone), each patient by the service's own
    recipient rule: a fixed number of queries however many patients."""
    patients, unknown = patients_for_batch(patient_ids, identifiers)
    too_many = len(patients) > MAX_PATIENTS
    patients = patients[:MAX_PATIENTS]
    order, problems = check_draft(replace(draft, patient_id=None, site_id=None))
    order_problems = [p.message for p in problems if p.code != "recipient_required"]
    # Each good patient's order takes its units from what is left after the ones above it:
    # the preview refuses the first patient the stock cannot serve, as placing would.
    need: dict[int, int] = {}
    left: dict[int, int] = {}
    if not order_problems and order.fulfillment_location is not None:
        need = reservations.units_to_reserve(demand_lines(order))
        left = ledger.available(order.fulfillment_location.id, set(need))
    names: dict[int, str] = {}
    lines = []
    for patient in patients:
        mine = _reasons(patient_problems(patient))
        if not (patient.address and patient.address.line_one.strip()):
            mine.append("No address to ship to.")
        if order_problems and not mine:
            mine.append("Not placed until the lines are fixed.")
        if need and not mine:
            short = sorted(i for i, n in need.items() if n > left.get(i, 0))
            if short and not names:
                names = reservations.item_names(set(need))
            if short:
                mine.append(
                    "Not enough stock left for this order: "
                    + "; ".join(
                        f"{need[i]} × {names.get(i, i)} needed, {max(left.get(i, 0), 0)} available"
                        for i in short
                    )
                    + "."
                )
            else:
                for item_id, n in need.items():
                    left[item_id] -= n
        lines.append(BatchLine(patient, mine))
    return BatchPreview(lines, unknown, too_many, order_problems)


def place_batch(
    draft: OrderDraft, patient_ids: list[int], identifiers: list[str], actor: Actor, token: str
) -> tuple[list[PlacedOrder], BatchPreview]:
    """One order per patient that passes the preview's checks; answers the orders (new, or
    ``replayed`` when an earlier submission of the same batch placed them) and the preview
    they passed."""
    preview = preview_batch(draft, patient_ids, identifiers)
    if preview.order_problems:
        return [], preview
    orders = []
    for line in preview.good:
        try:
            placed = place_order(
                replace(draft, patient_id=line.patient.id, site_id=None),
                actor,
                submission_key=_key(token, line.patient.id),
            )
        except OrderRejected as rejected:
            # Changed since the preview (archived meanwhile): refused, the others go on.
            line.problems = _reasons(rejected.problems)
            continue
        orders.append(placed)
    return orders, preview


def orders_of_batch(token: str, actor: Actor) -> list[BatchOrder]:
    """The orders a batch placed, for its result page (one query)."""
    prefix = _key(token, 0)[:-1]
    escaped = like_escaped(prefix)
    rows = db.session.execute(
        select(
            Order.id,
            Order.current_status,
            *[getattr(Patient, name).label(f"patient_{name}") for name in PATIENT_NAME],
        )
        .join(SubmissionKey, SubmissionKey.order_id == Order.id)
        .join(Patient, Patient.id == Order.patient_id)
        .where(
            SubmissionKey.scope == actor.scope,
            SubmissionKey.key.like(escaped + "%", escape="\\"),
        )
        .order_by(Order.id)
    )
    return [
        BatchOrder(
            row.id,
            row.current_status,
            PatientName(*(getattr(row, f"patient_{name}") for name in PATIENT_NAME)),
        )
        for row in rows
    ]
