"""What an order asks of stock: its outbound lines as inventory counts them (placing
reserves them, shipping takes them, the send-to-many preview sums them)."""

from __future__ import annotations

from app.inventory import reservations
from app.orders.models import Order
from app.orders.views import NewOrder, OrderView


def demand_lines(order: Order | NewOrder | OrderView) -> list[reservations.DemandLine]:
    """The order's outbound lines, as inventory counts them, with their field paths, and
    what the order's catalog rows already tell (a kit's contents, which items are received
    on scan)."""
    return [
        reservations.DemandLine(
            f"orderItems[{i}].count",
            line.item.name,
            line.count,
            item_id=line.item.id,
            received_on_scan=_received_on_scan([line.item]),
        )
        for i, line in enumerate(order.items)
    ] + [
        reservations.DemandLine(
            f"orderKits[{i}].count",
            line.kit.name,
            line.count,
            kit_id=line.kit.id,
            kit_contents=tuple((part.item_id, part.count) for part in line.kit.kit_items),
            received_on_scan=_received_on_scan([part.item for part in line.kit.kit_items]),
        )
        for i, line in enumerate(order.kits)
    ]


def _received_on_scan(items) -> frozenset[int]:
    return frozenset(i.id for i in items if i.accept_unreceived_devices)
