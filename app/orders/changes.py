"""A change to a placed order: the order locked for one write transaction.

Both rooms of the order's life after placing, ``lifecycle`` (status moves, tracking
numbers, notes) and ``packing`` (the devices recorded), change an order only inside
``changing``. They refuse with ``validation.Rejected`` (made by ``validation.refusal``):
one problem, and a kind that tells a door how to answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.orders.lookups import full_order_options
from app.orders.models import Order
from app.validation import MAX_DB_ID, NOT_FOUND, refusal


@contextmanager
def changing(order_id: int, actor: Actor) -> Iterator[Order]:
    """The order, locked for this transaction, whole; the change commits when the block ends."""
    with write_transaction() as session:
        # Lock the row first (PostgreSQL: SELECT ... FOR UPDATE; SQLite holds its write lock
        # from BEGIN IMMEDIATE), then load the graph: a second change waits, then sees this one.
        locked = (
            session.scalar(select(Order.id).where(Order.id == order_id).with_for_update())
            if 1 <= order_id <= MAX_DB_ID
            else None
        )
        if locked is None:
            raise refusal("order_not_found", f"There is no order {order_id}.", NOT_FOUND)
        order = session.scalar(
            select(Order).where(Order.id == order_id).options(*full_order_options())
        )
        yield order
        # Every change moves updated_at, which bumps the order's version: pages showing an
        # older version know to refresh, and a concurrent writer of the same row fails.
        order.updated_at = utcnow()
        # The packer working on it is not idle: their claim runs from now (app/orders/claims.py).
        if order.claimed_by_id is not None and order.claimed_by_id == actor.user_id:
            order.claimed_at = order.updated_at
