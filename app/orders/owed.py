"""What recipients still owe: returns not (fully) back, and which of them are overdue.

A return's label is sent when its order ships (the label is in the box, or emailed then), or,
for a return-only order, when it moves to awaiting the return. A return still out
``RETURN_OVERDUE_DAYS`` (config) after that is overdue: the order list filters those
(``overdue_condition``), and the patient page lists what each patient still owes
(``owed_by_patient``), from the returns station's own reckoning (``return_progress``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from app.db.types import utcnow
from app.extensions import db
from app.orders import read_model, statuses
from app.orders.models import Order, OrderEvent, ReturnDevice, ReturnItem, ReturnPackedKit
from app.orders.return_progress import ExpectedDevice, progress

# The events that send a return's label.
LABEL_SENT = (statuses.SHIPPED, statuses.AWAITING_RETURN)
# Where a return is out with the recipient: its label sent, and not all back yet.
OUT = (
    statuses.SHIPPED,
    statuses.DELIVERY_EXCEPTION,
    statuses.DELIVERED,
    statuses.AWAITING_RETURN,
    statuses.PARTLY_RETURNED,
)
# The patient page lists at most this many open returns, the newest.
MAX_OWED_LISTED = 20
DEFAULT_OVERDUE_DAYS = 21


def overdue_days() -> int:
    return current_app.config.get("RETURN_OVERDUE_DAYS", DEFAULT_OVERDUE_DAYS)


def _has_return_lines():
    return or_(
        *(
            select(line.id).where(line.order_id == Order.id).exists()
            for line in (ReturnItem, ReturnDevice, ReturnPackedKit)
        )
    )


def overdue_condition(now: datetime | None = None):
    """Orders whose return is out and whose label was sent more than the configured days ago."""
    since = (now or utcnow()) - timedelta(days=overdue_days())
    label_sent_before = (
        select(OrderEvent.id)
        .where(
            OrderEvent.order_id == Order.id,
            OrderEvent.name.in_(LABEL_SENT),
            OrderEvent.event_timestamp < since,
        )
        .exists()
    )
    return Order.current_status.in_(OUT) & _has_return_lines() & label_sent_before


def label_sent_at(order) -> datetime | None:
    return next((e.event_timestamp for e in order.events if e.name in LABEL_SENT), None)


@dataclass
class Owed:
    """One open return of a patient: what is still missing, and whether it is overdue."""

    order_id: int
    status: str
    devices: list[ExpectedDevice]
    items: list  # (missing count, item) pairs
    label_sent: datetime | None
    overdue: bool


def owed_by_patient(patient_id: int) -> list[Owed]:
    """The patient's open returns (newest first, at most MAX_OWED_LISTED) and what each still
    asks back; a return nothing has been asked of yet (not placed for shipping) is left out."""
    ids = db.session.scalars(
        select(Order.id)
        .where(
            Order.patient_id == patient_id,
            Order.current_status.not_in(statuses.FINAL),
            _has_return_lines(),
        )
        .order_by(Order.id.desc())
        .limit(MAX_OWED_LISTED)
    ).all()
    cutoff = utcnow() - timedelta(days=overdue_days())
    owed = []
    for order in read_model.load(list(ids)):
        found = progress(order)
        sent = label_sent_at(order)
        owed.append(
            Owed(
                order.id,
                order.current_status,
                found.missing_devices,
                [(line.count - line.arrived_count, line.item) for line in found.missing_items],
                sent,
                sent is not None and sent < cutoff and order.current_status in OUT,
            )
        )
    return owed
