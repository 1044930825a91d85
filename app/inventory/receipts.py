"""Receipts: counted lines and devices arriving at a location, all or nothing, and the
manifest of identifiers a receiving clerk scans, pastes or uploads before receiving."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.auth.actor import Actor
from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.inventory import models as m
from app.inventory.devices import IN_STOCK, RECEIVED, device_event
from app.inventory.ledger import (
    StockCheck,
    lock_balances,
    record_movements,
    refuse,
)
from app.inventory.locations import resolve_location
from app.inventory.models import StockReceipt
from app.validation import MAX_DB_ID, Checker, as_id, fetch_by_id, is_whole_number

MAX_RECEIPT_LINES = 200
MAX_RECEIPT_DEVICES = 1000
MAX_RECEIPT_UNITS = 100_000


@dataclass
class ReceiptLine:
    item_ref: Any
    count: Any


@dataclass
class ReceiptDevices:
    item_ref: Any
    identifiers: list[tuple[Any, Any]] = field(default_factory=list)  # (type, value)


@dataclass
class ReceiptDraft:
    location_ref: Any = None
    reference: Any = None
    lines: list[ReceiptLine] = field(default_factory=list)
    devices: list[ReceiptDevices] = field(default_factory=list)


@dataclass
class ManifestEntry:
    """One identifier of a pasted or uploaded manifest, as the preview shows it."""

    raw: str
    value: str | None
    problem: str | None


@dataclass(frozen=True)
class _Arriving:
    """A device a receipt brings in, its identifier checked."""

    item: Item
    kind: str
    value: str
    field_path: str


def _identifier_problem(item: Item, kind: str, value: str) -> str | None:
    """What is wrong with an identifier for this item: its format, or its serial pattern."""
    problem = identifiers.problem(kind, value)
    if problem is None and kind == "serial":
        if not identifiers.fits_serial_pattern(item.serial_pattern, value):
            problem = (
                f"{value} does not fit the serial numbers of {item.name} "
                f"(pattern {item.serial_pattern})."
            )
    return problem


def read_manifest(item: Item, text: str) -> list[ManifestEntry]:
    """Checks a manifest (one identifier a line, or separated by commas) for an item.

    Flags identifiers that are malformed, listed twice, or already known.
    """
    kind = item.device_identifier_type
    raws = [part.strip() for line in text.splitlines() for part in line.split(",")]
    raws = [r for r in raws if r]
    entries, seen = [], set()
    for raw in raws[:MAX_RECEIPT_DEVICES]:
        value = identifiers.normalise(kind, raw)
        problem = _identifier_problem(item, kind, value)
        if problem is None and value in seen:
            problem = "Listed twice in this manifest."
        seen.add(value)
        entries.append(ManifestEntry(raw=raw, value=value, problem=problem))
    values = {e.value for e in entries if e.problem is None}
    if values:
        known = set(
            db.session.scalars(
                select(DeviceIdentifier.value).where(
                    DeviceIdentifier.type == kind, DeviceIdentifier.value.in_(values)
                )
            )
        )
        for entry in entries:
            if entry.problem is None and entry.value in known:
                entry.problem = "Already received: a device with this identifier exists."
    if len(raws) > MAX_RECEIPT_DEVICES:
        entries.append(
            ManifestEntry(
                raw="…",
                value=None,
                problem=f"A receipt takes at most {MAX_RECEIPT_DEVICES} devices.",
            )
        )
    return entries


def preview_manifest(item_ref: Any, text: str) -> tuple[Item, list[ManifestEntry]]:
    """The device-tracked item a manifest is for, and its identifiers read (``read_manifest``)
    before they are received. Refuses, with the field paths of a receipt's first group of
    devices, when the item is not device-tracked or the manifest lists nothing."""
    item_id = as_id(item_ref)
    item = db.session.get(Item, item_id) if item_id and item_id <= MAX_DB_ID else None
    if item is None or not item.is_device:
        refuse("device_item_required", "Choose a device-tracked item.", "devices[0].item.id")
    if not text.strip():
        refuse(
            "identifiers_required",
            "Scan, paste or upload at least one identifier.",
            "devices[0].deviceIdentifiers",
        )
    return item, read_manifest(item, text)


def _check_reference(value: Any, check: StockCheck) -> str | None:
    one = Checker()
    reference = one.text(
        value, "reference", "The reference", required=False, max_length=m.MAX_REFERENCE_LENGTH
    )
    for problem in one.problems:
        check.add("invalid_reference", problem.message, "reference")
    return reference


def _check_lines(
    lines: list[ReceiptLine], items: dict[int, Item], check: StockCheck
) -> dict[int, int]:
    """Units of each counted item the lines receive."""
    counted: dict[int, int] = defaultdict(int)
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        item = items.get(as_id(line.item_ref) or 0)
        if item is None:
            check.no_item(line.item_ref, f"{where}.item.id")
        elif item.is_device:
            check.add(
                "device_tracked_item",
                f"{item.name} is tracked by device: receive it by identifier, not by count.",
                f"{where}.item.id",
            )
        if not (is_whole_number(line.count) and 1 <= line.count <= MAX_RECEIPT_UNITS):
            check.add(
                "invalid_count",
                f"Count must be a whole number from 1 to {MAX_RECEIPT_UNITS}.",
                f"{where}.count",
            )
        elif item is not None and not item.is_device:
            counted[item.id] += line.count
    return dict(counted)


def _check_identifier(
    item: Item, kind: Any, raw: Any, path: str, seen: set, check: StockCheck
) -> _Arriving | None:
    kind = kind or item.device_identifier_type
    if kind != item.device_identifier_type:
        check.add(
            "wrong_identifier_type",
            f"{item.name} is identified by {identifiers.LABELS[item.device_identifier_type]}.",
            f"{path}.type",
        )
        return None
    if not isinstance(raw, str):
        check.add("invalid_identifier", "The identifier must be text.", f"{path}.value")
        return None
    value = identifiers.normalise(kind, raw)
    problem = _identifier_problem(item, kind, value)
    if problem:
        check.add("invalid_identifier", problem, f"{path}.value")
        return None
    if (kind, value) in seen:
        check.add("duplicate_identifier", f"{value} is listed twice.", f"{path}.value")
        return None
    seen.add((kind, value))
    return _Arriving(item, kind, value, path)


def _check_devices(
    groups: list[ReceiptDevices], items: dict[int, Item], check: StockCheck
) -> list[_Arriving]:
    arriving: list[_Arriving] = []
    seen: set[tuple[str, str]] = set()
    for i, group in enumerate(groups):
        where = f"devices[{i}]"
        item = items.get(as_id(group.item_ref) or 0)
        if item is None:
            check.no_item(group.item_ref, f"{where}.item.id")
            continue
        if not item.is_device:
            check.add(
                "not_device_tracked",
                f"{item.name} is not tracked by device: receive it as a counted line.",
                f"{where}.item.id",
            )
            continue
        if not group.identifiers:
            check.add(
                "identifiers_required",
                "List the devices' identifiers.",
                f"{where}.deviceIdentifiers",
            )
        for j, (kind, raw) in enumerate(group.identifiers):
            path = f"{where}.deviceIdentifiers[{j}]"
            device = _check_identifier(item, kind, raw, path, seen, check)
            if device is not None:
                arriving.append(device)
    return arriving


def _check_receipt(draft: ReceiptDraft, check: StockCheck):
    """The location, reference, counted units per item and arriving devices of a receipt,
    every problem with them in ``check``."""
    location, found = resolve_location(draft.location_ref, "location.id", lock=True)
    check.problems.extend(found)
    reference = _check_reference(draft.reference, check)
    if not draft.lines and not draft.devices:
        check.add("lines_required", "Receive at least one line or device.", "lines")
    if len(draft.lines) > MAX_RECEIPT_LINES:
        check.add("too_many_lines", f"A receipt has at most {MAX_RECEIPT_LINES} lines.", "lines")
        return location, reference, {}, []
    refs = [as_id(line.item_ref) for line in draft.lines]
    refs += [as_id(group.item_ref) for group in draft.devices]
    items = fetch_by_id(Item, {r for r in refs if r})
    counted = _check_lines(draft.lines, items, check)
    if sum(len(group.identifiers) for group in draft.devices) > MAX_RECEIPT_DEVICES:
        check.add(
            "too_many_devices", f"A receipt takes at most {MAX_RECEIPT_DEVICES} devices.", "devices"
        )
        return location, reference, {}, []
    return location, reference, counted, _check_devices(draft.devices, items, check)


def _check_not_known(arriving: list[_Arriving], check: StockCheck) -> None:
    values = {device.value for device in arriving}
    if not values:
        return
    known = set(
        tuple(row)
        for row in db.session.execute(
            select(DeviceIdentifier.type, DeviceIdentifier.value).where(
                DeviceIdentifier.type.in_(identifiers.TYPES), DeviceIdentifier.value.in_(values)
            )
        ).all()
    )
    for device in arriving:
        if (device.kind, device.value) in known:
            check.add(
                "device_already_known",
                f"A device with {device.value} was already received.",
                device.field_path,
            )


def receive(draft: ReceiptDraft, actor: Actor) -> StockReceipt:
    """Receives counted lines and devices into a location, all or nothing.

    Refusals: ``StockRefused`` for the shape and rules; an identifier already known is
    reported with the code ``device_already_known`` (the API answers it with 409).
    """
    with write_transaction() as session:
        check = StockCheck()
        location, reference, counted, arriving = _check_receipt(draft, check)
        check.raise_if_any()
        _check_not_known(arriving, check)
        check.raise_if_any()
        receipt = StockReceipt(
            location_id=location.id,
            reference=reference,
            created_at=utcnow(),
            actor_user_id=actor.user_id,
            actor_api_key_id=actor.api_key_id,
        )
        session.add(receipt)
        made = [
            Device(
                item=device.item,
                current_status=IN_STOCK,
                location_id=location.id,
                identifiers=[DeviceIdentifier(type=device.kind, value=device.value)],
            )
            for device in arriving
        ]
        session.add_all(made)
        session.flush()
        for device in made:
            device_event(device, RECEIVED, actor, location_id=location.id, receipt_id=receipt.id)
        _record_receipt(receipt, counted, made, actor)
    return receipt


def _record_receipt(
    receipt: StockReceipt, counted: dict[int, int], made: list[Device], actor: Actor
) -> None:
    """The receipt's ledger rows: one a counted item, one a device."""
    location_id = receipt.location_id
    per_item = dict(counted)
    for device in made:
        per_item[device.item_id] = per_item.get(device.item_id, 0) + 1
    balances = lock_balances(location_id, set(per_item), create=True)
    received = {"kind": m.RECEIPT, "location_id": location_id, "receipt_id": receipt.id}
    movements = [
        {**received, "item_id": item_id, "on_hand_change": n, "reason": receipt.reference}
        for item_id, n in sorted(counted.items())
    ] + [
        {
            **received,
            "item_id": device.item_id,
            "on_hand_change": 1,
            "device_id": device.id,
            "reason": receipt.reference,
        }
        for device in made
    ]
    record_movements(balances, movements, actor)
