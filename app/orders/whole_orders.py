"""Whole orders read with a few plain statements, for answers that only show them.

Loading an order graph through the ORM costs 13-17 statements and most of a request's CPU
in building objects that an answer never changes. The API's reads, the order page and the
packing summaries take orders from here instead (changes still load the ORM graph, locked,
in ``lifecycle``): one statement for the orders with their recipients and location, one per kind of
line, and none for a kind that no order asked for has (devices, packed kits, tracking
numbers, notes and returns are skipped by what the first statement tells). However many
orders and lines, a read costs at most 13 statements, 5 for an order just placed (without
the history, at most 11).

Placing an order reads what the draft names the same way (``by_id``: patients, sites, items,
kits) and builds the new order from those plain objects, so that it is checked, written
with plain inserts and answered without the ORM (``service.place_order``).

The orders come back as plain objects with the attribute names of the ORM models, so the
one function that writes an order for the API (``serialize.order``) takes either. They also
carry what the order page and the packing summaries read (the ids, the version, the packed
kits' own devices) and the models' own properties (``recipient``, ``Address.lines``,
``Item.is_device``...), borrowed from the models so that each rule keeps one home: the page,
the summaries and ``lifecycle.packing_plan`` read them as they would read the ORM's objects.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from types import SimpleNamespace as Plain

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.auth.models import ApiKey, User, full_name
from app.catalog.models import Device, DeviceIdentifier, Item, Kit, KitItem, Manufacturer
from app.db.fast_path import DirectStatement
from app.db.reading import reading_connection
from app.db.types import id_among
from app.inventory.models import StockLocation
from app.orders.models import (
    Order,
    OrderDevice,
    OrderEvent,
    OrderExternalId,
    OrderItem,
    OrderKit,
    OrderNote,
    PackedKit,
    ReturnDevice,
    ReturnItem,
    ReturnPackedKit,
    TrackingNumber,
    actor_name,
)
from app.people.models import Address, Patient, Site
from app.validation import MAX_DB_ID

ORDER = (
    "id",
    "patient_id",
    "site_id",
    "current_status",
    "shipping_option",
    "email_label",
    "created_at",
    "updated_at",
    "version",
    "held_from_status",
)
ADDRESS = ("line_one", "line_two", "line_three", "city", "state", "zip_code", "country", "note")
SITE = ("id", "name", "active", "phone_number")
PATIENT = (
    "id",
    "external_identifier",
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone_number",
    "sex",
    "archived",
    "enrolled",
)
ITEM = (
    "id",
    "name",
    "sku",
    "model",
    "orderable",
    "device_identifier_type",
    "serial_pattern",
    "size",
    "accept_unreceived_devices",
)
KIT = ("id", "name", "archived")
DEVICE = ("id", "current_status", "external_identifier")
# An item's columns with its manufacturer's; a device's with its item's and one identifier.
ITEM_WIDTH = len(ITEM) + 2
DEVICE_WIDTH = len(DEVICE) + ITEM_WIDTH + 2
# What the first statement tells of each order: which kinds of lines it has at all.
HAS = {
    "devices": OrderDevice,
    "packed_kits": PackedKit,
    "tracking_numbers": TrackingNumber,
    "notes": OrderNote,
    "return_items": ReturnItem,
    "return_devices": ReturnDevice,
    "return_packed_kits": ReturnPackedKit,
}


def _borrowed(model, *names: str) -> dict:
    """The model's own properties and methods, for a plain class to read the same way."""
    return {name: vars(model)[name] for name in names}


# Plain objects that answer what the models' objects answer: one home for each rule.
PlainOrder = type(
    "PlainOrder", (Plain,), _borrowed(Order, "recipient", "recipient_kind", "has_return_lines")
)
PlainPatient = type("PlainPatient", (Plain,), _borrowed(Patient, "full_name", "usable"))
PlainSite = type("PlainSite", (Plain,), _borrowed(Site, "usable"))
PlainAddress = type("PlainAddress", (Plain,), _borrowed(Address, "lines"))
PlainItem = type("PlainItem", (Plain,), _borrowed(Item, "is_device"))
PlainUser = type("PlainUser", (Plain,), _borrowed(User, "full_name"))
PlainTrackingNumber = type("PlainTrackingNumber", (Plain,), _borrowed(TrackingNumber, "url"))


def _columns(entity, names) -> list:
    return [getattr(entity, name) for name in names]


def _plain(names, values, kind=Plain) -> Plain:
    return kind(**dict(zip(names, values, strict=True)))


class _Cut:
    """Consecutive slices of a row, one per part of what it holds."""

    def __init__(self, *widths: int):
        self.slices, start = [], 0
        for width in widths:
            self.slices.append(slice(start, start + width))
            start += width

    def __call__(self, row) -> list[tuple]:
        values = tuple(row)
        return [values[s] for s in self.slices]


def _item_columns(item=Item, manufacturer=Manufacturer) -> list:
    return [*_columns(item, ITEM), manufacturer.id, manufacturer.name]


def _item(values: tuple, known: dict) -> Plain:
    """An item from its columns and its manufacturer's; each item built once per read."""
    found = known.get(values[0])
    if found is None:
        found = _plain(ITEM, values[: len(ITEM)], PlainItem)
        maker_id, maker_name = values[len(ITEM) :]
        found.manufacturer = None if maker_id is None else Plain(id=maker_id, name=maker_name)
        known[values[0]] = found
    return found


@cache
def _statements(postgres: bool) -> dict:
    """Built once per dialect, and run with exec_driver_sql (``fast_path.DirectStatement``):
    compiled once, without SQLAlchemy's compiled-cache lookup and result set-up for each.

    The ids are one parameter, an array on PostgreSQL (see ``app.db.types.id_among``).
    """

    def among(column):
        return id_among(column, postgres)

    patient_address, patient_site, patient_site_address = (
        aliased(Address),
        aliased(Site),
        aliased(Address),
    )
    order_site, order_site_address = aliased(Site), aliased(Address)
    has = [
        select(line.id).where(line.order_id == Order.id).exists().label(f"has_{name}")
        for name, line in HAS.items()
    ]
    orders = (
        select(
            *_columns(Order, ORDER),
            StockLocation.id,
            StockLocation.name,
            *_columns(Patient, PATIENT),
            *_columns(patient_address, ADDRESS),
            *_columns(patient_site, SITE),
            *_columns(patient_site_address, ADDRESS),
            *_columns(order_site, SITE),
            *_columns(order_site_address, ADDRESS),
            *has,
        )
        .select_from(Order)
        .join(StockLocation, StockLocation.id == Order.fulfillment_location_id)
        .outerjoin(Patient, Patient.id == Order.patient_id)
        .outerjoin(patient_address, patient_address.id == Patient.address_id)
        .outerjoin(patient_site, patient_site.id == Patient.site_id)
        .outerjoin(patient_site_address, patient_site_address.id == patient_site.address_id)
        .outerjoin(order_site, order_site.id == Order.site_id)
        .outerjoin(order_site_address, order_site_address.id == order_site.address_id)
        .where(among(Order.id))
    )

    def lines(line, *columns):
        # Each order's lines in the order they were written; by order first, so that the
        # (order_id, ...) index finds them (by line alone, PostgreSQL walked every line).
        return (
            select(line.order_id, *columns)
            .select_from(line)
            .where(among(line.order_id))
            .order_by(line.order_id, line.id)
        )

    def device_lines(line, *columns):
        return (
            lines(line, *columns, *_columns(Device, DEVICE), *_item_columns())
            .add_columns(DeviceIdentifier.type, DeviceIdentifier.value)
            .join(Device, Device.id == line.device_id)
            .join(Item, Item.id == Device.item_id)
            .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id)
            .outerjoin(DeviceIdentifier, DeviceIdentifier.device_id == Device.id)
            .order_by(DeviceIdentifier.id)
        )

    kit_item, kit_item_maker = aliased(Item), aliased(Manufacturer)
    packed_kit = aliased(PackedKit)
    statements = {
        **_named_statements(postgres),
        "orders": orders,
        "external_ids": lines(OrderExternalId, OrderExternalId.value),
        "items": lines(OrderItem, OrderItem.id, OrderItem.count, *_item_columns())
        .join(Item, Item.id == OrderItem.item_id)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id),
        "kits": lines(
            OrderKit,
            OrderKit.id,
            OrderKit.count,
            *_columns(Kit, KIT),
            KitItem.count,
            *_item_columns(kit_item, kit_item_maker),
        )
        .join(Kit, Kit.id == OrderKit.kit_id)
        .outerjoin(KitItem, KitItem.kit_id == Kit.id)
        .outerjoin(kit_item, kit_item.id == KitItem.item_id)
        .outerjoin(kit_item_maker, kit_item_maker.id == kit_item.manufacturer_id)
        .order_by(KitItem.id),
        "events": lines(
            OrderEvent,
            OrderEvent.id,
            OrderEvent.name,
            OrderEvent.event_timestamp,
            OrderEvent.note,
            User.id,
            User.first_name,
            User.last_name,
            ApiKey.name,
        )
        .outerjoin(User, User.id == OrderEvent.actor_user_id)
        .outerjoin(ApiKey, ApiKey.id == OrderEvent.actor_api_key_id),
        "tracking_numbers": lines(TrackingNumber, TrackingNumber.carrier, TrackingNumber.value),
        "notes": lines(
            OrderNote,
            OrderNote.id,
            OrderNote.note,
            OrderNote.created_at,
            User.id,
            User.first_name,
            User.last_name,
            User.email,
        ).outerjoin(User, User.id == OrderNote.created_by_id),
        "devices": device_lines(
            OrderDevice, OrderDevice.packed_kit_id, OrderDevice.id, OrderDevice.order_item_id
        ),
        "packed_kits": lines(
            PackedKit, PackedKit.id, PackedKit.order_kit_id, *_columns(Kit, KIT)
        ).join(Kit, Kit.id == PackedKit.kit_id),
        "return_items": lines(ReturnItem, ReturnItem.count, *_item_columns())
        .join(Item, Item.id == ReturnItem.item_id)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id),
        "return_devices": device_lines(ReturnDevice),
        "return_packed_kits": lines(
            ReturnPackedKit, ReturnPackedKit.packed_kit_id, packed_kit.order_id, *_columns(Kit, KIT)
        )
        .join(packed_kit, packed_kit.id == ReturnPackedKit.packed_kit_id)
        .join(Kit, Kit.id == packed_kit.kit_id),
        # The devices in kits coming back, which were packed on other orders.
        "returning_kit_devices": (
            select(OrderDevice.packed_kit_id, *_columns(Device, DEVICE), *_item_columns())
            .add_columns(DeviceIdentifier.type, DeviceIdentifier.value)
            .select_from(OrderDevice)
            .join(Device, Device.id == OrderDevice.device_id)
            .join(Item, Item.id == Device.item_id)
            .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id)
            .outerjoin(DeviceIdentifier, DeviceIdentifier.device_id == Device.id)
            .where(among(OrderDevice.packed_kit_id))
            .order_by(OrderDevice.id, DeviceIdentifier.id)
        ),
    }
    return {name: DirectStatement(statement) for name, statement in statements.items()}


def _named_statements(postgres: bool) -> dict:
    """What a new order names, read for checking it: patients and sites with their
    addresses, items with their makers, kits with what they hold."""
    address, site, site_address = aliased(Address), aliased(Site), aliased(Address)
    kit_item, kit_item_maker = aliased(Item), aliased(Manufacturer)
    return {
        Patient: select(
            *_columns(Patient, PATIENT),
            Patient.site_id,
            *_columns(address, ADDRESS),
            *_columns(site, SITE),
            *_columns(site_address, ADDRESS),
        )
        .select_from(Patient)
        .outerjoin(address, address.id == Patient.address_id)
        .outerjoin(site, site.id == Patient.site_id)
        .outerjoin(site_address, site_address.id == site.address_id)
        .where(id_among(Patient.id, postgres)),
        Site: select(*_columns(Site, SITE), *_columns(address, ADDRESS))
        .select_from(Site)
        .outerjoin(address, address.id == Site.address_id)
        .where(id_among(Site.id, postgres)),
        Item: select(*_item_columns())
        .select_from(Item)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id)
        .where(id_among(Item.id, postgres)),
        Kit: select(*_columns(Kit, KIT), KitItem.count, *_item_columns(kit_item, kit_item_maker))
        .select_from(Kit)
        .outerjoin(KitItem, KitItem.kit_id == Kit.id)
        .outerjoin(kit_item, kit_item.id == KitItem.item_id)
        .outerjoin(kit_item_maker, kit_item_maker.id == kit_item.manufacturer_id)
        .where(id_among(Kit.id, postgres))
        .order_by(Kit.id, KitItem.id),
    }


def by_id(model, ids) -> dict:
    """The patients, sites, items or kits (``model``) with these ids, as plain objects
    shaped like the ones a loaded order holds, in one statement; ids too large for the
    column match nothing. For checking a new order: what it names, and what its answer
    shows."""
    wanted = [i for i in ids if i and i <= MAX_DB_ID]
    if not wanted:
        return {}
    read = _Read()
    rows = read.rows(model, wanted)
    if model is Patient:
        found = {}
        for row in rows:
            values = tuple(row)
            own, rest = values[: len(PATIENT) + 1], values[len(PATIENT) + 1 :]
            patient = _plain((*PATIENT, "site_id"), own, PlainPatient)
            patient.address = _plain(ADDRESS, rest[: len(ADDRESS)], PlainAddress)
            at = len(ADDRESS)
            patient.site = _site(rest[at : at + len(SITE)], rest[at + len(SITE) :])
            found[patient.id] = patient
        return found
    if model is Site:
        return {row[0]: _site(row[: len(SITE)], row[len(SITE) :]) for row in map(tuple, rows)}
    if model is Item:
        return {row[0]: _item(tuple(row), read.items) for row in rows}
    for row in rows:
        values = tuple(row)
        kit = read.kits.get(values[0])
        if kit is None:
            kit = read.kits[values[0]] = _plain(KIT, values[: len(KIT)])
            kit.kit_items = []
        count, item_values = values[len(KIT)], values[len(KIT) + 1 :]
        if count is not None:
            item = _item(item_values, read.items)
            kit.kit_items.append(Plain(item=item, item_id=item.id, count=count))
    return dict(read.kits)


class _Read:
    """One read: its connection, and the catalog rows already built."""

    def __init__(self):
        self.connection = reading_connection()
        self.statements = _statements(self.connection.dialect.name == "postgresql")
        self.items: dict[int, Plain] = {}
        self.kits: dict[int, Plain] = {}

    def rows(self, name: str, ids) -> list[tuple]:
        return self.statements[name].rows(self.connection, {"ids": list(ids)})

    def devices(self, rows) -> list[tuple[tuple, Plain]]:
        """(what the row leads with, device) in the rows' order, each device with its
        identifiers: the rows come one per identifier."""
        found: list[tuple[tuple, Plain]] = []
        last_key, last = None, None
        for row in rows:
            values = tuple(row)
            key, device_values = values[:-DEVICE_WIDTH], values[-DEVICE_WIDTH:]
            if last is None or last.id != device_values[0] or last_key != key:
                last_key, last = key, _plain(DEVICE, device_values[: len(DEVICE)])
                last.item = _item(device_values[len(DEVICE) : -2], self.items)
                last.item_id = last.item.id
                last.identifiers = []
                found.append((key, last))
            kind, value = device_values[-2:]
            if kind is not None:
                last.identifiers.append(Plain(type=kind, value=value))
        return found


def load_one(order_id: int) -> Plain | None:
    if not 1 <= order_id <= MAX_DB_ID:
        return None
    found = load([order_id])
    return found[0] if found else None


def load(order_ids: list[int], history: bool = True) -> list[Plain]:
    """The orders with these ids, in the order given (ids that match none are left out).

    Without ``history`` the events and tracking numbers are not read (left empty): what
    goes in the box (a packing summary) needs neither.
    """
    if not order_ids:
        return []
    read = _Read()
    cut = _Cut(
        len(ORDER),
        2,
        len(PATIENT),
        len(ADDRESS),
        len(SITE),
        len(ADDRESS),
        len(SITE),
        len(ADDRESS),
        len(HAS),
    )
    found: dict[int, Plain] = {}
    wanted: dict[str, list[int]] = {name: [] for name in HAS}
    for row in read.rows("orders", order_ids):
        own, location, who, address, site, site_address, to_site, to_address, has = cut(row)
        order = _plain(ORDER, own, PlainOrder)
        order.fulfillment_location = Plain(id=location[0], name=location[1])
        order.patient = None if who[0] is None else _plain(PATIENT, who, PlainPatient)
        if order.patient is not None:
            order.patient.address = _plain(ADDRESS, address, PlainAddress)
            order.patient.site = _site(site, site_address)
        order.site = _site(to_site, to_address)
        for name, flag in zip(HAS, has, strict=True):
            setattr(order, name, [])
            if flag:
                wanted[name].append(order.id)
        order.external_ids, order.items, order.kits, order.events = [], [], [], []
        found[order.id] = order
    if not found:
        return []

    for order_id, value in read.rows("external_ids", found):
        found[order_id].external_ids.append(Plain(value=value))
    for order_id, line_id, count, *values in read.rows("items", found):
        item = _item(tuple(values), read.items)
        found[order_id].items.append(Plain(id=line_id, item=item, item_id=item.id, count=count))
    _add_kit_lines(read, found)
    if history:
        _add_history(read, found, wanted)
    if wanted["notes"]:
        for order_id, note_id, note, at, user_id, first, last, email in read.rows(
            "notes", wanted["notes"]
        ):
            author = None
            if user_id is not None:
                author = PlainUser(id=user_id, first_name=first, last_name=last, email=email)
            found[order_id].notes.append(
                Plain(id=note_id, note=note, created_at=at, created_by=author)
            )
    _add_devices_and_kits(read, found, wanted)
    _add_returns(read, found, wanted)
    return [found[order_id] for order_id in order_ids if order_id in found]


def _add_history(read: _Read, found: dict, wanted: dict) -> None:
    for order_id, event_id, name, at, note, user_id, first, last, key_name in read.rows(
        "events", found
    ):
        actor = actor_name(full_name(first, last) if user_id is not None else None, key_name)
        found[order_id].events.append(
            Plain(id=event_id, name=name, event_timestamp=at, note=note, actor_name=actor)
        )
    if wanted["tracking_numbers"]:
        for order_id, carrier, value in read.rows("tracking_numbers", wanted["tracking_numbers"]):
            found[order_id].tracking_numbers.append(
                PlainTrackingNumber(carrier=carrier, value=value)
            )


def _site(values: tuple, address: tuple) -> Plain | None:
    if values[0] is None:
        return None
    site = _plain(SITE, values, PlainSite)
    site.address = _plain(ADDRESS, address, PlainAddress)
    return site


def _add_kit_lines(read: _Read, found: dict) -> None:
    """Kit lines with their kits' contents: the rows come one per item of the kit."""
    line = None
    for order_id, line_id, count, *rest in read.rows("kits", found):
        kit_values, item_count, item_values = rest[:3], rest[3], tuple(rest[4:])
        if line is None or line.id != line_id:
            kit = read.kits.get(kit_values[0])
            fresh = kit is None
            if fresh:
                kit = _plain(KIT, kit_values)
                kit.kit_items = []
                read.kits[kit.id] = kit
            line = Plain(id=line_id, kit=kit, count=count, fills_kit=fresh)
            found[order_id].kits.append(line)
        if line.fills_kit and item_count is not None:
            item = _item(item_values, read.items)
            line.kit.kit_items.append(Plain(item=item, item_id=item.id, count=item_count))


def _packed_kit(pk_id: int, order_id: int, kit_values, devices: list) -> Plain:
    """A packed kit with the order's device lines in it (each with its ``device``)."""
    return Plain(id=pk_id, order_id=order_id, kit=_plain(KIT, kit_values), devices=devices)


def _add_devices_and_kits(read: _Read, found: dict, wanted: dict) -> None:
    in_kits: dict[int, list[Plain]] = defaultdict(list)
    if wanted["devices"]:
        for (order_id, packed_kit_id, line_id, order_item_id), device in read.devices(
            read.rows("devices", wanted["devices"])
        ):
            line = Plain(
                id=line_id,
                packed_kit_id=packed_kit_id,
                order_item_id=order_item_id,
                device_id=device.id,
                device=device,
            )
            found[order_id].devices.append(line)
            if packed_kit_id is not None:
                in_kits[packed_kit_id].append(line)
    if wanted["packed_kits"]:
        for order_id, pk_id, order_kit_id, *kit_values in read.rows(
            "packed_kits", wanted["packed_kits"]
        ):
            packed = _packed_kit(pk_id, order_id, kit_values, in_kits[pk_id])
            packed.order_kit_id = order_kit_id
            found[order_id].packed_kits.append(packed)


def _add_returns(read: _Read, found: dict, wanted: dict) -> None:
    if wanted["return_items"]:
        for order_id, count, *item in read.rows("return_items", wanted["return_items"]):
            found[order_id].return_items.append(
                Plain(item=_item(tuple(item), read.items), count=count)
            )
    if wanted["return_devices"]:
        for (order_id,), device in read.devices(
            read.rows("return_devices", wanted["return_devices"])
        ):
            found[order_id].return_devices.append(Plain(device_id=device.id, device=device))
    if wanted["return_packed_kits"]:
        kits = read.rows("return_packed_kits", wanted["return_packed_kits"])
        in_kits: dict[int, list[Plain]] = defaultdict(list)
        for (pk_id,), device in read.devices(
            read.rows("returning_kit_devices", {pk_id for _, pk_id, *_ in kits})
        ):
            in_kits[pk_id].append(Plain(device_id=device.id, device=device))
        for order_id, pk_id, sent_on, *kit_values in kits:
            found[order_id].return_packed_kits.append(
                Plain(
                    packed_kit_id=pk_id,
                    packed_kit=_packed_kit(pk_id, sent_on, kit_values, in_kits[pk_id]),
                )
            )
