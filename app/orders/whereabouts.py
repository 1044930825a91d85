"""Where a device scanned at a returns station belongs, when the order did not ask it back.

Said in a sentence for the station (another recipient's, in stock, never received...) and
with what follows from it: whether it may be recorded on this order as an unexpected arrival.
Another recipient is named by order number only, never by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from app.catalog import identifiers
from app.catalog.models import Device, Item
from app.extensions import db
from app.inventory import devices as stock_devices
from app.inventory import locations
from app.orders.models import Order, OrderDevice
from app.orders.returns import open_returns_of

# A device out in the world may come back on any order; one here (on the shelf, on an open
# order, back already, retired) cannot arrive.
MAY_ARRIVE = frozenset(
    {stock_devices.SHIPPED, stock_devices.DELIVERED, stock_devices.LOST, stock_devices.RETURNED}
)


@dataclass
class Whereabouts:
    what: str  # "Blood pressure monitor BP7450-0001", or "The serial number X"
    sentence: str  # where it belongs
    identifier: str  # the value as stored
    recordable: bool = False  # may be recorded on the order as an unexpected arrival
    expected_here: bool = False
    expected_on: int | None = None  # another open order that asks it back
    sent_on: int | None = None  # the last order it went out on
    items: list[Item] = field(default_factory=list)  # a device never received: what it may be


def _expected_here(device: Device, order: Order) -> bool:
    named = {rd.device_id for rd in order.return_devices}
    in_kits = {od.device_id for rpk in order.return_packed_kits for od in rpk.packed_kit.devices}
    return device.id in named | in_kits


def _same_recipient(other_order_id: int, order: Order) -> bool:
    other = db.session.get(Order, other_order_id)
    return (other.patient_id, other.site_id) == (order.patient_id, order.site_id)


def _whose(other_order_id: int, order: Order) -> str:
    return "this recipient's" if _same_recipient(other_order_id, order) else "another recipient's"


def _never_received(scanned: identifiers.Classification) -> Whereabouts:
    items = [
        item
        for item in db.session.scalars(
            select(Item)
            .where(Item.device_identifier_type.in_(scanned.recordable_as))
            .order_by(Item.name)
        )
        if scanned.kind != "serial"
        or identifiers.fits_serial_pattern(item.serial_pattern, scanned.normalized)
    ]
    kind = identifiers.noun(scanned.recordable_as[0], 1)
    return Whereabouts(
        f"The {kind} {scanned.normalized}",
        "It was never received: no device with this identifier is on record anywhere.",
        scanned.normalized,
        recordable=bool(items),
        items=items,
    )


def whereabouts(
    device: Device | None, order: Order, scanned: identifiers.Classification
) -> Whereabouts:
    if device is None:
        return _never_received(scanned)
    values = ", ".join(i.value for i in device.identifiers)
    seen = Whereabouts(f"{device.item.name} {values}", "", scanned.normalized)
    if _expected_here(device, order):
        seen.expected_here = True
        seen.sentence = "It is expected back on this order."
        return seen
    other = open_returns_of({device.id}).get(device.id)
    if other is not None:
        seen.expected_on = other
        seen.sentence = (
            f"It is expected back on order {other}, {_whose(other, order)} return: check it "
            "in there."
        )
        return seen
    status = device.current_status
    where = locations.location_name(device.location_id) if device.location_id else None
    last = db.session.scalar(
        select(OrderDevice.order_id)
        .where(OrderDevice.device_id == device.id)
        .order_by(OrderDevice.id.desc())
        .limit(1)
    )
    seen.sent_on = last
    if status == stock_devices.IN_STOCK:
        seen.sentence = f"It is in stock at {where}: it has not left the warehouse."
    elif status == stock_devices.ALLOCATED:
        seen.sentence = f"It is packed on order {last}, which is still open."
    elif status == stock_devices.QUARANTINED:
        seen.sentence = f"It came back already and awaits inspection at {where}."
    elif status == stock_devices.RETIRED:
        seen.sentence = "It was retired: it should not be in anyone's hands."
    elif status in MAY_ARRIVE:
        seen.recordable = True
        label = stock_devices.device_status_label(status).lower()
        if last is None:
            seen.sentence = f"It is recorded as {label}, on no order."
        else:
            seen.sentence = (
                f"It is {_whose(last, order)}: it went out on order {last} and is recorded "
                f"as {label}."
            )
    else:
        seen.sentence = f"It is {stock_devices.device_status_label(status).lower()}."
    return seen
