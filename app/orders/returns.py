"""What an order asks back: the devices and packed kits its return lines name.

A device comes back on one open return at a time (``open_returns_of``, the one home of
that rule), and not both by itself and inside a packed kit that comes back.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.orm import joinedload, selectinload

from app.catalog.models import Device
from app.extensions import db
from app.inventory import devices as stock_devices
from app.orders import statuses
from app.orders.models import Order, OrderDevice, PackedKit, ReturnDevice, ReturnPackedKit
from app.orders.return_progress import device_name
from app.validation import Checker, fetch_by_id


@cache
def _described(model) -> tuple:
    """Loader options for the parts of a returned device or packed kit (``model``) that
    describing an order shows: fetched with the rows the check reads, so that the order
    answered after placing reads nothing more. (Options are immutable: made once.)"""
    device = (joinedload(Device.item), selectinload(Device.identifiers))
    if model is Device:
        return device
    if model is PackedKit:
        return (
            joinedload(PackedKit.kit),
            selectinload(PackedKit.devices).joinedload(OrderDevice.device).options(*device),
        )
    return ()


def open_returns_of(device_ids: set[int]) -> dict[int, int]:
    """Device id -> the open order that already expects it back (the lowest, if several),
    whichever way that order names it: the device itself (``returnDevices``) or a packed
    kit it was shipped in (``returnPackedKits``). Open: neither returned nor cancelled.

    The one home of the rule that a device comes back on one open return at a time."""
    if not device_ids:
        return {}
    still_open = Order.current_status.not_in(statuses.FINAL)
    named = (
        select(ReturnDevice.device_id, ReturnDevice.order_id)
        .join(Order, Order.id == ReturnDevice.order_id)
        .where(ReturnDevice.device_id.in_(device_ids), still_open)
    )
    in_kits = (
        select(OrderDevice.device_id, ReturnPackedKit.order_id)
        .join(ReturnPackedKit, ReturnPackedKit.packed_kit_id == OrderDevice.packed_kit_id)
        .join(Order, Order.id == ReturnPackedKit.order_id)
        .where(OrderDevice.device_id.in_(device_ids), still_open)
    )
    found: dict[int, int] = {}
    for device_id, order_id in db.session.execute(union_all(named, in_kits)):
        found[device_id] = min(order_id, found.get(device_id, order_id))
    return found


def check_returned(
    device_ids: list[Any], packed_kit_ids: list[Any], check: Checker, placing: bool
) -> tuple[list[Device], list[PackedKit]]:
    """The devices and packed kits an order asks back (``returnDevices``,
    ``returnPackedKits``), each found, listed once, and not already coming back; the
    problems go on ``check``. ``placing`` (in placing's write transaction) locks them."""
    refs = [
        check.id_of(ref, f"returnDevices[{i}].id", "device") for i, ref in enumerate(device_ids)
    ]
    devices = fetch_by_id(Device, {r for r in refs if r}, *_described(Device))
    kit_refs = [
        check.id_of(ref, f"returnPackedKits[{i}].id", "packed kit")
        for i, ref in enumerate(packed_kit_ids)
    ]
    packed_kits = fetch_by_id(PackedKit, {r for r in kit_refs if r}, *_described(PackedKit))
    in_returned_kits = (
        set(
            db.session.scalars(
                select(OrderDevice.device_id).where(OrderDevice.packed_kit_id.in_(packed_kits))
            )
        )
        if packed_kits
        else set()
    )

    # Every device coming back, named or inside a named packed kit. When placing they are
    # locked first (in id order; the lock order: app.db.transactions.write_transaction), so two
    # returns of one device placed at once queue and the second sees the first.
    coming_back = list(devices.values()) + [
        od.device for pk in packed_kits.values() for od in pk.devices
    ]
    if placing:
        stock_devices.lock_devices(coming_back)
    expected = open_returns_of({device.id for device in coming_back})
    return (
        _good_devices(refs, devices, in_returned_kits, expected, check),
        _good_kits(kit_refs, packed_kits, expected, check),
    )


def _good_devices(refs, devices, in_returned_kits, expected, check: Checker) -> list[Device]:
    good_devices, seen = [], set()
    for i, ref in enumerate(refs):
        if ref is None:
            continue
        if ref not in devices:
            check.add(
                "device_not_found", f"There is no device with id {ref}.", f"returnDevices[{i}].id"
            )
        elif ref in seen:
            check.add("duplicate_device", "This device is listed twice.", f"returnDevices[{i}].id")
        elif ref in in_returned_kits:
            check.add(
                "device_in_returned_kit",
                "This device comes back inside a returned packed kit already.",
                f"returnDevices[{i}].id",
            )
        elif ref in expected:
            check.add(
                "device_on_open_return",
                f"{device_name(devices[ref])} is already expected back on order "
                f"{expected[ref]}: a device comes back on one open return at a time.",
                f"returnDevices[{i}].id",
            )
        else:
            good_devices.append(devices[ref])
        seen.add(ref)
    return good_devices


def _good_kits(kit_refs, packed_kits, expected, check: Checker) -> list[PackedKit]:
    good_kits, seen = [], set()
    for i, ref in enumerate(kit_refs):
        if ref is None:
            continue
        if ref not in packed_kits:
            check.add(
                "packed_kit_not_found",
                f"There is no packed kit with id {ref}.",
                f"returnPackedKits[{i}].id",
            )
        elif ref in seen:
            check.add(
                "duplicate_packed_kit",
                "This packed kit is listed twice.",
                f"returnPackedKits[{i}].id",
            )
        elif any(od.device_id in expected for od in packed_kits[ref].devices):
            inside = next(od.device for od in packed_kits[ref].devices if od.device_id in expected)
            check.add(
                "device_on_open_return",
                f"{device_name(inside)}, in this packed kit, is already expected back on "
                f"order {expected[inside.id]}: a device comes back on one open return at a time.",
                f"returnPackedKits[{i}].id",
            )
        else:
            good_kits.append(packed_kits[ref])
        seen.add(ref)
    return good_kits
