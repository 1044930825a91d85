"""Devices in stock: the one home of a device's statuses and their labels, the history
each change writes (``DeviceEvent``), devices following their order (allocated, shipped,
delivered, back in stock or returned to quarantine), and the inspection of returned ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.auth.actor import Actor
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.inventory import models as m
from app.inventory.ledger import lock_balances, record_movements, refuse
from app.inventory.models import DeviceEvent, StockReceipt
from app.validation import MAX_REASON_LENGTH, as_id

# A device's life, in the words of the public API (``DEVICE_STATUSES``, which the API
# answers as a device's status), and two steps only its history shows.
IN_STOCK = "inStock"
ALLOCATED = "allocated"
SHIPPED = "shipped"
DELIVERED = "delivered"
RETURNED = "returned"
QUARANTINED = "quarantined"
RETIRED = "retired"
LOST = "lost"  # expected back on a return that was closed without it
RECEIVED = "received"  # a history step only: the device arrived (then it is inStock)
PASSED = "passedInspection"  # a history step only
DEVICE_STATUSES = (
    IN_STOCK,
    ALLOCATED,
    SHIPPED,
    DELIVERED,
    RETURNED,
    QUARANTINED,
    RETIRED,
    LOST,
)
DEVICE_STATUS_LABELS = {
    IN_STOCK: "In stock",
    ALLOCATED: "Allocated",
    SHIPPED: "Shipped",
    DELIVERED: "Delivered",
    RETURNED: "Returned",
    QUARANTINED: "Quarantined",
    RETIRED: "Retired",
    LOST: "Lost",
    RECEIVED: "Received",
    PASSED: "Passed inspection",
}


def device_status_label(status: str) -> str:
    return DEVICE_STATUS_LABELS.get(status, status)


def awaits_inspection(device: Device) -> bool:
    """A returned device waits in quarantine until it passes inspection or is retired."""
    return device.current_status == QUARANTINED


def device_event(device: Device, status: str, actor: Actor, **extra) -> None:
    db.session.add(
        DeviceEvent(
            device=device,
            status=status,
            created_at=utcnow(),
            **actor.stamp(),
            **extra,
        )
    )


def allocate_device(device: Device, order_id: int, actor: Actor) -> None:
    device.current_status = ALLOCATED
    device_event(device, ALLOCATED, actor, order_id=order_id, location_id=device.location_id)


def receive_scanned_device(
    item: Item, kind: str, value: str, location_id: int, actor: Actor
) -> Device:
    """A device scanned before it was ever received (the item allows it): received now, with
    its receipt and ledger row, ready to be allocated. Runs in the caller's transaction."""
    receipt = StockReceipt(
        location_id=location_id,
        reference="Received when scanned",
        created_at=utcnow(),
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
    )
    device = Device(
        item=item,
        current_status=IN_STOCK,
        location_id=location_id,
        identifiers=[DeviceIdentifier(type=kind, value=value)],
    )
    db.session.add_all([receipt, device])
    db.session.flush()
    device_event(device, RECEIVED, actor, location_id=location_id, receipt_id=receipt.id)
    balances = lock_balances(location_id, {item.id}, create=True)
    record_movements(
        balances,
        [
            {
                "kind": m.RECEIPT,
                "item_id": item.id,
                "location_id": location_id,
                "on_hand_change": 1,
                "receipt_id": receipt.id,
                "device_id": device.id,
                "reason": receipt.reference,
            }
        ],
        actor,
    )
    return device


def unallocate_device(device: Device, order_id: int, actor: Actor) -> None:
    device.current_status = IN_STOCK
    device_event(
        device,
        IN_STOCK,
        actor,
        order_id=order_id,
        location_id=device.location_id,
        note="Removed from the order",
    )


def lock_devices(devices: list[Device]) -> None:
    """Locks these devices' rows, in id order, before any balance (the lock order:
    ``app.db.transactions.write_transaction``): their changes are written only when the
    transaction flushes, which is after the balances it locks."""
    ids = sorted({device.id for device in devices})
    if ids:
        db.session.execute(
            select(Device.id).where(Device.id.in_(ids)).order_by(Device.id).with_for_update()
        ).all()


def move_devices(
    devices: list[Device],
    status: str,
    order_id: int,
    actor: Actor,
    location_id: int | None = None,
    note: str | None = None,
) -> None:
    """Devices follow their order: shipped, delivered, back in stock, returned to quarantine,
    or lost (a return closed without them)."""
    for device in devices:
        if status == QUARANTINED:
            device.location_id = location_id
        elif status in (SHIPPED, DELIVERED, LOST):
            device.location_id = None
        device.current_status = status
        device_event(device, status, actor, order_id=order_id, location_id=location_id, note=note)


def receive_unexpected_device(
    item: Item, kind: str, value: str, location_id: int, order_id: int, note: str, actor: Actor
) -> Device:
    """A device never received that arrived in a return: known from now on, straight into
    quarantine at ``location_id``. No ledger row: a quarantined device is not on hand until
    it passes inspection (which writes the return row). Runs in the caller's transaction."""
    device = Device(
        item=item,
        current_status=QUARANTINED,
        location_id=location_id,
        identifiers=[DeviceIdentifier(type=kind, value=value)],
    )
    db.session.add(device)
    device_event(device, RECEIVED, actor, order_id=order_id, location_id=location_id, note=note)
    device_event(device, QUARANTINED, actor, order_id=order_id, location_id=location_id, note=note)
    return device


# --- Inspection of returned devices --------------------------------------------------------


def inspect_device(device_id: int, passed: bool, note: Any, actor: Actor) -> Device:
    """A quarantined device passes back into stock (a return row) or is retired."""
    with write_transaction() as session:
        device = (
            session.scalar(select(Device).where(Device.id == device_id).with_for_update())
            if as_id(device_id)
            else None
        )
        if device is None:
            refuse("device_not_found", "There is no such device.", "device")
        if not awaits_inspection(device):
            refuse(
                "not_quarantined",
                "Only a quarantined device is inspected; this one is "
                f"{device_status_label(device.current_status)}.",
                "device",
            )
        text = note.strip()[:MAX_REASON_LENGTH] if isinstance(note, str) and note.strip() else None
        if passed:
            balances = lock_balances(device.location_id, {device.item_id}, create=True)
            record_movements(
                balances,
                [
                    {
                        "kind": m.RETURN,
                        "item_id": device.item_id,
                        "location_id": device.location_id,
                        "on_hand_change": 1,
                        "device_id": device.id,
                        "reason": text or "Passed inspection",
                    }
                ],
                actor,
            )
            device.current_status = IN_STOCK
            device_event(device, PASSED, actor, location_id=device.location_id, note=text)
        else:
            device.current_status = RETIRED
            device_event(device, RETIRED, actor, location_id=device.location_id, note=text)
        return device
