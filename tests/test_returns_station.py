"""The returns station's rules, through the service as fulfillment does them: devices checked
in by scan against what the order asks back, counted items by count, unexpected devices
refused then recorded with a reason, partial returns closed as lost, and return-only orders
that never pack or ship."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.catalog.models import DeviceIdentifier
from app.extensions import db
from app.inventory.models import DeviceEvent
from app.orders import lifecycle, packing, returns_station
from app.orders.models import Order, ReturnCheckIn
from tests.conftest import STOCK_PER_COUNTED_ITEM, app_context
from tests.helpers.orders import actor, delivered_kit, delivered_order, move, place
from tests.helpers.returns import (
    a_kit_and_a_device_asked_back,
    check_in,
    delivered_glucometer,
    history,
    order_status,
    refused,
    return_only,
    status_of,
    values_of,
)
from tests.helpers.stock import figures


@pytest.fixture
def kit_back(app, catalog):
    return a_kit_and_a_device_asked_back(app, catalog)


def test_a_return_only_order_skips_processing_packing_and_shipping(app, catalog):
    _, monitor, _ = delivered_kit(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor])
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert lifecycle.next_moves(order, "fulfillment") == ["awaitingReturn", "onHold"]
        db.session.remove()
    error = refused(
        app, lambda: lifecycle.change_status(order_id, "processing", actor("fulfillment"))
    )
    assert error.code == "not_for_this_order"
    move(app, order_id, "awaitingReturn", role="coordinator")
    check_in(app, order_id, values_of(app, monitor))
    assert order_status(app, order_id) == "returned"


def test_an_order_with_return_lines_is_not_marked_returned_all_at_once(app, catalog):
    _, monitor, _ = delivered_kit(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor])
    move(app, order_id, "awaitingReturn", role="coordinator")
    error = refused(
        app, lambda: lifecycle.change_status(order_id, "returned", actor("fulfillment"))
    )
    assert error.code == "not_for_this_order"
    assert status_of(app, monitor) == "delivered"


def test_each_expected_device_is_checked_in_to_quarantine_and_the_order_is_partly_returned(
    app, kit_back
):
    order_id, (first, second, third) = kit_back
    done = check_in(app, order_id, values_of(app, first).lower())  # case does not matter
    assert done.summary == "1 of 3 devices back"
    assert order_status(app, order_id) == "partlyReturned"
    assert status_of(app, first) == "quarantined"
    assert history(app, first)[-1] == ("quarantined", order_id)
    assert status_of(app, second) == "delivered"
    check_in(app, order_id, values_of(app, second))
    check_in(app, order_id, values_of(app, third))
    assert order_status(app, order_id) == "returned"
    with app_context(app) as session:
        names = [e.name for e in session.get(Order, order_id).events]
    assert names == [
        "created",
        "awaitingReturn",
        "returnReceived",
        "partlyReturned",
        "returnReceived",
        "returnReceived",
        "returned",
    ]


def test_a_device_is_checked_in_once(app, kit_back):
    order_id, (first, *_) = kit_back
    check_in(app, order_id, values_of(app, first))
    error = refused(app, lambda: check_in(app, order_id, values_of(app, first)))
    assert error.code == "device_already_checked_in"


def test_a_scan_is_classified_as_at_packing(app, kit_back):
    order_id, _ = kit_back
    error = refused(app, lambda: check_in(app, order_id, "356938035643808"))  # bad Luhn
    assert error.code == "invalid_identifier"
    assert "This looks like an IMEI" in error.message


def test_a_device_in_stock_is_not_expected_and_says_where_it_is(app, catalog, kit_back):
    order_id, _ = kit_back
    from tests.conftest import stock_identifier

    on_shelf = stock_identifier("imei", catalog.items["glucometer"] * 1000 + 1)
    error = refused(app, lambda: check_in(app, order_id, on_shelf))
    assert error.code == "device_not_expected"
    assert "in stock at" in error.message
    assert order_status(app, order_id) == "awaitingReturn"


def test_an_unexpected_device_of_another_recipient_is_recorded_with_a_reason_to_quarantine(
    app, catalog, kit_back
):
    order_id, _ = kit_back
    other = delivered_order(app, catalog, kits={"diabetes": 1})
    with app_context(app) as session:
        glucometer = session.get(Order, other).devices[0].device_id
    with app.app_context():
        # Sent to a site instead: another recipient's device.
        order = db.session.get(Order, other)
        assert order.patient_id is not None
        db.session.remove()
    value = values_of(app, glucometer)
    error = refused(app, lambda: check_in(app, order_id, value))
    assert error.code == "device_not_expected"
    assert f"went out on order {other}" in error.message
    with app.app_context():
        error_reason = refused(
            app,
            lambda: returns_station.record_unexpected(order_id, value, " ", actor("fulfillment")),
        )
        assert error_reason.code == "reason_required"
        returns_station.record_unexpected(
            order_id, value, "In the patient's box", actor("fulfillment")
        )
        db.session.remove()
    assert status_of(app, glucometer) == "quarantined"
    assert history(app, glucometer)[-1] == ("quarantined", order_id)
    with app_context(app) as session:
        [row] = session.scalars(select(ReturnCheckIn).where(ReturnCheckIn.order_id == order_id))
        assert (row.outcome, row.reason) == ("unexpected", "In the patient's box")
    # Not what the order asked back: it still awaits its own devices.
    assert order_status(app, order_id) == "awaitingReturn"


def test_a_device_never_received_is_recorded_as_the_item_chosen(app, catalog, kit_back):
    order_id, _ = kit_back
    with app.app_context():
        seen = returns_station.identify(order_id, "ZZ-NEVER-SEEN-1")
        assert "never received" in seen.sentence
        assert catalog.items["monitor"] in [i.id for i in seen.items]
        no_item = refused(
            app,
            lambda: returns_station.record_unexpected(
                order_id, "ZZ-NEVER-SEEN-1", "Found in box", actor("fulfillment")
            ),
        )
        assert no_item.code == "item_required"
        returns_station.record_unexpected(
            order_id,
            "ZZ-NEVER-SEEN-1",
            "Found in box",
            actor("fulfillment"),
            item_id=catalog.items["monitor"],
        )
        db.session.remove()
    with app_context(app) as session:
        device_id = session.scalar(
            select(DeviceIdentifier.device_id).where(DeviceIdentifier.value == "ZZ-NEVER-SEEN-1")
        )
    assert status_of(app, device_id) == "quarantined"
    assert [s for s, _ in history(app, device_id)] == ["received", "quarantined"]
    # Quarantined is not on hand: the ledger moves when it passes inspection.


def test_a_partial_return_is_closed_with_a_reason_and_the_missing_device_is_lost(app, kit_back):
    order_id, (first, second, third) = kit_back
    check_in(app, order_id, values_of(app, first))
    check_in(app, order_id, values_of(app, second))
    with app.app_context():
        no_reason = refused(
            app, lambda: returns_station.close_return(order_id, "", actor("fulfillment"))
        )
        assert no_reason.code == "reason_required"
        names = returns_station.close_return(order_id, "Patient kept it", actor("fulfillment"))
        db.session.remove()
    assert names == [f"Gateway {values_of(app, third)}"]
    assert status_of(app, first) == status_of(app, second) == "quarantined"
    assert order_status(app, order_id) == "returned"
    assert status_of(app, third) == "lost"
    with app_context(app) as session:
        event = session.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == third)
            .order_by(DeviceEvent.id.desc())
        ).first()
        assert (event.status, event.order_id, event.note) == (
            "lost",
            order_id,
            "Not returned: Patient kept it",
        )
        timeline = [(e.name, e.note) for e in session.get(Order, order_id).events][-2:]
    assert timeline[0][0] == "returnClosed" and "Patient kept it" in timeline[0][1]
    assert timeline[1] == ("returned", "Patient kept it")


def test_a_device_closed_as_lost_cannot_be_packed_until_it_is_checked_in(app, catalog, kit_back):
    order_id, (_, _, gateway) = kit_back
    with app.app_context():
        returns_station.close_return(order_id, "Patient kept it", actor("fulfillment"))
        db.session.remove()
    assert status_of(app, gateway) == "lost"
    packing_order = place(app, catalog, kits={"hypertension": 1})
    move(app, packing_order, "processing")
    error = refused(
        app,
        lambda: packing.record_device(packing_order, values_of(app, gateway), actor("fulfillment")),
    )
    assert (error.code, error.message, error.kind, error.field) == (
        "device_lost",
        "This device is recorded as lost; check it in at a returns station first.",
        "conflict",
        "identifier",
    )
    assert status_of(app, gateway) == "lost"
    with app_context(app) as session:
        assert session.get(Order, packing_order).devices == []


def test_counted_items_are_checked_in_by_count_back_into_stock(app, catalog):
    order_id = return_only(app, catalog, items={"cuff": 4})
    move(app, order_id, "awaitingReturn", role="coordinator")
    cuff = catalog.items["cuff"]
    with app.app_context():
        done = returns_station.check_in_items(order_id, cuff, 3, actor("fulfillment"))
        assert done.summary == "3 of 4 counted units back"
        too_many = refused(
            app, lambda: returns_station.check_in_items(order_id, cuff, 2, actor("fulfillment"))
        )
        assert too_many.code == "too_many_items"
        db.session.remove()
    assert figures(app, cuff) == (STOCK_PER_COUNTED_ITEM + 3, 0)
    assert order_status(app, order_id) == "partlyReturned"
    with app.app_context():
        returns_station.check_in_items(order_id, cuff, 1, actor("fulfillment"))
        db.session.remove()
    assert figures(app, cuff) == (STOCK_PER_COUNTED_ITEM + 4, 0)
    assert order_status(app, order_id) == "returned"


def test_coordinators_do_not_check_returns_in(app, kit_back):
    order_id, (first, *_) = kit_back
    error = refused(app, lambda: check_in(app, order_id, values_of(app, first), "coordinator"))
    assert error.code == "forbidden"


def test_a_return_is_not_checked_in_before_its_order_is_delivered(app, catalog):
    _, monitor, _ = delivered_kit(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor])
    error = refused(app, lambda: check_in(app, order_id, values_of(app, monitor)))
    assert error.code == "not_awaiting_return"


# --- The station page, without JavaScript (CSRF on) ----------------------------------------


@pytest.fixture
def fulfillment_person(client):
    from tests.helpers.web import Browserless

    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def test_the_station_page_checks_a_device_in_and_says_what_is_still_missing(
    app, kit_back, fulfillment_person
):
    order_id, (first, second, third) = kit_back
    page = fulfillment_person.get(f"/orders/{order_id}/returns")
    assert page.status_code == 200
    assert "0 of 3 devices back" in page.text
    assert 'id="return-scan"' in page.text and "autofocus" in page.text
    answer = fulfillment_person.post(
        f"/orders/{order_id}/returns/scan", {"identifier": values_of(app, first)}
    )
    assert answer.status_code == 303
    page = fulfillment_person.get(f"/orders/{order_id}/returns")
    assert "1 of 3 devices back; still missing:" in page.text
    assert values_of(app, second) in page.text.split("still missing:")[1].split("</p>")[0]
    assert status_of(app, first) == "quarantined"


def test_an_unexpected_scan_is_refused_on_the_page_with_the_form_to_record_it(
    app, catalog, kit_back, fulfillment_person
):
    order_id, _ = kit_back
    other = delivered_glucometer(app, catalog)
    value = values_of(app, other)
    answer = fulfillment_person.post(
        f"/orders/{order_id}/returns/scan", {"identifier": value}, htmx=True
    )
    assert answer.status_code == 422
    assert f"“{value}” was not checked in." in answer.text
    assert "Record as unexpected arrival" in answer.text
    refused_reason = fulfillment_person.post(
        f"/orders/{order_id}/returns/unexpected", {"identifier": value, "reason": ""}, htmx=True
    )
    assert refused_reason.status_code == 422
    assert 'id="unexpected-reason-error"' in refused_reason.text
    assert status_of(app, other) == "delivered"  # nothing changed
    done = fulfillment_person.post(
        f"/orders/{order_id}/returns/unexpected",
        {"identifier": value, "reason": "Came in the same box"},
        htmx=True,
    )
    assert done.status_code == 200
    assert "Came in the same box (quarantined)" in done.text
    assert status_of(app, other) == "quarantined"


def test_a_partial_return_is_closed_on_the_page(app, kit_back, fulfillment_person):
    order_id, (first, second, third) = kit_back
    station = f"/orders/{order_id}/returns"
    fulfillment_person.post(f"{station}/scan", {"identifier": values_of(app, first)})
    no_reason = fulfillment_person.post(f"{station}/close", {"reason": " "})
    assert no_reason.status_code == 422
    assert 'id="close-reason-error"' in no_reason.text
    closed = fulfillment_person.post(f"{station}/close", {"reason": "Lost in post"})
    assert closed.status_code == 303
    assert order_status(app, order_id) == "returned"
    assert [status_of(app, d) for d in (first, second, third)] == ["quarantined", "lost", "lost"]


def test_a_return_only_order_page_says_nothing_ships(app, catalog, client):
    from tests.helpers.web import Browserless

    _, monitor, _ = delivered_kit(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor])
    person = Browserless(client)
    person.sign_in("fulfillment")
    page = person.get(f"/orders/{order_id}").text
    assert "Nothing ships: this order only asks things back." in page
    assert "<dt>Shipping</dt><dd>Nothing ships</dd>" in page
    assert "Start processing" not in page
    assert "Return label sent" in page
    assert "lines-table" not in page


# --- Overdue returns, and what a patient still owes ----------------------------------------


def label_sent_days_ago(app, order_id: int, days: int) -> None:
    """Time passing: the order's label-sent event moved back ``days`` days."""
    from datetime import timedelta

    from app.db.transactions import write_transaction
    from app.orders.models import OrderEvent

    with app.app_context(), write_transaction() as session:
        event = session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == order_id, OrderEvent.name == "awaitingReturn"
            )
        ).one()
        event.event_timestamp -= timedelta(days=days)


def test_the_order_list_filters_returns_overdue_after_the_configured_days(
    app, catalog, kit_back, client
):
    from tests.helpers.web import Browserless

    late, _ = kit_back
    _, monitor, _ = delivered_kit(app, catalog)
    recent = return_only(app, catalog, devices=[monitor])
    move(app, recent, "awaitingReturn", role="coordinator")
    label_sent_days_ago(app, late, app.config["RETURN_OVERDUE_DAYS"] + 1)
    person = Browserless(client)
    person.sign_in("coordinator")
    page = person.get("/orders/?returns=overdue").text
    assert f'href="/orders/{late}"' in page
    assert f'href="/orders/{recent}"' not in page
    assert "Overdue: not back 21 days after the label" in page


def test_the_patient_page_lists_what_the_patient_still_owes(app, catalog, kit_back, client):
    from tests.helpers.web import Browserless

    order_id, (first, second, third) = kit_back
    check_in(app, order_id, values_of(app, first))
    label_sent_days_ago(app, order_id, app.config["RETURN_OVERDUE_DAYS"] + 1)
    person = Browserless(client)
    person.sign_in("coordinator")
    page = person.get(f"/patients/{catalog.patient}").text
    owed = page.split('id="owed-list"')[1].split("</ul>")[0]
    assert f"Order {order_id}" in owed and "Overdue" in owed
    assert values_of(app, second) in owed and values_of(app, third) in owed
    assert values_of(app, first) not in owed  # back already
