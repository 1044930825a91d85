"""The device finder and the shelf: devices by item, status, location, order and any part of
an identifier, in keyset pages that cost the same on page 1 and page 20,000; and the devices
in stock at a location, newest first, a few per item (the stock page, the packing station).

Rows are plain views read with Core statements: a page is three statements whatever its
length (the devices with their item and location, their identifiers, their last order).

Searching: each identifier stores ``search_key`` (``app.catalog.identifiers.search_key``:
letters and digits in capitals), and what is typed is read the same way, so that case,
spaces, dashes and a MAC's colons never matter, for every kind of identifier. A part is
matched with ``search_key LIKE '%PART%'``: on PostgreSQL the trigram index answers it; on
SQLite the narrow index is walked (see migrations/versions/*_device_finder.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import func, select, union_all

from app.catalog.identifiers import MAX_IDENTIFIER_LENGTH, search_key
from app.catalog.models import Device, DeviceIdentifier, Item
from app.extensions import db
from app.inventory.devices import DEVICE_STATUSES, IN_STOCK
from app.inventory.models import DeviceEvent, StockLocation
from app.validation import parse_int

PAGE_SIZE = 50
# "10,000+": nobody needs the exact number of every device ever shipped.
COUNT_CAP = 10_000
MAX_EXPORT_ROWS = 100_000
# The packing station's short list per item, and the stock page's.
PACKING_SHELF = 5
STOCK_SHELF = 20


@dataclass
class DeviceQuery:
    """What the finder shows, as read from the URL (a reload, a link, the CSV: the same)."""

    text: str = ""  # as typed
    item_id: int | None = None
    status: str = ""
    location_id: int | None = None
    order_id: int | None = None
    before: int | None = None  # keyset: older devices than this id (the next page)
    after: int | None = None  # keyset: newer devices than this id (the previous page)
    size: int = PAGE_SIZE

    @classmethod
    def from_args(cls, args) -> DeviceQuery:
        status = args.get("status", "")
        after = parse_int(args.get("after"))
        return cls(
            text=(args.get("identifier") or "").strip()[:MAX_IDENTIFIER_LENGTH],
            item_id=parse_int(args.get("item")),
            status=status if status in DEVICE_STATUSES else "",
            location_id=parse_int(args.get("location")),
            order_id=parse_int(args.get("order")),
            before=None if after else parse_int(args.get("before")),
            after=after,
        )

    @property
    def key(self) -> str:
        return search_key(self.text)

    @property
    def filtered(self) -> bool:
        return bool(self.key or self.item_id or self.status or self.location_id or self.order_id)

    def url_args(self, **changes) -> dict:
        """The query string's arguments, with some changed (pages start over)."""
        changed = replace(self, **{"before": None, "after": None, **changes})
        args = {
            "identifier": changed.text,
            "item": changed.item_id,
            "status": changed.status,
            "location": changed.location_id,
            "order": changed.order_id,
            "before": changed.before,
            "after": changed.after,
        }
        return {k: v for k, v in args.items() if v not in ("", None)}

    def query_string(self, **changes) -> str:
        return urlencode(self.url_args(**changes))

    def conditions(self) -> list:
        where = []
        if self.key:
            # The key holds only A-Z and 0-9: nothing in it is a LIKE wildcard.
            where.append(
                Device.id.in_(
                    select(DeviceIdentifier.device_id).where(
                        DeviceIdentifier.search_key.like(f"%{self.key}%")
                    )
                )
            )
        if self.item_id:
            where.append(Device.item_id == self.item_id)
        if self.status:
            where.append(Device.current_status == self.status)
        if self.location_id:
            where.append(Device.location_id == self.location_id)
        if self.order_id:
            where.append(
                Device.id.in_(
                    select(DeviceEvent.device_id).where(DeviceEvent.order_id == self.order_id)
                )
            )
        return where


@dataclass
class DeviceRow:
    """One device as the finder and its CSV show it."""

    id: int
    item_id: int
    item_name: str
    sku: str
    status: str
    location_id: int | None
    location_name: str | None
    received_at: datetime | None
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (type, value)
    last_order_id: int | None = None

    def matches_whole(self, key: str) -> bool:
        """Whether one of its identifiers is ``key`` entire (not only a part of it)."""
        return any(search_key(value) == key for _, value in self.identifiers)


@dataclass
class DevicePage:
    rows: list[DeviceRow]
    next_before: int | None  # the cursor of the older page, if there is one
    prev_after: int | None  # the cursor of the newer page, if there is one


def device_page(query: DeviceQuery) -> DevicePage:
    """One page, newest first, in keyset order (three statements)."""
    going_back = query.after is not None
    stmt = (
        select(
            Device.id,
            Device.item_id,
            Item.name,
            Item.sku,
            Device.current_status,
            Device.location_id,
            StockLocation.name,
            Device.created_at,
        )
        .join(Item, Item.id == Device.item_id)
        .outerjoin(StockLocation, StockLocation.id == Device.location_id)
        .where(*query.conditions())
    )
    if going_back:
        stmt = stmt.where(Device.id > query.after).order_by(Device.id)
    else:
        if query.before is not None:
            stmt = stmt.where(Device.id < query.before)
        stmt = stmt.order_by(Device.id.desc())
    rows = [DeviceRow(*values) for values in db.session.execute(stmt.limit(query.size + 1))]
    more = len(rows) > query.size
    rows = rows[: query.size]
    if going_back:
        rows.reverse()
    _add_identifiers_and_orders(rows)
    has_older = more if not going_back else True
    has_newer = (query.before is not None) if not going_back else more
    return DevicePage(
        rows=rows,
        next_before=rows[-1].id if rows and has_older else None,
        prev_after=rows[0].id if rows and has_newer else None,
    )


def _add_identifiers_and_orders(rows: list[DeviceRow]) -> None:
    if not rows:
        return
    by_id = {row.id: row for row in rows}
    for device_id, kind, value in db.session.execute(
        select(DeviceIdentifier.device_id, DeviceIdentifier.type, DeviceIdentifier.value)
        .where(DeviceIdentifier.device_id.in_(list(by_id)))
        .order_by(DeviceIdentifier.id)
    ):
        by_id[device_id].identifiers.append((kind, value))
    # Order ids grow with time: the highest is the order the device was last on.
    for device_id, order_id in db.session.execute(
        select(DeviceEvent.device_id, func.max(DeviceEvent.order_id))
        .where(DeviceEvent.device_id.in_(list(by_id)), DeviceEvent.order_id.is_not(None))
        .group_by(DeviceEvent.device_id)
    ):
        by_id[device_id].last_order_id = order_id


def count_devices(query: DeviceQuery) -> int:
    """How many devices the filters select, counted up to COUNT_CAP + 1 (one statement)."""
    matching = select(Device.id).where(*query.conditions()).limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(matching))


# --- The shelf --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShelfItem:
    """A device-tracked item in stock at a location, and how many of its devices are."""

    item_id: int
    name: str
    sku: str
    count: int


@dataclass(frozen=True)
class ShelfDevice:
    id: int
    item_id: int
    identifiers: list[tuple[str, str]]  # (type, value)


def shelf_items(location_id: int) -> list[ShelfItem]:
    """Every item with devices in stock at the location, by name (one statement)."""
    rows = db.session.execute(
        select(Item.id, Item.name, Item.sku, func.count(Device.id))
        .join(Item, Item.id == Device.item_id)
        .where(Device.location_id == location_id, Device.current_status == IN_STOCK)
        .group_by(Item.id, Item.name, Item.sku)
        .order_by(Item.name, Item.id)
    )
    return [ShelfItem(*row) for row in rows]


def shelf_devices(location_id: int | None, item_ids, per_item: int) -> dict[int, list[ShelfDevice]]:
    """The newest ``per_item`` devices in stock at the location for each item, with their
    identifiers (one statement, each item's few read from the index by themselves)."""
    item_ids = sorted({i for i in item_ids if i})
    answer: dict[int, list[ShelfDevice]] = {i: [] for i in item_ids}
    if not location_id or not item_ids:
        return answer
    arms = []
    for item_id in item_ids:
        newest = (
            select(Device.id, Device.item_id)
            .where(
                Device.location_id == location_id,
                Device.current_status == IN_STOCK,
                Device.item_id == item_id,
            )
            .order_by(Device.id.desc())
            .limit(per_item)
            .subquery()
        )
        arms.append(select(newest.c.id, newest.c.item_id))
    found = union_all(*arms).subquery()
    rows = db.session.execute(
        select(found.c.id, found.c.item_id, DeviceIdentifier.type, DeviceIdentifier.value)
        .outerjoin(DeviceIdentifier, DeviceIdentifier.device_id == found.c.id)
        .order_by(found.c.item_id, found.c.id.desc(), DeviceIdentifier.id)
    )
    devices: dict[int, ShelfDevice] = {}
    for device_id, item_id, kind, value in rows:
        if device_id not in devices:
            devices[device_id] = ShelfDevice(device_id, item_id, [])
            answer[item_id].append(devices[device_id])
        if kind is not None:
            devices[device_id].identifiers.append((kind, value))
    return answer
