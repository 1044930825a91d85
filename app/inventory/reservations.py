"""Reservations: what the order service calls, inside its own write transaction, to hold
an order's units back at its location, give them back, ship them, and take returned units in.

An order's lines come as ``DemandLine``s (kits multiplied out here); a line the location
cannot fill refuses the whole order with ``InsufficientInventory``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select

from app.auth.actor import Actor
from app.catalog.models import Item, KitItem
from app.extensions import db
from app.inventory import models as m
from app.inventory.ledger import lock_balances, record_movements
from app.inventory.models import StockMovement
from app.validation import Checker, Rejected


class InsufficientInventory(Rejected):
    """An order asks for more than its location has available; nothing was reserved."""


@dataclass
class DemandLine:
    """One outbound order line: an item (``item_id``) or a kit (``kit_id``) and a count."""

    field_path: str
    name: str
    count: int
    item_id: int | None = None
    kit_id: int | None = None
    # What the caller may have read already (the order service has, checking the order), so
    # that reserving reads it no more: a kit's contents as (item id, count) pairs, and which
    # of the line's items are received on scan.
    kit_contents: tuple[tuple[int, int], ...] | None = None
    received_on_scan: frozenset[int] | None = None


def _units(lines: list[DemandLine]) -> list[dict[int, int]]:
    """Each line's units per item, kits multiplied out (one statement for every kit)."""
    contents: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for line in lines:
        if line.kit_contents is not None:
            contents[line.kit_id] = list(line.kit_contents)
    kit_ids = {line.kit_id for line in lines if line.kit_id and line.kit_contents is None}
    if kit_ids:
        for kit_id, item_id, count in db.session.execute(
            select(KitItem.kit_id, KitItem.item_id, KitItem.count).where(
                KitItem.kit_id.in_(kit_ids)
            )
        ):
            contents[kit_id].append((item_id, count))
    answer = []
    for line in lines:
        if line.item_id:
            answer.append({line.item_id: line.count})
        else:
            units: dict[int, int] = defaultdict(int)
            for item_id, count in contents[line.kit_id]:
                units[item_id] += count * line.count
            answer.append(dict(units))
    return answer


def _received_on_scan(item_ids: set[int]) -> set[int]:
    """Items whose devices are received when scanned have no stock before packing: they
    hold nothing back (the scan adds the unit, the shipment takes it)."""
    if not item_ids:
        return set()
    return set(
        db.session.scalars(
            select(Item.id).where(Item.id.in_(item_ids), Item.accept_unreceived_devices.is_(True))
        )
    )


def units_to_reserve(lines: list[DemandLine]) -> dict[int, int]:
    """What an order with these lines would reserve, per item, kits multiplied out (reads
    only: for previews that check several orders against the stock before placing any)."""
    totals: dict[int, int] = defaultdict(int)
    for units in _units(lines):
        for item_id, n in units.items():
            totals[item_id] += n
    skip = _received_on_scan(set(totals))
    return {i: n for i, n in totals.items() if i not in skip}


def item_names(item_ids: set[int]) -> dict[int, str]:
    if not item_ids:
        return {}
    return dict(db.session.execute(select(Item.id, Item.name).where(Item.id.in_(item_ids))).all())


def reserve(order_id: int, location_id: int, lines: list[DemandLine], actor: Actor) -> None:
    """Reserves every outbound unit of an order, or refuses the whole order.

    Runs inside the caller's write transaction. Lines are granted in order: a later line
    asking for an item an earlier one took sees what is left.
    """
    per_line = _units(lines)
    wanted = {item_id for units in per_line for item_id in units}
    if all(line.received_on_scan is not None for line in lines):
        received_on_scan = set().union(*(line.received_on_scan for line in lines))
    else:
        received_on_scan = _received_on_scan(wanted)
    per_line = [{i: n for i, n in units.items() if i not in received_on_scan} for units in per_line]
    wanted -= received_on_scan
    balances = lock_balances(location_id, wanted, create=False)
    left = {i: (b.on_hand - b.reserved) for i, b in balances.items()}
    check = Checker()
    for line, units in zip(lines, per_line, strict=True):
        short = [(i, n, max(left.get(i, 0), 0)) for i, n in units.items() if n > left.get(i, 0)]
        for item_id, n in units.items():
            left[item_id] = left.get(item_id, 0) - n
        if not short:
            continue
        parts = []
        for item_id, needed, there in short:
            name = db.session.get(Item, item_id).name
            parts.append(f"{needed} × {name} needed, {there} available")
        check.add(
            "insufficient_inventory",
            f"Not enough stock for {line.name}: {'; '.join(parts)}.",
            line.field_path,
        )
    if check.problems:
        raise InsufficientInventory(check.problems)
    totals: dict[int, int] = defaultdict(int)
    for units in per_line:
        for item_id, n in units.items():
            totals[item_id] += n
    record_movements(
        balances,
        [
            {
                "kind": m.RESERVATION,
                "item_id": item_id,
                "location_id": location_id,
                "reserved_change": n,
                "order_id": order_id,
            }
            for item_id, n in sorted(totals.items())
        ],
        actor,
    )


def _outstanding(order_id: int) -> dict[tuple[int, int], int]:
    """What an order still holds reserved, per (item, location), from the ledger."""
    rows = db.session.execute(
        select(
            StockMovement.item_id,
            StockMovement.location_id,
            func.sum(StockMovement.reserved_change),
        )
        .where(StockMovement.order_id == order_id)
        .group_by(StockMovement.item_id, StockMovement.location_id)
    ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows if r[2]}


def release(order_id: int, actor: Actor, reason: str | None = None) -> None:
    """Gives back whatever an order holds reserved (it was cancelled)."""
    held = _outstanding(order_id)
    by_location: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (item_id, location_id), n in held.items():
        by_location[location_id].append((item_id, n))
    for location_id, pairs in sorted(by_location.items()):
        balances = lock_balances(location_id, {i for i, _ in pairs}, create=False)
        record_movements(
            balances,
            [
                {
                    "kind": m.RELEASE,
                    "item_id": item_id,
                    "location_id": location_id,
                    "reserved_change": -n,
                    "order_id": order_id,
                    "reason": reason,
                }
                for item_id, n in sorted(pairs)
            ],
            actor,
        )


def ship(order_id: int, location_id: int, lines: list[DemandLine], actor: Actor) -> None:
    """The order left the building: its units leave on hand and its reservation ends."""
    shipped: dict[int, int] = defaultdict(int)
    for units in _units(lines):
        for item_id, n in units.items():
            shipped[item_id] += n
    held = {i: n for (i, loc), n in _outstanding(order_id).items() if loc == location_id}
    balances = lock_balances(location_id, set(shipped) | set(held), create=True)
    record_movements(
        balances,
        [
            {
                "kind": m.SHIPMENT,
                "item_id": item_id,
                "location_id": location_id,
                "on_hand_change": -shipped.get(item_id, 0),
                "reserved_change": -held.get(item_id, 0),
                "order_id": order_id,
            }
            for item_id in sorted(set(shipped) | set(held))
        ],
        actor,
    )


def receive_returned_items(
    order_id: int, location_id: int, counts: dict[int, int], actor: Actor
) -> None:
    """Counted return lines come back into stock when the return is received."""
    counts = {i: n for i, n in counts.items() if n}
    if not counts:
        return
    balances = lock_balances(location_id, set(counts), create=True)
    record_movements(
        balances,
        [
            {
                "kind": m.RETURN,
                "item_id": item_id,
                "location_id": location_id,
                "on_hand_change": n,
                "order_id": order_id,
            }
            for item_id, n in sorted(counts.items())
        ],
        actor,
    )
