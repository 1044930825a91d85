"""The rules for items and kits: what can be ordered and what a kit holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select

from app.auth.actor import Actor
from app.catalog import on_orders
from app.catalog.identifiers import MAX_SERIAL_PATTERN_LENGTH, serial_pattern_problem
from app.catalog.models import (
    DEVICE_IDENTIFIER_TYPES,
    SIZES,
    Device,
    Item,
    Kit,
    KitItem,
    Manufacturer,
)
from app.db.transactions import write_transaction
from app.extensions import db
from app.history.changes import diff, record_change, snapshot
from app.validation import Checker, Problem, Rejected, fetch_by_id, get_or_reject, is_whole_number

ITEM_FIELDS = [
    "name",
    "sku",
    "model",
    "manufacturer_name",
    "orderable",
    "device_identifier_type",
    "serial_pattern",
    "size",
    "reorder_point",
    "accept_unreceived_devices",
]
MAX_PER_KIT = 99
MAX_REORDER_POINT = 100_000


@dataclass
class ItemDraft:
    name: Any = None
    sku: Any = None
    model: Any = None
    manufacturer: Any = None  # a name: found, or added to the list of manufacturers
    orderable: Any = True
    device_identifier_type: Any = None
    serial_pattern: Any = None  # serial-numbered items only
    size: Any = None
    reorder_point: Any = 0
    accept_unreceived_devices: Any = False


@dataclass
class KitLineDraft:
    item_id: Any = None
    count: Any = 1


@dataclass
class KitDraft:
    name: Any = None
    lines: list[KitLineDraft] = field(default_factory=list)


def _described_item(item: Item) -> dict:
    values = snapshot(item, [f for f in ITEM_FIELDS if f != "manufacturer_name"])
    values["manufacturer_name"] = item.manufacturer.name if item.manufacturer else None
    return values


def item_is_ordered(item_id: int) -> bool:
    """On an order line, expected back, recorded as a device, or in a kit that was ordered."""
    if db.session.scalar(select(exists().where(Device.item_id == item_id))):
        return True
    return on_orders.item_on_orders(item_id)


def check_item(draft: ItemDraft, item_id: int | None = None) -> dict:
    check = Checker()
    values = {
        "name": check.text(draft.name, "name", "Name", required=True, max_length=200),
        "sku": check.text(draft.sku, "sku", "SKU", required=True, max_length=64),
        "model": check.text(draft.model, "model", "Model", required=False, max_length=100),
        "manufacturer": check.text(
            draft.manufacturer, "manufacturer", "Manufacturer", required=False, max_length=200
        ),
        "orderable": check.boolean(draft.orderable, "orderable", "Orderable", default=True),
        "device_identifier_type": check.choice(
            draft.device_identifier_type or None,
            "deviceIdentifierType",
            "Device identifier",
            DEVICE_IDENTIFIER_TYPES,
        ),
        "serial_pattern": check.text(
            draft.serial_pattern,
            "serialPattern",
            "Serial pattern",
            required=False,
            max_length=MAX_SERIAL_PATTERN_LENGTH,
        ),
        "size": check.choice(draft.size or None, "size", "Size", SIZES),
        "reorder_point": draft.reorder_point,
        "accept_unreceived_devices": check.boolean(
            draft.accept_unreceived_devices,
            "acceptUnreceivedDevices",
            "Accept devices not yet received",
            default=False,
        ),
    }
    if not (is_whole_number(draft.reorder_point) and 0 <= draft.reorder_point <= MAX_REORDER_POINT):
        check.add(
            "invalid_reorder_point",
            f"The reorder point is a whole number from 0 to {MAX_REORDER_POINT}.",
            "reorderPoint",
        )
    if values["accept_unreceived_devices"] and not values["device_identifier_type"]:
        check.add(
            "not_device_tracked",
            "Only an item with a device identifier receives devices when they are scanned.",
            "acceptUnreceivedDevices",
        )
    pattern = values["serial_pattern"]
    if pattern is not None:
        if values["device_identifier_type"] != "serial":
            check.add(
                "serial_pattern_not_used",
                "Only items identified by a serial number have a serial pattern: clear it, or "
                "choose Serial number as the device identifier.",
                "serialPattern",
            )
        elif len(pattern) <= MAX_SERIAL_PATTERN_LENGTH:
            problem = serial_pattern_problem(pattern)
            if problem:
                check.add("invalid_serial_pattern", problem, "serialPattern")
    if values["sku"]:
        values["sku"] = values["sku"].upper()
        holder = db.session.scalar(select(Item).where(func.upper(Item.sku) == values["sku"]))
        if holder is not None and holder.id != item_id:
            check.add(
                "duplicate_sku", f"{values['sku']} is already the SKU of {holder.name}.", "sku"
            )
    if item_id is not None:
        current = db.session.get(Item, item_id)
        if (
            current is not None
            and current.device_identifier_type != values["device_identifier_type"]
        ):
            if item_is_ordered(item_id):
                check.add(
                    "item_ordered",
                    "This item is on orders already (or in a kit that is), and what packing "
                    "records for it must stay the same: the identifier type cannot change. "
                    "Make a new item instead.",
                    "deviceIdentifierType",
                )
    check.raise_if_any()
    return values


def _manufacturer(name: str | None) -> Manufacturer | None:
    if not name:
        return None
    found = db.session.scalar(
        select(Manufacturer).where(func.lower(Manufacturer.name) == name.lower())
    )
    return found or Manufacturer(name=name)


def create_item(draft: ItemDraft, actor: Actor) -> Item:
    with write_transaction() as session:
        values = check_item(draft)
        item = Item(**{k: v for k, v in values.items() if k != "manufacturer"})
        item.manufacturer = _manufacturer(values["manufacturer"])
        session.add(item)
        session.flush()
        record_change("item", item.id, "created", actor, _described_item(item))
    return item


def update_item(item_id: int, draft: ItemDraft, actor: Actor) -> Item:
    with write_transaction():
        item = get_or_reject(Item, item_id, "item")
        values = check_item(draft, item_id)
        before = _described_item(item)
        for name, value in values.items():
            if name != "manufacturer":
                setattr(item, name, value)
        item.manufacturer = _manufacturer(values["manufacturer"])
        db.session.flush()
        changes = diff(before, _described_item(item))
        if changes:
            record_change("item", item.id, "updated", actor, changes)
    return item


# --- Kits --------------------------------------------------------------------------------


def kit_is_ordered(kit_id: int) -> bool:
    return on_orders.kit_on_orders(kit_id)


def check_kit(draft: KitDraft, kit_id: int | None = None) -> tuple[str, list[tuple[Item, int]]]:
    check = Checker()
    name = check.text(draft.name, "name", "Name", required=True, max_length=200)
    if name:
        holder = db.session.scalar(select(Kit).where(func.lower(Kit.name) == name.lower()))
        if holder is not None and holder.id != kit_id:
            check.add("duplicate_name", f"There is already a kit called {holder.name}.", "name")
    if not draft.lines:
        check.add("contents_required", "A kit holds at least one item.", "kitItems")
    refs = [
        check.id_of(line.item_id, f"kitItems[{i}].item.id", "item")
        for i, line in enumerate(draft.lines)
    ]
    items = fetch_by_id(Item, {r for r in refs if r})
    contents, seen = [], set()
    for i, (line, ref) in enumerate(zip(draft.lines, refs, strict=True)):
        if not (is_whole_number(line.count) and 1 <= line.count <= MAX_PER_KIT):
            check.add(
                "invalid_count",
                f"Count must be a whole number from 1 to {MAX_PER_KIT}.",
                f"kitItems[{i}].count",
            )
        if ref is None:
            continue
        item = items.get(ref)
        if item is None:
            check.add(
                "item_not_found", f"There is no item with id {ref}.", f"kitItems[{i}].item.id"
            )
        elif ref in seen:
            check.add(
                "duplicate_item",
                f"{item.name} is in the kit twice: change its count instead.",
                f"kitItems[{i}].item.id",
            )
        else:
            seen.add(ref)
            if is_whole_number(line.count):
                contents.append((item, line.count))
    check.raise_if_any()
    return name, contents


def _described_kit(kit: Kit) -> dict:
    return {
        "name": kit.name,
        "contents": ", ".join(f"{ki.count} × {ki.item.name}" for ki in kit.kit_items),
    }


def create_kit(draft: KitDraft, actor: Actor) -> Kit:
    with write_transaction() as session:
        name, contents = check_kit(draft)
        kit = Kit(
            name=name, kit_items=[KitItem(item=item, count=count) for item, count in contents]
        )
        session.add(kit)
        session.flush()
        record_change("kit", kit.id, "created", actor, _described_kit(kit))
    return kit


def update_kit(kit_id: int, draft: KitDraft, actor: Actor) -> Kit:
    """Renames a kit or changes what it holds. A kit already ordered keeps its contents:
    changing them would rewrite what past orders contained (archive it and make a new one)."""
    with write_transaction():
        kit = get_or_reject(Kit, kit_id, "kit")
        name, contents = check_kit(draft, kit_id)
        before = _described_kit(kit)
        new_contents = sorted((item.id, count) for item, count in contents)
        old_contents = sorted((ki.item_id, ki.count) for ki in kit.kit_items)
        if new_contents != old_contents:
            if kit_is_ordered(kit_id):
                raise Rejected(
                    [
                        Problem(
                            "kit_ordered",
                            "This kit is on orders already, so what it holds cannot change: "
                            "archive it and make a new kit.",
                            "kitItems",
                        )
                    ]
                )
            kit.kit_items.clear()
            db.session.flush()
            kit.kit_items.extend(KitItem(item=item, count=count) for item, count in contents)
        kit.name = name
        db.session.flush()
        changes = diff(before, _described_kit(kit))
        if changes:
            record_change("kit", kit.id, "updated", actor, changes)
    return kit


def set_kit_archived(kit_id: int, archived: bool, actor: Actor) -> Kit:
    with write_transaction():
        kit = get_or_reject(Kit, kit_id, "kit")
        if kit.archived != archived:
            kit.archived = archived
            record_change("kit", kit.id, "archived" if archived else "restored", actor)
    return kit
