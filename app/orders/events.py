"""The one place an order's events are recorded, so that every path (web, API, commands)
also writes the webhook outbox entry for a status event in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, bindparam, insert, inspect, literal, select, update

from app.auth.actor import Actor
from app.db.fast_path import DirectStatement, direct_insert
from app.db.types import UTCDateTime, utcnow
from app.extensions import db
from app.orders import statuses
from app.orders.models import Order, OrderEvent, OrderOutboxEntry

# The events that are not status changes (a status event is named by its status), by the
# names the timeline, the API and the webhooks' payloads carry.
DEVICE_RECORDED = "deviceRecorded"
DEVICE_REMOVED = "deviceRemoved"
TRACKING_NUMBER_ADDED = "trackingNumberAdded"
TRACKING_NUMBER_REMOVED = "trackingNumberRemoved"
PACKING_SUMMARY_PRINTED = "packingSummaryPrinted"
PICK_LIST_PRINTED = "pickListPrinted"
# A packer took over another's claim on the order (app/orders/claims.py).
PACKING_TAKEN_OVER = "packingTakenOver"
# The returns station's (``returns_station``): what came back, what came back that was not
# expected, and a return closed with some of it still missing.
RETURN_RECEIVED = "returnReceived"
UNEXPECTED_DEVICE_RECEIVED = "unexpectedDeviceReceived"
RETURN_CLOSED = "returnClosed"
# What the timeline calls them.
LABELS = {
    RETURN_RECEIVED: "Return received",
    UNEXPECTED_DEVICE_RECEIVED: "Unexpected device received",
    RETURN_CLOSED: "Return closed",
    PACKING_SUMMARY_PRINTED: "Packing summary printed",
    PICK_LIST_PRINTED: "Pick list printed",
    TRACKING_NUMBER_ADDED: "Tracking number added",
    TRACKING_NUMBER_REMOVED: "Tracking number removed",
    DEVICE_RECORDED: "Device recorded",
    DEVICE_REMOVED: "Device removed",
    PACKING_TAKEN_OVER: "Packing taken over",
}


def label(name: str) -> str:
    """What the timeline calls an event: its own label, or its status's."""
    return LABELS.get(name) or statuses.label(name)


ORDERS, EVENTS, OUTBOX = Order.__table__, OrderEvent.__table__, OrderOutboxEntry.__table__
# Built once, run on the fast path: placing writes both.
_INSERT_EVENT = direct_insert(
    EVENTS,
    ("order_id", "name", "event_timestamp", "actor_user_id", "actor_api_key_id"),
    returning=EVENTS.c.id,
)
_INSERT_OUTBOX = direct_insert(OUTBOX, ("order_id", "order_event_id", "created_at"))


def record_on_orders(order_ids: list[int], name: str, actor: Actor) -> None:
    """Appends the same event (not a status: a paper printed) to each order, in the caller's
    transaction, and moves each order's version on once so that open order pages show it."""
    now = utcnow()
    db.session.add_all(
        OrderEvent(order_id=order_id, name=name, event_timestamp=now, **actor.stamp())
        for order_id in order_ids
    )
    db.session.execute(
        update(Order)
        .where(Order.id.in_(order_ids))
        .values(updated_at=now, version=Order.version + 1)
        .execution_options(synchronize_session=False)
    )


def goes_to_webhooks(name: str) -> bool:
    """Status events are news for the webhooks, and so is what came back (``order.returnReceived``);
    other events (notes, scans at packing) are not."""
    return name in statuses.ALL or name == RETURN_RECEIVED


def record_event(
    order: Order, name: str, actor: Actor, note: str | None = None, at: datetime | None = None
) -> OrderEvent:
    """Appends an event to the order; a status event also goes to the outbox for webhooks."""
    event = OrderEvent(name=name, event_timestamp=at or utcnow(), note=note, **actor.stamp())
    if order.id is not None and "events" in inspect(order).unloaded:
        # A change reads the order's collections as it uses them (``changes.changing``): an
        # event is only added, so the order's earlier events are not read for it.
        event.order_id = order.id
        db.session.add(event)
    else:
        order.events.append(event)
    if goes_to_webhooks(name):
        db.session.add(OrderOutboxEntry(order=order, event=event))
    return event


def insert_event(
    order_id: int,
    name: str,
    user_id: int | None,
    api_key_id: int | None,
    at: datetime,
    connection=None,
) -> int:
    """``record_event`` for an order written without the ORM (a new order): the event
    and, for a status, its outbox entry, as plain inserts (on the caller's ``connection``, if
    given). Answers the event's id."""
    connection = connection or db.session.connection()
    event_id = _INSERT_EVENT.scalar(
        connection,
        {
            "order_id": order_id,
            "name": name,
            "event_timestamp": at,
            "actor_user_id": user_id,
            "actor_api_key_id": api_key_id,
        },
    )
    if goes_to_webhooks(name):
        _INSERT_OUTBOX.run(
            connection, {"order_id": order_id, "order_event_id": event_id, "created_at": at}
        )
    return event_id


def with_first_event(new_order, name: str) -> DirectStatement:
    """PostgreSQL's: a new order's INSERT (``new_order``, its values given as parameters,
    ``created_at``, ``placed_by_user_id`` and ``placed_by_api_key_id`` among them) with its
    first event and, for a status, the event's outbox entry, as ``insert_event`` writes them,
    in one statement (one round trip instead of three). Its row is (order id, event id)."""
    order = new_order.returning(ORDERS.c.id).cte("new_order")
    at = bindparam("created_at", type_=UTCDateTime)
    event = (
        insert(EVENTS)
        .from_select(
            ["order_id", "name", "event_timestamp", "actor_user_id", "actor_api_key_id"],
            select(
                order.c.id,
                literal(name),
                at,
                bindparam("placed_by_user_id", type_=Integer),
                bindparam("placed_by_api_key_id", type_=Integer),
            ),
        )
        .returning(EVENTS.c.order_id, EVENTS.c.id)
        .cte("first_event")
    )
    if not goes_to_webhooks(name):
        return DirectStatement(select(event.c.order_id, event.c.id).add_cte(order))
    outbox = (
        insert(OUTBOX)
        .from_select(
            ["order_id", "order_event_id", "created_at"], select(event.c.order_id, event.c.id, at)
        )
        .returning(OUTBOX.c.order_id, OUTBOX.c.order_event_id)
    )
    return DirectStatement(outbox.add_cte(order).add_cte(event))
