"""The returns station: what an order asks back, checked in as it arrives.

Like packing in reverse. Each scanned identifier is classified by its format first
(``identifiers.classify``, as at packing), then matched against the devices the order expects
back: the devices it names (``returnDevices``) and those in the packed kits it asks back
(``returnPackedKits``). An expected device is recorded as arrived and goes to quarantine at
the order's location, where it waits for inspection (``inventory.devices.inspect_device``:
back to stock with a return row in the ledger, or retired). Counted return items are
checked in by count and go straight back into stock (a return row). A device that was not
expected is refused, saying what it is and where it belongs; staff may record it as an
unexpected arrival with a reason (quarantined too). A return still missing something can be
closed with a reason: the missing devices become ``lost``.

The order follows: partly returned while something is missing, returned once everything
expected is back (or the return is closed). Both doors (the returns station page and
``POST /api/v3/order/{id}/returns``) call these functions; every change runs in
``changes.changing`` on the locked order and writes an event on the order and each device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.actor import Actor
from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.types import utcnow
from app.extensions import db
from app.inventory import devices as stock_devices
from app.inventory import reservations
from app.orders import events, lifecycle, statuses
from app.orders.changes import changing
from app.orders.events import record_event
from app.orders.models import ARRIVED, LOST, MAX_LINE_COUNT, UNEXPECTED, Order, ReturnCheckIn
from app.orders.return_progress import device_name, progress
from app.orders.whereabouts import Whereabouts, whereabouts
from app.validation import CONFLICT, FORBIDDEN, INVALID, Rejected, refusal

# Other systems check in through the API (orders:write), for warehouses that scan elsewhere.
CHECKS_IN = frozenset({"fulfillment", "admin", "api"})


def may_check_in(order, role: str) -> bool:
    return (
        order.has_return_lines
        and order.current_status in statuses.CHECK_IN_FROM
        and role in CHECKS_IN
    )


def _refuse_unless_may(order: Order, actor: Actor) -> None:
    if actor.role not in CHECKS_IN:
        raise refusal("forbidden", "Only fulfillment checks returns in.", FORBIDDEN)
    if not order.has_return_lines:
        raise refusal("nothing_expected_back", f"Order {order.id} asks nothing back.")
    if order.current_status not in statuses.CHECK_IN_FROM:
        raise refusal(
            "not_awaiting_return",
            f"Order {order.id} is {statuses.label(order.current_status)}: a return is checked "
            "in once the order is delivered, or its label sent when it ships nothing.",
        )


# --- Scans -------------------------------------------------------------------------------


def _scanned(raw: Any, where: str) -> identifiers.Classification:
    """The scan classified as at packing; unreadable or invalid values are refused."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        raise refusal("identifier_required", "Scan or type the device identifier.", INVALID, where)
    if len(value) > identifiers.MAX_IDENTIFIER_LENGTH:
        raise refusal("invalid_identifier", "That identifier is too long.", INVALID, where)
    scanned = identifiers.classify(value)
    if scanned.kind == identifiers.UNREADABLE:
        raise refusal("invalid_identifier", scanned.problem, INVALID, where)
    if not scanned.valid:
        raise refusal(
            "invalid_identifier",
            f"This looks like {scanned.description}. {scanned.problem}",
            INVALID,
            where,
        )
    return scanned


def _device_of(scanned: identifiers.Classification, lock: bool) -> Device | None:
    """The device on record with this identifier, of a type the value may be, or None."""
    query = (
        select(Device)
        .join(DeviceIdentifier, DeviceIdentifier.device_id == Device.id)
        .where(
            DeviceIdentifier.value == scanned.normalized,
            DeviceIdentifier.type.in_(scanned.recordable_as),
        )
        .order_by(Device.id)
        .limit(1)
    )
    return db.session.scalar(query.with_for_update() if lock else query)


def _check_in_one(order: Order, raw: Any, actor: Actor, where: str) -> str:
    """Checks one scanned device in on the locked order; answers what to say of it."""
    scanned = _scanned(raw, where)
    device = _device_of(scanned, lock=True)
    found = progress(order)
    expected = next(
        (d for d in found.devices if device is not None and d.device.id == device.id), None
    )
    if expected is None:
        if device is not None and any(c.device_id == device.id for c in order.check_ins):
            raise refusal(
                "device_already_checked_in",
                f"{device_name(device)} is already recorded on this order as an unexpected "
                "arrival.",
                CONFLICT,
                where,
            )
        seen = whereabouts(device, order, scanned)
        raise refusal(
            "device_not_expected",
            f"{seen.what} is not expected back on order {order.id}. {seen.sentence}",
            INVALID,
            where,
        )
    if not expected.missing:
        done = "already checked in" if expected.arrived else "closed as lost"
        raise refusal(
            "device_already_checked_in",
            f"{device_name(device)} is {done} on this order.",
            CONFLICT,
            where,
        )
    stock_devices.move_devices(
        [device],
        stock_devices.QUARANTINED,
        order.id,
        actor,
        order.fulfillment_location_id,
        note=f"Returned on order {order.id}",
    )
    order.check_ins.append(
        ReturnCheckIn(
            device=device,
            device_id=device.id,
            outcome=ARRIVED,
            created_at=utcnow(),
            actor_user_id=actor.user_id,
            actor_api_key_id=actor.api_key_id,
        )
    )
    return device_name(device) + (f" ({expected.kit})" if expected.kit else "")


def _count_in(order: Order, item_id: Any, count: Any, actor: Actor, where: str) -> str:
    """Checks ``count`` units of a counted return line in: back into stock."""
    line = next((line for line in order.return_items if line.item_id == item_id), None)
    if line is None:
        raise refusal(
            "item_not_expected",
            "This order does not ask that item back.",
            INVALID,
            f"{where}.item.id",
        )
    left = line.count - line.arrived_count
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_LINE_COUNT:
        raise refusal(
            "invalid_count", "Give how many came back: a whole number, 1 or more.", INVALID, where
        )
    if count > left:
        raise refusal(
            "too_many_items",
            f"Only {left} {line.item.name} {'is' if left == 1 else 'are'} still expected back "
            f"({line.arrived_count} of {line.count} already checked in).",
            INVALID,
            f"{where}.count",
        )
    line.arrived_count += count
    reservations.receive_returned_items(
        order.id, order.fulfillment_location_id, {line.item_id: count}, actor
    )
    return f"{count} × {line.item.name}"


def _follow(order: Order, actor: Actor, note: str | None = None) -> None:
    """The order's status follows what has come: returned when everything has, else partly."""
    found = progress(order)
    if found.complete:
        lifecycle.enter_return_status(order, statuses.RETURNED, actor, note)
    elif found.anything_back and order.current_status != statuses.PARTLY_RETURNED:
        lifecycle.enter_return_status(order, statuses.PARTLY_RETURNED, actor, note)


@dataclass
class CheckedIn:
    """What one check-in did, said on the station page."""

    text: str
    summary: str  # "2 of 3 devices back"


def _checking_in(order_id: int, actor: Actor, work) -> CheckedIn:
    try:
        with changing(order_id, actor) as order:
            _refuse_unless_may(order, actor)
            said = work(order)
            db.session.flush()
            found = progress(order)
            text = f"Checked in {', '.join(said)}. {found.summary}."
            record_event(order, events.RETURN_RECEIVED, actor, text)
            _follow(order, actor)
            return CheckedIn(text, found.summary)
    except IntegrityError:
        # The same device checked in on this order by someone else at the same moment.
        raise refusal(
            "device_already_checked_in",
            "This device was just checked in by someone else.",
            CONFLICT,
            "identifier",
        ) from None


def check_in_device(order_id: int, identifier: Any, actor: Actor) -> CheckedIn:
    """The station's scan box: one device."""
    return _checking_in(
        order_id, actor, lambda order: [_check_in_one(order, identifier, actor, "identifier")]
    )


def check_in_items(order_id: int, item_id: Any, count: Any, actor: Actor) -> CheckedIn:
    """The station's count of one counted return line."""
    return _checking_in(
        order_id, actor, lambda order: [_count_in(order, item_id, count, actor, "count")]
    )


def record_arrivals(
    order_id: int, identifiers_: list, item_counts: list[tuple[Any, Any]], actor: Actor
) -> CheckedIn:
    """What the API records in one call: devices by identifier and counted items, all or
    nothing (the first refusal names its field, e.g. ``deviceIdentifiers[1].value``)."""

    def work(order: Order) -> list[str]:
        said = [
            _check_in_one(order, raw, actor, f"deviceIdentifiers[{i}].value")
            for i, raw in enumerate(identifiers_)
        ]
        said += [
            _count_in(order, item_id, count, actor, f"returnItems[{i}]")
            for i, (item_id, count) in enumerate(item_counts)
        ]
        if not said:
            raise refusal(
                "nothing_to_record",
                "Name at least one device identifier or counted return item.",
                INVALID,
                "deviceIdentifiers",
            )
        return said

    return _checking_in(order_id, actor, work)


# --- Unexpected arrivals -----------------------------------------------------------------


def identify(order_id: int, raw: Any) -> Whereabouts | None:
    """What a refused scan is and where it belongs, for the page's unexpected-arrival form
    (None when the value is not an identifier at all). Reads only."""
    try:
        scanned = _scanned(raw, "identifier")
    except Rejected:  # not an identifier: nothing to tell of it
        return None
    order = db.session.get(Order, order_id)
    if order is None:
        return None
    return whereabouts(_device_of(scanned, lock=False), order, scanned)


def record_unexpected(
    order_id: int, identifier: Any, reason: Any, actor: Actor, item_id: Any = None
) -> str:
    """Records a device that came back on this order without being asked back: quarantined
    for inspection, with the reason on the order's timeline and the device's history. A
    device never received is received now (``item_id`` says what it is)."""
    why = lifecycle.checked_reason(
        reason if isinstance(reason, str) else None,
        required=True,
        missing="Say why it is recorded here: a reason is required.",
    )
    with changing(order_id, actor) as order:
        _refuse_unless_may(order, actor)
        scanned = _scanned(identifier, "identifier")
        device = _device_of(scanned, lock=True)
        seen = whereabouts(device, order, scanned)
        if seen.expected_here:
            raise refusal(
                "device_expected",
                f"{seen.what} is expected back on this order: check it in with the scan box.",
                CONFLICT,
                "identifier",
            )
        if not seen.recordable:
            raise refusal("device_not_recordable", seen.sentence, CONFLICT, "identifier")
        note = f"Unexpected arrival on order {order.id}: {why}"
        if device is None:
            device = _new_device(scanned, item_id, order, note, actor)
        else:
            stock_devices.move_devices(
                [device],
                stock_devices.QUARANTINED,
                order.id,
                actor,
                order.fulfillment_location_id,
                note=note,
            )
        db.session.flush()
        order.check_ins.append(
            ReturnCheckIn(
                device_id=device.id,
                outcome=UNEXPECTED,
                reason=why,
                created_at=utcnow(),
                actor_user_id=actor.user_id,
                actor_api_key_id=actor.api_key_id,
            )
        )
        text = f"{device_name(device)}: {why}"
        record_event(order, events.UNEXPECTED_DEVICE_RECEIVED, actor, text)
        return text


def _new_device(scanned, item_id: Any, order: Order, note: str, actor: Actor) -> Device:
    item = db.session.get(Item, item_id) if isinstance(item_id, int) else None
    if item is None or not item.is_device:
        raise refusal(
            "item_required",
            "This device was never received: choose which item it is.",
            INVALID,
            "item",
        )
    kind = next((t for t in scanned.recordable_as if t == item.device_identifier_type), None)
    if kind is None or (
        kind == "serial"
        and not identifiers.fits_serial_pattern(item.serial_pattern, scanned.normalized)
    ):
        raise refusal(
            "wrong_item",
            f"{scanned.normalized} cannot be the {identifiers.LABELS[item.device_identifier_type]} "
            f"of a {item.name}.",
            INVALID,
            "item",
        )
    return stock_devices.receive_unexpected_device(
        item, kind, scanned.normalized, order.fulfillment_location_id, order.id, note, actor
    )


# --- Closing a partial return ------------------------------------------------------------


def close_return(order_id: int, reason: Any, actor: Actor) -> list[str]:
    """Closes a return that is still missing something, with a reason (lost, the patient
    kept it): the missing devices become ``lost``, the order returned. Answers the names of
    the devices not back."""
    why = lifecycle.checked_reason(
        reason if isinstance(reason, str) else None,
        required=True,
        missing="Say why the return is closed with something missing: a reason is required.",
    )
    with changing(order_id, actor) as order:
        _refuse_unless_may(order, actor)
        found = progress(order)
        if found.complete:
            raise refusal("nothing_missing", "Everything this order asks back has arrived.")
        missing = [d.device for d in found.missing_devices]
        stock_devices.lock_devices(missing)
        stock_devices.move_devices(
            missing, stock_devices.LOST, order.id, actor, note=f"Not returned: {why}"
        )
        now = utcnow()
        for device in missing:
            order.check_ins.append(
                ReturnCheckIn(
                    device_id=device.id,
                    outcome=LOST,
                    reason=why,
                    created_at=now,
                    actor_user_id=actor.user_id,
                    actor_api_key_id=actor.api_key_id,
                )
            )
        names = [device_name(d) for d in missing] + [
            f"{line.count - line.arrived_count} × {line.item.name}" for line in found.missing_items
        ]
        text = f"Not back: {', '.join(names)}. {why}"
        record_event(order, events.RETURN_CLOSED, actor, text)
        lifecycle.enter_return_status(order, statuses.RETURNED, actor, why)
        return names
