"""The order lifecycle, through the one service both doors use."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.catalog.models import Device
from app.extensions import db
from app.orders import lifecycle, packing, statuses
from app.orders.lookups import get_order
from app.orders.models import Order, OrderDevice, OrderEvent
from app.orders.service import MAX_NOTE_LENGTH
from app.validation import Rejected
from tests.conftest import app_context
from tests.helpers.orders import (
    actor,
    iccid,
    imei,
    move,
    pack_everything,
    place,
    receive_stock,
)


def device_statuses(order_id: int):
    """The statuses of the devices recorded on one order (not the shelf's other devices)."""
    return (
        select(Device.current_status)
        .join(OrderDevice, OrderDevice.device_id == Device.id)
        .where(OrderDevice.order_id == order_id)
        .order_by(Device.id)
    )


def status_of(app, order_id):
    with app_context(app) as session:
        return session.get(Order, order_id).current_status


def events_of(app, order_id):
    with app_context(app) as session:
        return [
            (e.name, e.note)
            for e in session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
            )
        ]


def refused(app, order_id, to_status, role="fulfillment", **kwargs):
    before = events_of(app, order_id)
    with app.app_context():
        with pytest.raises(Rejected) as error:
            lifecycle.change_status(order_id, to_status, actor(role), **kwargs)
        db.session.remove()
    assert events_of(app, order_id) == before, "a refused change must change nothing"
    return error.value


@pytest.fixture
def order(app, catalog):
    return place(app, catalog, items={"strips": 2})


@pytest.fixture
def kit_order(app, catalog):
    return place(app, catalog, items={"monitor": 1}, kits={"hypertension": 2})


def test_the_happy_path_records_every_step(app, order):
    move(app, order, "processing", "packed")
    with app.app_context():
        lifecycle.add_tracking_number(order, "UPS", "1z 999 aa1 01 2345 6784", actor("fulfillment"))
        db.session.remove()
    move(app, order, "shipped", "delivered")
    assert status_of(app, order) == "delivered"
    names = [name for name, _ in events_of(app, order)]
    assert names == [
        "created",
        "processing",
        "packed",
        "trackingNumberAdded",
        "shipped",
        "delivered",
    ]


@pytest.mark.parametrize(
    "path, illegal",
    [
        ([], "packed"),
        ([], "shipped"),
        ([], "delivered"),
        (["processing"], "created"),
        (["processing"], "shipped"),
        (["processing", "packed"], "processing"),
        (["processing", "packed"], "delivered"),
        (["cancelled"], "processing"),
        (["cancelled"], "created"),
    ],
)
def test_illegal_changes_are_refused_and_change_nothing(app, order, path, illegal):
    move(app, order, *path, role="admin", reason="because")
    error = refused(app, order, illegal, role="admin", reason="x")
    assert error.code == "invalid_transition"
    assert "cannot become" in error.message


def test_every_allowed_transition_in_the_table_is_possible(app, catalog):
    """Walk each edge of the status machine once, from a fresh order brought to its start."""
    reach = {
        "created": [],
        "processing": ["processing"],
        "packed": ["processing", "packed"],
        "availableForPickup": ["processing", "packed", "availableForPickup"],
        "shipped": ["processing", "packed", "shipped"],
        "deliveryException": ["processing", "packed", "shipped", "deliveryException"],
        "delivered": ["processing", "packed", "shipped", "delivered"],
    }
    for start, path in reach.items():
        for to_status in statuses.TRANSITIONS[start]:
            order_id = place(app, catalog, items={"strips": 1})
            with app.app_context():
                if "packed" in path:
                    lifecycle.change_status(order_id, "processing", actor("admin"))
                    lifecycle.change_status(order_id, "packed", actor("admin"))
                    lifecycle.add_tracking_number(order_id, "FedEx", "123456789012", actor("admin"))
                    rest = path[2:]
                else:
                    rest = path
                for step in rest:
                    lifecycle.change_status(order_id, step, actor("admin"))
                if to_status in ("awaitingReturn", "partlyReturned"):
                    # Edges of returns, not of an order that ships (tests/test_returns_station.py
                    # walks them): refused for this one, by its lines.
                    with pytest.raises(Rejected) as error:
                        lifecycle.change_status(order_id, to_status, actor("admin"))
                    assert error.value.code == "not_for_this_order"
                else:
                    lifecycle.change_status(order_id, to_status, actor("admin"), reason="because")
                    assert db.session.get(Order, order_id).current_status == to_status
                db.session.remove()


def test_hold_needs_a_reason_and_resumes_to_where_it_was(app, order):
    move(app, order, "processing")
    error = refused(app, order, "onHold", reason="  ")
    assert (error.code, error.field) == ("reason_required", "reason")
    move(app, order, "onHold", reason="Patient in hospital until Friday")
    with app_context(app):
        held = get_order(order)
        assert held.held_from_status == "processing"
        assert lifecycle.next_moves(held, "fulfillment") == ["processing"]
        assert lifecycle.next_moves(held, "admin") == ["processing", "cancelled"]
    # Cannot resume to anything but where it was.
    assert refused(app, order, "packed").code == "invalid_transition"
    move(app, order, "processing", role="coordinator")
    assert status_of(app, order) == "processing"
    assert events_of(app, order)[-2:] == [
        ("onHold", "Patient in hospital until Friday"),
        ("processing", None),
    ]


@pytest.mark.parametrize(
    "path",
    [
        [],
        ["processing"],
        ["processing", "packed"],
        ["processing", "packed", "availableForPickup"],
    ],
    ids=["created", "processing", "packed", "availableForPickup"],
)
def test_an_order_resumed_from_hold_returns_to_the_status_it_was_held_from(app, order, path):
    move(app, order, *path)
    held_from = path[-1] if path else "created"
    move(app, order, "onHold", reason="Patient travelling")
    with app_context(app) as session:
        held = session.get(Order, order)
        assert (held.current_status, held.held_from_status) == ("onHold", held_from)
    others = [s for s in statuses.ALL if s not in (held_from, "onHold", "cancelled")]
    for other in others:
        assert refused(app, order, other, role="admin").code == "invalid_transition"
    move(app, order, held_from, role="fulfillment")
    with app_context(app) as session:
        resumed = session.get(Order, order)
        assert (resumed.current_status, resumed.held_from_status) == (held_from, None)
    assert events_of(app, order)[-2:] == [("onHold", "Patient travelling"), (held_from, None)]


def test_an_order_held_twice_resumes_to_where_it_was_the_second_time(app, order):
    move(app, order, "onHold", reason="First hold")
    move(app, order, "created")
    move(app, order, "processing")
    move(app, order, "onHold", reason="Second hold")
    assert refused(app, order, "created", role="admin").code == "invalid_transition"
    move(app, order, "processing")
    assert status_of(app, order) == "processing"


def test_cancel_needs_a_reason(app, order):
    assert refused(app, order, "cancelled", role="coordinator").code == "reason_required"
    move(app, order, "cancelled", role="coordinator", reason="Duplicate of 41")
    assert events_of(app, order)[-1] == ("cancelled", "Duplicate of 41")


def test_reason_of_more_than_500_characters_is_refused(app, order):
    assert refused(app, order, "onHold", reason="x" * 501).code == "invalid_reason"


def test_shipping_needs_a_tracking_number(app, order):
    move(app, order, "processing", "packed")
    error = refused(app, order, "shipped")
    assert error.code == "tracking_number_required"
    move(app, order, "shipped", tracking=("USPS", "9400 1000 0000 0000 0000 06"))
    with app_context(app):
        shipped = get_order(order)
        assert [(t.carrier, t.value) for t in shipped.tracking_numbers] == [
            ("USPS", "9400100000000000000006")
        ]
        assert shipped.tracking_numbers[0].url.startswith("https://tools.usps.com/")


def test_a_change_from_a_state_the_order_has_left_is_refused(app, order):
    move(app, order, "processing")
    error = refused(app, order, "onHold", from_status="created", reason="x")
    assert error.code == "order_changed"


def test_events_are_appended_with_who_and_when(app, order):
    move(app, order, "processing")
    with app_context(app) as session:
        events = session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order).order_by(OrderEvent.id)
        ).all()
        assert [e.actor_user.role for e in events] == ["coordinator", "fulfillment"]
        assert events[0].event_timestamp <= events[1].event_timestamp
        assert events[1].event_timestamp.tzinfo is not None


def test_each_change_bumps_the_order_version(app, order):
    with app_context(app) as session:
        before = session.get(Order, order).version
    move(app, order, "processing")
    with app.app_context():
        lifecycle.add_note(order, "Called the patient", actor("coordinator"))
        db.session.remove()
    with app_context(app) as session:
        assert session.get(Order, order).version == before + 2


# --- Roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, path, to_status, allowed",
    [
        ("coordinator", [], "processing", False),
        ("coordinator", [], "cancelled", True),
        ("coordinator", ["processing"], "cancelled", True),
        ("coordinator", ["processing", "packed"], "cancelled", False),
        ("coordinator", [], "onHold", True),
        ("fulfillment", [], "processing", True),
        ("fulfillment", [], "cancelled", False),
        ("fulfillment", ["processing"], "packed", True),
        ("admin", ["processing", "packed"], "cancelled", True),
        ("admin", [], "processing", True),
    ],
)
def test_roles_may_make_only_their_changes(app, order, role, path, to_status, allowed):
    move(app, order, *path, role="admin", reason="because")
    if allowed:
        move(app, order, to_status, role=role, reason="a reason")
        assert status_of(app, order) == to_status
    else:
        error = refused(app, order, to_status, role=role, reason="a reason")
        assert error.code in ("forbidden", "too_late_to_cancel")


def test_coordinator_cannot_cancel_a_packed_order_even_on_hold(app, order):
    move(app, order, "processing", "packed")
    move(app, order, "onHold", role="coordinator", reason="wait")
    assert (
        refused(app, order, "cancelled", role="coordinator", reason="no").code
        == "too_late_to_cancel"
    )


@pytest.mark.parametrize("held_from", [[], ["processing"]], ids=["created", "processing"])
def test_a_coordinator_cancels_an_order_on_hold_that_was_not_yet_packed(app, order, held_from):
    move(app, order, *held_from)
    move(app, order, "onHold", role="coordinator", reason="wait")
    with app_context(app):
        assert lifecycle.next_moves(get_order(order), "coordinator") == [
            (held_from or ["created"])[-1],
            "cancelled",
        ]
    move(app, order, "cancelled", role="coordinator", reason="Not needed after all")
    assert status_of(app, order) == "cancelled"
    assert events_of(app, order)[-1] == ("cancelled", "Not needed after all")


# --- Packing -------------------------------------------------------------------------------


def plan_of(app, order_id):
    with app_context(app):
        return [
            (s.label, s.filled is not None) for s in packing.packing_plan(get_order(order_id)).slots
        ]


def test_processing_opens_one_packed_kit_per_kit_ordered(app, kit_order):
    move(app, kit_order, "processing")
    assert plan_of(app, kit_order) == [
        ("BP monitor 1 of 1", False),
        ("Hypertension kit 1: BP monitor", False),
        ("Hypertension kit 1: Gateway", False),
        ("Hypertension kit 2: BP monitor", False),
        ("Hypertension kit 2: Gateway", False),
    ]


def test_packed_kits_are_opened_only_when_processing_starts(app, kit_order):
    def packed_kits():
        with app_context(app):
            return len(get_order(kit_order).packed_kits)

    move(app, kit_order, "onHold", role="coordinator", reason="Waiting for the patient")
    assert packed_kits() == 0
    move(app, kit_order, "created", "processing")
    assert packed_kits() == 2


def test_order_is_packed_only_when_every_device_is_recorded(app, kit_order):
    move(app, kit_order, "processing")
    error = refused(app, kit_order, "packed")
    assert error.code == "packing_incomplete"
    assert "5 devices are still to be recorded" in error.message
    pack_everything(app, kit_order)
    move(app, kit_order, "packed")
    with app_context(app):
        packed = get_order(kit_order)
        assert len(packed.packed_kits) == 2
        assert [len(pk.devices) for pk in packed.packed_kits] == [2, 2]
        assert {od.device.current_status for od in packed.devices} == {"allocated"}


def test_an_order_cannot_be_packed_while_one_device_is_missing(app, kit_order):
    move(app, kit_order, "processing")
    with app_context(app):
        slots = packing.packing_plan(get_order(kit_order)).slots
        last = slots[-1]
        assert last.label == "Hypertension kit 2: Gateway"
    with app.app_context():
        for n, slot in enumerate(slots[:-1], start=1):
            value = iccid(n) if slot.item.device_identifier_type == "iccid" else f"SN{n:06d}"
            packing.record_device(kit_order, value, actor("fulfillment"), slot_key=slot.key)
        db.session.remove()
    error = refused(app, kit_order, "packed")
    assert (error.code, error.message) == (
        "packing_incomplete",
        "1 device is still to be recorded before the order is packed.",
    )
    assert status_of(app, kit_order) == "processing"
    assert [filled for _, filled in plan_of(app, kit_order)] == [True] * 4 + [False]
    with app.app_context():
        packing.record_device(kit_order, iccid(99), actor("fulfillment"), slot_key=last.key)
        db.session.remove()
    move(app, kit_order, "packed")
    assert status_of(app, kit_order) == "packed"


def record(app, order_id, value, slot_key=None, role="fulfillment"):
    with app.app_context():
        try:
            return packing.record_device(order_id, value, actor(role), slot_key=slot_key).label
        finally:
            db.session.remove()


def test_a_scan_fills_the_first_slot_that_takes_it(app, catalog):
    order_id = place(app, catalog, kits={"hypertension": 1, "diabetes": 1})
    move(app, order_id, "processing")
    assert record(app, order_id, iccid(7)) == "Hypertension kit 1: Gateway"
    assert record(app, order_id, imei(3)) == "Diabetes kit 1: Glucometer"
    assert record(app, order_id, "sn-0001") == "Hypertension kit 1: BP monitor"
    with app_context(app):
        order = get_order(order_id)
        values = sorted(i.value for od in order.devices for i in od.device.identifiers)
    assert values == sorted([iccid(7), imei(3), "SN-0001"])


def test_scanning_never_records_more_than_was_ordered(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    record(app, order_id, imei(1))
    with pytest.raises(Rejected) as error:
        record(app, order_id, imei(2))
    assert error.value.code == "nothing_to_record"


def test_an_identifier_no_slot_takes_is_refused(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with pytest.raises(Rejected) as error:
        record(app, order_id, "SN-1234")  # a serial; the glucometer takes an IMEI
    assert error.value.code == "invalid_identifier"
    assert "IMEI" in error.value.message


@pytest.mark.parametrize(
    "value, message",
    [
        ("35000000000001", "An IMEI is 15 digits."),
        ("350000000000012", "check digit is wrong"),
        ("abc", "Still needed: 1 IMEI for Glucometer (Diabetes kit 1)."),
    ],
)
def test_imei_is_format_checked(app, catalog, value, message):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with pytest.raises(Rejected) as error:
        record(app, order_id, value)
    assert message in error.value.message


def test_identifiers_are_normalised(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    spaced = imei(42)
    record(app, order_id, f" {spaced[:5]} {spaced[5:10]}-{spaced[10:]} ")
    with app_context(app):
        assert get_order(order_id).devices[0].device.identifiers[0].value == imei(42)


def test_a_device_cannot_be_in_two_open_orders(app, catalog):
    first = place(app, catalog, kits={"diabetes": 1})
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    move(app, second, "processing")
    record(app, first, imei(5))
    with pytest.raises(Rejected) as error:
        record(app, second, imei(5))
    assert error.value.code == "device_in_open_order"
    assert str(first) in error.value.message
    # Once the first order is cancelled, the device is free again.
    move(app, first, "cancelled", role="admin", reason="patient moved")
    with app_context(app) as session:
        assert session.scalars(device_statuses(first)).all() == ["inStock"]
    assert record(app, second, imei(5)) == "Diabetes kit 1: Glucometer"


def test_another_open_order_s_devices_do_not_stop_a_different_device(app, catalog):
    from tests.helpers.orders import record_and_release

    record_and_release(app, catalog, imei(7))  # a device on the shelf
    first = place(app, catalog, kits={"diabetes": 1})
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    move(app, second, "processing")
    record(app, first, imei(6))
    assert record(app, second, imei(7)) == "Diabetes kit 1: Glucometer"


def test_a_device_of_another_item_is_refused_in_a_slot(app, catalog):
    order_id = place(app, catalog, kits={"hypertension": 1}, items={"monitor": 1})
    move(app, order_id, "processing")
    gateway_slot = "Hypertension kit 1: Gateway"
    record(app, order_id, iccid(9))
    with app_context(app):
        order = get_order(order_id)
        monitor_slot = next(s.key for s in packing.packing_plan(order).slots if s.filled is None)
    # the ICCID of the gateway already recorded, typed into a BP monitor slot
    with pytest.raises(Rejected):
        record(app, order_id, iccid(9), slot_key=monitor_slot)
    assert gateway_slot in [label for label, filled in plan_of(app, order_id) if filled]


def test_ambiguous_scan_asks_for_the_line(app, catalog):
    """Two different serial-numbered items are waiting: a new serial could be either."""
    from app.catalog.models import Item, KitItem
    from app.db.transactions import write_transaction

    with app.app_context(), write_transaction() as session:
        thermometer = Item(name="Thermometer", sku="THM", device_identifier_type="serial")
        session.add(thermometer)
        session.flush()
        session.add(KitItem(kit_id=catalog.kits["hypertension"], item_id=thermometer.id, count=1))
        thermometer_id = thermometer.id
    receive_stock(app, {thermometer_id: 1})
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    with pytest.raises(Rejected) as error:
        record(app, order_id, "SN-777")
    assert error.value.code == "ambiguous_identifier"


def test_devices_are_recorded_only_while_processing(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    with pytest.raises(Rejected) as error:
        record(app, order_id, imei(1))
    assert error.value.code == "not_packing"


def test_coordinators_do_not_record_devices(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with pytest.raises(Rejected) as error:
        record(app, order_id, imei(1), role="coordinator")
    assert error.value.kind == "forbidden"


def test_a_wrong_scan_can_be_removed_before_packing(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    record(app, order_id, imei(1))
    with app.app_context():
        recorded = get_order(order_id).devices[0].id
        packing.remove_device(order_id, recorded, actor("fulfillment"))
        db.session.remove()
    assert plan_of(app, order_id) == [("Diabetes kit 1: Glucometer", False)]
    assert [n for n, _ in events_of(app, order_id)][-2:] == ["deviceRecorded", "deviceRemoved"]


def test_shipping_and_returning_move_the_devices(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("DHL", "1234567890"))
    with app_context(app) as session:
        assert session.scalars(device_statuses(order_id)).all() == ["shipped"]
    move(app, order_id, "delivered")
    with app_context(app) as session:
        assert session.scalars(device_statuses(order_id)).all() == ["delivered"]
    move(app, order_id, "returned")
    with app_context(app) as session:
        # Back from the patient: quarantined until someone inspects it.
        assert session.scalars(device_statuses(order_id)).all() == ["quarantined"]


# --- Tracking numbers and notes ------------------------------------------------------------


@pytest.mark.parametrize(
    "carrier, value, ok",
    [
        ("UPS", "1Z999AA10123456784", True),
        ("UPS", "1Z999AA1012345678", False),
        # Check digits: UPS, FedEx 12-digit, USPS IMpb (Mod 10) and S10 (mod 11).
        ("UPS", "1Z999AA10123456785", False),
        ("UPS", "1Z999AA10123546784", False),  # two characters swapped
        ("UPS", "1Z879E930346834440", True),  # letters count too
        ("UPS", "1Z879E93034683444S", False),  # a letter is never a check digit
        ("FedEx", "123456789012", True),
        ("FedEx", "123456789013", False),
        ("FedEx", "986578788855", True),
        ("FedEx", "996578788855", False),
        ("FedEx", "123456789012345", True),  # 15 digits: format only
        ("FedEx", "12345678901", False),
        ("USPS", "9400100000000000000006", True),
        ("USPS", "9400100000000000000000", False),
        ("USPS", "9405803699300124287899", True),
        ("USPS", "9405803699300124287898", False),
        ("USPS", "EC123456785US", True),
        ("USPS", "EC123456789US", False),
        ("USPS", "1234", False),
        ("DHL", "1234567890", True),
        ("DHL", "JJD000390007827469380", True),
        ("DHL", "ABC", False),
        ("Pigeon", "1234567890", False),
    ],
)
def test_tracking_numbers_are_format_checked(app, order, carrier, value, ok):
    move(app, order, "processing", "packed")
    with app.app_context():
        if ok:
            lifecycle.add_tracking_number(order, carrier, value, actor("fulfillment"))
        else:
            with pytest.raises(Rejected) as error:
                lifecycle.add_tracking_number(order, carrier, value, actor("fulfillment"))
            assert error.value.code == "invalid_tracking_number"
        db.session.remove()


# A number of the right shape and check digit, but not this parcel's: the packer typed
# another label's number. It is removed with a reason, and the right one added.
WRONG_UPS = "1Z999AA10123456784"
RIGHT_UPS = "1Z5R89390357567127"


def remove_tracking(app, order_id, carrier, value, reason, role="fulfillment"):
    with app.app_context():
        try:
            lifecycle.remove_tracking_number(order_id, carrier, value, reason, actor(role))
        finally:
            db.session.remove()


def tracking_of(app, order_id):
    with app_context(app):
        return [(t.carrier, t.value) for t in get_order(order_id).tracking_numbers]


def test_a_wrong_tracking_number_is_removed_with_a_reason_as_an_event(app, api, order):
    move(app, order, "processing", "packed")
    move(app, order, "shipped", tracking=("UPS", WRONG_UPS))
    remove_tracking(app, order, "UPS", "1z 999 aa1 01 2345 6784", "Another parcel's label")
    assert tracking_of(app, order) == []
    assert events_of(app, order)[-1] == (
        "trackingNumberRemoved",
        f"UPS {WRONG_UPS}: Another parcel's label",
    )
    # The order stays shipped (its goods left); the right number is added to it.
    assert status_of(app, order) == "shipped"
    with app.app_context():
        lifecycle.add_tracking_number(order, "UPS", RIGHT_UPS, actor("fulfillment"))
        db.session.remove()
    answer = api.get(f"/api/v3/order/{order}").get_json()
    assert answer["trackingNumbers"] == [{"carrier": "UPS", "value": RIGHT_UPS}]
    assert [(e["name"], e["note"]) for e in answer["orderEvents"]][-2:] == [
        ("trackingNumberRemoved", f"UPS {WRONG_UPS}: Another parcel's label"),
        ("trackingNumberAdded", f"UPS {RIGHT_UPS}"),
    ]


def test_a_packed_order_whose_only_tracking_number_is_removed_needs_one_to_ship(app, order):
    move(app, order, "processing", "packed")
    with app.app_context():
        lifecycle.add_tracking_number(order, "UPS", WRONG_UPS, actor("fulfillment"))
        db.session.remove()
    remove_tracking(app, order, "UPS", WRONG_UPS, "Typed from the wrong label", role="admin")
    assert status_of(app, order) == "packed"
    assert refused(app, order, "shipped").code == "tracking_number_required"


@pytest.mark.parametrize(
    "role, value, reason, code",
    [
        ("coordinator", WRONG_UPS, "Wrong label", "forbidden"),
        ("fulfillment", WRONG_UPS, "   ", "reason_required"),
        ("fulfillment", RIGHT_UPS, "Wrong label", "tracking_number_not_found"),
    ],
)
def test_removing_a_tracking_number_needs_fulfillment_a_reason_and_the_number(
    app, order, role, value, reason, code
):
    move(app, order, "processing", "packed")
    move(app, order, "shipped", tracking=("UPS", WRONG_UPS))
    before = events_of(app, order)
    with pytest.raises(Rejected) as error:
        remove_tracking(app, order, "UPS", value, reason, role=role)
    assert error.value.code == code
    assert tracking_of(app, order) == [("UPS", WRONG_UPS)]
    assert events_of(app, order) == before


def test_a_delivered_orders_tracking_number_stays(app, order):
    move(app, order, "processing", "packed")
    move(app, order, "shipped", tracking=("UPS", WRONG_UPS))
    move(app, order, "delivered")
    with pytest.raises(Rejected) as error:
        remove_tracking(app, order, "UPS", WRONG_UPS, "Wrong label")
    assert error.value.code == "not_trackable"
    assert tracking_of(app, order) == [("UPS", WRONG_UPS)]


def test_tracking_number_is_added_only_once_packed(app, order):
    with app.app_context():
        with pytest.raises(Rejected) as error:
            lifecycle.add_tracking_number(order, "DHL", "1234567890", actor("fulfillment"))
        db.session.remove()
    assert error.value.code == "not_trackable"


def test_anyone_who_sees_the_order_adds_notes(app, order):
    with app.app_context():
        for role in ("coordinator", "fulfillment", "admin"):
            lifecycle.add_note(order, f"from {role}", actor(role))
        with pytest.raises(Rejected):
            lifecycle.add_note(order, "   ", actor("coordinator"))
        assert [n.note for n in get_order(order).notes] == [
            "from coordinator",
            "from fulfillment",
            "from admin",
        ]
        db.session.remove()


def test_a_device_coming_back_in_a_returned_kit_cannot_be_packed_on_that_order(app, api, catalog):
    first = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    record(app, first, imei(21))
    move(app, first, "packed")
    move(app, first, "shipped", tracking=("DHL", "1234567890"))
    move(app, first, "delivered")
    with app_context(app):
        packed_kit_id = get_order(first).packed_kits[0].id
    second = api.post(
        "/api/v3/order",
        json={
            "patient": {"id": catalog.patient},
            "orderKits": [{"kit": {"id": catalog.kits["diabetes"]}, "count": 1}],
            "returnPackedKits": [{"id": packed_kit_id}],
        },
    ).get_json()["id"]
    move(app, second, "processing")
    with pytest.raises(Rejected) as error:
        record(app, second, imei(21))
    assert whole(error.value) == (
        "device_being_returned",
        "This device is coming back on this order; it cannot also be packed.",
        "invalid",
        "identifier",
    )
    assert [filled for _, filled in plan_of(app, second)] == [False]


# --- Each refusal of a change in full, with nothing stored ---------------------------------


def whole(error: Rejected) -> tuple:
    return error.code, error.message, error.kind, error.field


def test_a_status_that_does_not_exist_is_refused_at_its_field(app, order):
    assert whole(refused(app, order, "lost")) == (
        "invalid_status",
        "“lost” is not a status.",
        "invalid",
        "status",
    )


def test_a_change_seen_from_an_older_status_is_refused_naming_the_order_and_its_status(app, order):
    move(app, order, "processing")
    assert whole(refused(app, order, "onHold", from_status="created", reason="x")) == (
        "order_changed",
        f"Order {order} is now Processing: someone changed it while you were looking. "
        "Nothing was changed; check the timeline and try again.",
        "conflict",
        None,
    )
    move(app, order, "onHold", from_status="processing", reason="x")
    assert status_of(app, order) == "onHold"


def test_a_move_the_status_machine_does_not_allow_is_refused_in_words(app, order):
    assert whole(refused(app, order, "packed", role="admin")) == (
        "invalid_transition",
        "An order that is Created cannot become Packed.",
        "conflict",
        None,
    )


def test_a_role_that_may_not_make_a_move_is_told_which(app, order):
    assert whole(refused(app, order, "processing", role="coordinator")) == (
        "forbidden",
        "Your role cannot move an order to Processing.",
        "forbidden",
        None,
    )
    assert whole(refused(app, order, "cancelled", reason="no")) == (
        "forbidden",
        "Your role cannot move an order to Cancelled.",
        "forbidden",
        None,
    )
    move(app, order, "processing", "packed")
    assert whole(refused(app, order, "cancelled", role="coordinator", reason="no")) == (
        "too_late_to_cancel",
        "This order has been packed: only an admin can cancel it now.",
        "conflict",
        None,
    )


def test_holding_and_cancelling_say_why_a_reason_is_required(app, order):
    assert whole(refused(app, order, "onHold")) == (
        "reason_required",
        "Say why the order is on hold: a reason is required.",
        "invalid",
        "reason",
    )
    assert whole(refused(app, order, "cancelled", role="coordinator", reason="\u200b")) == (
        "reason_required",
        "Say why the order is cancelled: a reason is required.",
        "invalid",
        "reason",
    )
    code, _, kind, field = whole(refused(app, order, "onHold", reason="x" * 501))
    assert (code, kind, field) == ("invalid_reason", "invalid", "reason")
    move(app, order, "onHold", reason="  " + "x" * 500 + "  ")
    assert events_of(app, order)[-1] == ("onHold", "x" * 500)


def test_a_reason_given_where_none_is_needed_is_kept(app, order):
    move(app, order, "processing", reason="  Urgent: patient discharged today ")
    assert events_of(app, order)[-1] == ("processing", "Urgent: patient discharged today")


def test_an_order_with_five_devices_missing_is_not_packed_and_says_how_many(app, kit_order):
    move(app, kit_order, "processing")
    assert whole(refused(app, kit_order, "packed")) == (
        "packing_incomplete",
        "5 devices are still to be recorded before the order is packed.",
        "conflict",
        None,
    )


def test_shipping_without_a_tracking_number_is_refused_at_its_field(app, order):
    move(app, order, "processing", "packed")
    assert whole(refused(app, order, "shipped", tracking=("", ""))) == (
        "tracking_number_required",
        "Add at least one tracking number before shipping.",
        "invalid",
        "trackingNumber",
    )
    move(app, order, "shipped", tracking=("", "1z 999 aa1 01 2345 6784"))
    assert tracking_of(app, order) == [("UPS", "1Z999AA10123456784")]
    assert [n for n, _ in events_of(app, order)][-2:] == ["trackingNumberAdded", "shipped"]


def delivered_strips(app, catalog) -> int:
    order_id = place(app, catalog, items={"strips": 2})
    move(app, order_id, "processing", "packed")
    move(app, order_id, "shipped", tracking=("DHL", "1234567890"))
    move(app, order_id, "delivered")
    return order_id


def test_the_order_s_lines_rule_out_moves_in_words(app, catalog):
    from tests.helpers.orders import delivered_kit
    from tests.helpers.returns import return_only

    ships = place(app, catalog, items={"strips": 1})
    assert whole(refused(app, ships, "awaitingReturn", role="admin")) == (
        "not_for_this_order",
        "This order ships: it awaits the return once it is delivered.",
        "conflict",
        None,
    )
    shipped = delivered_strips(app, catalog)
    assert whole(refused(app, shipped, "partlyReturned", role="admin")) == (
        "not_for_this_order",
        "What comes back is checked in at the returns station, device by device.",
        "conflict",
        None,
    )
    move(app, shipped, "returned")  # the shipment itself came back
    assert status_of(app, shipped) == "returned"
    _, monitor, _ = delivered_kit(app, catalog)
    comes_back = return_only(app, catalog, devices=[monitor])
    assert whole(refused(app, comes_back, "processing", role="admin")) == (
        "not_for_this_order",
        "This order ships nothing: once its return label is sent, it awaits the return.",
        "conflict",
        None,
    )
    move(app, comes_back, "awaitingReturn", role="coordinator")
    assert whole(refused(app, comes_back, "returned", role="admin")) == (
        "not_for_this_order",
        "What comes back is checked in at the returns station, device by device.",
        "conflict",
        None,
    )


def add_tracking_refused(app, order_id, carrier, value, role="fulfillment") -> tuple:
    before = (tracking_of(app, order_id), events_of(app, order_id))
    with app.app_context():
        with pytest.raises(Rejected) as error:
            lifecycle.add_tracking_number(order_id, carrier, value, actor(role))
        db.session.remove()
    assert (tracking_of(app, order_id), events_of(app, order_id)) == before
    return whole(error.value)


def test_tracking_numbers_are_added_by_fulfillment_once_packed_each_refusal_in_full(app, order):
    assert add_tracking_refused(app, order, "DHL", "1234567890") == (
        "not_trackable",
        "Tracking numbers are added once the order is packed; this one is Created.",
        "conflict",
        None,
    )
    move(app, order, "processing", "packed")
    assert add_tracking_refused(app, order, "DHL", "1234567890", role="coordinator") == (
        "forbidden",
        "Only fulfillment adds tracking numbers.",
        "forbidden",
        None,
    )
    assert add_tracking_refused(app, order, "", "12") == (
        "invalid_tracking_number",
        "The carrier cannot be told from this number: choose it.",
        "invalid",
        "carrier",
    )
    assert add_tracking_refused(app, order, "Pigeon", "1234567890")[2:] == ("invalid", "carrier")
    assert add_tracking_refused(app, order, "UPS", "1Z999AA10123456785")[2:] == (
        "invalid",
        "trackingNumber",
    )
    with app.app_context():
        lifecycle.add_tracking_number(order, "", "1z 999 aa1 01 2345 6784", actor("admin"))
        db.session.remove()
    assert tracking_of(app, order) == [("UPS", "1Z999AA10123456784")]
    assert events_of(app, order)[-1] == ("trackingNumberAdded", "UPS 1Z999AA10123456784")
    assert add_tracking_refused(app, order, "UPS", "1Z999AA10123456784") == (
        "duplicate_tracking_number",
        "This tracking number is already on the order.",
        "invalid",
        "trackingNumber",
    )
    with app.app_context():
        lifecycle.add_tracking_number(order, "DHL", "1234567890", actor("fulfillment"))
        db.session.remove()
    assert tracking_of(app, order) == [("UPS", "1Z999AA10123456784"), ("DHL", "1234567890")]


def remove_refused(app, order_id, carrier, value, reason, role="fulfillment") -> tuple:
    before = (tracking_of(app, order_id), events_of(app, order_id))
    with pytest.raises(Rejected) as error:
        remove_tracking(app, order_id, carrier, value, reason, role=role)
    assert (tracking_of(app, order_id), events_of(app, order_id)) == before
    return whole(error.value)


def test_removing_a_tracking_number_says_each_refusal_in_full(app, order):
    move(app, order, "processing", "packed")
    move(app, order, "shipped", tracking=("UPS", WRONG_UPS))
    assert remove_refused(app, order, "UPS", WRONG_UPS, "Wrong", role="coordinator") == (
        "forbidden",
        "Only fulfillment removes tracking numbers.",
        "forbidden",
        None,
    )
    assert remove_refused(app, order, "DHL", WRONG_UPS, "Wrong") == (
        "tracking_number_not_found",
        "That tracking number is not on this order (someone may have removed it).",
        "conflict",
        "trackingNumber",
    )
    assert remove_refused(app, order, "UPS", WRONG_UPS, None) == (
        "reason_required",
        "Say why the tracking number is removed: a reason is required.",
        "invalid",
        "reason",
    )
    move(app, order, "delivered")
    assert remove_refused(app, order, "UPS", WRONG_UPS, "Wrong") == (
        "not_trackable",
        "Tracking numbers are changed while the order is packed or on its way; "
        "this one is Delivered.",
        "conflict",
        None,
    )


def test_a_note_is_stored_with_who_wrote_it_and_when(app, order):
    from datetime import UTC, datetime, timedelta

    with app.app_context():
        lifecycle.add_note(order, "  Called the patient  ", actor("fulfillment"))
        db.session.remove()
    with app_context(app):
        (note,) = get_order(order).notes
        assert (note.note, note.created_by.role, note.created_by_api_key) == (
            "Called the patient",
            "fulfillment",
            None,
        )
        created = note.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        assert datetime.now(UTC) - created < timedelta(minutes=5)
    with app.app_context():
        with pytest.raises(Rejected) as error:
            lifecycle.add_note(order, "   ", actor("admin"))
        db.session.remove()
    assert [(p.code, p.message, p.field) for p in error.value.problems] == [
        ("note_required", "Write the note.", "note")
    ]
    assert error.value.kind == "invalid"


def test_a_note_too_long_or_holding_a_control_character_is_refused_by_its_name(app, order):
    """The order page's note is "Note" in its refusals, as the form labels it."""
    for text, message in (
        ("x" * (MAX_NOTE_LENGTH + 1), f"Note is at most {MAX_NOTE_LENGTH} characters."),
        ("Ring twice\x1b", "Note cannot hold control characters (it holds U+001B)."),
    ):
        with app.app_context():
            with pytest.raises(Rejected) as error:
                lifecycle.add_note(order, text, actor("coordinator"))
            db.session.remove()
        assert [(p.code, p.message, p.field) for p in error.value.problems] == [
            ("invalid_note", message, "note")
        ]
    with app.app_context():
        assert get_order(order).notes == []
        db.session.remove()


# --- The locked change itself (app/orders/changes.py) --------------------------------------


@pytest.mark.parametrize("order_id", [0, -1, 2, 2**31 - 1, 2**31, 10**12])
def test_a_change_to_an_order_that_does_not_exist_is_refused_as_not_found(app, order, order_id):
    with app.app_context():
        with pytest.raises(Rejected) as error:
            lifecycle.add_note(order_id, "Hello", actor("coordinator"))
        db.session.remove()
    assert whole(error.value) == (
        "order_not_found",
        f"There is no order {order_id}.",
        "not_found",
        None,
    )


def test_the_first_order_placed_number_1_takes_changes(app, order):
    assert order == 1  # an empty database numbers its first order 1
    move(app, order, "processing")
    assert status_of(app, order) == "processing"


def test_a_change_by_someone_else_leaves_the_packers_claim_where_it_was(app, order):
    move(app, order, "processing")  # the packer who starts processing claims the order
    with app_context(app) as session:
        started = session.get(Order, order)
        claim = (started.claimed_by_id, started.claimed_at)
        assert claim[0] is not None and claim[1] == started.updated_at
    with app.app_context():
        lifecycle.add_note(order, "The patient called", actor("coordinator"))
        db.session.remove()
    with app_context(app) as session:
        noted = session.get(Order, order)
        assert (noted.claimed_by_id, noted.claimed_at) == claim
        assert noted.updated_at > claim[1]
    with app.app_context():
        lifecycle.add_note(order, "Strips on the top shelf", actor("fulfillment"))
        db.session.remove()
    with app_context(app) as session:
        worked = session.get(Order, order)
        assert worked.claimed_by_id == claim[0]
        assert worked.claimed_at == worked.updated_at > noted.updated_at


def test_cancelling_releases_the_orders_stock_with_the_reason_given(app, order):
    from app.inventory.models import StockMovement

    move(app, order, "cancelled", role="coordinator", reason="Patient moved away")
    with app_context(app) as session:
        released = session.execute(
            select(StockMovement.kind, StockMovement.reserved_change, StockMovement.reason).where(
                StockMovement.order_id == order, StockMovement.kind == "release"
            )
        ).all()
    assert released == [("release", -2, "Patient moved away")]


# --- Rules the mutation screen found unasserted (docs/mutation.md) -------------------------

# 22 digits starting 94: FedEx's format, and USPS's with a passing check digit.
FITS_FEDEX_AND_USPS = "9400100000000000000006"


def test_a_number_that_fits_two_carriers_keeps_the_carrier_chosen(app, catalog):
    shipped = place(app, catalog, items={"strips": 1})
    move(app, shipped, "processing", "packed")
    move(app, shipped, "shipped", tracking=("FedEx", FITS_FEDEX_AND_USPS))
    assert tracking_of(app, shipped) == [("FedEx", FITS_FEDEX_AND_USPS)]
    packed = place(app, catalog, items={"strips": 1})
    move(app, packed, "processing", "packed")
    with app.app_context():
        lifecycle.add_tracking_number(packed, "FedEx", FITS_FEDEX_AND_USPS, actor("fulfillment"))
        db.session.remove()
    assert tracking_of(app, packed) == [("FedEx", FITS_FEDEX_AND_USPS)]
    assert events_of(app, packed)[-1] == ("trackingNumberAdded", f"FedEx {FITS_FEDEX_AND_USPS}")


def test_an_order_in_several_parcels_of_one_carrier_keeps_each_number(app, order):
    move(app, order, "processing", "packed")
    with app.app_context():
        lifecycle.add_tracking_number(order, "UPS", WRONG_UPS, actor("fulfillment"))
        lifecycle.add_tracking_number(order, "UPS", RIGHT_UPS, actor("fulfillment"))
        db.session.remove()
    assert tracking_of(app, order) == [("UPS", WRONG_UPS), ("UPS", RIGHT_UPS)]
    remove_tracking(app, order, "UPS", RIGHT_UPS, "That parcel was never sent")
    assert tracking_of(app, order) == [("UPS", WRONG_UPS)]
    assert events_of(app, order)[-1] == (
        "trackingNumberRemoved",
        f"UPS {RIGHT_UPS}: That parcel was never sent",
    )


def test_an_admin_is_told_a_delivered_orders_tracking_number_stays(app, order):
    move(app, order, "processing", "packed")
    move(app, order, "shipped", tracking=("UPS", WRONG_UPS))
    move(app, order, "delivered")
    assert remove_refused(app, order, "UPS", WRONG_UPS, "Wrong", role="admin") == (
        "not_trackable",
        "Tracking numbers are changed while the order is packed or on its way; "
        "this one is Delivered.",
        "conflict",
        None,
    )


def test_a_reason_is_free_text_up_to_500_characters_each_refusal_in_full(app, order):
    assert whole(refused(app, order, "onHold", reason="x" * 501)) == (
        "invalid_reason",
        "Reason is at most 500 characters.",
        "invalid",
        "reason",
    )
    assert whole(refused(app, order, "onHold", reason="Waiting\x1b[0m")) == (
        "invalid_reason",
        "Reason cannot hold control characters (it holds U+001B).",
        "invalid",
        "reason",
    )
    move(app, order, "onHold", reason="Patient in hospital.\nCall back on Friday.")
    assert events_of(app, order)[-1] == ("onHold", "Patient in hospital.\nCall back on Friday.")
