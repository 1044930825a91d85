"""After an order is placed: status changes, packing, tracking numbers, notes.

Every change here runs in one write transaction on the locked order row, checks the
status machine and the actor's role, and appends an event. Both doors (the order page
and the API) call these functions; neither decides anything itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.inventory import service as inventory
from app.orders import carriers, service, status_counters, statuses
from app.orders.events import record_event
from app.orders.models import (
    Order,
    OrderDevice,
    OrderEvent,
    OrderNote,
    PackedKit,
    TrackingNumber,
)
from app.orders.queries import full_order_options
from app.orders.service import MAX_NOTE_LENGTH, Actor
from app.validation import MAX_DB_ID, Checker

MAX_REASON_LENGTH = 500

# Who may move an order into each status (admins may do everything).
STATUS_ROLES: dict[str, frozenset[str]] = {
    statuses.PROCESSING: frozenset({"fulfillment"}),
    statuses.PACKED: frozenset({"fulfillment"}),
    statuses.AVAILABLE_FOR_PICKUP: frozenset({"fulfillment"}),
    statuses.SHIPPED: frozenset({"fulfillment"}),
    statuses.DELIVERED: frozenset({"fulfillment"}),
    statuses.DELIVERY_EXCEPTION: frozenset({"fulfillment"}),
    statuses.RETURNED: frozenset({"fulfillment"}),
    statuses.ON_HOLD: frozenset({"coordinator", "fulfillment"}),
    statuses.CANCELLED: frozenset({"coordinator", "api"}),
}
# Coordinators (and other systems) cancel only before packing has finished.
CANCELLABLE_BEFORE_PACKING = frozenset({statuses.CREATED, statuses.PROCESSING})
NEEDS_REASON = frozenset({statuses.ON_HOLD, statuses.CANCELLED})
SEES_ORDERS = frozenset({"coordinator", "fulfillment", "admin"})
# Statuses in which tracking numbers may still be added.
TRACKABLE = frozenset(
    {statuses.PACKED, statuses.AVAILABLE_FOR_PICKUP, statuses.SHIPPED, statuses.DELIVERY_EXCEPTION}
)


class OrderChangeRefused(Exception):
    """The change is not allowed; nothing was changed.

    ``kind`` tells a door how to answer: "invalid" (bad input), "conflict" (the order's
    state does not allow it), "forbidden" (the role does not), "not_found".
    """

    def __init__(self, code: str, message: str, kind: str = "conflict", field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.field = field


# --- Who may do what ---------------------------------------------------------------------


def _effective_status(order: Order) -> str:
    """The status an order on hold was in, for rules that look through the hold."""
    if order.current_status == statuses.ON_HOLD and order.held_from_status:
        return order.held_from_status
    return order.current_status


def role_may_move(role: str, order: Order, to_status: str) -> bool:
    if role == "admin":
        return True
    resuming = order.current_status == statuses.ON_HOLD and to_status == order.held_from_status
    if resuming:
        return role in ("coordinator", "fulfillment")
    if role not in STATUS_ROLES.get(to_status, ()):
        return False
    if to_status == statuses.CANCELLED:
        return _effective_status(order) in CANCELLABLE_BEFORE_PACKING
    return True


def next_moves(order: Order, role: str) -> list[str]:
    """The statuses this role may move the order to now, in the lifecycle's order."""
    allowed = statuses.next_statuses(order.current_status, order.held_from_status)
    return [s for s in allowed if role_may_move(role, order, s)]


def may_pack(order: Order, role: str) -> bool:
    return order.current_status == statuses.PROCESSING and role in ("fulfillment", "admin")


def may_add_tracking(order: Order, role: str) -> bool:
    return order.current_status in TRACKABLE and role in ("fulfillment", "admin")


def may_add_note(role: str) -> bool:
    return role in SEES_ORDERS


# --- The unit of change ------------------------------------------------------------------


@contextmanager
def _changing(order_id: int, actor: Actor) -> Iterator[Order]:
    """The order, locked for this transaction, whole; the change commits when the block ends."""
    with write_transaction() as session:
        # Lock the row first (PostgreSQL: SELECT ... FOR UPDATE; SQLite holds its write lock
        # from BEGIN IMMEDIATE), then load the graph: a second change waits, then sees this one.
        locked = (
            session.scalar(select(Order.id).where(Order.id == order_id).with_for_update())
            if 1 <= order_id <= MAX_DB_ID
            else None
        )
        if locked is None:
            raise OrderChangeRefused(
                "order_not_found", f"There is no order {order_id}.", "not_found"
            )
        order = session.scalar(
            select(Order).where(Order.id == order_id).options(*full_order_options())
        )
        yield order
        # Every change moves updated_at, which bumps the order's version: pages showing an
        # older version know to refresh, and a concurrent writer of the same row fails.
        order.updated_at = utcnow()


def _event(order: Order, name: str, actor: Actor, note: str | None = None) -> OrderEvent:
    return record_event(order, name, actor, note)


def _clean_text(
    text: str | None, limit: int, what: str, required: bool, missing: str = ""
) -> str | None:
    """A reason or a note, by the free-text rules every service uses (validation.Checker):
    "required" means a visible character, not only zero-width ones."""
    check = Checker()
    value = check.text(
        text, what, what.capitalize(), required=required, max_length=limit, free_text=True
    )
    for problem in check.problems:
        if problem.code == "required":
            raise OrderChangeRefused(
                f"{what}_required", missing or f"Write the {what}.", "invalid", what
            )
        raise OrderChangeRefused(f"invalid_{what}", problem.message, "invalid", what)
    return value


# --- Status changes ----------------------------------------------------------------------


def change_status(
    order_id: int,
    to_status: str,
    actor: Actor,
    *,
    reason: str | None = None,
    from_status: str | None = None,
    tracking: tuple[str, str] | None = None,
) -> Order:
    """Moves an order to ``to_status`` and records the event, or refuses and changes nothing.

    ``from_status`` is the status the person saw when they chose the action: if the order
    has moved since, the change is refused, so that two people acting at the same moment
    never make two changes from the same state. ``tracking`` (carrier, number) is added in
    the same transaction, for shipping in one step.
    """
    if to_status not in statuses.ALL:
        raise OrderChangeRefused(
            "invalid_status", f"“{to_status}” is not a status.", "invalid", "status"
        )
    with _changing(order_id, actor) as order:
        current = order.current_status
        if from_status is not None and from_status != current:
            raise OrderChangeRefused(
                "order_changed",
                f"Order {order.id} is now {statuses.label(current)}: someone changed it while you "
                "were looking. Nothing was changed; check the timeline and try again.",
            )
        if to_status not in statuses.next_statuses(current, order.held_from_status):
            raise OrderChangeRefused(
                "invalid_transition",
                f"An order that is {statuses.label(current)} cannot become "
                f"{statuses.label(to_status)}.",
            )
        if not role_may_move(actor.role, order, to_status):
            if to_status == statuses.CANCELLED and actor.role in ("coordinator", "api"):
                raise OrderChangeRefused(
                    "too_late_to_cancel",
                    "This order has been packed: only an admin can cancel it now.",
                )
            raise OrderChangeRefused(
                "forbidden",
                f"Your role cannot move an order to {statuses.label(to_status)}.",
                "forbidden",
            )
        note = _clean_text(
            reason,
            MAX_REASON_LENGTH,
            "reason",
            required=to_status in NEEDS_REASON,
            missing=f"Say why the order is {statuses.label(to_status).lower()}: "
            "a reason is required.",
        )
        if tracking is not None and any(tracking):
            _add_tracking(order, tracking[0], tracking[1], actor)
        _enter(order, to_status, actor, note)
        return order


def _enter(order: Order, to_status: str, actor: Actor, note: str | None) -> None:
    current = order.current_status
    if to_status == statuses.PACKED:
        missing = packing_plan(order).missing
        if missing:
            raise OrderChangeRefused(
                "packing_incomplete",
                f"{missing} device{'s are' if missing != 1 else ' is'} still to be recorded "
                "before the order is packed.",
            )
    if to_status == statuses.SHIPPED and not order.tracking_numbers:
        raise OrderChangeRefused(
            "tracking_number_required",
            "Add at least one tracking number before shipping.",
            "invalid",
            "trackingNumber",
        )
    if to_status == statuses.ON_HOLD:
        order.held_from_status = current
    elif current == statuses.ON_HOLD:
        order.held_from_status = None
    if to_status == statuses.PROCESSING and not order.packed_kits:
        _open_packed_kits(order)
    _move_devices(order, current, to_status, actor, note)
    status_counters.record_status_change(order, current, to_status)
    order.current_status = to_status
    _event(order, to_status, actor, note)


def _open_packed_kits(order: Order) -> None:
    """One packed kit for every kit ordered: the boxes that packing fills."""
    for line in order.kits:
        for _ in range(line.count):
            order.packed_kits.append(PackedKit(order_kit_id=line.id, kit=line.kit))


def _move_devices(order: Order, current: str, to_status: str, actor: Actor, note) -> None:
    """Stock and devices follow the order: released, shipped, delivered or returned."""
    devices = [od.device for od in order.devices]
    # The devices' rows are locked before the balances (the lock order:
    # app.db.transactions.write_transaction); their changes are written at commit.
    if to_status == statuses.CANCELLED:
        inventory.lock_devices(devices)
        inventory.release(order.id, actor, note)
        inventory.move_devices(
            devices, inventory.IN_STOCK, order.id, actor, order.fulfillment_location_id
        )
    elif to_status == statuses.SHIPPED and current != statuses.DELIVERY_EXCEPTION:
        inventory.lock_devices(devices)
        inventory.ship(order.id, order.fulfillment_location_id, service.demand_lines(order), actor)
        inventory.move_devices(devices, inventory.SHIPPED, order.id, actor)
    elif to_status == statuses.DELIVERED:
        inventory.move_devices(devices, inventory.DELIVERED, order.id, actor)
    elif to_status == statuses.RETURNED:
        coming_back = (
            devices
            + [rd.device for rd in order.return_devices]
            + [od.device for rpk in order.return_packed_kits for od in rpk.packed_kit.devices]
        )
        inventory.lock_devices(coming_back)
        # Returned devices wait in quarantine until someone inspects them.
        inventory.move_devices(
            coming_back, inventory.QUARANTINED, order.id, actor, order.fulfillment_location_id
        )
        counts: dict[int, int] = {}
        for line in order.return_items:
            counts[line.item_id] = counts.get(line.item_id, 0) + line.count
        inventory.receive_returned_items(order.id, order.fulfillment_location_id, counts, actor)


# --- Packing -----------------------------------------------------------------------------


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
        raise OrderChangeRefused(
            "identifier_required", "Scan or type the device identifier.", "invalid", "identifier"
        )
    if len(raw) > identifiers.MAX_IDENTIFIER_LENGTH:
        raise OrderChangeRefused(
            "invalid_identifier", "That identifier is too long.", "invalid", "identifier"
        )
    try:
        return _record_device(order_id, raw, actor, slot_key)
    except IntegrityError:
        # Another order registered this very identifier at the same moment.
        raise OrderChangeRefused(
            "device_in_open_order",
            "This device was just recorded on another order.",
            "conflict",
            "identifier",
        ) from None


def _record_device(order_id: int, raw: str, actor: Actor, slot_key: str | None) -> Slot:
    with _changing(order_id, actor) as order:
        if not may_pack(order, actor.role):
            if order.current_status != statuses.PROCESSING:
                raise OrderChangeRefused(
                    "not_packing",
                    f"Devices are recorded while an order is Processing; this one is "
                    f"{statuses.label(order.current_status)}.",
                )
            raise OrderChangeRefused("forbidden", "Only fulfillment records devices.", "forbidden")
        plan = packing_plan(order)
        empty = [
            s for s in plan.slots if s.filled is None and (slot_key is None or s.key == slot_key)
        ]
        if slot_key is not None and not empty:
            raise OrderChangeRefused(
                "slot_filled", "That line already has its device.", "conflict", "identifier"
            )
        if not empty:
            raise OrderChangeRefused(
                "nothing_to_record",
                "Every device this order needs is already recorded.",
                "conflict",
                "identifier",
            )
        slot, device, value = _match(empty, raw, slot_key is not None)
        _check_device_free(order, device)
        if device is None:
            if not slot.item.accept_unreceived_devices:
                raise OrderChangeRefused(
                    "unknown_device",
                    f"No device {value} has been received: it is not in stock anywhere. "
                    "Check the label, or receive the device first (Stock, Receive).",
                    "invalid",
                    "identifier",
                )
            # Received and shipped in one step: the scan is the receipt, with its ledger row.
            device = inventory.receive_scanned_device(
                slot.item, slot.identifier_type, value, order.fulfillment_location_id, actor
            )
        else:
            _check_device_on_shelf(order, device)
        inventory.allocate_device(device, order.id, actor)
        recorded = OrderDevice(
            device=device,
            order_item_id=slot.order_item_id,
            packed_kit=slot.packed_kit,
        )
        order.devices.append(recorded)  # and, through packed_kit, to the packed kit's devices
        id_label = identifiers.LABELS[slot.identifier_type]
        _event(order, "deviceRecorded", actor, f"{slot.label}: {id_label} {value}")
        slot.filled = recorded
        return slot


def _refuse_scan(code: str, message: str, empty: list[Slot], explicit: bool) -> NoReturn:
    """Refuses a scan, saying what the order still needs (a line's own form needs no list)."""
    if not explicit:
        message = f"{message} Still needed: {still_needed(empty)}."
    raise OrderChangeRefused(code, message, "invalid", "identifier")


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
        select(DeviceIdentifier).where(DeviceIdentifier.value == value)
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
        raise OrderChangeRefused(
            "wrong_item",
            f"{value} is a {device.item.name}, which {needs}.",
            "invalid",
            "identifier",
        )
    if known is not None:
        # Known under another type: e.g. a SIM card's number scanned for a gateway's ICCID.
        raise OrderChangeRefused(
            "wrong_item",
            f"{value} is the {identifiers.LABELS[known.type]} of a {known.device.item.name}, "
            "which this order does not take.",
            "invalid",
            "identifier",
        )
    items = {s.item.id for s in takers}
    if len(items) > 1:
        kind = identifiers.noun(scanned.kind, 1)
        raise OrderChangeRefused(
            "ambiguous_identifier",
            f"Several lines take {identifiers.article(kind)} {kind}: enter it in the line "
            "it belongs to.",
            "invalid",
            "identifier",
        )
    return takers[0], None, value


def _check_device_free(order: Order, device: Device | None) -> None:
    if device is None:
        return
    if device.current_status == "retired":
        raise OrderChangeRefused(
            "device_retired", "This device is retired.", "invalid", "identifier"
        )
    if any(od.device_id == device.id for od in order.devices):
        raise OrderChangeRefused(
            "device_already_recorded",
            "This device is already on this order.",
            "conflict",
            "identifier",
        )
    returning = {rd.device_id for rd in order.return_devices} | {
        od.device_id for rpk in order.return_packed_kits for od in rpk.packed_kit.devices
    }
    if device.id in returning:
        raise OrderChangeRefused(
            "device_being_returned",
            "This device is coming back on this order; it cannot also be packed.",
            "invalid",
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
        raise OrderChangeRefused(
            "device_in_open_order",
            f"This device is already packed for order {elsewhere}, which is still open.",
            "conflict",
            "identifier",
        )


def _check_device_on_shelf(order: Order, device: Device) -> None:
    """Packing picks from stock: the device must be in stock where the order is fulfilled."""
    if device.current_status in (inventory.SHIPPED, inventory.DELIVERED):
        raise OrderChangeRefused(
            "device_already_shipped",
            "This device has already been shipped; it is not on the shelf.",
            "conflict",
            "identifier",
        )
    if device.current_status in (inventory.RETURNED, inventory.QUARANTINED):
        raise OrderChangeRefused(
            "device_quarantined",
            "This device came back and awaits inspection; it cannot be packed until it passes.",
            "conflict",
            "identifier",
        )
    if device.current_status == inventory.ALLOCATED:
        raise OrderChangeRefused(
            "device_in_open_order",
            "This device is already on another order.",
            "conflict",
            "identifier",
        )
    if device.location_id != order.fulfillment_location_id:
        where = inventory.location_name(device.location_id)
        raise OrderChangeRefused(
            "device_at_another_location",
            f"This device is at {where}, not at {order.fulfillment_location.name} where this "
            "order is packed.",
            "conflict",
            "identifier",
        )


def remove_device(order_id: int, order_device_id: int, actor: Actor) -> None:
    with _changing(order_id, actor) as order:
        if not may_pack(order, actor.role):
            raise OrderChangeRefused(
                "not_packing", "Devices can be removed only while the order is Processing."
            )
        recorded = next((od for od in order.devices if od.id == order_device_id), None)
        if recorded is None:
            raise OrderChangeRefused(
                "device_not_on_order", "That device is not on this order.", "not_found"
            )
        values = ", ".join(i.value for i in recorded.device.identifiers)
        inventory.unallocate_device(recorded.device, order.id, actor)
        order.devices.remove(recorded)
        if recorded.packed_kit is not None:
            recorded.packed_kit.devices.remove(recorded)
        db.session.delete(recorded)
        _event(order, "deviceRemoved", actor, f"{recorded.device.item.name} {values}")


# --- Tracking numbers and notes ----------------------------------------------------------


def _add_tracking(order: Order, carrier: str, value: str, actor: Actor) -> TrackingNumber:
    if not may_add_tracking(order, actor.role):
        if order.current_status not in TRACKABLE:
            raise OrderChangeRefused(
                "not_trackable",
                f"Tracking numbers are added once the order is packed; this one is "
                f"{statuses.label(order.current_status)}.",
            )
        raise OrderChangeRefused(
            "forbidden", "Only fulfillment adds tracking numbers.", "forbidden"
        )
    value = carriers.normalise(value)
    problem = carriers.problem(carrier, value)
    if problem:
        field = "carrier" if carrier not in carriers.CARRIERS else "trackingNumber"
        raise OrderChangeRefused("invalid_tracking_number", problem, "invalid", field)
    if any(t.carrier == carrier and t.value == value for t in order.tracking_numbers):
        raise OrderChangeRefused(
            "duplicate_tracking_number",
            "This tracking number is already on the order.",
            "invalid",
            "trackingNumber",
        )
    tracking = TrackingNumber(carrier=carrier, value=value)
    order.tracking_numbers.append(tracking)
    _event(order, "trackingNumberAdded", actor, f"{carrier} {value}")
    return tracking


def add_tracking_number(order_id: int, carrier: str, value: str, actor: Actor) -> TrackingNumber:
    with _changing(order_id, actor) as order:
        return _add_tracking(order, carrier, value, actor)


def may_remove_tracking(order: Order, role: str) -> bool:
    """Whoever adds tracking numbers removes a wrong one, while one could be added again."""
    return may_add_tracking(order, role)


def remove_tracking_number(
    order_id: int, carrier: str, value: str, reason: str | None, actor: Actor
) -> None:
    """Takes a wrong tracking number off the order, with a reason, as an event
    (``trackingNumberRemoved``: the number and why, on the timeline and in the API's
    events); the number no longer links or shows as the parcel's.

    The order's status stays as it is: a shipped order's goods have left (stock and devices
    went with them), whatever its label said. A shipped order left without a tracking
    number asks for the right one (the page offers the form); a packed one needs one again
    to ship, as ever.
    """
    with _changing(order_id, actor) as order:
        if not may_remove_tracking(order, actor.role):
            if actor.role not in ("fulfillment", "admin"):
                raise OrderChangeRefused(
                    "forbidden", "Only fulfillment removes tracking numbers.", "forbidden"
                )
            raise OrderChangeRefused(
                "not_trackable",
                f"Tracking numbers are changed while the order is packed or on its way; this "
                f"one is {statuses.label(order.current_status)}.",
            )
        value = carriers.normalise(value)
        found = next(
            (t for t in order.tracking_numbers if t.carrier == carrier and t.value == value), None
        )
        if found is None:
            raise OrderChangeRefused(
                "tracking_number_not_found",
                "That tracking number is not on this order (someone may have removed it).",
                "conflict",
                "trackingNumber",
            )
        why = _clean_text(
            reason,
            MAX_REASON_LENGTH,
            "reason",
            required=True,
            missing="Say why the tracking number is removed: a reason is required.",
        )
        order.tracking_numbers.remove(found)  # deleted with it (delete-orphan)
        _event(order, "trackingNumberRemoved", actor, f"{carrier} {value}: {why}")


def add_note(order_id: int, text: str, actor: Actor) -> OrderNote:
    if not may_add_note(actor.role):
        raise OrderChangeRefused("forbidden", "Your role cannot add notes.", "forbidden")
    note_text = _clean_text(text, MAX_NOTE_LENGTH, "note", required=True)
    with _changing(order_id, actor) as order:
        note = OrderNote(
            note=note_text,
            created_by=actor.user,
            created_by_api_key=actor.api_key,
            created_at=utcnow(),
        )
        order.notes.append(note)
        return note


def record_printed(order_ids: list[int], actor: Actor) -> None:
    """Notes on each order that its packing summary was printed (who and when)."""
    with write_transaction() as session:
        now = utcnow()
        session.add_all(
            OrderEvent(
                order_id=order_id,
                name="packingSummaryPrinted",
                event_timestamp=now,
                **actor.stamp(),
            )
            for order_id in order_ids
        )
        # Open order pages show the new event: their next poll sees a new version.
        session.execute(
            update(Order)
            .where(Order.id.in_(order_ids))
            .values(updated_at=now, version=Order.version + 1)
            .execution_options(synchronize_session=False)
        )
