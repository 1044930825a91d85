"""What the returns station stores and says, in full: each check-in's row (by whom, when, in
which kit), the device's history and place, the ledger's return rows, the order's timeline
and status; and each refusal's code, message, field and kind, with nothing stored. Through
the service as the station page calls it, the page itself, and POST /api/v3/order/{id}/returns."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.auth.models import ApiKey
from app.catalog.models import Device, DeviceIdentifier
from app.db.types import utcnow
from app.extensions import db
from app.inventory.models import DeviceEvent, StockMovement
from app.orders import returns_station
from app.orders.models import MAX_LINE_COUNT, Order, ReturnCheckIn
from app.validation import CONFLICT, FORBIDDEN, INVALID, Rejected
from tests.conftest import app_context, stock_identifier
from tests.helpers.orders import actor, delivered_order, move
from tests.helpers.returns import (
    a_kit_and_a_device_asked_back,
    check_in,
    delivered_glucometer,
    order_status,
    refused,
    return_only,
    status_of,
    values_of,
)


@pytest.fixture
def kit_back(app, catalog):
    """A glucometer on its own, and a hypertension kit (monitor, gateway), asked back."""
    return a_kit_and_a_device_asked_back(app, catalog)


def as_(role: str, call):
    """Calls the station's service as someone of ``role``, as its page does."""
    return lambda app: _run(app, lambda: call(actor(role)))


def _run(app, call):
    with app.app_context():
        try:
            return call()
        finally:
            db.session.remove()


def said(error: Rejected) -> tuple:
    return (error.code, error.message, error.field, error.kind)


def check_ins(app, order_id: int) -> list[tuple]:
    with app_context(app) as session:
        return [
            (c.device_id, c.outcome, c.reason, c.actor_user_id, c.actor_api_key_id)
            for c in session.scalars(
                select(ReturnCheckIn)
                .where(ReturnCheckIn.order_id == order_id)
                .order_by(ReturnCheckIn.id)
            )
        ]


def last_device_event(app, device_id: int) -> tuple:
    with app_context(app) as session:
        event = session.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == device_id)
            .order_by(DeviceEvent.id.desc())
        ).first()
        return (event.status, event.order_id, event.location_id, event.note)


def timeline(app, order_id: int) -> list[tuple]:
    with app_context(app) as session:
        return [(e.name, e.note) for e in session.get(Order, order_id).events]


def location_and_kit(app, order_id: int) -> tuple[int, int]:
    with app_context(app) as session:
        order = session.get(Order, order_id)
        return order.fulfillment_location_id, order.return_packed_kits[0].packed_kit_id


def user_id(app, role: str) -> int:
    with app_context(app):
        return actor(role).user_id


# --- Devices checked in -------------------------------------------------------------------


def test_a_device_checked_in_is_stored_with_who_when_and_the_kit_it_came_back_in(app, kit_back):
    order_id, (glucometer, monitor, gateway) = kit_back
    location, packed_kit = location_and_kit(app, order_id)
    value = values_of(app, monitor)
    before = utcnow()
    done = check_in(app, order_id, value)
    text = f"Checked in BP monitor {value} (Hypertension kit, packed kit {packed_kit})."
    assert done.text == f"{text} 1 of 3 devices back."
    assert done.summary == "1 of 3 devices back"
    fulfillment = user_id(app, "fulfillment")
    assert check_ins(app, order_id) == [(monitor, "arrived", None, fulfillment, None)]
    with app_context(app) as session:
        [row] = session.scalars(select(ReturnCheckIn).where(ReturnCheckIn.order_id == order_id))
        assert before <= row.created_at <= utcnow()
        device = session.get(Device, monitor)
        assert (device.current_status, device.location_id) == ("quarantined", location)
    assert last_device_event(app, monitor) == (
        "quarantined",
        order_id,
        location,
        f"Returned on order {order_id}",
    )
    assert timeline(app, order_id)[-2:] == [
        ("returnReceived", done.text),
        ("partlyReturned", None),
    ]
    # The device on its own says no kit; the last one back returns the order.
    value = values_of(app, glucometer)
    assert check_in(app, order_id, value).text == (
        f"Checked in Glucometer {value}. 2 of 3 devices back."
    )
    assert order_status(app, order_id) == "partlyReturned"
    check_in(app, order_id, values_of(app, gateway), role="admin")
    assert order_status(app, order_id) == "returned"
    assert check_ins(app, order_id)[-1] == (
        gateway,
        "arrived",
        None,
        user_id(app, "admin"),
        None,
    )
    assert [name for name, _ in timeline(app, order_id)][-2:] == ["returnReceived", "returned"]


def test_a_scan_is_refused_in_full_and_stores_nothing(app, catalog, kit_back):
    order_id, (glucometer, *_) = kit_back
    on_shelf = stock_identifier("imei", catalog.items["glucometer"] * 1000 + 1)
    cases = [
        ("", ("identifier_required", "Scan or type the device identifier.")),
        ("   ", ("identifier_required", "Scan or type the device identifier.")),
        (356938035643809, ("identifier_required", "Scan or type the device identifier.")),
        ("A" * 65, ("invalid_identifier", "That identifier is too long.")),
        (
            "A" * 64,  # not too long: refused for what it is
            (
                "invalid_identifier",
                "This is not a device identifier: a serial number is 4 to 40 letters, "
                "digits or dashes.",
            ),
        ),
        (
            "356938035643808",
            (
                "invalid_identifier",
                "This looks like an IMEI. This IMEI's check digit is wrong; check for a "
                "mistyped digit.",
            ),
        ),
    ]
    for value, (code, message) in cases:
        error = refused(app, lambda value=value: check_in(app, order_id, value))
        assert said(error) == (code, message, "identifier", INVALID), value
    error = refused(app, lambda: check_in(app, order_id, on_shelf))
    assert (error.code, error.field, error.kind) == ("device_not_expected", "identifier", INVALID)
    assert error.message.startswith(f"Glucometer {on_shelf} is not expected back on order ")
    assert f"on order {order_id}. It is in stock at " in error.message
    assert check_ins(app, order_id) == []
    assert status_of(app, glucometer) == "delivered"
    assert order_status(app, order_id) == "awaitingReturn"


def test_a_device_checked_in_twice_is_refused_the_second_time_saying_so(app, kit_back):
    order_id, (glucometer, *_) = kit_back
    value = values_of(app, glucometer)
    check_in(app, order_id, value)
    error = refused(app, lambda: check_in(app, order_id, value))
    assert said(error) == (
        "device_already_checked_in",
        f"Glucometer {value} is already checked in on this order.",
        "identifier",
        CONFLICT,
    )
    assert len(check_ins(app, order_id)) == 1


def test_who_may_check_returns_in_and_when(app, catalog, api, kit_back):
    order_id, (glucometer, *_) = kit_back
    value = values_of(app, glucometer)
    error = refused(app, lambda: check_in(app, order_id, value, role="coordinator"))
    assert said(error) == ("forbidden", "Only fulfillment checks returns in.", None, FORBIDDEN)
    outbound = delivered_order(app, catalog, kits={"diabetes": 1})
    error = refused(app, lambda: check_in(app, outbound, value))
    assert said(error) == (
        "nothing_expected_back",
        f"Order {outbound} asks nothing back.",
        None,
        CONFLICT,
    )
    not_yet = return_only(app, catalog, items={"cuff": 1})
    error = refused(app, lambda: check_in(app, not_yet, value))
    assert said(error) == (
        "not_awaiting_return",
        f"Order {not_yet} is Created: a return is checked in once the order is delivered, "
        "or its label sent when it ships nothing.",
        None,
        CONFLICT,
    )
    assert check_ins(app, order_id) == []
    # An API key checks in as itself.
    answer = api.post(
        f"/api/v3/order/{order_id}/returns", json={"deviceIdentifiers": [{"value": value}]}
    )
    assert answer.status_code == 200
    with app_context(app) as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.name == "Tests"))
    assert check_ins(app, order_id) == [(glucometer, "arrived", None, None, key_id)]


def test_the_station_page_offers_the_scan_box_only_to_who_may_check_in_while_it_is_due(
    app, catalog, client, kit_back
):
    from tests.helpers.web import Browserless

    order_id, _ = kit_back
    not_yet = return_only(app, catalog, items={"cuff": 1})
    for role, order, offered in [
        ("fulfillment", order_id, True),
        ("coordinator", order_id, False),
        ("fulfillment", not_yet, False),
    ]:
        person = Browserless(client)
        assert person.sign_in(role).status_code == 303
        page = person.get(f"/orders/{order}/returns")
        assert page.status_code == 200
        assert ('id="return-scan"' in page.text) is offered, (role, order)
        person.post("/sign-out", {})


def rows(page: str) -> list[tuple]:
    """The station's table of devices asked back, as text: one tuple per row."""
    table = page.split('<table class="slots">')[1].split("</table>")[0]
    found = []
    for row in re.findall(r"<tr class=\"(\w+)\">(.*?)</tr>", table, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row[1], re.S)
        found.append((row[0], *(re.sub(r"<[^>]+>", "", c).strip() for c in cells)))
    return found


def test_the_station_page_lists_each_device_asked_back_its_kit_and_what_became_of_it(
    app, catalog, client, kit_back
):
    from tests.helpers.web import Browserless

    order_id, (glucometer, monitor, gateway) = kit_back
    _, packed_kit = location_and_kit(app, order_id)
    other = delivered_glucometer(app, catalog)
    check_in(app, order_id, values_of(app, glucometer))
    check_in(app, order_id, values_of(app, monitor))
    _run(
        app,
        lambda: returns_station.record_unexpected(
            order_id, values_of(app, other), "Came in the same box", actor("fulfillment")
        ),
    )
    _run(
        app,
        lambda: returns_station.close_return(order_id, "Patient kept it", actor("fulfillment")),
    )
    person = Browserless(client)
    person.sign_in("fulfillment")
    page = person.get(f"/orders/{order_id}/returns").text
    kit = f"Hypertension kit, packed kit {packed_kit}"
    assert rows(page) == [
        ("filled", "Glucometer", f"IMEI {values_of(app, glucometer)}", "On its own", "Back"),
        ("filled", "BP monitor", f"Serial number {values_of(app, monitor)}", kit, "Back"),
        (
            "empty",
            "Gateway",
            f"ICCID {values_of(app, gateway)}",
            kit,
            "Lost: Patient kept it",
        ),
    ]
    unexpected = page.split('id="unexpected-arrivals-heading"')[1].split("</ul>")[0]
    assert f"Glucometer {values_of(app, other)}</a>: Came in the same box (quarantined)" in (
        unexpected
    )
    assert unexpected.count("<li>") == 1
    assert "2 of 3 devices back" in page
    assert 'id="return-scan"' not in page  # returned: nothing more to check in


# --- Counted items ------------------------------------------------------------------------


def test_counted_items_come_back_into_stock_by_count_and_no_more_than_asked(app, catalog):
    order_id = return_only(app, catalog, items={"cuff": 3})
    move(app, order_id, "awaitingReturn", role="coordinator")
    cuff, strips = catalog.items["cuff"], catalog.items["strips"]

    def count_in(item_id, count):
        return as_(
            "fulfillment", lambda who: returns_station.check_in_items(order_id, item_id, count, who)
        )

    def refusal(item_id, count):
        return said(refused(app, lambda: count_in(item_id, count)(app)))

    invalid = ("invalid_count", "Give how many came back: a whole number, 1 or more.", "count")
    for count in (0, -1, True, "2", 1.5, None, MAX_LINE_COUNT + 1):
        assert refusal(cuff, count) == (*invalid, INVALID), count
    assert refusal(strips, 1) == (
        "item_not_expected",
        "This order does not ask that item back.",
        "count.item.id",
        INVALID,
    )
    done = count_in(cuff, 1)(app)
    assert done.text == "Checked in 1 × BP cuff, large. 1 of 3 counted units back."
    assert refusal(cuff, MAX_LINE_COUNT) == (
        "too_many_items",
        "Only 2 BP cuff, large are still expected back (1 of 3 already checked in).",
        "count.count",
        INVALID,
    )
    count_in(cuff, 1)(app)
    assert refusal(cuff, 2) == (
        "too_many_items",
        "Only 1 BP cuff, large is still expected back (2 of 3 already checked in).",
        "count.count",
        INVALID,
    )
    assert order_status(app, order_id) == "partlyReturned"
    last = count_in(cuff, 1)(app)  # exactly what is left
    assert last.summary == "3 of 3 counted units back"
    assert order_status(app, order_id) == "returned"
    with app_context(app) as session:
        order = session.get(Order, order_id)
        assert [line.arrived_count for line in order.return_items] == [3]
        location = order.fulfillment_location_id
        moved = [
            (m.kind, m.item_id, m.location_id, m.on_hand_change, m.reserved_change, m.order_id)
            for m in session.scalars(
                select(StockMovement)
                .where(StockMovement.order_id == order_id)
                .order_by(StockMovement.id)
            )
        ]
    assert moved == [("return", cuff, location, 1, 0, order_id)] * 3
    names = [name for name, _ in timeline(app, order_id)]
    assert names == [
        "created",
        "awaitingReturn",
        "returnReceived",
        "partlyReturned",
        "returnReceived",
        "returnReceived",
        "returned",
    ]


def test_the_api_records_devices_and_counted_items_in_one_call_or_nothing(app, api, catalog):
    from tests.helpers.orders import delivered_kit

    _, monitor, _ = delivered_kit(app, catalog)
    glucometer = delivered_glucometer(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor, glucometer], items={"cuff": 2})
    move(app, order_id, "awaitingReturn", role="coordinator")
    cuff = catalog.items["cuff"]
    url = f"/api/v3/order/{order_id}/returns"
    empty = api.post(url, json={})
    assert empty.status_code == 400
    error = empty.get_json()["error"]
    assert (error["code"], error["message"], error["field"]) == (
        "nothing_to_record",
        "Name at least one device identifier or counted return item.",
        "deviceIdentifiers",
    )
    wrong_item = api.post(
        url,
        json={
            "deviceIdentifiers": [{"value": values_of(app, monitor)}],
            "returnItems": [
                {"item": {"id": cuff}, "count": 1},
                {"item": {"id": catalog.items["strips"]}, "count": 1},
            ],
        },
    )
    assert wrong_item.status_code == 400
    assert wrong_item.get_json()["error"]["field"] == "returnItems[1].item.id"
    assert check_ins(app, order_id) == []  # all or nothing
    bad_count = api.post(url, json={"returnItems": [{"item": {"id": cuff}, "count": 0}]})
    assert bad_count.get_json()["error"]["field"] == "returnItems[0]"
    answer = api.post(
        url,
        json={
            "deviceIdentifiers": [
                {"value": values_of(app, monitor)},
                {"value": values_of(app, glucometer)},
            ],
            "returnItems": [{"item": {"id": cuff}, "count": 2}],
        },
    )
    assert answer.status_code == 200
    assert answer.get_json()["currentStatus"] == "returned"
    assert timeline(app, order_id)[-2] == (
        "returnReceived",
        f"Checked in BP monitor {values_of(app, monitor)}, Glucometer "
        f"{values_of(app, glucometer)}, 2 × BP cuff, large. 2 of 2 devices back, "
        "2 of 2 counted units back.",
    )


# --- Unexpected arrivals ------------------------------------------------------------------


def test_an_unexpected_arrival_is_stored_with_its_reason_on_the_order_and_the_device(
    app, catalog, kit_back
):
    order_id, (glucometer, *_) = kit_back
    location, _ = location_and_kit(app, order_id)
    other = delivered_glucometer(app, catalog)
    value = values_of(app, other)

    def record(identifier, reason, item_id=None):
        return as_(
            "fulfillment",
            lambda who: returns_station.record_unexpected(
                order_id, identifier, reason, who, item_id
            ),
        )(app)

    no_reason = refused(app, lambda: record(value, None))
    assert said(no_reason) == (
        "reason_required",
        "Say why it is recorded here: a reason is required.",
        "reason",
        INVALID,
    )
    expected = refused(app, lambda: record(values_of(app, glucometer), "Why not"))
    assert said(expected) == (
        "device_expected",
        f"Glucometer {values_of(app, glucometer)} is expected back on this order: check it "
        "in with the scan box.",
        "identifier",
        CONFLICT,
    )
    on_shelf = stock_identifier("imei", catalog.items["glucometer"] * 1000 + 1)
    in_stock = refused(app, lambda: record(on_shelf, "Why not"))
    assert (in_stock.code, in_stock.field, in_stock.kind) == (
        "device_not_recordable",
        "identifier",
        CONFLICT,
    )
    assert in_stock.message.startswith("It is in stock at ")
    assert check_ins(app, order_id) == []
    text = record(value, "In the patient's box")
    assert text == f"Glucometer {value}: In the patient's box"
    assert check_ins(app, order_id) == [
        (other, "unexpected", "In the patient's box", user_id(app, "fulfillment"), None)
    ]
    assert last_device_event(app, other) == (
        "quarantined",
        order_id,
        location,
        f"Unexpected arrival on order {order_id}: In the patient's box",
    )
    assert timeline(app, order_id)[-1] == ("unexpectedDeviceReceived", text)
    # Scanned again in the scan box: it is on this order already.
    again = refused(app, lambda: check_in(app, order_id, value))
    assert said(again) == (
        "device_already_checked_in",
        f"Glucometer {value} is already recorded on this order as an unexpected arrival.",
        "identifier",
        CONFLICT,
    )


def test_a_device_never_received_is_received_as_the_item_it_can_be(app, catalog, kit_back):
    from app.catalog import service as catalog_service
    from tests.helpers.orders import set_monitor_pattern

    order_id, _ = kit_back
    location, _ = location_and_kit(app, order_id)
    set_monitor_pattern(app, catalog)  # BP7450-...
    with app.app_context():  # a second serial-numbered item, of any serial
        catalog_service.create_item(
            catalog_service.ItemDraft(name="Scale", sku="SCL", device_identifier_type="serial"),
            actor("admin"),
        )
        db.session.remove()

    def record(identifier, item_id):
        return as_(
            "fulfillment",
            lambda who: returns_station.record_unexpected(
                order_id, identifier, "Found in box", who, item_id
            ),
        )(app)

    required = (
        "item_required",
        "This device was never received: choose which item it is.",
        "item",
        INVALID,
    )
    for item_id in (None, str(catalog.items["monitor"]), 999999, catalog.items["cuff"]):
        assert said(refused(app, lambda i=item_id: record("ZZ-NEVER-SEEN-1", i))) == required
    for value, item, said_as in [
        ("ZZ-NEVER-SEEN-1", "glucometer", "ZZ-NEVER-SEEN-1 cannot be the IMEI of a Glucometer."),
        (
            "ZZ-NEVER-SEEN-1",
            "monitor",
            "ZZ-NEVER-SEEN-1 cannot be the Serial number of a BP monitor.",
        ),
    ]:
        error = refused(app, lambda v=value, i=item: record(v, catalog.items[i]))
        assert said(error) == ("wrong_item", said_as, "item", INVALID)
    text = record("bp7450-0042", catalog.items["monitor"])  # read in capitals
    assert text == "BP monitor BP7450-0042: Found in box"
    with app_context(app) as session:
        device = session.scalar(
            select(Device)
            .join(DeviceIdentifier)
            .where(DeviceIdentifier.value == "BP7450-0042", DeviceIdentifier.type == "serial")
        )
        assert (device.item_id, device.current_status, device.location_id) == (
            catalog.items["monitor"],
            "quarantined",
            location,
        )
        device_id = device.id
        history = [
            (e.status, e.order_id, e.location_id, e.note)
            for e in session.scalars(
                select(DeviceEvent)
                .where(DeviceEvent.device_id == device_id)
                .order_by(DeviceEvent.id)
            )
        ]
    note = f"Unexpected arrival on order {order_id}: Found in box"
    assert history == [
        ("received", order_id, location, note),
        ("quarantined", order_id, location, note),
    ]
    assert check_ins(app, order_id)[-1][:3] == (device_id, "unexpected", "Found in box")


def test_identifying_a_scan_reads_what_it_is_or_nothing(app, catalog, kit_back):
    order_id, _ = kit_back
    other = delivered_glucometer(app, catalog)
    with app.app_context():
        assert returns_station.identify(order_id, "!!!") is None
        assert returns_station.identify(order_id, None) is None
        assert returns_station.identify(999999, values_of(app, other)) is None
        seen = returns_station.identify(order_id, values_of(app, other))
        assert (seen.what, seen.recordable, seen.expected_here) == (
            f"Glucometer {values_of(app, other)}",
            True,
            False,
        )
        db.session.remove()


# --- Closing a partial return -------------------------------------------------------------


def test_closing_a_partial_return_records_what_is_lost_and_what_is_not_back(app, catalog):
    from tests.helpers.orders import delivered_kit

    _, monitor, _ = delivered_kit(app, catalog)
    glucometer = delivered_glucometer(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor, glucometer], items={"cuff": 3})
    move(app, order_id, "awaitingReturn", role="coordinator")
    check_in(app, order_id, values_of(app, glucometer))
    as_(
        "fulfillment",
        lambda who: returns_station.check_in_items(order_id, catalog.items["cuff"], 1, who),
    )(app)

    def close(reason, role="fulfillment"):
        return as_(role, lambda who: returns_station.close_return(order_id, reason, who))(app)

    for reason in (None, "", "  ", 5, ["Lost"]):  # only text is a reason
        assert said(refused(app, lambda r=reason: close(r))) == (
            "reason_required",
            "Say why the return is closed with something missing: a reason is required.",
            "reason",
            INVALID,
        )
    assert said(refused(app, lambda: close("Lost", role="coordinator")))[0] == "forbidden"
    assert order_status(app, order_id) == "partlyReturned"
    before = utcnow()
    names = close("Patient kept it")
    monitor_name = f"BP monitor {values_of(app, monitor)}"
    assert names == [monitor_name, "2 × BP cuff, large"]
    fulfillment = user_id(app, "fulfillment")
    assert check_ins(app, order_id) == [
        (glucometer, "arrived", None, fulfillment, None),
        (monitor, "lost", "Patient kept it", fulfillment, None),
    ]
    with app_context(app) as session:
        lost = session.scalars(
            select(ReturnCheckIn).where(
                ReturnCheckIn.order_id == order_id, ReturnCheckIn.outcome == "lost"
            )
        ).one()
        assert before <= lost.created_at <= utcnow()
    assert status_of(app, monitor) == "lost"
    status, event_order, _, note = last_device_event(app, monitor)
    assert (status, event_order, note) == ("lost", order_id, "Not returned: Patient kept it")
    assert timeline(app, order_id)[-2:] == [
        ("returnClosed", f"Not back: {monitor_name}, 2 × BP cuff, large. Patient kept it"),
        ("returned", "Patient kept it"),
    ]


def test_a_scan_of_a_device_never_received_is_not_expected_and_says_so(app, kit_back):
    order_id, (glucometer, *_) = kit_back
    check_in(app, order_id, values_of(app, glucometer))
    error = refused(app, lambda: check_in(app, order_id, "zz-never-seen-1"))
    assert said(error) == (
        "device_not_expected",
        f"The serial number ZZ-NEVER-SEEN-1 is not expected back on order {order_id}. It was "
        "never received: no device with this identifier is on record anywhere.",
        "identifier",
        INVALID,
    )
    assert len(check_ins(app, order_id)) == 1


def test_a_device_named_twice_in_one_api_call_is_refused_whole(app, api, kit_back):
    order_id, (glucometer, *_) = kit_back
    value = values_of(app, glucometer)
    answer = api.post(
        f"/api/v3/order/{order_id}/returns",
        json={"deviceIdentifiers": [{"value": value}, {"value": value.lower()}]},
    )
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert (error["code"], error["message"], error["field"]) == (
        "device_already_checked_in",
        f"Glucometer {value} is already checked in on this order.",
        "deviceIdentifiers[1].value",
    )
    assert check_ins(app, order_id) == []
    assert order_status(app, order_id) == "awaitingReturn"


def test_a_scan_matches_only_identifiers_of_a_type_its_format_may_be(app, catalog):
    # A BP monitor whose serial number is all digits and reads as an IMEI: a scan of it is
    # classified as an IMEI, as at packing, and matches no serial number on record.
    from tests.helpers.stock import receive

    serial = "356938035643809"
    receive(app, catalog.items["monitor"], "serial", [serial])
    with app_context(app) as session:
        monitor = session.scalar(
            select(DeviceIdentifier.device_id).where(DeviceIdentifier.value == serial)
        )
    order_id = return_only(app, catalog, devices=[monitor])
    move(app, order_id, "awaitingReturn", role="coordinator")
    error = refused(app, lambda: check_in(app, order_id, serial))
    assert said(error) == (
        "device_not_expected",
        f"The IMEI {serial} is not expected back on order {order_id}. It was never received: "
        "no device with this identifier is on record anywhere.",
        "identifier",
        INVALID,
    )
    assert check_ins(app, order_id) == []
    assert status_of(app, monitor) == "inStock"
    assert order_status(app, order_id) == "awaitingReturn"


def test_an_unexpected_arrival_needs_a_scan_and_a_reason_in_words(app, catalog, kit_back):
    order_id, (glucometer, *_) = kit_back
    value = values_of(app, delivered_glucometer(app, catalog))

    def record(identifier, reason):
        return as_(
            "fulfillment",
            lambda who: returns_station.record_unexpected(order_id, identifier, reason, who),
        )(app)

    for reason in (5, ["Lost"], None, "   "):
        error = refused(app, lambda reason=reason: record(value, reason))
        assert said(error) == (
            "reason_required",
            "Say why it is recorded here: a reason is required.",
            "reason",
            INVALID,
        ), reason
    for identifier in ("", "  ", 356938035643809):
        error = refused(app, lambda identifier=identifier: record(identifier, "In the box"))
        assert said(error) == (
            "identifier_required",
            "Scan or type the device identifier.",
            "identifier",
            INVALID,
        ), identifier
    assert check_ins(app, order_id) == []
    assert order_status(app, order_id) == "awaitingReturn"
