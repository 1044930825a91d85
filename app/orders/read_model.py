"""The read model of orders: whole orders read with a few plain statements, as views.

Loading an order graph through the ORM costs 13-17 statements and most of a request's CPU
in building objects that an answer never changes. The API's reads, the order page and the
packing summaries take orders from here instead (changes still load the ORM graph, locked,
in ``lifecycle``): one statement for the orders with their recipients and location, one per
kind of line, and none for a kind that no order asked for has (devices, packed kits,
tracking numbers, notes and returns are skipped by what the first statement tells). However
many orders and lines, a read costs at most 14 statements, 5 for an order just placed
(without the history, at most 11).

Placing an order reads what the draft names the same way (``by_id``: patients, sites, items,
kits), checks the new order made of those views (``views.NewOrder``) and answers it as
written without reading it again (``service.place_order``).

The statements (``read_statements``) run on the fast path (``fast_path.DirectStatement``):
compiled once, each a read the pages and the API make on every request. Their rows become
the declared views of ``orders.views`` (``OrderView`` and its parts, with the patients',
sites', items' and devices' views of ``people.views`` and ``catalog.views``), decoded by
name: every column is labelled, and where each view's columns are in a statement's rows is
found once from those labels (``_pick``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import cache
from operator import itemgetter

from app.auth.actor import actor_name
from app.auth.models import full_name
from app.catalog.models import Item, Kit
from app.catalog.views import (
    DeviceView,
    IdentifierView,
    ItemView,
    KitItemView,
    KitRef,
    KitView,
    ManufacturerView,
    device_view,
)
from app.db.reading import reading_connection
from app.orders.models import PackedKit
from app.orders.read_statements import (
    ADDRESS,
    DEVICE,
    HAS,
    ITEM,
    KIT,
    ORDER,
    PATIENT,
    SITE,
    statements,
)
from app.orders.views import (
    AuthorView,
    CheckInView,
    EventView,
    ExternalIdView,
    ItemLineView,
    KitLineView,
    LocationView,
    NoteView,
    OrderDeviceView,
    OrderView,
    PackedKitView,
    ReturnDeviceView,
    ReturnPackedKitView,
    TrackingNumberView,
)
from app.people.models import Patient, Site
from app.people.views import AddressView, PatientView, SiteView
from app.validation import MAX_DB_ID


def _pick(statement, *labels: str) -> Callable[[tuple], tuple]:
    """What takes the values of these labelled columns from a statement's row, in the order
    named: the positions are found once, by the labels, when the statement is built."""
    keys = list(statement.selected_columns.keys())
    at = [keys.index(label) for label in labels]
    return itemgetter(*at) if len(at) > 1 else (lambda row, i=at[0]: (row[i],))


def _pick_view(statement, names, prefix: str) -> Callable[[tuple], tuple]:
    """The values of a view's own columns (``names``, labelled ``prefix`` + name)."""
    return _pick(statement, *(prefix + name for name in names))


class _Items:
    """Items with their makers, from the rows of one statement; each built once per read."""

    def __init__(self, statement, prefix: str = "item_"):
        self.own = _pick_view(statement, ITEM, prefix)
        self.maker = _pick(statement, f"{prefix}maker_id", f"{prefix}maker_name")

    def __call__(self, row, known: dict) -> ItemView:
        own = self.own(row)
        found = known.get(own[0])
        if found is None:
            maker_id, maker_name = self.maker(row)
            maker = None if maker_id is None else ManufacturerView(maker_id, maker_name)
            found = known[own[0]] = ItemView(*own, maker)
        return found


class _Devices:
    """Devices with their items and identifiers, from rows that come one per identifier,
    each led by ``key`` (the columns that say what the device is on)."""

    def __init__(self, statement, *key: str):
        self.key = _pick(statement, *key)
        self.own = _pick_view(statement, DEVICE, "device_")
        self.item = _Items(statement)
        self.identifier = _pick(statement, "identifier_type", "identifier_value")

    def __call__(self, rows, known_items: dict) -> list[tuple[tuple, DeviceView]]:
        """(key, device) in the rows' order, each device with its identifiers."""
        found: list[tuple[tuple, DeviceView]] = []
        last_key, last = None, None
        for row in rows:
            key, own = self.key(row), self.own(row)
            if last is None or last.id != own[0] or last_key != key:
                last_key, last = key, DeviceView(*own, self.item(row, known_items), [])
                found.append((key, last))
            kind, value = self.identifier(row)
            if kind is not None:
                last.identifiers.append(IdentifierView(kind, value))
        return found


class _Sites:
    """Sites with their addresses, from the columns labelled ``prefix`` + ..."""

    def __init__(self, statement, prefix: str):
        self.own = _pick_view(statement, SITE, prefix)
        self.address = _pick_view(statement, ADDRESS, f"{prefix}address_")

    def __call__(self, row) -> SiteView | None:
        own = self.own(row)
        if own[0] is None:
            return None
        return SiteView(*own, AddressView(*self.address(row)))


class _Patients:
    def __init__(self, statement, prefix: str = "patient_"):
        self.own = _pick_view(statement, PATIENT, prefix)
        self.address = _pick_view(statement, ADDRESS, f"{prefix}address_")
        self.site = _Sites(statement, f"{prefix}site_")

    def __call__(self, row) -> PatientView | None:
        own = self.own(row)
        if own[0] is None:
            return None
        return PatientView(*own, AddressView(*self.address(row)), self.site(row))


class _Kits:
    """Kits with their contents, from rows that come one per item of the kit."""

    def __init__(self, statement):
        self.own = _pick_view(statement, KIT, "kit_")
        self.count = _pick(statement, "kit_item_count")
        self.item = _Items(statement)

    def add(self, row, known: dict) -> tuple[KitView, bool]:
        """The row's kit (each built once per read), and whether this row fills it: only
        the rows that first met it add its contents (a kit on two lines is read twice)."""
        own = self.own(row)
        kit = known.get(own[0])
        fresh = kit is None
        if fresh:
            kit = known[own[0]] = KitView(*own, [])
        return kit, fresh

    def fill(self, kit: KitView, row, items: dict) -> None:
        (count,) = self.count(row)
        if count is not None:
            kit.kit_items.append(KitItemView(count, self.item(row, items)))


@cache
def _decoders() -> dict:
    """For each statement, what reads its rows by the columns' labels (the same for every
    dialect: built once from the SQLite statements)."""
    s = {name: direct.statement for name, direct in statements(False).items()}
    orders = s["orders"]
    return {
        "orders": {
            "own": _pick_view(orders, ORDER, "order_"),
            "location": _pick(orders, "location_id", "location_name"),
            "patient": _Patients(orders),
            "site": _Sites(orders, "site_"),
            "has": _pick(orders, *(f"has_{name}" for name in HAS)),
        },
        Patient: _Patients(s[Patient]),
        Site: _Sites(s[Site], "site_"),
        Item: _Items(s[Item]),
        Kit: _Kits(s[Kit]),
        "external_ids": _pick(s["external_ids"], "order_id", "value"),
        "items": (_pick(s["items"], "order_id", "line_id", "count"), _Items(s["items"])),
        "kits": (_pick(s["kits"], "order_id", "line_id", "count"), _Kits(s["kits"])),
        "events": _pick(
            s["events"],
            "order_id",
            "event_id",
            "event_name",
            "event_event_timestamp",
            "event_note",
            "user_id",
            "user_first_name",
            "user_last_name",
            "api_key_name",
        ),
        "tracking_numbers": _pick(s["tracking_numbers"], "order_id", "carrier", "value"),
        "notes": (
            _pick(s["notes"], "order_id", "note_id", "note_note", "note_created_at"),
            _pick_view(s["notes"], AuthorView.__struct_fields__, "author_"),
        ),
        "devices": _Devices(s["devices"], "order_id", "line_id", "packed_kit_id", "order_item_id"),
        "packed_kits": (
            _pick(s["packed_kits"], "order_id", "packed_kit_id", "order_kit_id"),
            _pick_view(s["packed_kits"], KIT, "kit_"),
        ),
        "return_items": (
            _pick(s["return_items"], "order_id", "count", "arrived_count"),
            _Items(s["return_items"]),
        ),
        "check_ins": _Devices(
            s["check_ins"],
            "order_id",
            "check_in_outcome",
            "check_in_reason",
            "check_in_created_at",
        ),
        "return_devices": _Devices(s["return_devices"], "order_id"),
        "return_packed_kits": (
            _pick(s["return_packed_kits"], "order_id", "packed_kit_id", "sent_on_order_id"),
            _pick_view(s["return_packed_kits"], KIT, "kit_"),
        ),
        "returning_kit_devices": _Devices(
            s["returning_kit_devices"], "line_id", "packed_kit_id", "order_item_id"
        ),
    }


def by_id(model, ids) -> dict:
    """The patients, sites, items or kits (``model``) with these ids, as the views a loaded
    order holds, in one statement; ids too large for the column match nothing. For checking
    a new order: what it names, and what its answer shows."""
    wanted = [i for i in ids if i and i <= MAX_DB_ID]
    if not wanted:
        return {}
    read = _Read()
    rows = read.rows(model, wanted)
    decode = read.decoders[model]
    if model is Item:
        return {item.id: item for item in (decode(row, read.items) for row in rows)}
    if model is Kit:
        for row in rows:
            kit, _ = decode.add(row, read.kits)
            decode.fill(kit, row, read.items)
        return dict(read.kits)
    return {found.id: found for found in map(decode, rows)}


class _Read:
    """One read: its connection, and the catalog rows already built."""

    def __init__(self):
        self.connection = reading_connection()
        self.statements = statements(self.connection.dialect.name == "postgresql")
        self.decoders = _decoders()
        self.items: dict[int, ItemView] = {}
        self.kits: dict[int, KitView] = {}

    def rows(self, name, ids) -> list[tuple]:
        return self.statements[name].rows(self.connection, {"ids": list(ids)})


def load_one(order_id: int) -> OrderView | None:
    if not 1 <= order_id <= MAX_DB_ID:
        return None
    found = load([order_id])
    return found[0] if found else None


def load(order_ids: list[int], history: bool = True) -> list[OrderView]:
    """The orders with these ids, in the order given (ids that match none are left out).

    Without ``history`` the events and tracking numbers are not read (left empty): what
    goes in the box (a packing summary) needs neither.
    """
    if not order_ids:
        return []
    read = _Read()
    decode = read.decoders["orders"]
    own, location, patient, site, has = (
        decode["own"],
        decode["location"],
        decode["patient"],
        decode["site"],
        decode["has"],
    )
    found: dict[int, OrderView] = {}
    wanted: dict[str, list[int]] = {name: [] for name in HAS}
    for row in read.rows("orders", order_ids):
        # Its lines come with the rows below: the lists are filled in place.
        order = OrderView(
            *own(row),
            LocationView(*location(row)),
            patient(row),
            site(row),
            external_ids=[],
            items=[],
            kits=[],
            events=[],
            tracking_numbers=[],
            notes=[],
            devices=[],
            packed_kits=[],
            return_items=[],
            return_devices=[],
            return_packed_kits=[],
            check_ins=[],
        )
        for name, flag in zip(HAS, has(row), strict=True):
            if flag:
                wanted[name].append(order.id)
        found[order.id] = order
    if not found:
        return []

    for order_id, value in map(read.decoders["external_ids"], read.rows("external_ids", found)):
        found[order_id].external_ids.append(ExternalIdView(value))
    line, item = read.decoders["items"]
    for row in read.rows("items", found):
        order_id, line_id, count = line(row)
        found[order_id].items.append(ItemLineView(line_id, count, item(row, read.items)))
    _add_kit_lines(read, found)
    if history:
        _add_history(read, found, wanted)
    if wanted["notes"]:
        note, author = read.decoders["notes"]
        for row in read.rows("notes", wanted["notes"]):
            order_id, note_id, text, at = note(row)
            by = author(row)
            found[order_id].notes.append(
                NoteView(note_id, text, at, None if by[0] is None else AuthorView(*by))
            )
    _add_devices_and_kits(read, found, wanted)
    _add_returns(read, found, wanted)
    return [found[order_id] for order_id in order_ids if order_id in found]


def _add_history(read: _Read, found: dict, wanted: dict) -> None:
    for order_id, event_id, name, at, note, user_id, first, last, key_name in map(
        read.decoders["events"], read.rows("events", found)
    ):
        actor = actor_name(full_name(first, last) if user_id is not None else None, key_name)
        found[order_id].events.append(EventView(event_id, name, at, note, actor))
    if wanted["tracking_numbers"]:
        for order_id, carrier, value in map(
            read.decoders["tracking_numbers"],
            read.rows("tracking_numbers", wanted["tracking_numbers"]),
        ):
            found[order_id].tracking_numbers.append(TrackingNumberView(carrier, value))


def _add_kit_lines(read: _Read, found: dict) -> None:
    """Kit lines with their kits' contents: the rows come one per item of the kit."""
    line_of, kits = read.decoders["kits"]
    last_line_id, fills = None, False
    for row in read.rows("kits", found):
        order_id, line_id, count = line_of(row)
        if line_id != last_line_id:
            kit, fills = kits.add(row, read.kits)
            found[order_id].kits.append(KitLineView(line_id, count, kit))
            last_line_id = line_id
        if fills:
            kits.fill(kit, row, read.items)


def _add_devices_and_kits(read: _Read, found: dict, wanted: dict) -> None:
    in_kits: dict[int, list[OrderDeviceView]] = defaultdict(list)
    if wanted["devices"]:
        for (order_id, line_id, packed_kit_id, order_item_id), device in read.decoders["devices"](
            read.rows("devices", wanted["devices"]), read.items
        ):
            line = OrderDeviceView(line_id, packed_kit_id, order_item_id, device)
            found[order_id].devices.append(line)
            if packed_kit_id is not None:
                in_kits[packed_kit_id].append(line)
    if wanted["packed_kits"]:
        packed, kit = read.decoders["packed_kits"]
        for row in read.rows("packed_kits", wanted["packed_kits"]):
            order_id, pk_id, order_kit_id = packed(row)
            found[order_id].packed_kits.append(
                PackedKitView(pk_id, order_id, order_kit_id, KitRef(*kit(row)), in_kits[pk_id])
            )


def _add_returns(read: _Read, found: dict, wanted: dict) -> None:
    if wanted["return_items"]:
        line, item = read.decoders["return_items"]
        for row in read.rows("return_items", wanted["return_items"]):
            order_id, count, arrived = line(row)
            found[order_id].return_items.append(
                ItemLineView(None, count, item(row, read.items), arrived)
            )
    if wanted["check_ins"]:
        for (order_id, outcome, reason, at), device in read.decoders["check_ins"](
            read.rows("check_ins", wanted["check_ins"]), read.items
        ):
            found[order_id].check_ins.append(CheckInView(outcome, reason, at, device))
    if wanted["return_devices"]:
        for (order_id,), device in read.decoders["return_devices"](
            read.rows("return_devices", wanted["return_devices"]), read.items
        ):
            found[order_id].return_devices.append(ReturnDeviceView(device))
    if wanted["return_packed_kits"]:
        packed, kit = read.decoders["return_packed_kits"]
        kits = [
            (packed(row), kit(row))
            for row in read.rows("return_packed_kits", wanted["return_packed_kits"])
        ]
        in_kits: dict[int, list[OrderDeviceView]] = defaultdict(list)
        for (line_id, pk_id, order_item_id), device in read.decoders["returning_kit_devices"](
            read.rows("returning_kit_devices", {pk_id for (_, pk_id, _), _ in kits}), read.items
        ):
            in_kits[pk_id].append(OrderDeviceView(line_id, pk_id, order_item_id, device))
        for (order_id, pk_id, sent_on), kit_values in kits:
            packed_kit = PackedKitView(pk_id, sent_on, None, KitRef(*kit_values), in_kits[pk_id])
            found[order_id].return_packed_kits.append(ReturnPackedKitView(packed_kit))


# A view of an ORM packed kit that placing's check loaded (locked) anyway: a kit a new
# order asks back, answered as the read model would answer it.


def packed_kit_view(packed_kit: PackedKit) -> PackedKitView:
    kit = packed_kit.kit
    return PackedKitView(
        packed_kit.id,
        packed_kit.order_id,
        packed_kit.order_kit_id,
        KitRef(kit.id, kit.name, kit.archived),
        [
            OrderDeviceView(od.id, od.packed_kit_id, od.order_item_id, device_view(od.device))
            for od in packed_kit.devices
        ],
    )
