"""Adjustments and counts: on hand moved by a number, or set to what was counted, always with
a reason. A device-tracked item's stock is its devices, so it is never adjusted by number."""

from __future__ import annotations

from typing import Any

from app.auth.actor import Actor
from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.inventory import models as m
from app.inventory.ledger import (
    StockCheck,
    lock_balances,
    record_movements,
    refuse,
)
from app.inventory.locations import resolve_location
from app.inventory.models import StockMovement
from app.validation import MAX_REASON_LENGTH, Checker, as_id, fetch_by_id, is_whole_number

MAX_ADJUSTMENT = 100_000


def _check_reason(reason: Any, check: StockCheck) -> str | None:
    one = Checker()
    text = one.text(
        reason, "reason", "A reason", required=True, max_length=MAX_REASON_LENGTH, free_text=True
    )
    if any(p.code == "required" for p in one.problems):
        check.add("reason_required", "Say why: a reason is required.", "reason")
        return None
    for problem in one.problems:
        check.add("invalid_reason", problem.message, "reason")
    return text


def _check_item(item_ref: Any, check: StockCheck) -> Item | None:
    item_id = as_id(item_ref)
    item = fetch_by_id(Item, {item_id}).get(item_id) if item_id else None
    if item is None:
        check.no_item(item_ref, "item.id")
    elif item.is_device:
        check.add(
            "device_tracked_item",
            f"{item.name} is tracked by device: its stock is its devices.",
            "item.id",
        )
    return item


def _check_quantity(change: Any, counted: bool, check: StockCheck) -> None:
    low = 0 if counted else -MAX_ADJUSTMENT
    if not (is_whole_number(change) and low <= change <= MAX_ADJUSTMENT) or (
        not counted and change == 0
    ):
        check.add(
            "invalid_quantity",
            f"Counted units must be a whole number from 0 to {MAX_ADJUSTMENT}."
            if counted
            else f"The change must be a whole number from −{MAX_ADJUSTMENT} to "
            f"{MAX_ADJUSTMENT}, not 0.",
            "quantity",
        )


def adjust(
    location_ref: Any,
    item_ref: Any,
    change: Any,
    reason: Any,
    actor: Actor,
    *,
    counted: bool = False,
) -> StockMovement | None:
    """Moves on hand by ``change`` (an adjustment), or to ``change`` units (a count).

    A device-tracked item's stock is its devices: it is not adjusted by number.
    On hand may not fall below what open orders hold reserved.
    """
    with write_transaction() as session:
        check = StockCheck()
        location, found = resolve_location(location_ref, "location.id", lock=True)
        check.problems.extend(found)
        item = _check_item(item_ref, check)
        _check_quantity(change, counted, check)
        text = _check_reason(reason, check)
        check.raise_if_any()
        balances = lock_balances(location.id, {item.id}, create=True)
        balance = balances[item.id]
        delta = change - balance.on_hand if counted else change
        if balance.on_hand + delta < balance.reserved:
            refuse(
                "below_reserved",
                f"Open orders hold {balance.reserved} reserved; on hand cannot go below that "
                f"(it would be {balance.on_hand + delta}).",
                "quantity",
            )
        if delta == 0 and counted:
            text = f"{text} (count matched)"
        movement = {
            "kind": m.COUNT if counted else m.ADJUSTMENT,
            "item_id": item.id,
            "location_id": location.id,
            "on_hand_change": delta,
            "reason": text,
        }
        record_movements(balances, [movement], actor)
        session.flush()
    return None
