"""Packing: the devices an order needs (its plan of slots), and recording them by scanning.

The slots come from the order's lines, so an order lists every device it needs from the
moment it is placed. Recording a device checks its identifier's format, that it fits the
slot, and that it is free and on the shelf where the order is packed; the device is then
allocated to the order. Every change runs in ``changes.changing`` on the locked order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.actor import Actor
from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import devices as stock_devices
from app.inventory import locations
from app.orders import events, statuses
from app.orders.changes import changing
from app.orders.events import record_event
from app.orders.models import Order, OrderDevice, PackedKit
from app.validation import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, refusal


def may_pack(order: Order, role: str) -> bool:
    return order.current_status == statuses.PROCESSING and role in ("fulfillment", "admin")


@dataclass
class Slot:
    """One device the order needs: for a device-tracked item line, or inside a kit.

    Slots come from the order's lines, so an order lists every device it needs from the
    moment it is placed; a kit's slots find their packed kit once processing opens it.
    """

    key: str
    item: Item
    label: str
    packed_kit: PackedKit | None = None
    order_item_id: int | None = None
    filled: OrderDevice | None = None
    kit_name: str | None = None
    kit_number: int | None = None

    @property
    def identifier_type(self) -> str:
        return self.item.device_identifier_type


@dataclass
class PackingPlan:
    slots: list[Slot]

    @property
    def missing(self) -> int:
        return sum(1 for s in self.slots if s.filled is None)

    @property
    def recorded(self) -> int:
        return len(self.slots) - self.missing

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def slot_of(self, order_device_id: int) -> Slot | None:
        return next((s for s in self.slots if s.filled and s.filled.id == order_device_id), None)


def packing_plan(order: Order) -> PackingPlan:
    """Every device the order needs and which are recorded, from the loaded order (no queries).

    The one place the device slots are worked out: the order page, the packing summaries and
    the device count all read it. Labels are the same before and after processing starts.
    """
    slots: list[Slot] = []
    loose: dict[int, list[OrderDevice]] = {}
    for od in order.devices:
        if od.packed_kit_id is None and od.order_item_id is not None:
            loose.setdefault(od.order_item_id, []).append(od)
    for line in order.items:
        if not line.item.is_device:
            continue
        recorded = loose.get(line.id, [])
        for n in range(line.count):
            slots.append(
                Slot(
                    key=f"line-{line.id}-{n + 1}",
                    item=line.item,
                    label=f"{line.item.name} {n + 1} of {line.count}",
                    order_item_id=line.id,
                    filled=recorded[n] if n < len(recorded) else None,
                )
            )
    boxes: dict[int, list[PackedKit]] = {}
    for pk in sorted(order.packed_kits, key=lambda pk: pk.id or 0):
        boxes.setdefault(pk.order_kit_id, []).append(pk)
    for line in order.kits:
        opened = boxes.get(line.id, [])
        for number in range(1, line.count + 1):
            pk = opened[number - 1] if number <= len(opened) else None
            in_kit: dict[int, list[OrderDevice]] = {}
            for od in pk.devices if pk is not None else ():
                in_kit.setdefault(od.device.item_id, []).append(od)
            for ki in line.kit.kit_items:
                if not ki.item.is_device:
                    continue
                recorded = in_kit.get(ki.item_id, [])
                for n in range(ki.count):
                    suffix = f" {n + 1}" if ki.count > 1 else ""
                    slots.append(
                        Slot(
                            key=f"kit-{line.id}-{number}-{ki.item_id}-{n + 1}",
                            item=ki.item,
                            label=f"{line.kit.name} {number}: {ki.item.name}{suffix}",
                            packed_kit=pk,
                            filled=recorded[n] if n < len(recorded) else None,
                            kit_name=line.kit.name,
                            kit_number=number,
                        )
                    )
    return PackingPlan(slots)


# Still-needed lists stop after this many kinds of device ("... and 3 more").
MAX_NEEDS_LISTED = 6


def still_needed(slots: list[Slot]) -> str:
    """What the empty slots wait for, grouped: "1 serial number for Blood pressure monitor
    (Hypertension starter kit 1), 1 ICCID for Cellular gateway (Hypertension starter kit 1)"."""
    groups: dict[tuple, int] = {}
    for slot in slots:
        if slot.filled is None:
            where = f"{slot.kit_name} {slot.kit_number}" if slot.kit_name else None
            key = (slot.identifier_type, slot.item.name, where)
            groups[key] = groups.get(key, 0) + 1
    parts = []
    for (kind, item_name, where), n in list(groups.items())[:MAX_NEEDS_LISTED]:
        noun = identifiers.noun(kind, n)
        parts.append(f"{n} {noun} for {item_name}" + (f" ({where})" if where else ""))
    if len(groups) > MAX_NEEDS_LISTED:
        parts.append(f"and {len(groups) - MAX_NEEDS_LISTED} more")
    return ", ".join(parts)


def record_device(
    order_id: int, identifier: str, actor: Actor, slot_key: str | None = None
) -> Slot:
    """Records a typed or scanned device identifier in the slot it belongs to.

    The value is classified by its format first (``identifiers.classify``): an IMEI, ICCID
    or MAC address is never taken for a serial number, and a serial must fit its item's
    serial pattern. Without ``slot_key`` the identifier goes to the first empty slot that
    takes it. Only slots the order expects exist, so nothing beyond what was ordered can
    be recorded.
    """
    raw = (identifier or "").strip()
    if not raw:
        raise refusal(
            "identifier_required", "Scan or type the device identifier.", INVALID, "identifier"
        )
    if len(raw) > identifiers.MAX_IDENTIFIER_LENGTH:
        raise refusal("invalid_identifier", "That identifier is too long.", INVALID, "identifier")
    try:
        return _record_device(order_id, raw, actor, slot_key)
    except IntegrityError:
        # Another order registered this very identifier at the same moment.
        raise refusal(
            "device_in_open_order",
            "This device was just recorded on another order.",
            CONFLICT,
            "identifier",
        ) from None


def _record_device(order_id: int, raw: str, actor: Actor, slot_key: str | None) -> Slot:
    with changing(order_id, actor) as order:
        if not may_pack(order, actor.role):
            if order.current_status != statuses.PROCESSING:
                raise refusal(
                    "not_packing",
                    f"Devices are recorded while an order is Processing; this one is "
                    f"{statuses.label(order.current_status)}.",
                )
            raise refusal("forbidden", "Only fulfillment records devices.", FORBIDDEN)
        plan = packing_plan(order)
        empty = [
            s for s in plan.slots if s.filled is None and (slot_key is None or s.key == slot_key)
        ]
        if slot_key is not None and not empty:
            raise refusal(
                "slot_filled", "That line already has its device.", CONFLICT, "identifier"
            )
        if not empty:
            raise refusal(
                "nothing_to_record",
                "Every device this order needs is already recorded.",
                CONFLICT,
                "identifier",
            )
        slot, device, value = _match(empty, raw, slot_key is not None)
        _check_device_free(order, device)
        if device is None:
            if not slot.item.accept_unreceived_devices:
                raise refusal(
                    "unknown_device",
                    f"No device {value} has been received: it is not in stock anywhere. "
                    "Check the label, or receive the device first (Stock, Receive).",
                    INVALID,
                    "identifier",
                )
            # Received and shipped in one step: the scan is the receipt, with its ledger row.
            device = stock_devices.receive_scanned_device(
                slot.item, slot.identifier_type, value, order.fulfillment_location_id, actor
            )
        else:
            _check_device_on_shelf(order, device)
        stock_devices.allocate_device(device, order.id, actor)
        recorded = OrderDevice(
            device=device,
            order_item_id=slot.order_item_id,
            packed_kit=slot.packed_kit,
        )
        order.devices.append(recorded)  # and, through packed_kit, to the packed kit's devices
        id_label = identifiers.LABELS[slot.identifier_type]
        record_event(order, events.DEVICE_RECORDED, actor, f"{slot.label}: {id_label} {value}")
        slot.filled = recorded
        return slot


def _refuse_scan(code: str, message: str, empty: list[Slot], explicit: bool) -> NoReturn:
    """Refuses a scan, saying what the order still needs (a line's own form needs no list)."""
    if not explicit:
        message = f"{message} Still needed: {still_needed(empty)}."
    raise refusal(code, message, INVALID, "identifier")


def _match(empty: list[Slot], raw: str, explicit: bool) -> tuple[Slot, Device | None, str]:
    """The slot, the known device (or None for a new one) and the normalised identifier."""
    scanned = identifiers.classify(raw)
    if scanned.kind == identifiers.UNREADABLE:
        _refuse_scan("invalid_identifier", scanned.problem, empty, explicit)
    looks = f"This looks like {scanned.description}."
    if not scanned.valid:
        _refuse_scan("invalid_identifier", f"{looks} {scanned.problem}", empty, explicit)
    value = scanned.normalized
    takers = [s for s in empty if scanned.fits(s.identifier_type)]
    if not takers:
        if explicit:
            wanted = identifiers.noun(empty[0].identifier_type, 1)
            _refuse_scan(
                "invalid_identifier",
                f"{looks} This line takes {identifiers.article(wanted)} {wanted}.",
                empty,
                explicit,
            )
        _refuse_scan(
            "invalid_identifier", f"{looks} The order needs no more of those.", empty, explicit
        )
    if scanned.kind == "serial":
        fitting = [
            s for s in takers if identifiers.fits_serial_pattern(s.item.serial_pattern, value)
        ]
        if not fitting:
            items = sorted({s.item.name for s in takers})
            patterns = sorted({s.item.serial_pattern for s in takers if s.item.serial_pattern})
            _refuse_scan(
                "serial_pattern_mismatch",
                f"{value} does not fit the serial numbers of {' or '.join(items)} "
                f"(pattern {' or '.join(patterns)}): check it is the right label, scanned once.",
                empty,
                explicit,
            )
        takers = fitting
    types = {s.identifier_type for s in takers}
    # The same value may be on record under several types (an ICCID and a SIM card number).
    on_record = db.session.scalars(
        select(DeviceIdentifier).where(
            DeviceIdentifier.type.in_(identifiers.TYPES), DeviceIdentifier.value == value
        )
    ).all()
    known = next((i for i in on_record if i.type in types), on_record[0] if on_record else None)
    if known is not None and known.type in types:
        # Lock the device: a second order scanning it now waits, then sees it taken.
        device = db.session.scalar(
            select(Device).where(Device.id == known.device_id).with_for_update()
        )
        for slot in takers:
            if slot.item.id == device.item_id and slot.identifier_type == known.type:
                return slot, device, value
        needs = "this line does not take" if explicit else "this order does not still need"
        raise refusal(
            "wrong_item",
            f"{value} is a {device.item.name}, which {needs}.",
            INVALID,
            "identifier",
        )
    if known is not None:
        # Known under another type: e.g. a SIM card's number scanned for a gateway's ICCID.
        raise refusal(
            "wrong_item",
            f"{value} is the {identifiers.LABELS[known.type]} of a {known.device.item.name}, "
            "which this order does not take.",
            INVALID,
            "identifier",
        )
    items = {s.item.id for s in takers}
    if len(items) > 1:
        kind = identifiers.noun(scanned.kind, 1)
        raise refusal(
            "ambiguous_identifier",
            f"Several lines take {identifiers.article(kind)} {kind}: enter it in the line "
            "it belongs to.",
            INVALID,
            "identifier",
        )
    return takers[0], None, value


def _check_device_free(order: Order, device: Device | None) -> None:
    if device is None:
        return
    if device.current_status == stock_devices.RETIRED:
        raise refusal("device_retired", "This device is retired.", INVALID, "identifier")
    if any(od.device_id == device.id for od in order.devices):
        raise refusal(
            "device_already_recorded",
            "This device is already on this order.",
            CONFLICT,
            "identifier",
        )
    # The return lines are read only when the order has some (``has_returns``, set when it
    # is placed: they never change after), not on every scan.
    returning = order.has_returns and (
        {rd.device_id for rd in order.return_devices}
        | {od.device_id for rpk in order.return_packed_kits for od in rpk.packed_kit.devices}
    )
    if returning and device.id in returning:
        raise refusal(
            "device_being_returned",
            "This device is coming back on this order; it cannot also be packed.",
            INVALID,
            "identifier",
        )
    elsewhere = db.session.scalar(
        select(OrderDevice.order_id)
        .join(Order, Order.id == OrderDevice.order_id)
        .where(
            OrderDevice.device_id == device.id,
            Order.id != order.id,
            Order.current_status.in_(statuses.OPEN),
        )
        .limit(1)
    )
    if elsewhere is not None:
        raise refusal(
            "device_in_open_order",
            f"This device is already packed for order {elsewhere}, which is still open.",
            CONFLICT,
            "identifier",
        )


def _check_device_on_shelf(order: Order, device: Device) -> None:
    """Packing picks from stock: the device must be in stock where the order is fulfilled."""
    if device.current_status in (stock_devices.SHIPPED, stock_devices.DELIVERED):
        raise refusal(
            "device_already_shipped",
            "This device has already been shipped; it is not on the shelf.",
            CONFLICT,
            "identifier",
        )
    if device.current_status in (stock_devices.RETURNED, stock_devices.QUARANTINED):
        raise refusal(
            "device_quarantined",
            "This device came back and awaits inspection; it cannot be packed until it passes.",
            CONFLICT,
            "identifier",
        )
    if device.current_status == stock_devices.LOST:
        raise refusal(
            "device_lost",
            "This device is recorded as lost; check it in at a returns station first.",
            CONFLICT,
            "identifier",
        )
    if device.current_status == stock_devices.ALLOCATED:
        raise refusal(
            "device_in_open_order",
            "This device is already on another order.",
            CONFLICT,
            "identifier",
        )
    if device.location_id != order.fulfillment_location_id:
        where = locations.location_name(device.location_id)
        raise refusal(
            "device_at_another_location",
            f"This device is at {where}, not at {order.fulfillment_location.name} where this "
            "order is packed.",
            CONFLICT,
            "identifier",
        )


def remove_device(order_id: int, order_device_id: int, actor: Actor) -> None:
    with changing(order_id, actor) as order:
        if not may_pack(order, actor.role):
            raise refusal(
                "not_packing", "Devices can be removed only while the order is Processing."
            )
        recorded = next((od for od in order.devices if od.id == order_device_id), None)
        if recorded is None:
            raise refusal("device_not_on_order", "That device is not on this order.", NOT_FOUND)
        values = ", ".join(i.value for i in recorded.device.identifiers)
        stock_devices.unallocate_device(recorded.device, order.id, actor)
        # Its kit's devices first: read now (``changing`` reads collections as they are
        # used), they still hold it.
        if recorded.packed_kit is not None:
            recorded.packed_kit.devices.remove(recorded)
        order.devices.remove(recorded)
        db.session.delete(recorded)
        record_event(order, events.DEVICE_REMOVED, actor, f"{recorded.device.item.name} {values}")


def open_packed_kits(order: Order) -> None:
    """One packed kit for every kit ordered: the boxes that packing fills."""
    for line in order.kits:
        for _ in range(line.count):
            order.packed_kits.append(PackedKit(order_kit_id=line.id, kit=line.kit))


def record_printed(order_ids: list[int], actor: Actor) -> None:
    """Notes on each order that its packing summary was printed (who and when)."""
    with write_transaction():
        events.record_on_orders(order_ids, events.PACKING_SUMMARY_PRINTED, actor)
