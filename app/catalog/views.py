"""Views of items, kits and devices (``app.views``): what an order's read model and the
API's answers show of them; and the same views of the ORM's objects."""

from __future__ import annotations

from app.catalog.models import Device, Item, is_device
from app.views import View


class ManufacturerView(View):
    id: int
    name: str


class ItemView(View):
    id: int
    name: str
    sku: str
    model: str | None
    orderable: bool
    device_identifier_type: str | None
    serial_pattern: str | None
    size: str | None
    accept_unreceived_devices: bool
    manufacturer: ManufacturerView | None

    @property
    def is_device(self) -> bool:
        return is_device(self.device_identifier_type)


class KitItemView(View):
    """One item of a kit's contents, and how many of it the kit holds."""

    count: int
    item: ItemView

    @property
    def item_id(self) -> int:
        return self.item.id


class KitRef(View):
    """A kit without its contents: what a packed kit was packed as."""

    id: int
    name: str
    archived: bool


class KitView(KitRef):
    kit_items: list[KitItemView]


class IdentifierView(View):
    type: str
    value: str


class DeviceView(View):
    id: int
    current_status: str
    external_identifier: str | None
    item: ItemView
    identifiers: list[IdentifierView]

    @property
    def item_id(self) -> int:
        return self.item.id


def item_view(item: Item) -> ItemView:
    maker = item.manufacturer
    return ItemView(
        item.id,
        item.name,
        item.sku,
        item.model,
        item.orderable,
        item.device_identifier_type,
        item.serial_pattern,
        item.size,
        item.accept_unreceived_devices,
        None if maker is None else ManufacturerView(maker.id, maker.name),
    )


def device_view(device: Device) -> DeviceView:
    return DeviceView(
        device.id,
        device.current_status,
        device.external_identifier,
        item_view(device.item),
        [IdentifierView(i.type, i.value) for i in device.identifiers],
    )
