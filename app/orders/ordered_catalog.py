"""Orders' answers about the catalog: is this item or kit on any order, and which are ordered
most (the new-order pickers offer those first)."""

from __future__ import annotations

from sqlalchemy import exists, func, select

from app.catalog import on_orders
from app.catalog.models import Item, Kit, KitItem
from app.catalog.search import find_orderable_items, find_orderable_kits
from app.extensions import db
from app.orders.models import OrderItem, OrderKit, ReturnItem


def item_on_orders(item_id: int) -> bool:
    ordered_kits = select(OrderKit.kit_id)
    return any(
        db.session.scalar(select(exists().where(condition)))
        for condition in (
            OrderItem.item_id == item_id,
            ReturnItem.item_id == item_id,
            (KitItem.item_id == item_id) & KitItem.kit_id.in_(ordered_kits),
        )
    )


def kit_on_orders(kit_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(OrderKit.kit_id == kit_id))))


on_orders.register(item_on_orders=item_on_orders, kit_on_orders=kit_on_orders)


# How far back "ordered most" looks: the newest lines of each kind. Counted on each search,
# so bounded: read backwards along the primary key, whatever the number of orders.
RECENT_LINES = 5000


def _times_ordered(line_id, ordered_id):
    recent = select(ordered_id.label("id")).order_by(line_id.desc()).limit(RECENT_LINES).subquery()
    return (
        select(recent.c.id, func.count().label("times")).group_by(recent.c.id).subquery("ordered")
    )


def find_items_to_order(text: str) -> list[Item]:
    """Orderable items matching ``text``, those on most of the newest order lines first (the
    standard cuff before the extra large one), then by name."""
    return find_orderable_items(text, ranked_by=_times_ordered(OrderItem.id, OrderItem.item_id))


def find_kits_to_order(text: str) -> list[Kit]:
    """Kits matching ``text``, the most ordered first, then by name."""
    return find_orderable_kits(text, ranked_by=_times_ordered(OrderKit.id, OrderKit.kit_id))
