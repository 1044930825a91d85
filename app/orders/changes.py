"""A change to a placed order: the order locked for one write transaction.

Both rooms of the order's life after placing, ``lifecycle`` (status moves, tracking
numbers, notes) and ``packing`` (the devices recorded), change an order only inside
``changing``. They refuse with ``validation.Rejected`` (made by ``validation.refusal``):
one problem, and a kind that tells a door how to answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import inspect, select
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.actor import Actor
from app.auth.models import User
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.orders.lookups import full_order_options
from app.orders.models import Order
from app.validation import MAX_DB_ID, NOT_FOUND, refusal

# The order's graph, each collection read when first used.
_CHANGE_OPTIONS = full_order_options(lazyload)


@contextmanager
def changing(order_id: int, actor: Actor) -> Iterator[Order]:
    """The order, locked for this transaction, whole; the change commits when the block ends.

    The signed-in user's row keeps what the request read of it (see ``_as_read``)."""
    user_as_read = _as_read(actor)
    try:
        with _changing(order_id, actor) as order:
            yield order
    finally:
        if user_as_read is not None:
            user, values = user_as_read
            for key, value in values.items():
                set_committed_value(user, key, value)


def _as_read(actor: Actor) -> tuple[User, dict] | None:
    """The actor's user row (the signed-in user the page is drawn for) and its columns as the
    request read them. A change of an order writes no user row, but its transaction expires
    every object of the session, and the page drawn after it (the role, the time zone, the
    name in a claim) would read the row again: one statement more for the same values, as
    the request began with them."""
    if actor.user_id is None:
        return None
    session = db.session()
    user = session.identity_map.get(session.identity_key(User, actor.user_id))
    if user is None:
        return None
    state = inspect(user)
    columns = state.mapper.column_attrs.keys()
    return user, {key: state.dict[key] for key in columns if key in state.dict}


@contextmanager
def _changing(order_id: int, actor: Actor) -> Iterator[Order]:
    with write_transaction() as session:
        order = _locked_order(session, order_id)
        # What the change adds is written once, when it ends, not also part-way whenever
        # it reads a collection (the ORM's autoflush): its reads are of the order's rows
        # as they were, and one flush writes each kind of row in one statement.
        with session.no_autoflush:
            yield order
        _touch(order, actor)


def _locked_order(session, order_id: int) -> Order:
    """The order, its row locked as it is read, or the refusal that there is none.

    PostgreSQL: SELECT ... FOR UPDATE OF order_, which waits for a change in progress and
    then reads the row as it left it; SQLite holds its write lock from BEGIN IMMEDIATE. The
    order's collections are read after, each when the change first looks at it
    (``full_order_options(lazyload)``), so they too see the change before this one.
    (Apart from ``changing`` because mutmut mutates no decorated function.)
    """
    order = (
        session.scalar(
            select(Order)
            .where(Order.id == order_id)
            .options(*_CHANGE_OPTIONS)
            .with_for_update(of=Order)
        )
        if 1 <= order_id <= MAX_DB_ID
        else None
    )
    if order is None:
        raise refusal("order_not_found", f"There is no order {order_id}.", NOT_FOUND)
    return order


def _touch(order: Order, actor: Actor) -> None:
    """Every change moves updated_at, which bumps the order's version: pages showing an
    older version know to refresh, and a concurrent writer of the same row fails. The packer
    working on it is not idle: their claim runs from now (app/orders/claims.py)."""
    order.updated_at = utcnow()
    if order.claimed_by_id is not None and order.claimed_by_id == actor.user_id:
        order.claimed_at = order.updated_at
