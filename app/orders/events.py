"""The one place an order's events are recorded, so that every path (web, API, commands)
also writes the webhook outbox entry for a status event in the same transaction."""

from __future__ import annotations

from datetime import datetime

from app.auth.actor import Actor
from app.database import utcnow
from app.extensions import db
from app.orders import statuses
from app.orders.models import Order, OrderEvent, OrderOutboxEntry


def record_event(
    order: Order, name: str, actor: Actor, note: str | None = None, at: datetime | None = None
) -> OrderEvent:
    """Appends an event to the order; a status event also goes to the outbox for webhooks."""
    event = OrderEvent(name=name, event_timestamp=at or utcnow(), note=note, **actor.stamp())
    order.events.append(event)
    if name in statuses.ALL:
        db.session.add(OrderOutboxEntry(order=order, event=event))
    return event
