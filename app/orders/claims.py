"""The packing queue: which order a packer takes next, and who is packing what.

A packer **claims** an order by taking it with "Next order" or by starting to process it;
then nobody else's "Next order" gives it to them, and the order page and the list say who
is on it and since when. A claim ends when the order leaves the queue (packed, put on hold,
cancelled), when its packer releases it or takes another, or when it has lain unused for
``PACKING_CLAIM_IDLE_MINUTES`` (then it is anyone's again). Another packer opening the order
may take the claim over, which the timeline records.

**Race-free.** Taking the next order is one conditional ``UPDATE ... WHERE claimed_by_id IS
NULL OR claimed_at < (lapsed)``: of two packers pressing Next at once, one changes the row
and the other changes nothing and tries the next order. On PostgreSQL the candidate is
picked ``FOR UPDATE SKIP LOCKED``, so the second does not even wait for the first; SQLite's
writers queue at ``BEGIN IMMEDIATE``. tests/test_packing_queue.py runs it in threads on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, or_, select, update

from app.auth.actor import Actor
from app.auth.models import User, full_name
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.orders import statuses
from app.orders.changes import changing
from app.orders.events import PACKING_TAKEN_OVER, record_event
from app.orders.models import Order
from app.validation import CONFLICT, refusal

# The orders in the queue: not yet packed (on hold is out of it until it resumes).
QUEUED = (statuses.CREATED, statuses.PROCESSING)
# How many times Next tries again when another packer took its pick first.
ATTEMPTS = 5


@dataclass(frozen=True)
class Claim:
    user_id: int
    name: str
    since: datetime


def now() -> datetime:
    """``CLAIM_CLOCK`` when set (tests move it on), else the real time."""
    return (current_app.config.get("CLAIM_CLOCK") or utcnow)()


def _lapsed_before(at: datetime) -> datetime:
    return at - timedelta(minutes=current_app.config["PACKING_CLAIM_IDLE_MINUTES"])


def _free(at: datetime, user_id: int):
    """Nobody else holds the order: unclaimed, lapsed, or the packer's own."""
    return or_(
        Order.claimed_by_id.is_(None),
        Order.claimed_at < _lapsed_before(at),
        Order.claimed_by_id == user_id,
    )


def next_order(actor: Actor) -> int | None:
    """Claims the most urgent order nobody else is working on, for ``actor``: overnight
    first, then by ship-by date, then the oldest. Answers its id, or None if the queue is
    empty. The packer's other claim, if any, ends (one order at a time)."""
    user_id = actor.user_id
    for _ in range(ATTEMPTS):
        with write_transaction() as session:
            at = now()
            candidate = session.scalar(
                select(Order.id)
                .where(Order.current_status.in_(QUEUED), _free(at, user_id))
                .order_by(
                    case((Order.shipping_option == "overnight", 0), else_=1),
                    Order.ship_by,
                    Order.id,
                )
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if candidate is None:
                return None
            if _claim(candidate, user_id, at, only_if_free=True):
                return candidate
    return None


def _claim(order_id: int, user_id: int, at: datetime, only_if_free: bool) -> bool:
    """Gives the order to the packer (ending their other claims); False if someone else
    holds it and ``only_if_free``."""
    where = [Order.id == order_id]
    if only_if_free:
        where.append(_free(at, user_id))
    changed = db.session.execute(
        update(Order)
        .where(*where)
        .values(claimed_by_id=user_id, claimed_at=at, version=Order.version + 1)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        return False
    db.session.execute(
        update(Order)
        .where(Order.claimed_by_id == user_id, Order.id != order_id)
        .values(claimed_by_id=None, claimed_at=None, version=Order.version + 1)
        .execution_options(synchronize_session=False)
    )
    return True


def take_over(order_id: int, actor: Actor) -> None:
    """The packer takes the order from whoever holds it (confirmed on the order page): the
    timeline says from whom."""
    with changing(order_id, actor) as order:
        if order.current_status not in QUEUED:
            raise refusal(
                "not_in_queue",
                f"Order {order.id} is {statuses.label(order.current_status)}: "
                "there is nothing to pack.",
                CONFLICT,
            )
        previous = order.claimed_by_id
        at = now()
        if previous == actor.user_id:
            return
        name = None
        if previous is not None and order.claimed_at >= _lapsed_before(at):
            name = db.session.get(User, previous).full_name
        order.claimed_by_id, order.claimed_at = actor.user_id, at
        record_event(order, PACKING_TAKEN_OVER, actor, f"From {name}" if name else None, at)
        db.session.flush()
        db.session.execute(
            update(Order)
            .where(Order.claimed_by_id == actor.user_id, Order.id != order.id)
            .values(claimed_by_id=None, claimed_at=None, version=Order.version + 1)
            .execution_options(synchronize_session=False)
        )


def release(order_id: int, actor: Actor) -> bool:
    """The packer lets the order go back to the queue (only their own claim): whether it
    was theirs to release."""
    with changing(order_id, actor) as order:
        if order.claimed_by_id != actor.user_id:
            return False
        order.claimed_by_id, order.claimed_at = None, None
        return True


def on_status_change(order: Order, to_status: str, actor: Actor) -> None:
    """Starting to process claims the order for whoever starts; leaving the queue (packed,
    on hold, cancelled) ends the claim. Called by the lifecycle in the change's transaction."""
    if to_status == statuses.PROCESSING and actor.user_id is not None:
        order.claimed_by_id, order.claimed_at = actor.user_id, now()
    elif to_status not in QUEUED:
        order.claimed_by_id, order.claimed_at = None, None


def held_by(user_id: int) -> int | None:
    """The order this packer is working on (a live claim), if any."""
    at = now()
    return db.session.scalar(
        select(Order.id).where(
            Order.claimed_by_id == user_id,
            Order.claimed_at >= _lapsed_before(at),
            Order.current_status.in_(QUEUED),
        )
    )


def claims_of(order_ids: list[int]) -> dict[int, Claim]:
    """The live claims on these orders (lapsed ones left out), in one statement."""
    if not order_ids:
        return {}
    at = now()
    rows = db.session.execute(
        select(Order.id, User.id, User.first_name, User.last_name, Order.claimed_at)
        .join(User, User.id == Order.claimed_by_id)
        .where(
            Order.id.in_(order_ids),
            and_(Order.claimed_at >= _lapsed_before(at), Order.current_status.in_(QUEUED)),
        )
    )
    return {
        order_id: Claim(user_id, full_name(first, last), since)
        for order_id, user_id, first, last, since in rows
    }
