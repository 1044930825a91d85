"""Orders and their parts in the shapes of the public v3 API (camelCase, nested objects).

Each shape is declared once, as a msgspec Struct: the functions below fill them from the
read side's views (``orders.views``, ``people.views``, ``catalog.views``), not from the
ORM's objects; msgspec writes the JSON from them, and the OpenAPI document
(``app/api/openapi_schemas.py``) takes their schemas from the same declarations. Fields are
written in the order declared, and a field is required unless it has a default (none
has). ``gc=False``: these answers hold no cycles, so the garbage collector need not track
the thousands one page of orders makes.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from flask import Response, current_app
from msgspec import Meta

from app.catalog.models import DEVICE_IDENTIFIER_TYPES, SIZES, Device
from app.catalog.views import DeviceView, ItemView, KitView, device_view, item_view
from app.formats import timestamp
from app.inventory import queries as inventory_queries
from app.inventory.devices import DEVICE_STATUSES
from app.inventory.locations import PlacedAt
from app.inventory.models import StockLocation, StockReceipt
from app.orders import statuses
from app.orders.listing import COUNT_CAP, PageOfOrders
from app.orders.models import ARRIVED, UNEXPECTED
from app.orders.service import SHIPPING_OPTIONS
from app.orders.views import AuthorView, LocationView, OrderDeviceView, OrderView, PackedKitView
from app.people.models import SEXES
from app.people.views import AddressView, PatientView, SiteView

_encoder = msgspec.json.Encoder()

# ISO 8601 in UTC with milliseconds and a Z (app.formats.timestamp writes it).
Timestamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
Status = Literal[statuses.ALL]
IdentifierType = Literal[DEVICE_IDENTIFIER_TYPES]


class _Shape(msgspec.Struct, rename="camel", gc=False):
    """A response shape: snake_case here, camelCase in the JSON."""


def json_response(document) -> Response:
    """The answer for a document of Structs and plain JSON values, keys in the order the
    Structs declare them; msgspec encodes a list of 250 orders in about 2 ms where the
    standard library takes 45."""
    return current_app.response_class(
        _encoder.encode(document) + b"\n", mimetype=current_app.json.mimetype
    )


def plain(document):
    """The document as plain dicts and lists, for ``jsonify`` (which sorts the keys) and for
    webhook bodies."""
    return msgspec.to_builtins(document)


class AddressJson(_Shape):
    line_one: str
    line_two: str | None
    line_three: str | None
    city: str
    state: str
    zip_code: str
    country: str
    note: str | None


class SiteJson(_Shape):
    id: int
    name: str
    active: bool
    phone_number: str | None
    address: AddressJson


class PatientJson(_Shape):
    id: int
    external_identifier: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    email: str | None
    phone_number: str | None
    sex: Literal[SEXES]
    archived: bool
    enrolled: bool
    address: AddressJson
    site: SiteJson | None


class PatientRefJson(_Shape):
    """A patient named by id only: what a key without patients:read gets in an order."""

    id: int


class ManufacturerJson(_Shape):
    id: int
    name: str


class ItemJson(_Shape):
    id: int
    name: str
    sku: str
    model: str | None
    manufacturer: ManufacturerJson | None
    orderable: bool
    device_identifier_type: IdentifierType | None
    serial_pattern: str | None
    size: Literal[SIZES] | None


class ItemLineJson(_Shape):
    item: ItemJson
    count: int


class KitJson(_Shape):
    id: int
    name: str
    archived: bool
    kit_items: list[ItemLineJson]


class KitLineJson(_Shape):
    kit: KitJson
    count: int


class DeviceIdentifierJson(_Shape):
    type: IdentifierType
    value: str


class DeviceJson(_Shape):
    id: int
    item: ItemJson
    current_status: str
    device_identifiers: list[DeviceIdentifierJson]
    external_identifier: str | None


class KitSummaryJson(_Shape):
    """A kit without its contents: what a packed kit was packed as."""

    id: int
    name: str
    archived: bool


class PackedKitJson(_Shape):
    id: int
    kit: KitSummaryJson
    devices: list[DeviceJson]


class ReturnItemLineJson(_Shape):
    """A counted return line: how many are asked back, and how many have arrived."""

    item: ItemJson
    count: int
    arrived_count: int


class ReturnDeviceJson(_Shape):
    """A device asked back, and when it was checked in at the returns station (null while it
    has not arrived; a device closed as not returned has currentStatus ``lost``)."""

    id: int
    item: ItemJson
    current_status: str
    device_identifiers: list[DeviceIdentifierJson]
    external_identifier: str | None
    arrived_at: Timestamp | None


class ReturnPackedKitJson(_Shape):
    id: int
    kit: KitSummaryJson
    devices: list[ReturnDeviceJson]


class UnexpectedArrivalJson(_Shape):
    """A device that came back on the order without being asked back, and why it was
    recorded there."""

    device: DeviceJson
    arrived_at: Timestamp
    reason: str | None


class OrderEventJson(_Shape):
    name: str
    event_timestamp: Timestamp
    note: str | None
    actor: str


class TrackingNumberJson(_Shape):
    carrier: str
    value: str


class NoteAuthorJson(_Shape):
    id: int
    first_name: str
    last_name: str
    email: str


class OrderNoteJson(_Shape):
    note: str
    created_at: Timestamp
    created_by: NoteAuthorJson | None


class LocationJson(_Shape):
    id: int
    name: str


class OrderJson(_Shape):
    id: int
    external_order_ids: list[str]
    # A PatientRefJson ({"id"}) for a reader without patients:read (msgspec declares no union
    # of two Structs without a tag: the OpenAPI document says anyOf Patient, PatientRef).
    patient: PatientJson | None
    site: SiteJson | None
    current_status: Status
    order_items: list[ItemLineJson]
    order_kits: list[KitLineJson]
    order_events: list[OrderEventJson]
    tracking_numbers: list[TrackingNumberJson]
    devices: list[DeviceJson]
    packed_kits: list[PackedKitJson]
    order_notes: list[OrderNoteJson]
    shipping_option: Literal[SHIPPING_OPTIONS] | None
    # The day the order must leave the warehouse (app/orders/ship_by.py).
    ship_by: date
    return_items: list[ReturnItemLineJson]
    return_devices: list[ReturnDeviceJson]
    return_packed_kits: list[ReturnPackedKitJson]
    unexpected_arrivals: list[UnexpectedArrivalJson]
    email_label: bool
    fulfillment_location: LocationJson
    created_at: Timestamp
    updated_at: Timestamp


class OrderPageJson(_Shape):
    content: list[OrderJson]
    page: int
    size: int
    total: Annotated[
        int,
        Meta(
            description=(
                f"Orders that match, counted up to {COUNT_CAP:,} (or up to the end of the "
                "page asked for, if further): when more match, this is that many and "
                "totalCapped is true."
            )
        ),
    ]
    total_capped: Annotated[
        bool, Meta(description="More orders match than total says; total is a lower bound.")
    ]
    first: bool
    last: bool


def address(a: AddressView | None) -> AddressJson | None:
    if a is None:
        return None
    return AddressJson(
        a.line_one, a.line_two, a.line_three, a.city, a.state, a.zip_code, a.country, a.note
    )


def site(s: SiteView | None) -> SiteJson | None:
    if s is None:
        return None
    return SiteJson(s.id, s.name, s.active, s.phone_number, address(s.address))


def patient(p: PatientView | None) -> PatientJson | None:
    if p is None:
        return None
    return PatientJson(
        id=p.id,
        external_identifier=p.external_identifier,
        first_name=p.first_name,
        last_name=p.last_name,
        date_of_birth=p.date_of_birth,
        email=p.email,
        phone_number=p.phone_number,
        sex=p.sex,
        archived=p.archived,
        enrolled=p.enrolled,
        address=address(p.address),
        site=site(p.site),
    )


def item(i: ItemView) -> ItemJson:
    maker = i.manufacturer
    return ItemJson(
        id=i.id,
        name=i.name,
        sku=i.sku,
        model=i.model,
        manufacturer=None if maker is None else ManufacturerJson(maker.id, maker.name),
        orderable=i.orderable,
        device_identifier_type=i.device_identifier_type,
        serial_pattern=i.serial_pattern,
        size=i.size,
    )


def kit(k: KitView) -> KitJson:
    return KitJson(
        k.id, k.name, k.archived, [ItemLineJson(item(ki.item), ki.count) for ki in k.kit_items]
    )


def _device_fields(d: DeviceView) -> dict:
    """What every shape of a device says of it (DeviceJson, StockDeviceJson)."""
    return {
        "id": d.id,
        "item": item(d.item),
        "current_status": d.current_status,
        "device_identifiers": [DeviceIdentifierJson(i.type, i.value) for i in d.identifiers],
        "external_identifier": d.external_identifier,
    }


def device(d: DeviceView) -> DeviceJson:
    return DeviceJson(**_device_fields(d))


def packed_kit(pk: PackedKitView) -> PackedKitJson:
    return PackedKitJson(
        pk.id,
        KitSummaryJson(pk.kit.id, pk.kit.name, pk.kit.archived),
        [device(od.device) for od in pk.devices],
    )


def user(u: AuthorView | None) -> NoteAuthorJson | None:
    if u is None:
        return None
    return NoteAuthorJson(u.id, u.first_name, u.last_name, u.email)


def _loose_devices(order: OrderView) -> list[OrderDeviceView]:
    """Devices shipped on item lines; those in packed kits appear under packedKits."""
    return [od for od in order.devices if od.packed_kit_id is None]


def returned_device(d: DeviceView, arrivals: dict) -> ReturnDeviceJson:
    """A device asked back, with its arrival (``arrivals``: device id -> when it arrived)."""
    at = arrivals.get(d.id)
    return ReturnDeviceJson(**_device_fields(d), arrived_at=None if at is None else timestamp(at))


def order(o: OrderView, patient_details: bool = True) -> OrderJson:
    """The order; without ``patient_details`` (a reader without patients:read) its patient is
    named by id only."""
    arrivals = {c.device.id: c.created_at for c in o.check_ins if c.outcome == ARRIVED}
    return OrderJson(
        id=o.id,
        external_order_ids=[e.value for e in o.external_ids],
        patient=(
            patient(o.patient)
            if patient_details or o.patient_id is None
            else PatientRefJson(o.patient_id)
        ),
        site=site(o.site),
        current_status=o.current_status,
        order_items=[ItemLineJson(item(line.item), line.count) for line in o.items],
        order_kits=[KitLineJson(kit(line.kit), line.count) for line in o.kits],
        order_events=[
            OrderEventJson(e.name, timestamp(e.event_timestamp), e.note, e.actor_name)
            for e in o.events
        ],
        tracking_numbers=[TrackingNumberJson(t.carrier, t.value) for t in o.tracking_numbers],
        devices=[device(od.device) for od in _loose_devices(o)],
        packed_kits=[packed_kit(pk) for pk in o.packed_kits],
        order_notes=[
            OrderNoteJson(n.note, timestamp(n.created_at), user(n.created_by)) for n in o.notes
        ],
        shipping_option=o.shipping_option,
        ship_by=o.ship_by,
        return_items=[
            ReturnItemLineJson(item(line.item), line.count, line.arrived_count)
            for line in o.return_items
        ],
        return_devices=[returned_device(line.device, arrivals) for line in o.return_devices],
        return_packed_kits=[
            ReturnPackedKitJson(
                line.packed_kit.id,
                KitSummaryJson(
                    line.packed_kit.kit.id, line.packed_kit.kit.name, line.packed_kit.kit.archived
                ),
                [returned_device(od.device, arrivals) for od in line.packed_kit.devices],
            )
            for line in o.return_packed_kits
        ],
        unexpected_arrivals=[
            UnexpectedArrivalJson(device(c.device), timestamp(c.created_at), c.reason)
            for c in o.check_ins
            if c.outcome == UNEXPECTED
        ],
        email_label=o.email_label,
        fulfillment_location=location(o.fulfillment_location),
        created_at=timestamp(o.created_at),
        updated_at=timestamp(o.updated_at),
    )


def order_page(p: PageOfOrders, patient_details: bool = True) -> OrderPageJson:
    return OrderPageJson(
        [order(o, patient_details) for o in p.orders],
        p.page,
        p.size,
        p.total,
        p.total_capped,
        p.first,
        p.last,
    )


def location(loc: LocationView | StockLocation | PlacedAt | None) -> LocationJson | None:
    return None if loc is None else LocationJson(loc.id, loc.name)


class StockRowJson(_Shape):
    item: ItemJson
    location: LocationJson
    on_hand: int
    reserved: int
    available: int


class IdOnlyJson(_Shape):
    id: int


class StockDeviceJson(_Shape):
    """A device as inventory knows it: where it is and which orders it has been on."""

    id: int
    item: ItemJson
    current_status: Literal[DEVICE_STATUSES]
    device_identifiers: list[DeviceIdentifierJson]
    external_identifier: str | None
    location: LocationJson | None
    orders: list[IdOnlyJson]


class ReceiptJson(_Shape):
    """A receipt with what it brought in: counted lines, and each device received."""

    id: int
    location: IdOnlyJson
    reference: str | None
    created_at: Timestamp
    lines: list[ItemLineJson]
    devices: list[DeviceJson]


class StockPageJson(_Shape):
    content: list[StockRowJson]
    page: int
    size: int
    total: int
    first: bool
    last: bool


class DevicePageJson(_Shape):
    content: list[StockDeviceJson]
    page: int
    size: int
    total: int
    first: bool
    last: bool


class SitePageJson(_Shape):
    content: list[SiteJson]
    page: int
    size: int
    total: int
    first: bool
    last: bool


def page_of(shape, content: list, page: int, size: int, total: int):
    """A page of ``shape`` (StockPageJson, DevicePageJson, SitePageJson): counted exactly."""
    return shape(content, page, size, total, page == 1, page * size >= total)


# Inventory's queries still answer the ORM's items and devices: the three shapes below make
# their views first (catalog.views), so that the shapes above read views only.


def stock_row(row: inventory_queries.StockRow) -> StockRowJson:
    return StockRowJson(
        item(item_view(row.item)),
        location(row.location),
        row.on_hand,
        row.reserved,
        row.available,
    )


def receipt(r: StockReceipt, contents: inventory_queries.ReceiptContents) -> ReceiptJson:
    return ReceiptJson(
        r.id,
        IdOnlyJson(r.location_id),
        r.reference,
        timestamp(r.created_at),
        lines=[ItemLineJson(item(item_view(i)), count) for i, count in contents.lines],
        devices=[device(device_view(d)) for d in contents.devices],
    )


def stock_device(d: Device, loc: StockLocation | None, order_ids: list[int]) -> StockDeviceJson:
    return StockDeviceJson(
        **_device_fields(device_view(d)),
        location=location(loc),
        orders=[IdOnlyJson(order_id) for order_id in order_ids],
    )
