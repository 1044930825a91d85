"""The stock ledger: the figures (on hand, reserved, available) and the one way they change,
and the refusal every stock rule answers with (``StockRefused``, checked with ``StockCheck``).

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
from functools import cache
from typing import Any, NamedTuple, NoReturn

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.auth.actor import Actor
from app.db.fast_path import DirectStatement, direct_insert
from app.db.types import id_among, utcnow
from app.extensions import db
from app.inventory.models import (
    StockBalance,
    StockMovement,
)
from app.inventory.usage import record_use
from app.validation import (
    Checker,
    Problem,
    Rejected,
)


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


# Built once, run on the fast path: every placed order writes its reservation.
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
    # The dashboard's units used per day, after the balances (the lock order).
    record_use(rows, now)
