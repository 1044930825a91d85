"""Reading stock: the stock list, the ledger, devices and their histories. Pages ask here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.extensions import db
from app.inventory.models import (
    DeviceEvent,
    ItemBin,
    StockBalance,
    StockLocation,
    StockMovement,
)
from app.inventory.usage import is_low

STOCK_PAGE_SIZE = 50
LEDGER_PAGE_SIZE = 100
MAX_LEDGER_EXPORT_ROWS = 100_000
MAX_DEVICE_MATCHES = 50


@dataclass
class StockRow:
    item: Item
    location: StockLocation
    on_hand: int
    reserved: int
    bin: str | None = None
    balance_id: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def low(self) -> bool:
        return is_low(self.available, self.item.reorder_point)

    @property
    def out(self) -> bool:
        return self.available <= 0


def stock_rows(
    *,
    location_id: int | None = None,
    item_id: int | None = None,
    after: int | None = None,
    limit: int = STOCK_PAGE_SIZE,
    offset: int = 0,
) -> list[StockRow]:
    """Balances in id order: a keyset page after ``after`` (or an offset page for the API),
    each with the item's bin at its location."""
    query = (
        select(StockBalance, Item, StockLocation, ItemBin.bin)
        .join(Item, Item.id == StockBalance.item_id)
        .join(StockLocation, StockLocation.id == StockBalance.location_id)
        .outerjoin(
            ItemBin,
            and_(
                ItemBin.location_id == StockBalance.location_id,
                ItemBin.item_id == StockBalance.item_id,
            ),
        )
        .order_by(StockBalance.id)
    )
    if location_id:
        query = query.where(StockBalance.location_id == location_id)
    if item_id:
        query = query.where(StockBalance.item_id == item_id)
    if after:
        query = query.where(StockBalance.id > after)
    rows = db.session.execute(query.limit(limit).offset(offset)).all()
    return [
        StockRow(item, location, b.on_hand, b.reserved, bin_, b.id)
        for b, item, location, bin_ in rows
    ]


@dataclass(frozen=True)
class Balance:
    """What a location holds of an item, as the adjust page shows it before a change."""

    location_name: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def balance_of(location_id: int | None, item_id: int | None) -> Balance | None:
    """The item's balance at the location (nothing held yet: zeros); None when either is
    not there. One statement."""
    if not location_id or not item_id:
        return None
    row = db.session.execute(
        select(StockLocation.name, StockBalance.on_hand, StockBalance.reserved)
        .select_from(StockLocation)
        .outerjoin(
            StockBalance,
            (StockBalance.location_id == StockLocation.id) & (StockBalance.item_id == item_id),
        )
        .where(StockLocation.id == location_id)
        .limit(1)
    ).first()
    return None if row is None else Balance(row[0], row[1] or 0, row[2] or 0)


def count_stock_rows(*, location_id: int | None = None, item_id: int | None = None) -> int:
    query = select(func.count(StockBalance.id))
    if location_id:
        query = query.where(StockBalance.location_id == location_id)
    if item_id:
        query = query.where(StockBalance.item_id == item_id)
    return db.session.scalar(query)


@dataclass
class LedgerFilter:
    location_id: int | None = None
    item_id: int | None = None
    kind: str | None = None
    order_id: int | None = None
    before: int | None = None  # keyset: rows with a smaller id (newest first)

    def where(self):
        where = []
        if self.location_id:
            where.append(StockMovement.location_id == self.location_id)
        if self.item_id:
            where.append(StockMovement.item_id == self.item_id)
        if self.kind:
            where.append(StockMovement.kind == self.kind)
        if self.order_id:
            where.append(StockMovement.order_id == self.order_id)
        return where


def ledger_rows(filters: LedgerFilter, limit: int = LEDGER_PAGE_SIZE) -> list[StockMovement]:
    """Ledger rows newest first, one keyset page (the item, place and actor in the same query)."""
    query = (
        select(StockMovement)
        .where(*filters.where())
        .options(
            selectinload(StockMovement.item),
            selectinload(StockMovement.location),
            selectinload(StockMovement.actor_user),
            selectinload(StockMovement.actor_api_key),
        )
        .order_by(StockMovement.id.desc())
        .limit(limit)
    )
    if filters.before:
        query = query.where(StockMovement.id < filters.before)
    return list(db.session.scalars(query))


def find_devices(identifier: str, limit: int = MAX_DEVICE_MATCHES) -> list[Device]:
    """Devices with this identifier, whatever its case and separators (one query): the
    letters and digits typed are one identifier's entire ``search_key``."""
    key = identifiers.search_key(identifier)
    if not key:
        return []
    return list(
        db.session.scalars(
            select(Device)
            .where(
                Device.id.in_(
                    select(DeviceIdentifier.device_id).where(DeviceIdentifier.search_key == key)
                )
            )
            .options(
                selectinload(Device.identifiers),
                selectinload(Device.item),
            )
            .order_by(Device.id)
            .limit(limit)
        )
    )


def device_locations(devices: list[Device]) -> dict[int, StockLocation]:
    ids = {d.location_id for d in devices if d.location_id}
    if not ids:
        return {}
    return {
        loc.id: loc
        for loc in db.session.scalars(select(StockLocation).where(StockLocation.id.in_(ids)))
    }


def device_order_ids(devices: list[Device]) -> dict[int, list[int]]:
    """The orders each device has been on, oldest first, from its history (one query)."""
    if not devices:
        return {}
    rows = db.session.execute(
        select(DeviceEvent.device_id, DeviceEvent.order_id)
        .where(
            DeviceEvent.device_id.in_([d.id for d in devices]),
            DeviceEvent.order_id.is_not(None),
        )
        .group_by(DeviceEvent.device_id, DeviceEvent.order_id)
        .order_by(DeviceEvent.device_id, func.min(DeviceEvent.id))
    ).all()
    answer: dict[int, list[int]] = {d.id: [] for d in devices}
    for device_id, order_id in rows:
        answer[device_id].append(order_id)
    return answer


def device_history(device_id: int) -> list[DeviceEvent]:
    return list(
        db.session.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == device_id)
            .options(
                selectinload(DeviceEvent.location),
                selectinload(DeviceEvent.actor_user),
                selectinload(DeviceEvent.actor_api_key),
            )
            .order_by(DeviceEvent.id)
        )
    )


@dataclass
class ReceiptContents:
    """What one receipt brought in: its counted lines (item and units) and its devices."""

    lines: list[tuple[Item, int]]
    devices: list[Device]


def receipt_contents(receipt_id: int) -> ReceiptContents:
    """From the receipt's ledger rows, in the order they were written (three queries)."""
    movements = db.session.scalars(
        select(StockMovement)
        .where(StockMovement.receipt_id == receipt_id)
        .order_by(StockMovement.id)
        .options(selectinload(StockMovement.item).selectinload(Item.manufacturer))
    ).all()
    device_ids = [m.device_id for m in movements if m.device_id is not None]
    devices = {
        d.id: d
        for d in db.session.scalars(
            select(Device)
            .where(Device.id.in_(device_ids))
            .options(selectinload(Device.identifiers))
        )
    }
    return ReceiptContents(
        lines=[(m.item, m.on_hand_change) for m in movements if m.device_id is None],
        devices=[devices[device_id] for device_id in device_ids],
    )


def get_device(device_id: int) -> Device | None:
    if not 1 <= device_id <= 2**31 - 1:
        return None
    return db.session.scalar(
        select(Device)
        .where(Device.id == device_id)
        .options(selectinload(Device.identifiers), selectinload(Device.item))
    )


def open_demand(location_id: int | None, item_ids: list[int]) -> dict[int, int]:
    """Reserved units per item: the demand of open orders (it is what they hold)."""
    if not item_ids:
        return {}
    query = select(StockBalance.item_id, func.sum(StockBalance.reserved)).where(
        StockBalance.item_id.in_(item_ids)
    )
    if location_id:
        query = query.where(StockBalance.location_id == location_id)
    return dict(db.session.execute(query.group_by(StockBalance.item_id)).all())
