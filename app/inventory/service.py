"""The stock rules. The web pages, the JSON API and the order service all come through here.

Every change to a figure is a ledger row (``StockMovement``) and, in the same statement
batch, the matching change to the item's ``StockBalance`` at that location. Balance rows
are locked before they are read for a decision, always in one statement ordered by id, so
the second writer decides on the first one's result (no overselling). What a change locks
besides (the location, the order, devices, the status counters) it takes in the one order
written down in ``app.db.transactions.write_transaction``, so two writers never wait on each other
in opposite orders (no deadlock). SQLite holds its write lock from ``BEGIN IMMEDIATE``, so
the same code is serial there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.auth.actor import Actor
from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item, KitItem
from app.db.fast_path import DirectStatement, direct_insert
from app.db.transactions import write_transaction
from app.db.types import id_among, utcnow
from app.extensions import db
from app.history.record import record_change
from app.inventory import models as m
from app.inventory.models import (
    DeviceEvent,
    StockBalance,
    StockLocation,
    StockMovement,
    StockReceipt,
)
from app.validation import (
    MAX_DB_ID,
    Checker,
    Problem,
    Rejected,
    as_id,
    fetch_by_id,
    get_or_reject,
    is_whole_number,
)

MAX_RECEIPT_LINES = 200
MAX_RECEIPT_DEVICES = 1000
MAX_RECEIPT_UNITS = 100_000
MAX_ADJUSTMENT = 100_000
DEFAULT_LOCATION_NAME = "Main warehouse"
LOCATION_RECORD = "stock_location"  # its history entries' record type

# Device statuses, in the words of the public API.
IN_STOCK = "inStock"
ALLOCATED = "allocated"
SHIPPED = "shipped"
DELIVERED = "delivered"
RETURNED = "returned"
QUARANTINED = "quarantined"
RETIRED = "retired"
RECEIVED = "received"  # a history step only: the device arrived (then it is inStock)
PASSED = "passedInspection"  # a history step only
DEVICE_STATUS_LABELS = {
    IN_STOCK: "In stock",
    ALLOCATED: "Allocated",
    SHIPPED: "Shipped",
    DELIVERED: "Delivered",
    RETURNED: "Returned",
    QUARANTINED: "Quarantined",
    RETIRED: "Retired",
    RECEIVED: "Received",
    PASSED: "Passed inspection",
}


def device_status_label(status: str) -> str:
    return DEVICE_STATUS_LABELS.get(status, status)


class StockRefused(Rejected):
    """A stock change breaks a rule; nothing was stored."""


class InsufficientInventory(Rejected):
    """An order asks for more than its location has available; nothing was reserved."""


# --- Locations -----------------------------------------------------------------------------


def list_locations() -> list[StockLocation]:
    return list(
        db.session.scalars(
            select(StockLocation)
            .where(StockLocation.active.is_(True))
            .order_by(StockLocation.is_default.desc(), StockLocation.name)
        )
    )


def default_location() -> StockLocation | None:
    return db.session.scalar(
        select(StockLocation).where(StockLocation.is_default.is_(True)).limit(1)
    )


def ensure_default_location() -> StockLocation:
    """The default location, made as "Main warehouse" when there is none yet."""
    location = default_location()
    if location is None:
        location = StockLocation(name=DEFAULT_LOCATION_NAME, is_default=True)
        db.session.add(location)
        db.session.flush()
    return location


@dataclass(frozen=True)
class PlacedAt:
    """A stock location as an order or a receipt names it: read as a plain row, so that it
    outlives the transaction that read it (placing answers with its name after commit)."""

    id: int
    name: str
    active: bool
    is_default: bool


_LOCATION = StockLocation.__table__.c


def _placed_at_statement(which: str, locked: bool) -> DirectStatement:
    statement = select(_LOCATION.id, _LOCATION.name, _LOCATION.active, _LOCATION.is_default)
    if which == "default":
        statement = statement.where(_LOCATION.is_default.is_(True))
    else:
        statement = statement.where(_LOCATION.id == bindparam("location_id"))
    statement = statement.limit(1)
    # Locked (FOR SHARE on PostgreSQL): a change that puts stock at the location or reserves
    # it there keeps the location from going inactive until it commits (deactivating takes
    # the row FOR NO KEY UPDATE); several such changes share the lock.
    return DirectStatement(statement.with_for_update(read=True) if locked else statement)


# Run with exec_driver_sql (app.db.fast_path): every placed order reads its location.
_PLACED_AT = {
    (which, locked): _placed_at_statement(which, locked)
    for which in ("default", "by_id")
    for locked in (False, True)
}


def _placed_at(which: str, location_id: int | None = None, lock: bool = False) -> PlacedAt | None:
    # On the connection, not the session: the ORM's execution path costs more than the read.
    parameters = {} if location_id is None else {"location_id": location_id}
    row = _PLACED_AT[which, lock].first(db.session.connection(), parameters)
    return None if row is None else PlacedAt(*row)


def resolve_location(
    ref: Any, field_path: str, *, lock: bool = False
) -> tuple[PlacedAt | None, list[Problem]]:
    """The location an order or receipt names, or the default when it names none.

    With ``lock`` (inside a write transaction that will put stock there or reserve it) the
    location's row is held shared until commit: it cannot go inactive meanwhile."""
    if ref is None:
        location = _placed_at("default", lock=lock)
        if location is None:
            return None, [Problem("location_required", "There is no stock location.", field_path)]
        return location, []
    location_id = as_id(ref)
    location = None
    if location_id is not None and location_id <= MAX_DB_ID:
        location = _placed_at("by_id", location_id, lock=lock)
    if location is None or not location.active:
        named = f"with id {location_id}" if location_id is not None else f"“{ref}”"
        return None, [
            Problem(
                "location_not_found",
                f"That is not a valid location: there is no active stock location {named}.",
                field_path,
            )
        ]
    return location, []


def _location_name(check: Checker, name: Any, location_id: int | None) -> str | None:
    value = check.text(name, "name", "Name", required=True, max_length=m.MAX_LOCATION_NAME_LENGTH)
    if value is None:
        return None
    clash = db.session.scalar(
        select(StockLocation.id).where(
            func.lower(StockLocation.name) == value.lower(),
            StockLocation.id != (location_id or 0),
        )
    )
    if clash is not None:
        check.add("location_name_taken", f"There is a location called “{value}” already.", "name")
    return value


def create_location(name: Any, actor: Actor) -> StockLocation:
    """A new, active location; the first one ever made is the default."""
    with write_transaction() as session:
        check = Checker()
        value = _location_name(check, name, None)
        check.raise_if_any()
        location = StockLocation(name=value, is_default=default_location() is None, active=True)
        session.add(location)
        session.flush()
        record_change(LOCATION_RECORD, location.id, "created", actor, {"name": value})
    return location


def rename_location(location_id: int, name: Any, actor: Actor) -> StockLocation:
    with write_transaction():
        location = get_or_reject(StockLocation, location_id, "stock location")
        check = Checker()
        value = _location_name(check, name, location.id)
        check.raise_if_any()
        if value != location.name:
            record_change(
                LOCATION_RECORD, location.id, "updated", actor, {"name": [location.name, value]}
            )
            location.name = value
    return location


def make_default_location(location_id: int, actor: Actor) -> StockLocation:
    """Orders that name no location are fulfilled from this one from now on."""
    with write_transaction():
        location = get_or_reject(StockLocation, location_id, "stock location")
        if not location.active:
            raise StockRefused(
                [
                    Problem(
                        "location_inactive",
                        f"{location.name} is inactive: reactivate it before making it the default.",
                    )
                ]
            )
        if not location.is_default:
            db.session.execute(
                update(StockLocation)
                .where(StockLocation.is_default.is_(True))
                .values(is_default=False)
            )
            location.is_default = True
            record_change(LOCATION_RECORD, location.id, "madeDefault", actor)
    return location


def set_location_active(location_id: int, active: bool, actor: Actor) -> StockLocation:
    """An inactive location fulfils no new order and receives nothing; it can go inactive
    only when it is not the default and holds nothing (no units on hand, none reserved)."""
    with write_transaction() as session:
        # The location's row first (the lock order: app.db.transactions.write_transaction), so that
        # an order or receipt placing stock here either commits before the totals are read
        # or sees the location inactive afterwards.
        if 1 <= location_id <= MAX_DB_ID:
            session.scalar(
                select(StockLocation)
                .where(StockLocation.id == location_id)
                .with_for_update(key_share=True)
            )
        location = get_or_reject(StockLocation, location_id, "stock location")
        if location.active == active:
            return location
        if not active:
            if location.is_default:
                raise StockRefused(
                    [
                        Problem(
                            "location_is_default",
                            f"{location.name} is the default location: make another one the "
                            "default first.",
                        )
                    ]
                )
            on_hand, reserved = _lock_location_totals(location.id)
            if on_hand or reserved:
                raise StockRefused(
                    [
                        Problem(
                            "location_not_empty",
                            f"{location.name} still holds {on_hand} on hand and {reserved} "
                            "reserved by open orders: ship, move or count them out first.",
                        )
                    ]
                )
        location.active = active
        record_change(LOCATION_RECORD, location.id, "activated" if active else "deactivated", actor)
    return location


def _lock_location_totals(location_id: int) -> tuple[int, int]:
    """Units on hand and reserved at a location, its balance rows locked (in id order) so
    no order reserves there while it is being emptied out."""
    rows = db.session.execute(
        select(StockBalance.on_hand, StockBalance.reserved)
        .where(StockBalance.location_id == location_id)
        .order_by(StockBalance.id)
        .with_for_update()
    ).all()
    return sum(r.on_hand for r in rows), sum(r.reserved for r in rows)


def location_totals() -> dict[int, tuple[int, int]]:
    """Units on hand and reserved at every location, in one query."""
    rows = db.session.execute(
        select(
            StockBalance.location_id,
            func.coalesce(func.sum(StockBalance.on_hand), 0),
            func.coalesce(func.sum(StockBalance.reserved), 0),
        ).group_by(StockBalance.location_id)
    ).all()
    return {location_id: (on_hand, reserved) for location_id, on_hand, reserved in rows}


def all_locations() -> list[StockLocation]:
    """Every location, active ones first (the default at the top), then inactive ones."""
    return list(
        db.session.scalars(
            select(StockLocation).order_by(
                StockLocation.active.desc(), StockLocation.is_default.desc(), StockLocation.name
            )
        )
    )


# --- Figures -------------------------------------------------------------------------------


def available(location_id: int, item_ids: list[int] | set[int]) -> dict[int, int]:
    """Available units of each item at a location (0 for an item never received there)."""
    ids = {i for i in item_ids if i}
    if not ids:
        return {}
    found = dict(
        db.session.execute(
            select(StockBalance.item_id, StockBalance.on_hand - StockBalance.reserved).where(
                StockBalance.location_id == location_id, StockBalance.item_id.in_(ids)
            )
        ).all()
    )
    return {i: max(found.get(i, 0), 0) for i in ids}


def kits_available(location_id: int, kit_ids: list[int] | set[int]) -> dict[int, int]:
    """How many of each kit a location could fill: the least over its contents."""
    ids = {i for i in kit_ids if i}
    if not ids:
        return {}
    contents = db.session.execute(
        select(KitItem.kit_id, KitItem.item_id, KitItem.count).where(KitItem.kit_id.in_(ids))
    ).all()
    stock = available(location_id, {row.item_id for row in contents})
    answer: dict[int, int] = {}
    for row in contents:
        fills = stock[row.item_id] // row.count
        answer[row.kit_id] = min(answer.get(row.kit_id, fills), fills)
    return {i: answer.get(i, 0) for i in ids}


def ledger_totals() -> dict[tuple[int, int], tuple[int, int]]:
    """(item, location) -> (on hand, reserved), summed from the ledger alone."""
    rows = db.session.execute(
        select(
            StockMovement.item_id,
            StockMovement.location_id,
            func.sum(StockMovement.on_hand_change),
            func.sum(StockMovement.reserved_change),
        ).group_by(StockMovement.item_id, StockMovement.location_id)
    ).all()
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}


def balance_totals() -> dict[tuple[int, int], tuple[int, int]]:
    rows = db.session.execute(
        select(
            StockBalance.item_id,
            StockBalance.location_id,
            StockBalance.on_hand,
            StockBalance.reserved,
        )
    ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def balance_mismatches() -> list[tuple[tuple[int, int], tuple[int, int], tuple[int, int]]]:
    """Balances that differ from their ledger's sums: (key, balance, ledger). Empty is good."""
    ledger, balances = ledger_totals(), balance_totals()
    keys = set(ledger) | {k for k, v in balances.items() if v != (0, 0)}
    return [
        (k, balances.get(k, (0, 0)), ledger.get(k, (0, 0)))
        for k in sorted(keys)
        if balances.get(k, (0, 0)) != ledger.get(k, (0, 0))
    ]


# --- The one way figures change ------------------------------------------------------------


class LockedBalance(NamedTuple):
    id: int
    item_id: int
    on_hand: int
    reserved: int


@cache
def _lock_balances_statement(postgres: bool) -> DirectStatement:
    t = StockBalance.__table__.c
    return DirectStatement(
        select(t.id, t.item_id, t.on_hand, t.reserved)
        .where(t.location_id == bindparam("location_id"), id_among(t.item_id, postgres))
        .order_by(t.id)
        .with_for_update()
    )


def _lock_balances(location_id: int, item_ids: set[int], create: bool) -> dict[int, LockedBalance]:
    """The balance rows of these items at a location, locked, in one statement by id.

    With ``create`` the missing rows are made first (a concurrent maker is no error).
    """
    if not item_ids:
        return {}
    session = db.session
    if create:
        dialect = session.get_bind().dialect.name
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            maker(StockBalance)
            .values([{"location_id": location_id, "item_id": i} for i in sorted(item_ids)])
            .on_conflict_do_nothing(index_elements=["location_id", "item_id"]),
        )
    connection = session.connection()
    statement = _lock_balances_statement(connection.dialect.name == "postgresql")
    rows = statement.rows(connection, {"location_id": location_id, "ids": sorted(item_ids)})
    return {row[1]: LockedBalance(*row) for row in rows}


# Built once, run with exec_driver_sql: every placed order writes its reservation.
_MOVEMENT_COLUMNS = (
    "kind",
    "item_id",
    "location_id",
    "on_hand_change",
    "reserved_change",
    "reason",
    "order_id",
    "receipt_id",
    "device_id",
    "created_at",
    "actor_user_id",
    "actor_api_key_id",
)
_INSERT_MOVEMENTS = direct_insert(StockMovement.__table__, _MOVEMENT_COLUMNS)
_MOVE_BALANCES = DirectStatement(
    update(StockBalance.__table__)
    .where(StockBalance.__table__.c.id == bindparam("balance_id"))
    .values(
        on_hand=StockBalance.__table__.c.on_hand + bindparam("on_hand_change"),
        reserved=StockBalance.__table__.c.reserved + bindparam("reserved_change"),
    )
)


def _record(balances: dict[int, Any], movements: list[dict], actor: Actor) -> None:
    """Writes ledger rows and moves the locked balances by the same amounts: two statements."""
    if not movements:
        return
    now = utcnow()
    stamp = {
        "actor_user_id": actor.user_id,
        "actor_api_key_id": actor.api_key_id,
        "created_at": now,
    }
    changes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = []
    for movement in movements:
        row = {
            "reason": None,
            "order_id": None,
            "receipt_id": None,
            "device_id": None,
            "on_hand_change": 0,
            "reserved_change": 0,
            **stamp,
            **movement,
        }
        rows.append(row)
        change = changes[balances[row["item_id"]].id]
        change[0] += row["on_hand_change"]
        change[1] += row["reserved_change"]
    # Plain statements on the tables: the ORM's bulk paths cost more than the writes.
    connection = db.session.connection()
    _INSERT_MOVEMENTS.run_many(connection, rows)
    _MOVE_BALANCES.run_many(
        connection,
        [
            {"balance_id": bid, "on_hand_change": c[0], "reserved_change": c[1]}
            for bid, c in sorted(changes.items())
        ],
    )


# --- Reservations (called by the order service, inside its transaction) --------------------


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
    balances = _lock_balances(location_id, wanted, create=False)
    left = {i: (b.on_hand - b.reserved) for i, b in balances.items()}
    problems = []
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
        problems.append(
            Problem(
                "insufficient_inventory",
                f"Not enough stock for {line.name}: {'; '.join(parts)}.",
                line.field_path,
            )
        )
    if problems:
        raise InsufficientInventory(problems)
    totals: dict[int, int] = defaultdict(int)
    for units in per_line:
        for item_id, n in units.items():
            totals[item_id] += n
    _record(
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
        balances = _lock_balances(location_id, {i for i, _ in pairs}, create=False)
        _record(
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
    balances = _lock_balances(location_id, set(shipped) | set(held), create=True)
    _record(
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
    balances = _lock_balances(location_id, set(counts), create=True)
    _record(
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


# --- Devices on orders ---------------------------------------------------------------------


def _device_event(device: Device, status: str, actor: Actor, **extra) -> None:
    db.session.add(
        DeviceEvent(
            device=device,
            status=status,
            created_at=utcnow(),
            actor_user=actor.user,
            actor_api_key=actor.api_key,
            **extra,
        )
    )


def allocate_device(device: Device, order_id: int, actor: Actor) -> None:
    device.current_status = ALLOCATED
    _device_event(device, ALLOCATED, actor, order_id=order_id, location_id=device.location_id)


def location_name(location_id: int | None) -> str:
    location = db.session.get(StockLocation, location_id) if location_id else None
    return location.name if location else "no location"


def receive_scanned_device(
    item: Item, kind: str, value: str, location_id: int, actor: Actor
) -> Device:
    """A device scanned before it was ever received (the item allows it): received now, with
    its receipt and ledger row, ready to be allocated. Runs in the caller's transaction."""
    receipt = StockReceipt(
        location_id=location_id,
        reference="Received when scanned",
        created_at=utcnow(),
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
    )
    device = Device(
        item=item,
        current_status=IN_STOCK,
        location_id=location_id,
        identifiers=[DeviceIdentifier(type=kind, value=value)],
    )
    db.session.add_all([receipt, device])
    db.session.flush()
    _device_event(device, RECEIVED, actor, location_id=location_id, receipt_id=receipt.id)
    balances = _lock_balances(location_id, {item.id}, create=True)
    _record(
        balances,
        [
            {
                "kind": m.RECEIPT,
                "item_id": item.id,
                "location_id": location_id,
                "on_hand_change": 1,
                "receipt_id": receipt.id,
                "device_id": device.id,
                "reason": receipt.reference,
            }
        ],
        actor,
    )
    return device


def unallocate_device(device: Device, order_id: int, actor: Actor) -> None:
    device.current_status = IN_STOCK
    _device_event(
        device,
        IN_STOCK,
        actor,
        order_id=order_id,
        location_id=device.location_id,
        note="Removed from the order",
    )


def lock_devices(devices: list[Device]) -> None:
    """Locks these devices' rows, in id order, before any balance (the lock order:
    ``app.db.transactions.write_transaction``): their changes are written only when the
    transaction flushes, which is after the balances it locks."""
    ids = sorted({device.id for device in devices})
    if ids:
        db.session.execute(
            select(Device.id).where(Device.id.in_(ids)).order_by(Device.id).with_for_update()
        ).all()


def move_devices(
    devices: list[Device], status: str, order_id: int, actor: Actor, location_id: int | None = None
) -> None:
    """Devices follow their order: shipped, delivered, back in stock, or returned to quarantine."""
    for device in devices:
        if status == QUARANTINED:
            device.location_id = location_id
        elif status in (SHIPPED, DELIVERED):
            device.location_id = None
        device.current_status = status
        _device_event(device, status, actor, order_id=order_id, location_id=location_id)


# --- Receipts ------------------------------------------------------------------------------


@dataclass
class ReceiptLine:
    item_ref: Any
    count: Any


@dataclass
class ReceiptDevices:
    item_ref: Any
    identifiers: list[tuple[Any, Any]] = field(default_factory=list)  # (type, value)


@dataclass
class ReceiptDraft:
    location_ref: Any = None
    reference: Any = None
    lines: list[ReceiptLine] = field(default_factory=list)
    devices: list[ReceiptDevices] = field(default_factory=list)


@dataclass
class ManifestEntry:
    """One identifier of a pasted or uploaded manifest, as the preview shows it."""

    raw: str
    value: str | None
    problem: str | None


def _identifier_problem(item: Item, kind: str, value: str) -> str | None:
    """What is wrong with an identifier for this item: its format, or its serial pattern."""
    problem = identifiers.problem(kind, value)
    if problem is None and kind == "serial":
        if not identifiers.fits_serial_pattern(item.serial_pattern, value):
            problem = (
                f"{value} does not fit the serial numbers of {item.name} "
                f"(pattern {item.serial_pattern})."
            )
    return problem


def read_manifest(item: Item, text: str) -> list[ManifestEntry]:
    """Checks a manifest (one identifier a line, or separated by commas) for an item.

    Flags identifiers that are malformed, listed twice, or already known.
    """
    kind = item.device_identifier_type
    raws = [part.strip() for line in text.splitlines() for part in line.split(",")]
    raws = [r for r in raws if r]
    entries, seen = [], set()
    for raw in raws[:MAX_RECEIPT_DEVICES]:
        value = identifiers.normalise(kind, raw)
        problem = _identifier_problem(item, kind, value)
        if problem is None and value in seen:
            problem = "Listed twice in this manifest."
        seen.add(value)
        entries.append(ManifestEntry(raw=raw, value=value, problem=problem))
    values = {e.value for e in entries if e.problem is None}
    if values:
        known = set(
            db.session.scalars(
                select(DeviceIdentifier.value).where(
                    DeviceIdentifier.type == kind, DeviceIdentifier.value.in_(values)
                )
            )
        )
        for entry in entries:
            if entry.problem is None and entry.value in known:
                entry.problem = "Already received: a device with this identifier exists."
    if len(raws) > MAX_RECEIPT_DEVICES:
        entries.append(
            ManifestEntry(
                raw="…",
                value=None,
                problem=f"A receipt takes at most {MAX_RECEIPT_DEVICES} devices.",
            )
        )
    return entries


def _no_item(ref: Any) -> str:
    return "Choose an item." if ref is None else f"There is no item with id {ref}."


def _check_receipt(draft: ReceiptDraft):
    problems: list[Problem] = []
    location, found = resolve_location(draft.location_ref, "location.id", lock=True)
    problems += found
    check = Checker()
    reference = check.text(
        draft.reference,
        "reference",
        "The reference",
        required=False,
        max_length=m.MAX_REFERENCE_LENGTH,
    )
    problems += [Problem("invalid_reference", p.message, "reference") for p in check.problems]
    if not draft.lines and not draft.devices:
        problems.append(Problem("lines_required", "Receive at least one line or device.", "lines"))
    if len(draft.lines) > MAX_RECEIPT_LINES:
        problems.append(
            Problem("too_many_lines", f"A receipt has at most {MAX_RECEIPT_LINES} lines.", "lines")
        )
        return location, reference, [], [], problems
    refs = [as_id(line.item_ref) for line in draft.lines] + [
        as_id(d.item_ref) for d in draft.devices
    ]
    items = fetch_by_id(Item, {r for r in refs if r})
    counted: dict[int, int] = defaultdict(int)
    for i, line in enumerate(draft.lines):
        where = f"lines[{i}]"
        item = items.get(as_id(line.item_ref) or 0)
        if item is None:
            problems.append(
                Problem(
                    "item_not_found",
                    _no_item(line.item_ref),
                    f"{where}.item.id",
                )
            )
        elif item.is_device:
            problems.append(
                Problem(
                    "device_tracked_item",
                    f"{item.name} is tracked by device: receive it by identifier, not by count.",
                    f"{where}.item.id",
                )
            )
        if not (is_whole_number(line.count) and 1 <= line.count <= MAX_RECEIPT_UNITS):
            problems.append(
                Problem(
                    "invalid_count",
                    f"Count must be a whole number from 1 to {MAX_RECEIPT_UNITS}.",
                    f"{where}.count",
                )
            )
        elif item is not None and not item.is_device:
            counted[item.id] += line.count
    devices: list[tuple[Item, str, str, str]] = []  # item, type, value, field path
    total = sum(len(d.identifiers) for d in draft.devices)
    if total > MAX_RECEIPT_DEVICES:
        problems.append(
            Problem(
                "too_many_devices",
                f"A receipt takes at most {MAX_RECEIPT_DEVICES} devices.",
                "devices",
            )
        )
        return location, reference, [], [], problems
    seen: dict[tuple[str, str], str] = {}
    for i, group in enumerate(draft.devices):
        where = f"devices[{i}]"
        item = items.get(as_id(group.item_ref) or 0)
        if item is None:
            problems.append(
                Problem(
                    "item_not_found",
                    _no_item(group.item_ref),
                    f"{where}.item.id",
                )
            )
            continue
        if not item.is_device:
            problems.append(
                Problem(
                    "not_device_tracked",
                    f"{item.name} is not tracked by device: receive it as a counted line.",
                    f"{where}.item.id",
                )
            )
            continue
        if not group.identifiers:
            problems.append(
                Problem(
                    "identifiers_required",
                    "List the devices' identifiers.",
                    f"{where}.deviceIdentifiers",
                )
            )
        for j, (kind, raw) in enumerate(group.identifiers):
            path = f"{where}.deviceIdentifiers[{j}]"
            kind = kind or item.device_identifier_type
            if kind != item.device_identifier_type:
                problems.append(
                    Problem(
                        "wrong_identifier_type",
                        f"{item.name} is identified by "
                        f"{identifiers.LABELS[item.device_identifier_type]}.",
                        f"{path}.type",
                    )
                )
                continue
            if not isinstance(raw, str):
                problems.append(
                    Problem("invalid_identifier", "The identifier must be text.", f"{path}.value")
                )
                continue
            value = identifiers.normalise(kind, raw)
            problem = _identifier_problem(item, kind, value)
            if problem:
                problems.append(Problem("invalid_identifier", problem, f"{path}.value"))
            elif (kind, value) in seen:
                problems.append(
                    Problem("duplicate_identifier", f"{value} is listed twice.", f"{path}.value")
                )
            else:
                seen[(kind, value)] = path
                devices.append((item, kind, value, path))
    return location, reference, dict(counted), devices, problems


def _known_identifiers(devices) -> list[Problem]:
    values = {value for _, _, value, _ in devices}
    if not values:
        return []
    known = set(
        tuple(row)
        for row in db.session.execute(
            select(DeviceIdentifier.type, DeviceIdentifier.value).where(
                DeviceIdentifier.value.in_(values)
            )
        ).all()
    )
    return [
        Problem("device_already_known", f"A device with {value} was already received.", path)
        for _, kind, value, path in devices
        if (kind, value) in known
    ]


def receive(draft: ReceiptDraft, actor: Actor) -> StockReceipt:
    """Receives counted lines and devices into a location, all or nothing.

    Refusals: ``StockRefused`` for the shape and rules; an identifier already known is
    reported with the code ``device_already_known`` (the API answers it with 409).
    """
    with write_transaction() as session:
        location, reference, counted, devices, problems = _check_receipt(draft)
        if problems:
            raise StockRefused(problems)
        known = _known_identifiers(devices)
        if known:
            raise StockRefused(known)
        receipt = StockReceipt(
            location_id=location.id,
            reference=reference,
            created_at=utcnow(),
            actor_user_id=actor.user_id,
            actor_api_key_id=actor.api_key_id,
        )
        session.add(receipt)
        made = []
        for item, kind, value, _ in devices:
            device = Device(
                item=item,
                current_status=IN_STOCK,
                location_id=location.id,
                identifiers=[DeviceIdentifier(type=kind, value=value)],
            )
            made.append(device)
            session.add(device)
        session.flush()
        for device in made:
            _device_event(device, RECEIVED, actor, location_id=location.id, receipt_id=receipt.id)
        per_item = dict(counted)
        for device in made:
            per_item[device.item_id] = per_item.get(device.item_id, 0) + 1
        balances = _lock_balances(location.id, set(per_item), create=True)
        movements = [
            {
                "kind": m.RECEIPT,
                "item_id": item_id,
                "location_id": location.id,
                "on_hand_change": n,
                "receipt_id": receipt.id,
                "reason": reference,
            }
            for item_id, n in sorted(counted.items())
        ] + [
            {
                "kind": m.RECEIPT,
                "item_id": device.item_id,
                "location_id": location.id,
                "on_hand_change": 1,
                "receipt_id": receipt.id,
                "device_id": device.id,
                "reason": reference,
            }
            for device in made
        ]
        _record(balances, movements, actor)
    return receipt


# --- Adjustments and counts ----------------------------------------------------------------


def _check_reason(reason: Any) -> tuple[str | None, list[Problem]]:
    check = Checker()
    text = check.text(
        reason, "reason", "A reason", required=True, max_length=m.MAX_REASON_LENGTH, free_text=True
    )
    if any(p.code == "required" for p in check.problems):
        return None, [Problem("reason_required", "Say why: a reason is required.", "reason")]
    return text, [Problem("invalid_reason", p.message, "reason") for p in check.problems]


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
        problems: list[Problem] = []
        location, found = resolve_location(location_ref, "location.id", lock=True)
        problems += found
        item_id = as_id(item_ref)
        item = fetch_by_id(Item, {item_id}).get(item_id) if item_id else None
        if item is None:
            problems.append(Problem("item_not_found", _no_item(item_ref), "item.id"))
        elif item.is_device:
            problems.append(
                Problem(
                    "device_tracked_item",
                    f"{item.name} is tracked by device: its stock is its devices.",
                    "item.id",
                )
            )
        low = 0 if counted else -MAX_ADJUSTMENT
        if not (is_whole_number(change) and low <= change <= MAX_ADJUSTMENT) or (
            not counted and change == 0
        ):
            problems.append(
                Problem(
                    "invalid_quantity",
                    f"Counted units must be a whole number from 0 to {MAX_ADJUSTMENT}."
                    if counted
                    else f"The change must be a whole number from −{MAX_ADJUSTMENT} to "
                    f"{MAX_ADJUSTMENT}, not 0.",
                    "quantity",
                )
            )
        text, found = _check_reason(reason)
        problems += found
        if problems:
            raise StockRefused(problems)
        balances = _lock_balances(location.id, {item.id}, create=True)
        balance = balances[item.id]
        delta = change - balance.on_hand if counted else change
        if balance.on_hand + delta < balance.reserved:
            raise StockRefused(
                [
                    Problem(
                        "below_reserved",
                        f"Open orders hold {balance.reserved} reserved; on hand cannot go below "
                        f"that (it would be {balance.on_hand + delta}).",
                        "quantity",
                    )
                ]
            )
        if delta == 0 and counted:
            text = f"{text} (count matched)"
        _record(
            balances,
            [
                {
                    "kind": m.COUNT if counted else m.ADJUSTMENT,
                    "item_id": item.id,
                    "location_id": location.id,
                    "on_hand_change": delta,
                    "reason": text,
                }
            ],
            actor,
        )
        session.flush()
    return None


# --- Inspection of returned devices --------------------------------------------------------


def inspect_device(device_id: int, passed: bool, note: Any, actor: Actor) -> Device:
    """A quarantined device passes back into stock (a return row) or is retired."""
    with write_transaction() as session:
        device = (
            session.scalar(select(Device).where(Device.id == device_id).with_for_update())
            if as_id(device_id)
            else None
        )
        if device is None:
            raise StockRefused([Problem("device_not_found", "There is no such device.", "device")])
        if device.current_status != QUARANTINED:
            raise StockRefused(
                [
                    Problem(
                        "not_quarantined",
                        "Only a quarantined device is inspected; this one is "
                        f"{device_status_label(device.current_status)}.",
                        "device",
                    )
                ]
            )
        text = (
            note.strip()[: m.MAX_REASON_LENGTH] if isinstance(note, str) and note.strip() else None
        )
        if passed:
            balances = _lock_balances(device.location_id, {device.item_id}, create=True)
            _record(
                balances,
                [
                    {
                        "kind": m.RETURN,
                        "item_id": device.item_id,
                        "location_id": device.location_id,
                        "on_hand_change": 1,
                        "device_id": device.id,
                        "reason": text or "Passed inspection",
                    }
                ],
                actor,
            )
            device.current_status = IN_STOCK
            _device_event(device, PASSED, actor, location_id=device.location_id, note=text)
        else:
            device.current_status = RETIRED
            _device_event(device, RETIRED, actor, location_id=device.location_id, note=text)
        return device
