"""Receipts, rule by rule: counted lines and devices arrive at a location all or nothing, each
refusal named beside its field, and the manifest a receiving clerk previews. Through the
receipts service as the receiving page and the API call it, reading back what was stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.auth.actor import Actor
from app.auth.models import User
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import receipts
from app.inventory.ledger import StockRefused
from app.inventory.locations import default_location
from app.inventory.models import MAX_REFERENCE_LENGTH, DeviceEvent, StockBalance, StockMovement
from app.inventory.receipts import ReceiptDevices, ReceiptDraft, ReceiptLine
from app.validation import MAX_DB_ID
from tests.conftest import STOCK_PER_COUNTED_ITEM, app_context, stock_identifier
from tests.helpers.orders import imei


def receive(app, draft: ReceiptDraft) -> int:
    with app.app_context():
        try:
            admin = Actor(user=db.session.scalar(select(User).where(User.role == "admin")))
            return receipts.receive(draft, admin).id
        finally:
            db.session.remove()


def stored(app) -> tuple[int, int, int]:
    with app_context(app) as session:
        return (
            session.scalar(select(func.count(StockMovement.id))),
            session.scalar(select(func.count(Device.id))),
            session.scalar(select(func.sum(StockBalance.on_hand))),
        )


def refused(app, draft: ReceiptDraft) -> list[tuple]:
    before = stored(app)
    with pytest.raises(StockRefused) as error:
        receive(app, draft)
    assert stored(app) == before, "a refused receipt stores nothing"
    return [(p.code, p.message, p.field) for p in error.value.problems]


def serial_item(app, pattern: str | None = "SN-[0-9]{4}") -> int:
    with app.app_context(), write_transaction() as session:
        item = Item(
            name="Scale", sku="SCL", device_identifier_type="serial", serial_pattern=pattern
        )
        session.add(item)
        session.flush()
        return item.id


def test_a_receipt_brings_counted_lines_and_devices_in_with_one_row_each(app, catalog):
    strips, glucometer = catalog.items["strips"], catalog.items["glucometer"]
    receipt_id = receive(
        app,
        ReceiptDraft(
            reference="  PO 77  ",
            lines=[ReceiptLine(strips, 3), ReceiptLine(strips, 4)],
            devices=[ReceiptDevices(glucometer, [(None, f" {imei(9101)} "), ("imei", imei(9102))])],
        ),
    )
    with app_context(app) as session:
        home = default_location().id
        rows = session.execute(
            select(
                StockMovement.kind,
                StockMovement.item_id,
                StockMovement.location_id,
                StockMovement.on_hand_change,
                StockMovement.reason,
                StockMovement.device_id.is_not(None),
            )
            .where(StockMovement.receipt_id == receipt_id)
            .order_by(StockMovement.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("receipt", strips, home, 7, "PO 77", False),  # two lines of one item: one row
            ("receipt", glucometer, home, 1, "PO 77", True),
            ("receipt", glucometer, home, 1, "PO 77", True),
        ]
        made = session.scalars(
            select(Device).join(DeviceIdentifier).where(DeviceIdentifier.value == imei(9101))
        ).one()
        assert (made.current_status, made.location_id, made.item_id) == (
            "inStock",
            home,
            glucometer,
        )
        events = session.execute(
            select(DeviceEvent.status, DeviceEvent.location_id, DeviceEvent.receipt_id).where(
                DeviceEvent.device_id == made.id
            )
        ).all()
        assert [tuple(e) for e in events] == [("received", home, receipt_id)]
        strips_balance = session.scalar(
            select(StockBalance.on_hand).where(StockBalance.item_id == strips)
        )
        assert strips_balance == STOCK_PER_COUNTED_ITEM + 7


def test_a_receipt_is_stored_as_received_by_the_person_who_received_it(app, catalog):
    receipt_id = receive(app, ReceiptDraft(lines=[ReceiptLine(catalog.items["strips"], 1)]))
    with app_context(app) as session:
        receipt = session.get(receipts.StockReceipt, receipt_id)
        assert (session.get(User, receipt.actor_user_id).role, receipt.actor_api_key_id) == (
            "admin",
            None,
        )


def test_a_receipt_with_nothing_in_it_is_refused(app, catalog):
    assert refused(app, ReceiptDraft(reference="Empty")) == [
        ("lines_required", "Receive at least one line or device.", "lines")
    ]


def test_a_receipt_into_a_location_that_does_not_exist_is_refused_beside_it(app, catalog):
    assert refused(
        app,
        ReceiptDraft(location_ref=999_999, lines=[ReceiptLine(catalog.items["strips"], 1)]),
    ) == [
        (
            "location_not_found",
            "That is not a valid location: there is no active stock location with id 999999.",
            "location.id",
        )
    ]


@pytest.mark.parametrize("count", [0, -1, receipts.MAX_RECEIPT_UNITS + 1, 2.5, "3", None])
def test_a_counted_line_is_a_whole_number_of_units_within_bounds(app, catalog, count):
    assert refused(app, ReceiptDraft(lines=[ReceiptLine(catalog.items["strips"], count)])) == [
        (
            "invalid_count",
            f"Count must be a whole number from 1 to {receipts.MAX_RECEIPT_UNITS}.",
            "lines[0].count",
        )
    ]


def test_a_counted_line_naming_no_item_or_one_that_does_not_exist_is_refused_beside_it(
    app, catalog
):
    monitor = catalog.items["monitor"]  # named by the receipt's devices, beside the lines
    problems = refused(
        app,
        ReceiptDraft(
            lines=[
                ReceiptLine(None, 1),
                ReceiptLine(999_999, 2),
                ReceiptLine("abc", 1),
                ReceiptLine(10**30, 1),  # past any integer column: not found, not an error
            ],
            devices=[ReceiptDevices(monitor, [("serial", "BP7450-9999")])],
        ),
    )
    assert [p for p in problems if p[2].startswith("lines")] == [
        ("item_not_found", "Choose an item.", "lines[0].item.id"),
        ("item_not_found", "There is no item with id 999999.", "lines[1].item.id"),
        ("item_not_found", "There is no item with id abc.", "lines[2].item.id"),
        ("item_not_found", f"There is no item with id {10**30}.", "lines[3].item.id"),
    ]


def test_devices_naming_no_item_or_one_that_does_not_exist_are_refused_beside_it(app, catalog):
    monitor = catalog.items["monitor"]
    problems = refused(
        app,
        ReceiptDraft(
            devices=[
                ReceiptDevices(None, [("serial", "BP7450-9997")]),
                ReceiptDevices(999_999, [("serial", "BP7450-9998")]),
                ReceiptDevices(monitor, [("serial", "BP7450-9999")]),
            ],
        ),
    )
    assert [p for p in problems if p[0] == "item_not_found"] == [
        ("item_not_found", "Choose an item.", "devices[0].item.id"),
        ("item_not_found", "There is no item with id 999999.", "devices[1].item.id"),
    ]


def test_the_bounds_of_a_counted_line_are_accepted(app, catalog):
    strips = catalog.items["strips"]
    receive(app, ReceiptDraft(lines=[ReceiptLine(strips, 1)]))
    receive(app, ReceiptDraft(lines=[ReceiptLine(strips, receipts.MAX_RECEIPT_UNITS)]))
    assert stored(app)[2] is not None
    with app_context(app) as session:
        on_hand = session.scalar(select(StockBalance.on_hand).where(StockBalance.item_id == strips))
    assert on_hand == STOCK_PER_COUNTED_ITEM + 1 + receipts.MAX_RECEIPT_UNITS


def test_a_reference_too_long_is_refused_beside_it(app, catalog):
    problems = refused(
        app,
        ReceiptDraft(
            reference="x" * (MAX_REFERENCE_LENGTH + 1),
            lines=[ReceiptLine(catalog.items["strips"], 1)],
        ),
    )
    assert problems == [
        (
            "invalid_reference",
            f"The reference is at most {MAX_REFERENCE_LENGTH} characters.",
            "reference",
        )
    ]


def test_a_receipt_has_at_most_its_number_of_lines(app, catalog):
    strips = catalog.items["strips"]
    many = [ReceiptLine(strips, 1)] * (receipts.MAX_RECEIPT_LINES + 1)
    assert refused(app, ReceiptDraft(lines=many)) == [
        ("too_many_lines", f"A receipt has at most {receipts.MAX_RECEIPT_LINES} lines.", "lines")
    ]
    receive(app, ReceiptDraft(lines=many[1:]))
    with app_context(app) as session:
        on_hand = session.scalar(select(StockBalance.on_hand).where(StockBalance.item_id == strips))
    assert on_hand == STOCK_PER_COUNTED_ITEM + receipts.MAX_RECEIPT_LINES


def test_a_receipt_takes_at_most_its_number_of_devices(app, catalog):
    glucometer = catalog.items["glucometer"]
    values = [("imei", imei(20_000 + n)) for n in range(receipts.MAX_RECEIPT_DEVICES + 1)]
    assert refused(app, ReceiptDraft(devices=[ReceiptDevices(glucometer, values)])) == [
        (
            "too_many_devices",
            f"A receipt takes at most {receipts.MAX_RECEIPT_DEVICES} devices.",
            "devices",
        )
    ]
    receipt_id = receive(app, ReceiptDraft(devices=[ReceiptDevices(glucometer, values[:-1])]))
    with app_context(app) as session:
        assert session.scalar(
            select(func.count(DeviceEvent.id)).where(DeviceEvent.receipt_id == receipt_id)
        ) == len(values[:-1])


def test_devices_are_received_by_identifier_and_counted_items_by_count(app, catalog):
    strips, glucometer = catalog.items["strips"], catalog.items["glucometer"]
    assert refused(
        app,
        ReceiptDraft(
            lines=[ReceiptLine(glucometer, 2)],
            devices=[ReceiptDevices(strips, [("serial", "SN1")]), ReceiptDevices(glucometer)],
        ),
    ) == [
        (
            "device_tracked_item",
            "Glucometer is tracked by device: receive it by identifier, not by count.",
            "lines[0].item.id",
        ),
        (
            "not_device_tracked",
            "Test strips is not tracked by device: receive it as a counted line.",
            "devices[0].item.id",
        ),
        ("identifiers_required", "List the devices' identifiers.", "devices[1].deviceIdentifiers"),
    ]


def test_each_identifier_is_checked_beside_it(app, catalog):
    glucometer = catalog.items["glucometer"]
    known = stock_identifier("imei", glucometer * 1000)
    assert refused(
        app,
        ReceiptDraft(
            devices=[
                ReceiptDevices(None, [("imei", imei(9201))]),
                ReceiptDevices(
                    glucometer,
                    [
                        ("serial", "SN-1"),
                        ("imei", 12345),
                        ("imei", "123"),
                        ("imei", imei(9202)),
                        ("imei", imei(9202)),
                    ],
                ),
            ]
        ),
    ) == [
        ("item_not_found", "Choose an item.", "devices[0].item.id"),
        (
            "wrong_identifier_type",
            "Glucometer is identified by IMEI.",
            "devices[1].deviceIdentifiers[0].type",
        ),
        (
            "invalid_identifier",
            "The identifier must be text.",
            "devices[1].deviceIdentifiers[1].value",
        ),
        ("invalid_identifier", "An IMEI is 15 digits.", "devices[1].deviceIdentifiers[2].value"),
        (
            "duplicate_identifier",
            f"{imei(9202)} is listed twice.",
            "devices[1].deviceIdentifiers[4].value",
        ),
    ]
    # Only once every identifier is well formed is the register asked which are known.
    assert refused(
        app,
        ReceiptDraft(devices=[ReceiptDevices(glucometer, [("imei", imei(9203)), ("imei", known)])]),
    ) == [
        (
            "device_already_known",
            f"A device with {known} was already received.",
            "devices[0].deviceIdentifiers[1]",
        )
    ]


def test_an_imei_received_with_spaces_and_dashes_is_stored_as_its_digits(app, catalog):
    value = imei(9501)
    typed = f"{value[:2]} {value[2:8]}-{value[8:14]} {value[14]}"
    receive(
        app, ReceiptDraft(devices=[ReceiptDevices(catalog.items["glucometer"], [(None, typed)])])
    )
    with app_context(app) as session:
        assert session.execute(
            select(DeviceIdentifier.type, Device.item_id)
            .join(Device)
            .where(DeviceIdentifier.value == value)
        ).one() == ("imei", catalog.items["glucometer"])


def test_a_serial_must_fit_the_items_pattern(app, catalog):
    scale = serial_item(app)
    assert refused(app, ReceiptDraft(devices=[ReceiptDevices(scale, [("serial", "AB-1234")])])) == [
        (
            "invalid_identifier",
            "AB-1234 does not fit the serial numbers of Scale (pattern SN-[0-9]{4}).",
            "devices[0].deviceIdentifiers[0].value",
        )
    ]
    receive(app, ReceiptDraft(devices=[ReceiptDevices(scale, [("serial", "sn-1234")])]))
    with app_context(app) as session:
        assert (
            session.scalar(
                select(DeviceIdentifier.value).join(Device).where(Device.item_id == scale)
            )
            == "SN-1234"
        )


def test_an_identifier_known_for_another_type_is_not_the_same_device(app, catalog):
    scale = serial_item(app, pattern=None)
    known = stock_identifier("imei", catalog.items["glucometer"] * 1000)
    receive(app, ReceiptDraft(devices=[ReceiptDevices(scale, [("serial", known)])]))
    with app_context(app) as session:
        assert (
            session.scalar(
                select(func.count(DeviceIdentifier.id)).where(DeviceIdentifier.value == known)
            )
            == 2
        )


def test_a_manifest_is_read_one_identifier_a_line_or_separated_by_commas(app, catalog):
    scale = serial_item(app)
    with app_context(app) as session:
        item = session.get(Item, scale)
        entries = receipts.read_manifest(item, " sn-0001, SN-0002 \n\n,SN-0001\nXX-9\n")
    assert [(e.raw, e.value, e.problem) for e in entries] == [
        ("sn-0001", "SN-0001", None),
        ("SN-0002", "SN-0002", None),
        ("SN-0001", "SN-0001", "Listed twice in this manifest."),
        ("XX-9", "XX-9", "XX-9 does not fit the serial numbers of Scale (pattern SN-[0-9]{4})."),
    ]


def test_a_manifest_knows_only_devices_already_received_with_that_type_of_identifier(app, catalog):
    known = stock_identifier("imei", catalog.items["glucometer"] * 1000)
    spaced = f"{known[:2]} {known[2:8]}-{known[8:]}"  # as a scanner or a person types it
    scale = serial_item(app, pattern=None)
    with app_context(app) as session:
        glucometer = session.get(Item, catalog.items["glucometer"])
        imeis = receipts.read_manifest(glucometer, f"{spaced}\n{imei(9401)}")
        serials = receipts.read_manifest(session.get(Item, scale), known)
    assert [(e.raw, e.value, e.problem) for e in imeis] == [
        (spaced, known, "Already received: a device with this identifier exists."),
        (imei(9401), imei(9401), None),
    ]
    assert [(e.value, e.problem) for e in serials] == [(known, None)]  # a serial, not that IMEI


def test_a_malformed_serial_is_told_its_format_before_the_items_pattern(app, catalog):
    scale = serial_item(app)
    with app_context(app) as session:
        entries = receipts.read_manifest(session.get(Item, scale), "S!")
    assert [(e.value, e.problem) for e in entries] == [
        ("S!", "A serial number is 4 to 40 letters, digits or dashes.")
    ]
    assert refused(app, ReceiptDraft(devices=[ReceiptDevices(scale, [("serial", "S!")])])) == [
        (
            "invalid_identifier",
            "A serial number is 4 to 40 letters, digits or dashes.",
            "devices[0].deviceIdentifiers[0].value",
        )
    ]


def test_a_manifest_lists_at_most_a_receipts_devices_and_says_so(app, catalog):
    scale = serial_item(app, pattern=None)
    most = receipts.MAX_RECEIPT_DEVICES
    with app_context(app) as session:
        item = session.get(Item, scale)
        entries = receipts.read_manifest(item, "\n".join(f"SN{n:05d}" for n in range(most + 2)))
        exactly = receipts.read_manifest(item, "\n".join(f"SN{n:05d}" for n in range(most)))
    assert len(entries) == most + 1
    assert entries[most - 1].value == f"SN{most - 1:05d}" and entries[most - 1].problem is None
    assert (entries[-1].raw, entries[-1].value, entries[-1].problem) == (
        "…",
        None,
        f"A receipt takes at most {most} devices.",
    )
    assert len(exactly) == most and all(e.problem is None for e in exactly)


def test_a_manifest_is_previewed_for_an_existing_device_item_only(app, catalog):
    with app.app_context():
        for ref in [None, "abc", MAX_DB_ID + 1, 999_999, catalog.items["strips"]]:
            with pytest.raises(StockRefused) as error:
                receipts.preview_manifest(ref, imei(1))
            assert [(p.code, p.message, p.field) for p in error.value.problems] == [
                ("device_item_required", "Choose a device-tracked item.", "devices[0].item.id")
            ]
        item, entries = receipts.preview_manifest(catalog.items["glucometer"], imei(9301))
        assert item.id == catalog.items["glucometer"]
        assert [(e.value, e.problem) for e in entries] == [(imei(9301), None)]
