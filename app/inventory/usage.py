"""Units used per day: what each location shipped of each item, kept as the ledger is
written, and read back as the stock cover (available units, days of cover at the last
30 days' rate, the suggested reorder).

Summing the shipments of the last 30 days from the ledger reads every row of them (two
million at a million orders); a row per (day, location, item), moved in the same statement
batch as the shipment's ledger rows (``ledger.record_movements``), makes it a read of a few
thousand. The days are the warehouse's (``WAREHOUSE_TIME_ZONE``). ``flask
check-dashboard-counts`` recounts them from the ledger and reports (or mends) any drift.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.catalog.models import Item
from app.db.fast_path import DirectStatement
from app.extensions import db
from app.formats import day_in, warehouse_zone
from app.inventory.models import SHIPMENT, StockBalance, StockLocation, StockMovement, StockUseCount

# The rate of use is the units used over this many days (today included), per day.
RATE_DAYS = 30

# (day, location, item)
Key = tuple[date, int, int]


@functools.cache
def _upsert(dialect_name: str) -> DirectStatement:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = StockUseCount.__table__
    columns = ("used_day", "location_id", "item_id", "units")
    stmt = dialect.insert(table).values({name: bindparam(name) for name in columns})
    return DirectStatement(
        stmt.on_conflict_do_update(
            index_elements=["used_day", "location_id", "item_id"],
            set_={"units": table.c.units + stmt.excluded["units"]},
        )
    )


def record_use(movements: list[dict], at: datetime) -> None:
    """Adds the units these ledger rows ship to their day's counters: one statement, rows in
    key order (after the balances, in the lock order of ``write_transaction``)."""
    used: dict[tuple[int, int], int] = {}
    for movement in movements:
        units = -movement.get("on_hand_change", 0)
        if movement["kind"] == SHIPMENT and units:
            key = (movement["location_id"], movement["item_id"])
            used[key] = used.get(key, 0) + units
    if not used:
        return
    day = day_in(at, warehouse_zone())
    rows = [
        {"used_day": day, "location_id": location, "item_id": item, "units": units}
        for (location, item), units in sorted(used.items())
    ]
    connection = db.session.connection()
    _upsert(connection.dialect.name).run_many(connection, rows)


# --- The stock cover ---------------------------------------------------------------------


def is_low(available: int, reorder_point: int) -> bool:
    """Stock at or below its item's reorder point is low (the stock page and the dashboard)."""
    return available <= reorder_point


@dataclass(frozen=True)
class CoverRow:
    location_id: int
    location: str
    item_id: int
    item: str
    sku: str
    reorder_point: int
    available: int
    # Units used over the last RATE_DAYS days.
    used: int
    target_days: int

    @property
    def per_day(self) -> float:
        return self.used / RATE_DAYS

    @property
    def days_of_cover(self) -> float | None:
        """Days the available units last at the recent rate; None when nothing is used."""
        if not self.used:
            return None
        return max(self.available, 0) / self.per_day

    @property
    def low(self) -> bool:
        return is_low(self.available, self.reorder_point)

    @property
    def suggested_reorder(self) -> int:
        """Units to order for ``target_days`` of cover at the recent rate (whole units, never
        fewer than none)."""
        needed = math.ceil(self.per_day * self.target_days - 1e-9) - max(self.available, 0)
        return max(needed, 0)


def rate_since(today: date) -> date:
    return today - timedelta(days=RATE_DAYS - 1)


def stock_cover(today: date, target_days: int) -> list[CoverRow]:
    """Every item at every active location that has a balance, with its units used since
    ``rate_since(today)``: one statement."""
    used = (
        select(
            StockUseCount.location_id,
            StockUseCount.item_id,
            func.sum(StockUseCount.units).label("units"),
        )
        .where(StockUseCount.used_day >= rate_since(today))
        .group_by(StockUseCount.location_id, StockUseCount.item_id)
        .subquery()
    )
    stmt = (
        select(
            StockBalance.location_id,
            StockLocation.name,
            StockBalance.item_id,
            Item.name,
            Item.sku,
            Item.reorder_point,
            StockBalance.on_hand - StockBalance.reserved,
            func.coalesce(used.c.units, 0),
        )
        .join(StockLocation, StockLocation.id == StockBalance.location_id)
        .join(Item, Item.id == StockBalance.item_id)
        .outerjoin(
            used,
            and_(
                used.c.location_id == StockBalance.location_id,
                used.c.item_id == StockBalance.item_id,
            ),
        )
        .where(StockLocation.active.is_(True))
        .order_by(StockLocation.name, Item.name, Item.id)
    )
    return [
        CoverRow(*row[:7], used=int(row[7]), target_days=target_days)
        for row in db.session.execute(stmt)
    ]


# --- Recounting --------------------------------------------------------------------------


def counted_from_ledger(session=None) -> dict[Key, int]:
    """Units shipped per (day, location, item), from the ledger's shipment rows."""
    session = session or db.session
    zone = warehouse_zone()
    stmt = select(
        StockMovement.created_at,
        StockMovement.location_id,
        StockMovement.item_id,
        StockMovement.on_hand_change,
    ).where(StockMovement.kind == SHIPMENT, StockMovement.on_hand_change != 0)
    counted: dict[Key, int] = {}
    for at, location, item, change in session.execute(stmt.execution_options(yield_per=5000)):
        key = (day_in(at, zone), location, item)
        counted[key] = counted.get(key, 0) - change
    return counted


def stored() -> dict[Key, int]:
    rows = db.session.execute(
        select(
            StockUseCount.used_day,
            StockUseCount.location_id,
            StockUseCount.item_id,
            StockUseCount.units,
        )
    )
    return {(day, location, item): units for day, location, item, units in rows}


def drift() -> list[tuple[Key, int, int]]:
    """Every counter that differs from the ledger: (key, stored, counted)."""
    counted, kept = counted_from_ledger(), stored()
    return [
        (key, kept.get(key, 0), counted.get(key, 0))
        for key in sorted(counted.keys() | kept.keys())
        if kept.get(key, 0) != counted.get(key, 0)
    ]


def rebuild(session=None) -> None:
    """The counters, counted again from the ledger, in the caller's transaction (on
    PostgreSQL holding shipments back until it commits)."""
    session = session or db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE stock_use_count IN EXCLUSIVE MODE"))
    counted = counted_from_ledger(session)
    session.execute(delete(StockUseCount))
    rows = [
        {"used_day": day, "location_id": location, "item_id": item, "units": units}
        for (day, location, item), units in sorted(counted.items())
        if units
    ]
    if rows:
        session.execute(insert(StockUseCount), rows)
