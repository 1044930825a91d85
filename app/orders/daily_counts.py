"""The dashboard's order figures, kept per day as orders change: orders placed each day by
the status they are in now (``OrderDayCount``), and orders shipped each day by how long
they took (``OrderShippedCount``).

Counting placed and shipped orders per day, open orders by age and the time to ship over a
million orders reads most of them; these rows, moved in the same transaction as placing and
every status change (after the status counters, last in the lock order of
``write_transaction``), make each figure a read of a few hundred rows. Days are the
warehouse's (``WAREHOUSE_TIME_ZONE``). An order counts as shipped once, when it first
ships (shipping again after a delivery exception is the same shipment).
``flask check-dashboard-counts`` recounts them from the orders and their events.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import (
    Date,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.db.fast_path import DirectStatement
from app.extensions import db
from app.formats import day_in, warehouse_zone
from app.orders import ship_by, status_counters, statuses
from app.orders.models import (
    Order,
    OrderDayCount,
    OrderEvent,
    OrderShippedCount,
    OrderStatusCount,
)

# Upper bounds, in hours, of the buckets the time from placed to shipped is counted in:
# hourly for the first day, then coarser; the last holds everything longer than 14 days.
HOURS_BUCKETS = (
    *range(1, 25),
    30,
    36,
    42,
    48,
    60,
    72,
    96,
    120,
    144,
    168,
    216,
    264,
    336,
    100_000,
)
LONGEST = HOURS_BUCKETS[-1]

# (day, site, status) and (day, site, hours bucket, on time)
DayKey = tuple[date, int, str]
ShippedKey = tuple[date, int, int, bool]


def hours_bucket(placed: datetime, shipped: datetime) -> int:
    """The bucket a time from placed to shipped falls in (its upper bound in hours)."""
    hours = max((shipped - placed).total_seconds(), 0) / 3600
    return HOURS_BUCKETS[min(bisect.bisect_left(HOURS_BUCKETS, hours), len(HOURS_BUCKETS) - 1)]


def first_shipment(from_status: str | None, to_status: str) -> bool:
    """Whether this move is the order's shipment (not its reshipping after an exception)."""
    return to_status == statuses.SHIPPED and from_status != statuses.DELIVERY_EXCEPTION


def _upsert(model, key: tuple[str, ...], value: str):
    @functools.cache
    def built(dialect_name: str) -> DirectStatement:
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        table = model.__table__
        stmt = dialect.insert(table).values({c: bindparam(c) for c in (*key, value)})
        return DirectStatement(
            stmt.on_conflict_do_update(
                index_elements=list(key), set_={value: table.c[value] + stmt.excluded[value]}
            )
        )

    return built


_DAY_UPSERT = _upsert(OrderDayCount, ("placed_day", "site_key", "current_status"), "count")
_SHIPPED_UPSERT = _upsert(
    OrderShippedCount, ("shipped_day", "site_key", "hours_bucket", "on_time"), "count"
)


def record_status_change(
    site_id: int | None,
    placed_at: datetime,
    from_status: str | None,
    to_status: str,
    at: datetime,
    ship_by_day: date | None = None,
    connection=None,
) -> None:
    """An order placed at ``placed_at`` (to ship by ``ship_by_day``) moved from
    ``from_status`` (None: it is new) to ``to_status`` at ``at``: one statement, two when it
    ships. In the caller's transaction (on its ``connection``, if given), after the status
    counters."""
    zone = warehouse_zone()
    site, placed_day = site_id or 0, day_in(placed_at, zone)
    moves = {to_status: 1}
    if from_status is not None:
        moves[from_status] = moves.get(from_status, 0) - 1
    connection = connection or db.session.connection()
    # Rows in key order, so two transactions lock shared rows in the same order.
    _DAY_UPSERT(connection.dialect.name).run_many(
        connection,
        [
            {"placed_day": placed_day, "site_key": site, "current_status": s, "count": n}
            for s, n in sorted(moves.items())
        ],
    )
    if first_shipment(from_status, to_status):
        shipped_day = day_in(at, zone)
        _SHIPPED_UPSERT(connection.dialect.name).run(
            connection,
            {
                "shipped_day": shipped_day,
                "site_key": site,
                "hours_bucket": hours_bucket(placed_at, at),
                "on_time": ship_by.shipped_on_time(ship_by_day, shipped_day),
                "count": 1,
            },
        )


@functools.cache
def _placed_upsert() -> DirectStatement:
    """PostgreSQL's: a new order's status counter and its day's counter, in one statement.
    The day's row is inserted from the status counter's row (``RETURNING``), so that the
    status counter is locked first, as the lock order asks."""
    status = OrderStatusCount.__table__
    moved = (
        status_counters.upsert("postgresql")
        .returning(status.c.site_key, status.c.current_status)
        .cte("status_moved")
    )
    table = OrderDayCount.__table__
    placed = bindparam("placed_day", type_=Date)
    stmt = postgresql.insert(table).from_select(
        ["placed_day", "site_key", "current_status", "count"],
        select(placed, moved.c.site_key, moved.c.current_status, bindparam("count", type_=Integer)),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["placed_day", "site_key", "current_status"],
        set_={"count": table.c.count + stmt.excluded["count"]},
    )
    return DirectStatement(stmt.add_cte(moved))


def record_placed(order, placed_at: datetime) -> None:
    """A new order (a ``NewOrder``, placed at ``placed_at``) counted: its status counter,
    then its day's counter (the lock order). On PostgreSQL in one statement, a round trip
    fewer for placing; SQLite has no INSERT inside WITH, so there it takes two."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        status_counters.record_status_change(order, None, statuses.CREATED, connection)
        record_status_change(
            order.responsible_site_id,
            placed_at,
            None,
            statuses.CREATED,
            placed_at,
            connection=connection,
        )
        return
    _placed_upsert().run(
        connection,
        {
            **status_counters.counter_row(order, statuses.CREATED, 1),
            "placed_day": day_in(placed_at, warehouse_zone()),
        },
    )


# --- Reading (one statement each, whatever the number of orders) ------------------------

# Whose orders a figure counts, by responsible site: None for every order (those with no
# responsible site too), else the orders of these sites (none for an empty set). A set of
# any size is one statement: the ids are one expanding parameter.
Sites = Collection[int] | None


def _of_sites(stmt, column, sites: Sites):
    return stmt if sites is None else stmt.where(column.in_(sorted(sites)))


def placed_per_day(since: date, sites: Sites) -> dict[date, int]:
    """Orders placed on each day from ``since``."""
    stmt = (
        select(OrderDayCount.placed_day, func.sum(OrderDayCount.count))
        .where(OrderDayCount.placed_day >= since)
        .group_by(OrderDayCount.placed_day)
    )
    stmt = _of_sites(stmt, OrderDayCount.site_key, sites)
    return {day: int(n or 0) for day, n in db.session.execute(stmt)}


def shipped_per_day(since: date, sites: Sites) -> dict[date, dict[tuple[int, bool], int]]:
    """Orders shipped on each day from ``since``, by hours bucket and whether on time."""
    columns = (
        OrderShippedCount.shipped_day,
        OrderShippedCount.hours_bucket,
        OrderShippedCount.on_time,
    )
    stmt = (
        select(*columns, func.sum(OrderShippedCount.count))
        .where(OrderShippedCount.shipped_day >= since)
        .group_by(*columns)
    )
    stmt = _of_sites(stmt, OrderShippedCount.site_key, sites)
    found: dict[date, dict[tuple[int, bool], int]] = {}
    for day, bucket, on_time, n in db.session.execute(stmt):
        if n:
            found.setdefault(day, {})[(bucket, bool(on_time))] = int(n)
    return found


def open_by_placed_day(sites: Sites) -> dict[tuple[str, date], int]:
    """Open orders by status and the day they were placed."""
    # A literal 0, so that the planner sees the partial index's own condition.
    live = OrderDayCount.count != literal_column("0")
    stmt = (
        select(
            OrderDayCount.current_status, OrderDayCount.placed_day, func.sum(OrderDayCount.count)
        )
        .where(OrderDayCount.current_status.in_(sorted(statuses.OPEN)), live)
        .group_by(OrderDayCount.current_status, OrderDayCount.placed_day)
    )
    stmt = _of_sites(stmt, OrderDayCount.site_key, sites)
    return {(s, day): int(n) for s, day, n in db.session.execute(stmt) if n}


def late_open_orders(sites: Sites, today: date) -> dict[str, int]:
    """Open orders past their ship-by date (``app.orders.ship_by``), by status: one
    statement, read through the orders' (status, ship-by) index. Late orders are the few
    that have not left in time, so no counter is kept for them."""
    stmt = (
        select(Order.current_status, func.count())
        .where(Order.current_status.in_(sorted(statuses.OPEN)), Order.ship_by < today)
        .group_by(Order.current_status)
    )
    stmt = _of_sites(stmt, Order.responsible_site_id, sites)
    return {status: int(n) for status, n in db.session.execute(stmt)}


# --- Recounting --------------------------------------------------------------------------


def counted_placed(session=None) -> dict[DayKey, int]:
    """``order_day_count``'s counts, from the orders."""
    session = session or db.session
    zone = warehouse_zone()
    days: dict[DayKey, int] = {}
    every_order = select(Order.created_at, Order.responsible_site_id, Order.current_status)
    for placed, site, status in session.execute(every_order.execution_options(yield_per=5000)):
        key = (day_in(placed, zone), site or 0, status)
        days[key] = days.get(key, 0) + 1
    return days


def counted_shipped(session=None) -> dict[ShippedKey, int]:
    """``order_shipped_count``'s counts, from the orders and their first ``shipped`` events."""
    session = session or db.session
    zone = warehouse_zone()
    shipped: dict[ShippedKey, int] = {}
    order_columns = (Order.id, Order.created_at, Order.responsible_site_id, Order.ship_by)
    first_shipped = (
        select(*order_columns[1:], func.min(OrderEvent.event_timestamp))
        .join(OrderEvent, OrderEvent.order_id == Order.id)
        .where(OrderEvent.name == statuses.SHIPPED)
        .group_by(*order_columns)
    )
    rows = session.execute(first_shipped.execution_options(yield_per=5000))
    for placed, site, promised, at in rows:
        day = day_in(at, zone)
        key = (day, site or 0, hours_bucket(placed, at), ship_by.shipped_on_time(promised, day))
        shipped[key] = shipped.get(key, 0) + 1
    return shipped


def counted_from_orders(session=None) -> tuple[dict[DayKey, int], dict[ShippedKey, int]]:
    """Both tables' counts, from the orders and their first ``shipped`` events."""
    return counted_placed(session), counted_shipped(session)


def stored() -> tuple[dict[DayKey, int], dict[ShippedKey, int]]:
    days = db.session.execute(
        select(
            OrderDayCount.placed_day,
            OrderDayCount.site_key,
            OrderDayCount.current_status,
            OrderDayCount.count,
        )
    )
    shipped = db.session.execute(
        select(
            OrderShippedCount.shipped_day,
            OrderShippedCount.site_key,
            OrderShippedCount.hours_bucket,
            OrderShippedCount.on_time,
            OrderShippedCount.count,
        )
    )
    return (
        {tuple(r[:3]): r[3] for r in days},
        {(*r[:3], bool(r[3])): r[4] for r in shipped},
    )


def _differences(kept: dict, counted: dict) -> list[tuple[tuple, int, int]]:
    return [
        (key, kept.get(key, 0), counted.get(key, 0))
        for key in sorted(counted.keys() | kept.keys())
        if kept.get(key, 0) != counted.get(key, 0)
    ]


def drift() -> list[tuple[str, tuple, int, int]]:
    """Every counter that differs from a count of the orders: (table, key, stored, counted)."""
    counted, kept = counted_from_orders(), stored()
    return [
        (name, key, was, is_now)
        for name, k, c in (("placed", kept[0], counted[0]), ("shipped", kept[1], counted[1]))
        for key, was, is_now in _differences(k, c)
    ]


def rebuild(session=None) -> None:
    """Both tables counted again from the orders, in the caller's transaction (on PostgreSQL
    holding status changes back until it commits)."""
    rebuild_placed(session)
    rebuild_shipped(session)


def _lock(session, table: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))


def rebuild_placed(session=None) -> None:
    """``order_day_count`` counted again from the orders, in the caller's transaction."""
    session = session or db.session
    _lock(session, "order_day_count")
    days = counted_placed(session)
    session.execute(delete(OrderDayCount))
    if days:
        session.execute(
            insert(OrderDayCount),
            [
                {"placed_day": d, "site_key": s, "current_status": st, "count": n}
                for (d, s, st), n in sorted(days.items())
            ],
        )


def rebuild_shipped(session=None) -> None:
    """``order_shipped_count`` counted again from the orders, in the caller's transaction."""
    session = session or db.session
    _lock(session, "order_shipped_count")
    shipped = counted_shipped(session)
    session.execute(delete(OrderShippedCount))
    if shipped:
        session.execute(
            insert(OrderShippedCount),
            [
                {"shipped_day": d, "site_key": s, "hours_bucket": b, "on_time": t, "count": n}
                for (d, s, b, t), n in sorted(shipped.items())
            ],
        )
