"""Orders' answer to the catalog's question: is this item or kit on any order?"""

from __future__ import annotations

from sqlalchemy import exists, select

from app.catalog import on_orders
from app.catalog.models import KitItem
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
