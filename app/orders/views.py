"""What reading an order answers: declared, typed views (``app.views``), not the models.

The read model (``read_model``) fills these from its statements' rows, by the columns'
labels; pages, packing summaries, the API's serializers and the webhooks read them. They
borrow nothing from the models: where a view answers a rule (an order's ``recipient``, a
tracking number's ``url``), it calls the same small function its model calls. The views of
an order's patient, site, items, kits and devices are their areas' (``people.views``,
``catalog.views``).

Three shapes of an order, each declared once:

- ``OrderView``: an order whole, as the order page, the packing summaries and the API show it;
- ``OrderRow``: a row of the order list (and of its CSV): names, not addresses;
- ``NewOrder``: an order a draft asks for, checked and not yet written (``service``); once
  written it becomes an ``OrderView`` (``NewOrder.written``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app.auth.models import full_name
from app.catalog.views import DeviceView, ItemView, KitRef, KitView
from app.orders import statuses
from app.orders.carriers import tracking_url
from app.orders.models import has_return_lines, recipient, recipient_kind
from app.people.views import PatientName, PatientView, SiteName, SiteView
from app.views import View


class ItemLineView(View):
    """An item line (or a returned item line: no id, and how many have been checked in at
    the returns station; a new order's: no id yet)."""

    id: int | None
    count: int
    item: ItemView
    arrived_count: int = 0

    @property
    def item_id(self) -> int:
        return self.item.id


class KitLineView(View):
    id: int | None
    count: int
    kit: KitView

    @property
    def kit_id(self) -> int:
        return self.kit.id


class OrderDeviceView(View):
    """A device recorded on an order: on an item line, or in a packed kit."""

    id: int
    packed_kit_id: int | None
    order_item_id: int | None
    device: DeviceView

    @property
    def device_id(self) -> int:
        return self.device.id


class PackedKitView(View):
    """A kit packed on an order (``order_id``), with the devices recorded in it.
    ``order_kit_id``: the kit line it fills (None when read as a returned kit)."""

    id: int
    order_id: int
    order_kit_id: int | None
    kit: KitRef
    devices: list[OrderDeviceView]


class ReturnDeviceView(View):
    device: DeviceView

    @property
    def device_id(self) -> int:
        return self.device.id


class ReturnPackedKitView(View):
    packed_kit: PackedKitView

    @property
    def packed_kit_id(self) -> int:
        return self.packed_kit.id


class CheckInView(View):
    """A device checked in at the order's returns station (``models.ReturnCheckIn``)."""

    outcome: str
    reason: str | None
    created_at: datetime
    device: DeviceView

    @property
    def device_id(self) -> int:
        return self.device.id


class ExternalIdView(View):
    value: str


class TrackingNumberView(View):
    carrier: str
    value: str

    @property
    def url(self) -> str | None:
        return tracking_url(self.carrier, self.value)


class EventView(View):
    id: int
    name: str
    event_timestamp: datetime
    note: str | None
    actor_name: str


class AuthorView(View):
    """A user as a note names its author."""

    id: int
    first_name: str
    last_name: str
    email: str

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)


class NoteView(View):
    id: int | None
    note: str
    created_at: datetime
    created_by: AuthorView | None


class LocationView(View):
    id: int
    name: str


class OrderView(View):
    """An order whole: its recipient with their addresses, lines, devices, history."""

    id: int
    patient_id: int | None
    site_id: int | None
    current_status: str
    shipping_option: str | None
    email_label: bool
    created_at: datetime
    updated_at: datetime
    version: int
    held_from_status: str | None
    ship_by: date
    fulfillment_location: LocationView
    patient: PatientView | None
    site: SiteView | None
    external_ids: list[ExternalIdView]
    items: list[ItemLineView]
    kits: list[KitLineView]
    events: list[EventView]
    tracking_numbers: list[TrackingNumberView]
    notes: list[NoteView]
    devices: list[OrderDeviceView]
    packed_kits: list[PackedKitView]
    return_items: list[ItemLineView]
    return_devices: list[ReturnDeviceView]
    return_packed_kits: list[ReturnPackedKitView]
    check_ins: list[CheckInView] = []

    @property
    def recipient(self) -> PatientView | SiteView | None:
        return recipient(self)

    @property
    def recipient_kind(self) -> str:
        return recipient_kind(self.patient_id)

    @property
    def has_return_lines(self) -> bool:
        return has_return_lines(self)

    @property
    def fulfillment_location_id(self) -> int:
        return self.fulfillment_location.id


class OrderRow(View):
    """A row of the order list (and of its CSV): the order's own columns (its fulfillment
    location by id: the list names it from inventory's few locations), the names of its
    recipient and responsible site, its external ids and tracking numbers."""

    id: int
    patient_id: int | None
    site_id: int | None
    responsible_site_id: int | None
    current_status: str
    shipping_option: str | None
    created_at: datetime
    updated_at: datetime
    ship_by: date
    fulfillment_location_id: int
    patient: PatientName | None
    site: SiteName | None
    responsible_site: SiteName | None
    external_ids: list[ExternalIdView]
    tracking_numbers: list[TrackingNumberView]

    @property
    def recipient(self) -> PatientName | SiteName | None:
        return recipient(self)

    @property
    def recipient_kind(self) -> str:
        return recipient_kind(self.patient_id)


class BatchOrder(View):
    """An order a batch placed, as its result page lists it (always a patient's)."""

    id: int
    current_status: str
    patient: PatientName

    @property
    def patient_id(self) -> int:
        return self.patient.id


class NewOrder(View):
    """An order a draft asks for, checked, not yet written: made of the views the check
    read. ``fulfillment_location`` is inventory's ``PlacedAt`` (None when the draft named a
    location that is not there: the check then says so)."""

    fulfillment_location: Any
    patient: PatientView | None
    site: SiteView | None
    shipping_option: str | None
    email_label: bool
    external_ids: list[str]
    items: list[ItemLineView]
    kits: list[KitLineView]
    return_items: list[ItemLineView]
    return_devices: list[ReturnDeviceView]
    return_packed_kits: list[ReturnPackedKitView]
    notes: list[str]

    current_status = statuses.CREATED
    version = 1

    @property
    def patient_id(self) -> int | None:
        return None if self.patient is None else self.patient.id

    @property
    def site_id(self) -> int | None:
        return None if self.site is None else self.site.id

    @property
    def responsible_site_id(self) -> int | None:
        """The patient's site, or the site shipped to (the order list's site filter)."""
        return self.patient.site_id if self.patient is not None else self.site_id

    @property
    def fulfillment_location_id(self) -> int | None:
        location = self.fulfillment_location
        return None if location is None else location.id

    def written(
        self,
        order_id: int,
        at: datetime,
        ship_by: date,
        first_event: EventView,
        author: AuthorView | None,
    ) -> OrderView:
        """The order as written, with its id, its times and its first event: what placing
        answers, without reading it again."""
        location = self.fulfillment_location
        return OrderView(
            order_id,
            self.patient_id,
            self.site_id,
            self.current_status,
            self.shipping_option,
            self.email_label,
            at,
            at,
            self.version,
            None,
            ship_by,
            LocationView(location.id, location.name),
            self.patient,
            self.site,
            external_ids=[ExternalIdView(value) for value in self.external_ids],
            items=self.items,
            kits=self.kits,
            events=[first_event],
            tracking_numbers=[],
            notes=[NoteView(None, note, at, author) for note in self.notes],
            devices=[],
            packed_kits=[],
            return_items=self.return_items,
            return_devices=self.return_devices,
            return_packed_kits=self.return_packed_kits,
        )
