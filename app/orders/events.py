"""The one place an order's events are recorded, so that every path (web, API, commands)
also writes the webhook outbox entry for a status event in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from app.auth.actor import Actor
from app.database import utcnow
from app.extensions import db
from app.orders import statuses
from app.orders.models import Order, OrderEvent, OrderOutboxEntry

EVENTS, OUTBOX = OrderEvent.__table__, OrderOutboxEntry.__table__
# Built once: a statement object remembers its cache key (one built per call computes it again).
_INSERT_EVENT = insert(EVENTS).returning(EVENTS.c.id)
_INSERT_OUTBOX = insert(OUTBOX)


def goes_to_webhooks(name: str) -> bool:
    """Status events are news for the webhooks; other events (notes, scans) are not."""
    return name in statuses.ALL


def record_event(
    order: Order, name: str, actor: Actor, note: str | None = None, at: datetime | None = None
) -> OrderEvent:
    """Appends an event to the order; a status event also goes to the outbox for webhooks."""
    event = OrderEvent(name=name, event_timestamp=at or utcnow(), note=note, **actor.stamp())
    order.events.append(event)
    if goes_to_webhooks(name):
        db.session.add(OrderOutboxEntry(order=order, event=event))
    return event


def insert_event(
    order_id: int, name: str, user_id: int | None, api_key_id: int | None, at: datetime
) -> int:
    """``record_event`` for an order written without the ORM (a new order): the event
    and, for a status, its outbox entry, as plain inserts. Answers the event's id."""
    connection = db.session.connection()
    event_id = connection.execute(
        _INSERT_EVENT,
        {
            "order_id": order_id,
            "name": name,
            "event_timestamp": at,
            "actor_user_id": user_id,
            "actor_api_key_id": api_key_id,
        },
    ).scalar_one()
    if goes_to_webhooks(name):
        connection.execute(
            _INSERT_OUTBOX, {"order_id": order_id, "order_event_id": event_id, "created_at": at}
        )
    return event_id
