"""The order list's tab counts, kept per (status, site, shipping option, recipient kind,
fulfillment location) as orders change.

Counting a status over a million orders takes tens of milliseconds on every list page (and
the recipient filter's capped counts most of a second); a counter row per (status,
responsible site, shipping option, patient or site recipient, location), moved in the same
transaction as the order's status, makes the tabs a read of a few dozen rows. ``flask
check-status-counts`` recomputes them from the orders and reports (or mends) any drift.
"""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, case, delete, func, insert, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.db.fast_path import DirectStatement
from app.extensions import db
from app.orders.models import Order, OrderStatusCount, recipient_kind

# status, site (0 for none), shipping option ("" for none), recipient kind ("patient", "site"),
# fulfillment location
Key = tuple[str, int, str, str, int]


COLUMNS = ("current_status", "site_key", "shipping_key", "kind_key", "location_key", "count")


def upsert(dialect_name: str):
    """Adds each row's count (``COLUMNS``, each given as a parameter) to its counter, made
    when missing: a Core statement (``daily_counts`` builds placing's on it)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = OrderStatusCount.__table__
    stmt = dialect.insert(table).values({name: bindparam(name) for name in COLUMNS})
    return stmt.on_conflict_do_update(
        index_elements=list(COLUMNS[:-1]),
        set_={"count": table.c.count + stmt.excluded["count"]},
    )


@functools.cache
def _upsert(dialect_name: str) -> DirectStatement:
    """``upsert``, built once per dialect and run on the fast path (every status change
    runs it)."""
    return DirectStatement(upsert(dialect_name))


def counter_row(order, status: str, delta: int) -> dict:
    """The parameters of ``upsert`` that move this order's counter of ``status`` by
    ``delta``."""
    return {
        "current_status": status,
        "site_key": order.responsible_site_id or 0,
        "shipping_key": order.shipping_option or "",
        "kind_key": recipient_kind(order.patient_id),
        "location_key": order.fulfillment_location_id,
        "count": delta,
    }


def record_status_change(
    order: Order, from_status: str | None, to_status: str, connection=None
) -> None:
    """One order fewer in ``from_status`` (None when the order is new), one more in
    ``to_status``: in the caller's transaction (on its ``connection``, if given), in one
    statement."""
    write_counter_rows(counter_rows(order, from_status, to_status), connection)


def counter_rows(order, from_status: str | None, to_status: str) -> list[dict]:
    """The parameters of ``upsert`` for a move from ``from_status`` to ``to_status``."""
    moves = {to_status: 1}
    if from_status is not None:
        moves[from_status] = moves.get(from_status, 0) - 1
    # Rows in key order: two transactions moving the same pair of counters the opposite way
    # lock them in the same order, so neither waits for the other forever.
    return [counter_row(order, status, delta) for status, delta in sorted(moves.items())]


def write_counter_rows(rows: list[dict], connection=None) -> None:
    """Moves the counters by ``counter_rows``' rows, in one statement, in the caller's
    transaction (on its ``connection``, if given)."""
    connection = connection or db.session.connection()
    # The rows as parameters, not literal values: a statement with literal rows is compiled
    # afresh every time, this one once.
    _upsert(connection.dialect.name).run_many(connection, rows)


def tab_counts(
    site_id: int | None,
    shipping_option: str,
    kind: str = "",
    location_id: int | None = None,
    site_ids=None,
) -> dict[str, int]:
    """Orders per status, within one site, shipping option, recipient kind and/or
    fulfillment location if given; ``site_ids``: within those sites (none for an empty one)."""
    stmt = select(OrderStatusCount.current_status, func.sum(OrderStatusCount.count)).group_by(
        OrderStatusCount.current_status
    )
    if site_id:
        stmt = stmt.where(OrderStatusCount.site_key == site_id)
    if site_ids is not None:
        stmt = stmt.where(OrderStatusCount.site_key.in_(sorted(site_ids)))
    if shipping_option:
        stmt = stmt.where(OrderStatusCount.shipping_key == shipping_option)
    if kind:
        stmt = stmt.where(OrderStatusCount.kind_key == kind)
    if location_id:
        stmt = stmt.where(OrderStatusCount.location_key == location_id)
    return {status: int(n or 0) for status, n in db.session.execute(stmt)}


def _counted_from_orders():
    # Literal columns, not parameters: PostgreSQL matches the select list to GROUP BY by text.
    site = func.coalesce(Order.responsible_site_id, literal_column("0"))
    shipping = func.coalesce(Order.shipping_option, literal_column("''"))
    kind = case(
        (Order.patient_id.is_not(None), literal_column("'patient'")),
        else_=literal_column("'site'"),
    )
    location = Order.fulfillment_location_id
    return select(Order.current_status, site, shipping, kind, location, func.count()).group_by(
        Order.current_status, site, shipping, kind, location
    )


def drift() -> list[tuple[Key, int, int]]:
    """Every counter that differs from a count of the orders: (key, stored, counted)."""
    counted = {
        (s, site, ship, kind, location): n
        for s, site, ship, kind, location, n in db.session.execute(_counted_from_orders())
    }
    stored = {
        (c.current_status, c.site_key, c.shipping_key, c.kind_key, c.location_key): c.count
        for c in db.session.scalars(select(OrderStatusCount))
    }
    return [
        (key, stored.get(key, 0), counted.get(key, 0))
        for key in sorted(counted.keys() | stored.keys())
        if stored.get(key, 0) != counted.get(key, 0)
    ]


def rebuild() -> None:
    """The counters, counted again from the orders (after a bulk load, or to mend drift).

    In the caller's transaction. On PostgreSQL the table lock waits for status changes in
    progress and holds new ones back until the recount commits (SQLite's write lock does
    the same for the whole database).
    """
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE order_status_count IN EXCLUSIVE MODE"))
    session.execute(delete(OrderStatusCount))
    session.execute(
        insert(OrderStatusCount).from_select(
            ["current_status", "site_key", "shipping_key", "kind_key", "location_key", "count"],
            _counted_from_orders(),
        )
    )
