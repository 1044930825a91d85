"""Adjustments and counts, rule by rule: on hand moved by a number or set to what was counted,
always with a reason, never below what open orders hold reserved, and never for an item whose
stock is its devices. Through inventory's adjustments, reading back the stored figures and rows.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.auth.actor import Actor
from app.auth.models import User
from app.extensions import db
from app.inventory import adjustments
from app.inventory.ledger import StockRefused
from app.inventory.locations import default_location
from app.inventory.models import MAX_REASON_LENGTH, StockBalance, StockMovement
from tests.conftest import STOCK_PER_COUNTED_ITEM, app_context
from tests.helpers.orders import place

MAX = adjustments.MAX_ADJUSTMENT


def adjust(app, item_id, change, reason="Found behind the shelf", *, counted=False, location=None):
    with app.app_context():
        try:
            admin = Actor(user=db.session.scalar(select(User).where(User.role == "admin")))
            adjustments.adjust(location, item_id, change, reason, admin, counted=counted)
        finally:
            db.session.remove()


def refused(app, *args, **kwargs) -> list[tuple]:
    before = stored(app)
    with pytest.raises(StockRefused) as error:
        adjust(app, *args, **kwargs)
    assert stored(app) == before, "a refused change stores nothing"
    return [(p.code, p.message, p.field) for p in error.value.problems]


def stored(app) -> tuple:
    with app_context(app) as session:
        return (
            session.scalar(select(func.count(StockMovement.id))),
            session.execute(
                select(StockBalance.item_id, StockBalance.on_hand, StockBalance.reserved).order_by(
                    StockBalance.id
                )
            ).all(),
        )


def on_hand(app, item_id) -> int:
    with app_context(app) as session:
        return session.scalar(
            select(StockBalance.on_hand).where(
                StockBalance.item_id == item_id,
                StockBalance.location_id == default_location().id,
            )
        )


def last_row(app) -> tuple:
    with app_context(app) as session:
        row = session.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
        return (row.kind, row.item_id, row.on_hand_change, row.reserved_change, row.reason)


def test_an_adjustment_moves_on_hand_by_its_change_with_its_reason(app, catalog):
    strips = catalog.items["strips"]
    adjust(app, strips, -3, "  Water damage  ")
    assert on_hand(app, strips) == STOCK_PER_COUNTED_ITEM - 3
    assert last_row(app) == ("adjustment", strips, -3, 0, "Water damage")
    adjust(app, strips, 5)
    assert on_hand(app, strips) == STOCK_PER_COUNTED_ITEM + 2
    assert last_row(app) == ("adjustment", strips, 5, 0, "Found behind the shelf")


def test_a_count_sets_on_hand_to_what_was_counted(app, catalog):
    strips = catalog.items["strips"]
    adjust(app, strips, 7, "Stocktake", counted=True)
    assert on_hand(app, strips) == 7
    assert last_row(app) == ("count", strips, 7 - STOCK_PER_COUNTED_ITEM, 0, "Stocktake")
    adjust(app, strips, 7, "Stocktake", counted=True)
    # A count that matches is recorded too, saying so: the shelf was checked.
    assert on_hand(app, strips) == 7
    assert last_row(app) == ("count", strips, 0, 0, "Stocktake (count matched)")
    adjust(app, strips, 0, "Stocktake", counted=True)
    assert on_hand(app, strips) == 0


def test_on_hand_never_falls_below_what_open_orders_hold_reserved(app, catalog):
    strips = catalog.items["strips"]
    place(app, catalog, items={"strips": 10})
    assert refused(app, strips, 9, counted=True) == [
        (
            "below_reserved",
            "Open orders hold 10 reserved; on hand cannot go below that (it would be 9).",
            "quantity",
        )
    ]
    assert refused(app, strips, 10 - STOCK_PER_COUNTED_ITEM - 1)[0][1] == (
        "Open orders hold 10 reserved; on hand cannot go below that (it would be 9)."
    )
    # Exactly what is reserved may stay on hand.
    adjust(app, strips, 10, counted=True)
    assert on_hand(app, strips) == 10


@pytest.mark.parametrize("change", [0, MAX + 1, -MAX - 1, 1.5, "3", True, None])
def test_an_adjustment_is_a_whole_number_within_bounds_and_not_zero(app, catalog, change):
    assert refused(app, catalog.items["strips"], change) == [
        (
            "invalid_quantity",
            f"The change must be a whole number from −{MAX} to {MAX}, not 0.",
            "quantity",
        )
    ]


@pytest.mark.parametrize("change", [-1, MAX + 1, 2.5, "4", None])
def test_a_count_is_a_whole_number_from_zero_within_bounds(app, catalog, change):
    assert refused(app, catalog.items["strips"], change, counted=True) == [
        ("invalid_quantity", f"Counted units must be a whole number from 0 to {MAX}.", "quantity")
    ]


def test_the_largest_changes_are_accepted(app, catalog):
    strips = catalog.items["strips"]
    adjust(app, strips, MAX)
    assert on_hand(app, strips) == STOCK_PER_COUNTED_ITEM + MAX
    adjust(app, strips, -MAX)
    assert on_hand(app, strips) == STOCK_PER_COUNTED_ITEM
    adjust(app, strips, MAX, counted=True)
    assert on_hand(app, strips) == MAX


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_change_needs_a_reason(app, catalog, reason):
    assert refused(app, catalog.items["strips"], 1, reason) == [
        ("reason_required", "Say why: a reason is required.", "reason")
    ]


def test_a_reason_too_long_is_refused_beside_the_reason(app, catalog):
    problems = refused(app, catalog.items["strips"], 1, "x" * (MAX_REASON_LENGTH + 1))
    assert problems == [
        ("invalid_reason", f"A reason is at most {MAX_REASON_LENGTH} characters.", "reason")
    ]
    adjust(app, catalog.items["strips"], 1, "x" * MAX_REASON_LENGTH)
    assert last_row(app)[4] == "x" * MAX_REASON_LENGTH


def test_a_reason_may_run_over_several_lines_as_a_note_does(app, catalog):
    reason = "Recounted after the delivery:\nshelf A\t12\nshelf B\t3"
    adjust(app, catalog.items["strips"], 1, reason)
    assert last_row(app)[4] == reason


def test_a_device_tracked_item_is_never_adjusted_by_number(app, catalog):
    assert refused(app, catalog.items["glucometer"], 1) == [
        (
            "device_tracked_item",
            "Glucometer is tracked by device: its stock is its devices.",
            "item.id",
        )
    ]


def test_every_problem_is_named_at_once(app, catalog):
    assert refused(app, 999_999, 0, "", location=999_999) == [
        (
            "location_not_found",
            "That is not a valid location: there is no active stock location with id 999999.",
            "location.id",
        ),
        ("item_not_found", "There is no item with id 999999.", "item.id"),
        (
            "invalid_quantity",
            f"The change must be a whole number from −{MAX} to {MAX}, not 0.",
            "quantity",
        ),
        ("reason_required", "Say why: a reason is required.", "reason"),
    ]
    assert refused(app, None, 1)[0][:2] == ("item_not_found", "Choose an item.")
