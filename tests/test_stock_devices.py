"""Devices in stock, rule by rule: where a device is and what its history says as it follows
its order (allocated, shipped, delivered, back in stock, returned to quarantine), devices
received when scanned, and the inspection of returned ones. Through the services as the
packing station and the returns desk use them, reading back devices, history and ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.auth.models import User
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import devices
from app.inventory.ledger import StockRefused, available
from app.inventory.locations import default_location
from app.inventory.models import MAX_REASON_LENGTH, DeviceEvent, StockMovement, StockReceipt
from app.orders import packing
from app.orders.lookups import get_order
from app.validation import Rejected
from tests.conftest import STOCK_PER_DEVICE_ITEM, app_context, stock_identifier
from tests.helpers.orders import actor, imei, move, place


def fulfillment() -> Actor:
    return Actor(user=db.session.scalar(select(User).where(User.role == "fulfillment")))


def device_id_of(app, value: str) -> int:
    with app_context(app) as session:
        return session.scalar(
            select(DeviceIdentifier.device_id).where(DeviceIdentifier.value == value)
        )


def where_is(app, device_id: int) -> tuple[str, int | None]:
    with app_context(app) as session:
        device = session.get(Device, device_id)
        return device.current_status, device.location_id


def history(app, device_id: int) -> list[tuple]:
    """(status, location, order, receipt, note, actor's role) of each step, oldest first."""
    with app_context(app) as session:
        return [
            (e.status, e.location_id, e.order_id, e.receipt_id, e.note, e.actor_user.role)
            for e in session.scalars(
                select(DeviceEvent)
                .where(DeviceEvent.device_id == device_id)
                .order_by(DeviceEvent.id)
            )
        ]


def on_hand(app, item_id: int) -> int:
    from app.inventory.ledger import available

    with app_context(app):
        return available(default_location().id, [item_id])[item_id]


def from_the_shelf(app, catalog) -> None:
    with app.app_context(), write_transaction() as session:
        session.get(Item, catalog.items["glucometer"]).accept_unreceived_devices = False


def shelf_device(catalog, n: int) -> str:
    return stock_identifier("imei", catalog.items["glucometer"] * 1000 + n)


def packed_order(app, catalog, value: str) -> int:
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with app.app_context():
        packing.record_device(order_id, value, actor("fulfillment"))
        db.session.remove()
    return order_id


def returned_device(app, catalog, n: int = 1) -> int:
    """A shelf glucometer packed, shipped, delivered and returned: quarantined."""
    from_the_shelf(app, catalog)
    value = shelf_device(catalog, n)
    order_id = packed_order(app, catalog, value)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("DHL", "1234567890"))
    move(app, order_id, "delivered", "returned")
    return device_id_of(app, value)


def inspect(app, device_id, passed, note=None):
    with app.app_context():
        try:
            return devices.inspect_device(device_id, passed, note, fulfillment()).id
        finally:
            db.session.remove()


def last_movement(app) -> tuple:
    with app_context(app) as session:
        row = session.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
        return (row.kind, row.item_id, row.on_hand_change, row.device_id, row.reason)


def test_a_device_follows_its_order_out_of_the_building_and_back_into_quarantine(app, catalog):
    from_the_shelf(app, catalog)
    value = shelf_device(catalog, 3)
    device_id = device_id_of(app, value)
    with app_context(app):
        home = default_location().id
    order_id = packed_order(app, catalog, value)
    assert where_is(app, device_id) == ("allocated", home)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("DHL", "1234567890"))
    assert where_is(app, device_id) == ("shipped", None)  # out of the building
    move(app, order_id, "delivered")
    assert where_is(app, device_id) == ("delivered", None)
    move(app, order_id, "returned")
    assert where_is(app, device_id) == ("quarantined", home)
    assert history(app, device_id)[1:] == [
        ("allocated", home, order_id, None, None, "fulfillment"),
        ("shipped", None, order_id, None, None, "fulfillment"),
        ("delivered", None, order_id, None, None, "fulfillment"),
        ("quarantined", home, order_id, None, None, "fulfillment"),
    ]


def test_a_device_of_a_cancelled_order_goes_back_on_the_shelf_where_it_was(app, catalog):
    from_the_shelf(app, catalog)
    value = shelf_device(catalog, 4)
    device_id = device_id_of(app, value)
    order_id = packed_order(app, catalog, value)
    move(app, order_id, "cancelled", role="admin", reason="Patient moved")
    with app_context(app):
        home = default_location().id
    assert where_is(app, device_id) == ("inStock", home)
    assert history(app, device_id)[-1] == ("inStock", home, order_id, None, None, "admin")


def test_a_device_removed_from_its_order_is_back_in_stock_saying_so(app, catalog):
    from_the_shelf(app, catalog)
    value = shelf_device(catalog, 5)
    device_id = device_id_of(app, value)
    order_id = packed_order(app, catalog, value)
    with app.app_context():
        recorded = get_order(order_id).devices[0].id
        packing.remove_device(order_id, recorded, actor("fulfillment"))
        db.session.remove()
    with app_context(app):
        home = default_location().id
    assert where_is(app, device_id) == ("inStock", home)
    assert history(app, device_id)[-1] == (
        "inStock",
        home,
        order_id,
        None,
        "Removed from the order",
        "fulfillment",
    )


def test_a_device_scanned_before_it_was_received_is_received_then_allocated(app, catalog):
    glucometer = catalog.items["glucometer"]  # the fixture's device items accept it
    before = on_hand(app, glucometer)
    order_id = packed_order(app, catalog, imei(8181))
    device_id = device_id_of(app, imei(8181))
    with app_context(app) as session:
        home = default_location().id
        receipt = session.scalars(select(StockReceipt).order_by(StockReceipt.id.desc())).first()
        assert (
            receipt.reference,
            receipt.location_id,
            session.get(User, receipt.actor_user_id).role,
        ) == (
            "Received when scanned",
            home,
            "fulfillment",
        )
        receipt_id = receipt.id
    assert where_is(app, device_id) == ("allocated", home)
    assert history(app, device_id) == [
        ("received", home, None, receipt_id, None, "fulfillment"),
        ("allocated", home, order_id, None, None, "fulfillment"),
    ]
    with app_context(app) as session:
        row = session.scalars(
            select(StockMovement).where(StockMovement.device_id == device_id)
        ).one()
        assert (row.kind, row.item_id, row.location_id, row.on_hand_change) == (
            "receipt",
            glucometer,
            home,
            1,
        )
        assert (row.receipt_id, row.reason, row.reserved_change) == (
            receipt_id,
            "Received when scanned",
            0,
        )
    assert on_hand(app, glucometer) == before + 1


def test_a_device_scanned_where_its_item_was_never_stocked_is_its_first_unit_there(app, catalog):
    from app.inventory.locations import create_location

    with app.app_context():
        east = create_location("East", actor("admin")).id
        db.session.remove()
    order_id = place(app, catalog, items={"glucometer": 1}, location_id=east)
    move(app, order_id, "processing")
    with app.app_context():
        packing.record_device(order_id, imei(8282), actor("fulfillment"))
        db.session.remove()
    device_id = device_id_of(app, imei(8282))
    assert where_is(app, device_id) == ("allocated", east)
    with app_context(app) as session:
        row = session.scalars(
            select(StockMovement).where(StockMovement.device_id == device_id)
        ).one()
        assert (row.kind, row.location_id, row.on_hand_change) == ("receipt", east, 1)
        assert available(east, [catalog.items["glucometer"]]) == {catalog.items["glucometer"]: 1}


def test_a_returned_device_that_passes_inspection_is_back_in_stock_with_a_return_row(app, catalog):
    glucometer = catalog.items["glucometer"]
    device_id = returned_device(app, catalog)
    assert on_hand(app, glucometer) == STOCK_PER_DEVICE_ITEM - 1
    inspect(app, device_id, True, "  Cleaned, tested  ")
    with app_context(app):
        home = default_location().id
    assert where_is(app, device_id) == ("inStock", home)
    assert on_hand(app, glucometer) == STOCK_PER_DEVICE_ITEM
    assert last_movement(app) == ("return", glucometer, 1, device_id, "Cleaned, tested")
    assert history(app, device_id)[-1] == (
        "passedInspection",
        home,
        None,
        None,
        "Cleaned, tested",
        "fulfillment",
    )


def test_a_device_never_stocked_that_passes_inspection_is_its_items_first_unit_there(app, catalog):
    from app.catalog import service as catalog_service
    from app.orders import returns_station
    from tests.helpers.returns import a_kit_and_a_device_asked_back

    order_id, _ = a_kit_and_a_device_asked_back(app, catalog)
    with app.app_context():
        scale = catalog_service.create_item(
            catalog_service.ItemDraft(name="Scale", sku="SCL", device_identifier_type="serial"),
            actor("admin"),
        ).id
        returns_station.record_unexpected(
            order_id, "SC-0001", "Found in box", actor("fulfillment"), scale
        )
        home = default_location().id
        db.session.remove()
    device_id = device_id_of(app, "SC-0001")
    assert where_is(app, device_id) == ("quarantined", home)
    inspect(app, device_id, True)
    assert where_is(app, device_id) == ("inStock", home)
    assert last_movement(app) == ("return", scale, 1, device_id, "Passed inspection")
    assert on_hand(app, scale) == 1


def test_a_device_passed_without_a_note_says_it_passed_inspection(app, catalog):
    device_id = returned_device(app, catalog, 2)
    inspect(app, device_id, True, "   ")
    assert last_movement(app)[-1] == "Passed inspection"
    assert history(app, device_id)[-1][4] is None


def test_a_retired_device_stays_out_of_stock(app, catalog):
    glucometer = catalog.items["glucometer"]
    device_id = returned_device(app, catalog, 3)
    rows_before = last_movement(app)
    inspect(app, device_id, False, "x" * (MAX_REASON_LENGTH + 20))
    with app_context(app):
        home = default_location().id
    assert where_is(app, device_id) == ("retired", home)
    assert on_hand(app, glucometer) == STOCK_PER_DEVICE_ITEM - 1
    assert last_movement(app) == rows_before  # no ledger row
    assert history(app, device_id)[-1] == (
        "retired",
        home,
        None,
        None,
        "x" * MAX_REASON_LENGTH,  # the note is kept to its column's length
        "fulfillment",
    )


def test_only_a_quarantined_device_is_inspected(app, catalog):
    device_id = device_id_of(app, shelf_device(catalog, 6))
    with pytest.raises(StockRefused) as error:
        inspect(app, device_id, True)
    assert [(p.code, p.message, p.field) for p in error.value.problems] == [
        (
            "not_quarantined",
            "Only a quarantined device is inspected; this one is In stock.",
            "device",
        )
    ]
    assert where_is(app, device_id)[0] == "inStock"


@pytest.mark.parametrize("device_ref", [999_999, 0, "abc", None])
def test_inspecting_a_device_that_does_not_exist_is_refused(app, catalog, device_ref):
    with pytest.raises(StockRefused) as error:
        inspect(app, device_ref, True)
    assert [(p.code, p.message, p.field) for p in error.value.problems] == [
        ("device_not_found", "There is no such device.", "device")
    ]


def test_every_device_status_is_labelled_in_words():
    assert [devices.device_status_label(s) for s in devices.DEVICE_STATUSES] == [
        "In stock",
        "Allocated",
        "Shipped",
        "Delivered",
        "Returned",
        "Quarantined",
        "Retired",
        "Lost",
    ]
    assert devices.device_status_label("received") == "Received"
    assert devices.device_status_label("somethingNew") == "somethingNew"


def test_a_device_back_from_a_patient_is_packed_again_only_once_it_passes_inspection(app, catalog):
    device_id = returned_device(app, catalog, 4)
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    value = shelf_device(catalog, 4)

    def refused():
        with app.app_context():
            with pytest.raises(Rejected) as error:
                packing.record_device(order_id, value, actor("fulfillment"))
            db.session.remove()
        return error.value.code, error.value.message, error.value.kind, error.value.field

    assert refused() == (
        "device_quarantined",
        "This device came back and awaits inspection; it cannot be packed until it passes.",
        "conflict",
        "identifier",
    )
    inspect(app, device_id, False, "Cracked screen")
    assert refused() == ("device_retired", "This device is retired.", "invalid", "identifier")
    assert where_is(app, device_id)[0] == "retired"
    with app_context(app):
        assert get_order(order_id).devices == []
