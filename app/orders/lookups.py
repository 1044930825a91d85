"""Looking up one order (whole, for a change; its number; its version) or what one recipient
has (their recent orders, the devices and kits out with them), each in a fixed number of
queries. Pages of orders are ``listing``'s; orders read for showing, the read model's."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased, joinedload, lazyload, selectinload

from app.catalog.models import Device, DeviceIdentifier, Item, Kit, KitItem
from app.db.types import id_among, is_postgresql
from app.extensions import db
from app.orders import statuses
from app.orders.models import (
    Order,
    OrderDevice,
    OrderEvent,
    OrderItem,
    OrderKit,
    OrderNote,
    PackedKit,
    ReturnDevice,
    ReturnItem,
    ReturnPackedKit,
)
from app.people.models import Patient
from app.validation import MAX_DB_ID


def _device_options(path, identifiers: bool = True):
    if not identifiers:
        return (path.joinedload(Device.item),)
    return path.joinedload(Device.item), path.selectinload(Device.identifiers)


def full_order_options(collection=selectinload):
    """Loader options that fetch a whole order graph with one query per relationship, for
    "Order again" and, with ``collection=lazyload``, for the changes that need it locked
    (``changes.changing``). Pages and the API only read: they take views from
    ``read_model``.

    With ``selectinload`` every collection of the order is read at once; with ``lazyload``
    each is read when first used, in one statement that brings what lies under it as the
    options say (its lines' items, a kit's contents, the devices' identifiers): a change
    reads only what its rules look at. Either way the number of statements does not grow
    with the number of lines, events or devices.
    """
    order_device = collection(Order.devices)
    packed_kit = collection(Order.packed_kits)
    packed_kit_device = packed_kit.selectinload(PackedKit.devices).joinedload(OrderDevice.device)
    return_device = collection(Order.return_devices).joinedload(ReturnDevice.device)
    return_kit = collection(Order.return_packed_kits).joinedload(ReturnPackedKit.packed_kit)
    notes = collection(Order.notes)
    kit_of_packed_kit = packed_kit.joinedload(PackedKit.kit)
    kit_of_return_kit = return_kit.joinedload(PackedKit.kit)
    contents = ()
    # The identifiers of the devices packed are shown, not checked: a change reads the one
    # it names (removing a scan) by itself.
    shown = collection is not lazyload
    if collection is lazyload:
        # A kit already read, when the order's kit lines are read, keeps what it was read
        # with: wherever a kit is read first, its contents come with it.
        contents = tuple(
            kit.selectinload(Kit.kit_items).joinedload(KitItem.item)
            for kit in (kit_of_packed_kit, kit_of_return_kit)
        )
    goods = (
        joinedload(Order.patient).joinedload(Patient.site),
        joinedload(Order.site),
        collection(Order.external_ids),
        collection(Order.items).joinedload(OrderItem.item),
        collection(Order.kits)
        .joinedload(OrderKit.kit)
        .selectinload(Kit.kit_items)
        .joinedload(KitItem.item),
        collection(Order.return_items).joinedload(ReturnItem.item),
        *_device_options(return_device),
        kit_of_return_kit,
        return_kit.selectinload(PackedKit.devices)
        .joinedload(OrderDevice.device)
        .selectinload(Device.identifiers),
        *_device_options(order_device.joinedload(OrderDevice.device), shown),
        kit_of_packed_kit,
        *_device_options(packed_kit_device, shown),
        *contents,
    )
    return (
        *goods,
        collection(Order.events).options(
            joinedload(OrderEvent.actor_user), joinedload(OrderEvent.actor_api_key)
        ),
        collection(Order.tracking_numbers),
        notes.options(joinedload(OrderNote.created_by), joinedload(OrderNote.created_by_api_key)),
    )


def get_order(order_id: int) -> Order | None:
    if not 1 <= order_id <= MAX_DB_ID:
        return None
    return db.session.scalar(
        select(Order).where(Order.id == order_id).options(*full_order_options())
    )


def order_number_in(text: str) -> int | None:
    """The order whose number ``text`` is, exactly (as a barcode or a person types it), if
    that order exists: scanning a packing summary's barcode opens its order."""
    text = (text or "").strip()
    # ASCII digits only: int() would also read Arabic-Indic digits.
    if not (text.isascii() and text.isdigit()):
        return None
    order_id = int(text)
    if not 1 <= order_id <= MAX_DB_ID:
        return None
    return db.session.scalar(select(Order.id).where(Order.id == order_id))


def order_version(order_id: int) -> int | None:
    """The order's version: it changes whenever anything on the order does."""
    if not 1 <= order_id <= MAX_DB_ID:
        return None
    return db.session.scalar(select(Order.version).where(Order.id == order_id))


def recent_orders_of_patient(patient_id: int, limit: int) -> list[Order]:
    """The patient's newest orders with their lines, for their page (three queries)."""
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.patient_id == patient_id)
            .order_by(Order.id.desc())
            .limit(limit)
            .options(
                selectinload(Order.items).joinedload(OrderItem.item),
                selectinload(Order.kits).joinedload(OrderKit.kit),
            )
        )
    )


# The new-order form lists at most this many of the devices out with a recipient (and as
# many packed kits): those of their newest deliveries. A site or a patient of many years
# has hundreds; the form then offers to show them all. ("Held" is an order's status only.)
DEVICES_OUT_CAP = 30


@dataclass
class DeviceOut:
    device_id: int
    order_id: int
    item_name: str
    # (type, value) of each of its identifiers, in the order they were given.
    identifiers: list[tuple[str, str]]


@dataclass
class PackedKitOut:
    id: int
    order_id: int
    kit_name: str


@dataclass
class OutWithRecipient:
    """What a patient or site has now: devices and packed kits delivered on their orders
    and not on a return line of an order that is still going (anything not cancelled).
    Plain rows, read for showing: only what the lists name."""

    devices: list[DeviceOut]
    packed_kits: list[PackedKitOut]
    # They have more than were read (see DEVICES_OUT_CAP).
    more: bool = False


def out_with_recipient(
    patient_id: int | None = None, site_id: int | None = None, limit: int | None = None
) -> OutWithRecipient:
    """Devices and packed kits a recipient has now, oldest delivery first; three queries
    however many there are. Inventory may refine "has now" with device statuses later.

    With a ``limit``, those of the newest deliveries only, at most ``limit`` of each: the
    recipient's delivered orders are walked newest first (through the index on the
    recipient and the id) and the walk stops there, so that the cost does not grow with
    their history or with the number of orders.
    """
    if patient_id is None and site_id is None:
        return OutWithRecipient([], [])
    devices, kits, identifiers_of = _out_statements(
        patient_id is None, limit is not None, is_postgresql()
    )
    params = {"recipient": patient_id if patient_id is not None else site_id}
    if limit is not None:
        params["take"] = limit + 1
    device_rows = db.session.execute(devices, params).all()
    kit_rows = db.session.execute(kits, params).all()
    more = limit is not None and (len(device_rows) > limit or len(kit_rows) > limit)
    device_rows, kit_rows = device_rows[:limit][::-1], kit_rows[:limit][::-1]
    identifiers: dict[int, list[tuple[str, str]]] = {row.device_id: [] for row in device_rows}
    if identifiers:
        for device_id, kind, value in db.session.execute(
            identifiers_of, {"ids": list(identifiers)}
        ):
            identifiers[device_id].append((kind, value))
    return OutWithRecipient(
        [DeviceOut(d, o, name, identifiers[d]) for d, o, name in device_rows],
        [PackedKitOut(k, o, name) for k, o, name in kit_rows],
        more,
    )


@cache
def _out_statements(by_site: bool, limited: bool, postgres: bool) -> tuple:
    """The statements of out_with_recipient, built once per dialect (building them cost more
    than running them): the recipient, the limit and the devices' ids are parameters (the
    ids as one, see ``app.db.types.id_among``)."""
    recipient = (Order.site_id if by_site else Order.patient_id) == bindparam("recipient")
    delivered = (recipient, Order.current_status == statuses.DELIVERED)
    returning_order = aliased(Order)
    still_going = returning_order.current_status != statuses.CANCELLED
    # Asked per device (NOT EXISTS, through the index on the returned device), not as one
    # NOT IN list of every device on any return: at a million orders the planner then read
    # every shipped device to leave out the few on returns.
    returning_device = (
        select(ReturnDevice.id)
        .join(returning_order, ReturnDevice.order_id == returning_order.id)
        .where(ReturnDevice.device_id == OrderDevice.device_id, still_going)
        .exists()
    )
    returning_kit = (
        select(ReturnPackedKit.id)
        .join(returning_order, ReturnPackedKit.order_id == returning_order.id)
        .where(ReturnPackedKit.packed_kit_id == PackedKit.id, still_going)
        .exists()
    )
    # A device comes back on one return at a time, whichever way it is named: a device
    # inside a packed kit on a return is not offered alone, nor a packed kit one of whose
    # devices is on a return (the rule itself: service.open_returns_of).
    returning_in_kit = (
        select(ReturnPackedKit.id)
        .join(returning_order, ReturnPackedKit.order_id == returning_order.id)
        .where(ReturnPackedKit.packed_kit_id == OrderDevice.packed_kit_id, still_going)
        .exists()
    )
    in_kit = aliased(OrderDevice)
    returning_from_kit = (
        select(ReturnDevice.id)
        .join(in_kit, in_kit.device_id == ReturnDevice.device_id)
        .join(returning_order, ReturnDevice.order_id == returning_order.id)
        .where(in_kit.packed_kit_id == PackedKit.id, still_going)
        .exists()
    )
    take = bindparam("take") if limited else None
    devices = (
        select(OrderDevice.device_id, OrderDevice.order_id, Item.name)
        .join(Order, OrderDevice.order_id == Order.id)
        .join(Device, OrderDevice.device_id == Device.id)
        .join(Item, Device.item_id == Item.id)
        .where(*delivered, ~returning_device, ~returning_in_kit)
        .order_by(Order.id.desc(), OrderDevice.id.desc())
        .limit(take)
    )
    kits = (
        select(PackedKit.id, PackedKit.order_id, Kit.name)
        .join(Order, PackedKit.order_id == Order.id)
        .join(Kit, PackedKit.kit_id == Kit.id)
        .where(*delivered, ~returning_kit, ~returning_from_kit)
        .order_by(Order.id.desc(), PackedKit.id.desc())
        .limit(take)
    )
    identifiers_of = (
        select(DeviceIdentifier.device_id, DeviceIdentifier.type, DeviceIdentifier.value)
        .where(id_among(DeviceIdentifier.device_id, postgres))
        .order_by(DeviceIdentifier.id)
    )
    return devices, kits, identifiers_of
