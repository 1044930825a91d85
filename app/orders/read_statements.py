"""The statements of the order read model (``read_model``), built once per dialect.

One statement for the orders with their recipients and location, one per kind of line, and
what a new order names (patients, sites, items, kits: ``by_id``). Every column is labelled
(``order_id``, ``patient_first_name``, ``item_maker_name``...): the read model finds each
view's columns by those labels. They run on the fast path (``fast_path.DirectStatement``):
compiled once, without SQLAlchemy's compiled-cache lookup and result set-up for each; the
ids are one parameter, an array on PostgreSQL (see ``app.db.types.id_among``).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.auth.models import ApiKey, User
from app.catalog.models import Device, DeviceIdentifier, Item, Kit, KitItem, Manufacturer
from app.catalog.views import DeviceView, ItemView, KitRef
from app.db.fast_path import DirectStatement
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
    ReturnCheckIn,
    ReturnDevice,
    ReturnItem,
    ReturnPackedKit,
    TrackingNumber,
)
from app.orders.views import AuthorView, OrderView
from app.people.models import Address, Patient, Site
from app.people.views import AddressView, PatientView, SiteView

# Each view's own columns: its first fields (views.py declares them first, in this order).
ORDER = OrderView.__struct_fields__[:11]
ADDRESS = AddressView.__struct_fields__
SITE = SiteView.__struct_fields__[:-1]
PATIENT = PatientView.__struct_fields__[:-2]
ITEM = ItemView.__struct_fields__[:-1]
KIT = KitRef.__struct_fields__
DEVICE = DeviceView.__struct_fields__[:3]
# What the first statement tells of each order: which kinds of lines it has at all.
HAS = {
    "devices": OrderDevice,
    "packed_kits": PackedKit,
    "tracking_numbers": TrackingNumber,
    "notes": OrderNote,
    "return_items": ReturnItem,
    "return_devices": ReturnDevice,
    "return_packed_kits": ReturnPackedKit,
    "check_ins": ReturnCheckIn,
}


def _labelled(entity, names, prefix: str) -> list:
    """The entity's columns ``names``, each labelled ``prefix`` + its name."""
    return [getattr(entity, name).label(prefix + name) for name in names]


def _item_columns(item=Item, maker=Manufacturer, prefix: str = "item_") -> list:
    return [
        *_labelled(item, ITEM, prefix),
        maker.id.label(f"{prefix}maker_id"),
        maker.name.label(f"{prefix}maker_name"),
    ]


def _device_columns() -> list:
    return [
        *_labelled(Device, DEVICE, "device_"),
        *_item_columns(),
        DeviceIdentifier.type.label("identifier_type"),
        DeviceIdentifier.value.label("identifier_value"),
    ]


def _recipient_columns(patient, address, site, site_address, prefix: str) -> list:
    return [
        *_labelled(patient, PATIENT, prefix),
        *_labelled(address, ADDRESS, f"{prefix}address_"),
        *_labelled(site, SITE, f"{prefix}site_"),
        *_labelled(site_address, ADDRESS, f"{prefix}site_address_"),
    ]


@cache
def statements(postgres: bool) -> dict:
    """Name (or model, for ``by_id``) -> statement, built once per dialect."""
    found = {
        **_named_statements(postgres),
        "orders": _orders_statement(postgres),
        **_line_statements(postgres),
    }
    return {name: DirectStatement(statement) for name, statement in found.items()}


def _orders_statement(postgres: bool):
    """The orders with their location, their recipient's and site's addresses, and which
    kinds of lines each has at all (``has_...``)."""
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
    return (
        select(
            *_labelled(Order, ORDER, "order_"),
            StockLocation.id.label("location_id"),
            StockLocation.name.label("location_name"),
            *_recipient_columns(
                Patient, patient_address, patient_site, patient_site_address, "patient_"
            ),
            *_labelled(order_site, SITE, "site_"),
            *_labelled(order_site_address, ADDRESS, "site_address_"),
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
        .where(id_among(Order.id, postgres))
    )


def _lines(postgres: bool, line, *columns):
    # Each order's lines in the order they were written; by order first, so that the
    # (order_id, ...) index finds them (by line alone, PostgreSQL walked every line).
    return (
        select(line.order_id.label("order_id"), *columns)
        .select_from(line)
        .where(id_among(line.order_id, postgres))
        .order_by(line.order_id, line.id)
    )


def _device_lines(postgres: bool, line, *columns):
    return (
        _lines(postgres, line, *columns, *_device_columns())
        .join(Device, Device.id == line.device_id)
        .join(Item, Item.id == Device.item_id)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id)
        .outerjoin(DeviceIdentifier, DeviceIdentifier.device_id == Device.id)
        .order_by(DeviceIdentifier.id)
    )


def _line_statements(postgres: bool) -> dict:
    """One statement per kind of line, for the orders whose ids are given."""
    kit_item, kit_item_maker = aliased(Item), aliased(Manufacturer)
    return {
        "external_ids": _lines(postgres, OrderExternalId, OrderExternalId.value.label("value")),
        "items": _lines(
            postgres,
            OrderItem,
            OrderItem.id.label("line_id"),
            OrderItem.count.label("count"),
            *_item_columns(),
        )
        .join(Item, Item.id == OrderItem.item_id)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id),
        "kits": _lines(
            postgres,
            OrderKit,
            OrderKit.id.label("line_id"),
            OrderKit.count.label("count"),
            *_labelled(Kit, KIT, "kit_"),
            KitItem.count.label("kit_item_count"),
            *_item_columns(kit_item, kit_item_maker),
        )
        .join(Kit, Kit.id == OrderKit.kit_id)
        .outerjoin(KitItem, KitItem.kit_id == Kit.id)
        .outerjoin(kit_item, kit_item.id == KitItem.item_id)
        .outerjoin(kit_item_maker, kit_item_maker.id == kit_item.manufacturer_id)
        .order_by(KitItem.id),
        "events": _lines(
            postgres,
            OrderEvent,
            *_labelled(OrderEvent, ("id", "name", "event_timestamp", "note"), "event_"),
            User.id.label("user_id"),
            User.first_name.label("user_first_name"),
            User.last_name.label("user_last_name"),
            ApiKey.name.label("api_key_name"),
        )
        .outerjoin(User, User.id == OrderEvent.actor_user_id)
        .outerjoin(ApiKey, ApiKey.id == OrderEvent.actor_api_key_id),
        "tracking_numbers": _lines(
            postgres,
            TrackingNumber,
            TrackingNumber.carrier.label("carrier"),
            TrackingNumber.value.label("value"),
        ),
        "notes": _lines(
            postgres,
            OrderNote,
            *_labelled(OrderNote, ("id", "note", "created_at"), "note_"),
            *_labelled(User, AuthorView.__struct_fields__, "author_"),
        ).outerjoin(User, User.id == OrderNote.created_by_id),
        "devices": _device_lines(
            postgres,
            OrderDevice,
            OrderDevice.id.label("line_id"),
            OrderDevice.packed_kit_id.label("packed_kit_id"),
            OrderDevice.order_item_id.label("order_item_id"),
        ),
        "packed_kits": _lines(
            postgres,
            PackedKit,
            PackedKit.id.label("packed_kit_id"),
            PackedKit.order_kit_id.label("order_kit_id"),
            *_labelled(Kit, KIT, "kit_"),
        ).join(Kit, Kit.id == PackedKit.kit_id),
        **_return_statements(postgres),
    }


def _return_statements(postgres: bool) -> dict:
    """What orders ask back: items, devices, and kits packed on other orders with the
    devices in them."""
    packed_kit = aliased(PackedKit)
    return {
        "return_items": _lines(
            postgres,
            ReturnItem,
            ReturnItem.count.label("count"),
            ReturnItem.arrived_count.label("arrived_count"),
            *_item_columns(),
        )
        .join(Item, Item.id == ReturnItem.item_id)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id),
        "return_devices": _device_lines(postgres, ReturnDevice),
        # What the returns station checked in (or closed as lost), each with its device.
        "check_ins": _device_lines(
            postgres,
            ReturnCheckIn,
            ReturnCheckIn.outcome.label("check_in_outcome"),
            ReturnCheckIn.reason.label("check_in_reason"),
            ReturnCheckIn.created_at.label("check_in_created_at"),
        ),
        "return_packed_kits": _lines(
            postgres,
            ReturnPackedKit,
            ReturnPackedKit.packed_kit_id.label("packed_kit_id"),
            packed_kit.order_id.label("sent_on_order_id"),
            *_labelled(Kit, KIT, "kit_"),
        )
        .join(packed_kit, packed_kit.id == ReturnPackedKit.packed_kit_id)
        .join(Kit, Kit.id == packed_kit.kit_id),
        # The devices in kits coming back, which were packed on other orders.
        "returning_kit_devices": (
            select(
                OrderDevice.id.label("line_id"),
                OrderDevice.packed_kit_id.label("packed_kit_id"),
                OrderDevice.order_item_id.label("order_item_id"),
                *_device_columns(),
            )
            .select_from(OrderDevice)
            .join(Device, Device.id == OrderDevice.device_id)
            .join(Item, Item.id == Device.item_id)
            .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id)
            .outerjoin(DeviceIdentifier, DeviceIdentifier.device_id == Device.id)
            .where(id_among(OrderDevice.packed_kit_id, postgres))
            .order_by(OrderDevice.id, DeviceIdentifier.id)
        ),
    }


def _named_statements(postgres: bool) -> dict:
    """What a new order names, read for checking it: patients and sites with their
    addresses, items with their makers, kits with what they hold."""
    address, site, site_address = aliased(Address), aliased(Site), aliased(Address)
    kit_item, kit_item_maker = aliased(Item), aliased(Manufacturer)
    return {
        Patient: select(*_recipient_columns(Patient, address, site, site_address, "patient_"))
        .select_from(Patient)
        .outerjoin(address, address.id == Patient.address_id)
        .outerjoin(site, site.id == Patient.site_id)
        .outerjoin(site_address, site_address.id == site.address_id)
        .where(id_among(Patient.id, postgres)),
        Site: select(*_labelled(Site, SITE, "site_"), *_labelled(address, ADDRESS, "site_address_"))
        .select_from(Site)
        .outerjoin(address, address.id == Site.address_id)
        .where(id_among(Site.id, postgres)),
        Item: select(*_item_columns())
        .select_from(Item)
        .outerjoin(Manufacturer, Manufacturer.id == Item.manufacturer_id)
        .where(id_among(Item.id, postgres)),
        Kit: select(
            *_labelled(Kit, KIT, "kit_"),
            KitItem.count.label("kit_item_count"),
            *_item_columns(kit_item, kit_item_maker),
        )
        .select_from(Kit)
        .outerjoin(KitItem, KitItem.kit_id == Kit.id)
        .outerjoin(kit_item, kit_item.id == KitItem.item_id)
        .outerjoin(kit_item_maker, kit_item_maker.id == kit_item.manufacturer_id)
        .where(id_among(Kit.id, postgres))
        .order_by(Kit.id, KitItem.id),
    }
