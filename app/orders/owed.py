"""What recipients still owe: returns not (fully) back, and which of them are overdue.

A return's label is sent when its order ships (the label is in the box, or emailed then), or,
for a return-only order, when it moves to awaiting the return. A return still out
``RETURN_OVERDUE_DAYS`` (config) after that is overdue: the order list filters those
(``overdue_condition``), and the patient page lists what each patient still owes
(``owed_by_patient``), from the returns station's own reckoning (``return_progress``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, literal_column, or_, select

from app.db.types import utcnow
from app.extensions import db
from app.orders import read_model, statuses
from app.orders.models import Order, OrderEvent, ReturnDevice, ReturnItem, ReturnPackedKit
from app.orders.return_progress import ExpectedDevice, progress

# The events that send a return's label.
LABEL_SENT = (statuses.SHIPPED, statuses.AWAITING_RETURN)
# Where a return is out with the recipient: its label sent, and not all back yet.
OUT = statuses.RETURN_OUT
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


def returns_out_condition():
    """Orders whose return is out: they ask something back and are in a status where the
    label has been sent and not all is back. Read through the partial index
    ``ix_order__returns_out``, whose condition this is (the statuses written as literals,
    as the index names them)."""
    return Order.has_returns & Order.current_status.in_(
        [literal_column(f"'{status}'") for status in OUT]
    )


def label_sent_column():
    """When each order's return label was first sent (its first label-sending event)."""
    return (
        select(func.min(OrderEvent.event_timestamp))
        .where(OrderEvent.order_id == Order.id, OrderEvent.name.in_(LABEL_SENT))
        .scalar_subquery()
    )


def sent_too_long_ago(label_sent, now: datetime | None = None):
    """Whether a return whose label was sent at ``label_sent`` is overdue: out longer than
    the configured days."""
    return label_sent < (now or utcnow()) - timedelta(days=overdue_days())


def overdue_condition(now: datetime | None = None):
    """Orders whose return is out and whose label was sent more than the configured days ago."""
    return returns_out_condition() & sent_too_long_ago(label_sent_column(), now)


Ages = tuple[tuple[str, int, int | None], ...]


def returns_out_by_age(
    now: datetime, sites: Collection[int] | None, ages: Ages
) -> dict[tuple[str, int, bool], int]:
    """Returns out, counted by (status, age, overdue): the age the index in ``ages``
    ((label, first day, last day or None) of whole days since the label was sent), overdue
    by ``overdue_condition``, of the orders of ``sites`` (responsible site ids; None for
    all). One statement, over the partial index of returns out."""
    found = db.session.execute(returns_out_statement(now, sites, ages))
    return {(status, int(at), bool(late)): int(n) for status, at, late, n in found}


def returns_out_statement(now: datetime, sites: Collection[int] | None, ages: Ages):
    each = select(Order.current_status.label("status"), label_sent_column().label("sent")).where(
        returns_out_condition()
    )
    if sites is not None:
        each = each.where(Order.responsible_site_id.in_(sorted(sites)))
    # Materialised (PostgreSQL 12+, SQLite 3.35+), so that each order's label is looked up
    # once, not once a use.
    each = each.cte("returns_out").prefix_with("MATERIALIZED")
    age = case(
        *(
            (each.c.sent > now - timedelta(days=last + 1), at)
            for at, (_, _, last) in enumerate(ages)
            if last is not None
        ),
        else_=len(ages) - 1,
    )
    overdue = case((sent_too_long_ago(each.c.sent, now), 1), else_=0)
    counted = select(each.c.status, age.label("age"), overdue.label("overdue")).subquery()
    # Grouped outside: the same expression with its parameters is not the same to GROUP BY.
    return select(counted.c.status, counted.c.age, counted.c.overdue, func.count()).group_by(
        counted.c.status, counted.c.age, counted.c.overdue
    )


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
