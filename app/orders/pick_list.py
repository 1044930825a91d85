"""Pick lists: what to pull from the shelves for a set of orders, in one walk.

Every unit the orders take, kits multiplied out into what they hold, summed by item at
each order's fulfilment location, with the item's bin there and the orders that take it
("CUF-M × 7: orders 1412, 1415, 1420"). Sorted by bin (numbers read as numbers), then by
item, so that one walk through the shelves picks everything; one walk per location when
the orders come from several. A device-tracked item says how many devices to pull.

Only orders whose units are still on the shelves (``statuses.TO_PICK``) are picked; the
others asked for are named as left out, with their status.

**Not in the PHI access log**: a pick list shows order numbers, items and bins, never a
recipient (no name, address or identifier), so building or printing one shows no patient's
data. Whoever adds a recipient to it must log that view
(``app.history.patient_access.note_patient_access``), as the packing summaries do.

A fixed number of statements whatever the number of orders: the orders, their lines (kits
multiplied out in SQL), the bins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, union_all

from app.auth.actor import Actor
from app.catalog.models import Item, KitItem
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import bins
from app.inventory.models import StockLocation
from app.orders import events, statuses
from app.orders.models import Order, OrderItem, OrderKit
from app.validation import MAX_DB_ID, refusal

# As many orders as a packing-summary batch: a morning's work, on a few sheets.
MAX_ORDERS = 500


@dataclass(frozen=True)
class Take:
    """How many units of a line one order takes."""

    order_id: int
    count: int


@dataclass
class PickLine:
    """One item to pull at one location: every unit the orders there take, with its bin."""

    item_id: int
    name: str
    sku: str
    device_type: str | None  # how each unit is told apart when it is a device, else None
    bin: str | None = None
    count: int = 0
    takes: list[Take] = field(default_factory=list)

    @property
    def devices(self) -> int:
        """How many devices to pull (each is scanned when packed); 0 for counted items."""
        return self.count if self.device_type else 0

    @property
    def order_ids(self) -> list[int]:
        return [take.order_id for take in self.takes]


@dataclass
class Walk:
    """One location's part of the list: its orders and its lines in the order they are
    picked."""

    location_id: int
    location_name: str
    order_ids: list[int] = field(default_factory=list)
    lines: list[PickLine] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(line.count for line in self.lines)

    @property
    def devices(self) -> int:
        return sum(line.devices for line in self.lines)


@dataclass
class PickList:
    walks: list[Walk]
    # The orders picked, and those asked for that are not (their units are not on the
    # shelves any more, or not yet to be pulled), with their status.
    order_ids: list[int]
    left_out: list[tuple[int, str]]
    # More orders were asked for (or are in the status) than MAX_ORDERS: the first (the
    # oldest) MAX_ORDERS are on this list.
    more: bool = False


@dataclass(frozen=True)
class _OrderRow:
    id: int
    status: str
    location_id: int
    location_name: str


def _order_rows(query) -> list[_OrderRow]:
    columns = select(
        Order.id,
        Order.current_status,
        Order.fulfillment_location_id,
        StockLocation.name,
    ).join(StockLocation, StockLocation.id == Order.fulfillment_location_id)
    return [_OrderRow(*row) for row in db.session.execute(query(columns))]


def picked_statuses() -> str:
    """The statuses whose orders are picked, as a reader says them ("Created or Processing")."""
    return " or ".join(statuses.label(s) for s in statuses.ALL if s in statuses.TO_PICK)


def for_orders(order_ids: list[int]) -> PickList:
    """The pick list of these orders (unknown numbers are skipped; at most MAX_ORDERS)."""
    asked = list(dict.fromkeys(i for i in order_ids if 1 <= i <= MAX_DB_ID))
    wanted = asked[:MAX_ORDERS]
    if not wanted:
        return PickList([], [], [])
    rows = {r.id: r for r in _order_rows(lambda q: q.where(Order.id.in_(wanted)))}
    pick_list = _pick([rows[i] for i in wanted if i in rows])
    pick_list.more = len(asked) > MAX_ORDERS
    return pick_list


def for_status(status: str) -> PickList:
    """The pick list of every order in a status still to be picked (a tab of the order
    list), oldest first, at most MAX_ORDERS of them."""
    if status not in statuses.TO_PICK:
        raise refusal(
            "status_not_picked",
            f"A pick list is for orders still to be picked: {picked_statuses()}.",
            field="status",
        )
    rows = _order_rows(
        lambda q: q.where(Order.current_status == status).order_by(Order.id).limit(MAX_ORDERS + 1)
    )
    pick_list = _pick(rows[:MAX_ORDERS])
    pick_list.more = len(rows) > MAX_ORDERS
    return pick_list


def _pick(orders: list[_OrderRow]) -> PickList:
    picked = [o for o in orders if o.status in statuses.TO_PICK]
    left_out = [(o.id, o.status) for o in orders if o.status not in statuses.TO_PICK]
    walks: dict[int, Walk] = {}
    for o in sorted(picked, key=lambda o: o.id):
        walk = walks.setdefault(o.location_id, Walk(o.location_id, o.location_name))
        walk.order_ids.append(o.id)
    location_of = {o.id: o.location_id for o in picked}
    lines: dict[tuple[int, int], PickLine] = {}
    takes: dict[tuple[int, int], dict[int, int]] = {}
    for order_id, item_id, units, name, sku, device_type in _units(list(location_of)):
        key = (location_of[order_id], item_id)
        line = lines.get(key)
        if line is None:
            line = lines[key] = PickLine(item_id, name, sku, device_type)
        line.count += units
        per_order = takes.setdefault(key, {})
        per_order[order_id] = per_order.get(order_id, 0) + units
    bin_of = bins.bins_of({k[0] for k in lines}, {k[1] for k in lines})
    for key, line in lines.items():
        line.bin = bin_of.get(key)
        line.takes = [Take(i, n) for i, n in sorted(takes[key].items())]
        walks[key[0]].lines.append(line)
    for walk in walks.values():
        walk.lines.sort(key=lambda x: (bins.walk_order(x.bin), x.name.casefold(), x.sku))
    return PickList(
        walks=sorted(walks.values(), key=lambda w: (w.location_name.casefold(), w.location_id)),
        order_ids=[o.id for o in picked],
        left_out=left_out,
    )


def _units(order_ids: list[int]) -> list[tuple]:
    """(order, item, units, name, SKU, identifier type) of every line of these orders: item
    lines as ordered, kit lines as the units they hold (kits × units per kit), in one
    statement. What an ordered kit holds never changes (app.catalog.on_orders)."""
    if not order_ids:
        return []
    items = select(
        OrderItem.order_id.label("order_id"),
        OrderItem.item_id.label("item_id"),
        OrderItem.count.label("units"),
    ).where(OrderItem.order_id.in_(order_ids))
    in_kits = (
        select(
            OrderKit.order_id.label("order_id"),
            KitItem.item_id.label("item_id"),
            (OrderKit.count * KitItem.count).label("units"),
        )
        .join(KitItem, KitItem.kit_id == OrderKit.kit_id)
        .where(OrderKit.order_id.in_(order_ids))
    )
    lines = union_all(items, in_kits).subquery()
    return list(
        db.session.execute(
            select(
                lines.c.order_id,
                lines.c.item_id,
                lines.c.units,
                Item.name,
                Item.sku,
                Item.device_identifier_type,
            ).join(Item, Item.id == lines.c.item_id)
        )
    )


def record_printed(order_ids: list[int], actor: Actor) -> list[int]:
    """Notes on each order that a pick list with it was printed (who and when); answers the
    orders it was noted on (numbers of no order are skipped)."""
    wanted = list(dict.fromkeys(i for i in order_ids if 1 <= i <= MAX_DB_ID))[:MAX_ORDERS]
    if not wanted:
        return []
    with write_transaction() as session:
        existing = list(session.scalars(select(Order.id).where(Order.id.in_(wanted))))
        if existing:
            events.record_on_orders(existing, events.PICK_LIST_PRINTED, actor)
    return existing
