"""The stock rules. The web pages, the JSON API and the order service all come through here.

Every change to a figure is a ledger row (``StockMovement``) and, in the same statement
batch, the matching change to the item's ``StockBalance`` at that location. Balance rows
are locked before they are read for a decision, always in one statement ordered by id, so
the second writer decides on the first one's result (no overselling). What a change locks
besides (the location, the order, devices, the status counters) it takes in the one order
written down in ``app.database.write_transaction``, so two writers never wait on each other
in opposite orders (no deadlock). SQLite holds its write lock from ``BEGIN IMMEDIATE``, so
the same code is serial there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple, NoReturn

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.auth.actor import Actor
from app.catalog.models import KitItem
from app.database import DirectStatement, direct_insert, id_among, utcnow, write_transaction
from app.extensions import db
from app.history.record import record_change
from app.inventory import models as m
from app.inventory.models import (
    StockBalance,
    StockLocation,
    StockMovement,
)
from app.validation import (
    MAX_DB_ID,
    Checker,
    Problem,
    Rejected,
    as_id,
    get_or_reject,
)

DEFAULT_LOCATION_NAME = "Main warehouse"
LOCATION_RECORD = "stock_location"  # its history entries' record type


class StockRefused(Rejected):
    """A stock change breaks a rule; nothing was stored."""


class StockCheck(Checker):
    """The stock rules' ``Checker``: it refuses with ``StockRefused``."""

    def raise_if_any(self) -> None:
        if self.problems:
            raise StockRefused(self.problems)

    def no_item(self, ref: Any, field_path: str) -> None:
        """The item a change names does not exist (or none was named)."""
        message = "Choose an item." if ref is None else f"There is no item with id {ref}."
        self.add("item_not_found", message, field_path)


def refuse(code: str, message: str, field_path: str | None = None) -> NoReturn:
    """Refuses a stock change for one reason; nothing was stored."""
    raise StockRefused([Problem(code, message, field_path)])


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


# Run on the driver's cursor: every placed order reads its location.
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
        # The location's row first (the lock order: app.database.write_transaction), so that
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


def lock_balances(location_id: int, item_ids: set[int], create: bool) -> dict[int, LockedBalance]:
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


# Built once, run on the driver's cursor: every placed order writes its reservation.
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


def record_movements(balances: dict[int, Any], movements: list[dict], actor: Actor) -> None:
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


def location_name(location_id: int | None) -> str:
    location = db.session.get(StockLocation, location_id) if location_id else None
    return location.name if location else "no location"
