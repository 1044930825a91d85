"""POST /api/v3/order/{id}/returns: what came back, by identifier and count, for warehouses
that scan elsewhere; and GET /api/v3/order/{id} answering each return line's arrival."""

from __future__ import annotations

import pytest

from app.auth import scopes
from tests.helpers.api_keys import key_with
from tests.helpers.openapi import check
from tests.helpers.orders import move
from tests.helpers.returns import (
    a_kit_and_a_device_asked_back,
    delivered_glucometer,
    return_only,
    status_of,
    values_of,
)


@pytest.fixture
def kit_back(app, catalog):
    return a_kit_and_a_device_asked_back(app, catalog)


def returns(api, order_id, **body):
    return api.post(f"/api/v3/order/{order_id}/returns", json=body)


def test_arrivals_are_recorded_by_identifier_and_shown_on_each_return_line(
    app, api, kit_back, spec
):
    order_id, (first, second, third) = kit_back
    before = api.get(f"/api/v3/order/{order_id}").get_json()
    assert [d["arrivedAt"] for d in before["returnDevices"]] == [None]
    answer = returns(
        api,
        order_id,
        deviceIdentifiers=[{"value": values_of(app, first)}, {"value": values_of(app, second)}],
    )
    assert answer.status_code == 200
    check(spec, "/api/v3/order/{orderId}/returns", "post", answer)
    order = answer.get_json()
    assert order["currentStatus"] == "partlyReturned"
    assert order["returnDevices"][0]["arrivedAt"] is not None
    [kit] = order["returnPackedKits"]
    assert [d["arrivedAt"] is not None for d in kit["devices"]] == [True, False]
    assert order["orderEvents"][-2]["name"] == "returnReceived"
    fetched = api.get(f"/api/v3/order/{order_id}")
    check(spec, "/api/v3/order/{orderId}", "get", fetched)
    assert fetched.get_json()["returnDevices"] == order["returnDevices"]
    assert status_of(app, first) == status_of(app, second) == "quarantined"


def test_an_unexpected_device_refuses_the_whole_call_with_a_stable_code(
    app, api, catalog, kit_back, spec
):
    order_id, (first, *_) = kit_back
    other = delivered_glucometer(app, catalog)
    answer = returns(
        api,
        order_id,
        deviceIdentifiers=[{"value": values_of(app, first)}, {"value": values_of(app, other)}],
    )
    assert answer.status_code == 400
    check(spec, "/api/v3/order/{orderId}/returns", "post", answer)
    error = answer.get_json()["error"]
    assert (error["code"], error["field"]) == ("device_not_expected", "deviceIdentifiers[1].value")
    assert status_of(app, first) == "delivered"  # all or nothing


def test_counted_items_and_their_arrived_count(app, api, catalog):
    order_id = return_only(app, catalog, items={"cuff": 3})
    move(app, order_id, "awaitingReturn", role="coordinator")
    cuff = catalog.items["cuff"]
    too_many = returns(api, order_id, returnItems=[{"item": {"id": cuff}, "count": 4}])
    assert too_many.status_code == 400
    assert too_many.get_json()["error"]["field"] == "returnItems[0].count"
    answer = returns(api, order_id, returnItems=[{"item": {"id": cuff}, "count": 2}])
    assert answer.get_json()["returnItems"][0]["arrivedCount"] == 2
    empty = returns(api, order_id)
    assert empty.get_json()["error"]["code"] == "nothing_to_record"


def test_recording_arrivals_needs_the_orders_write_scope(app, client, kit_back):
    order_id, (first, *_) = kit_back
    key = key_with(app, [scopes.ORDERS_READ])
    answer = client.post(
        f"/api/v3/order/{order_id}/returns",
        json={"deviceIdentifiers": [{"value": values_of(app, first)}]},
        headers={"Impilo-API-Key": key},
    )
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "insufficient_scope"


def test_a_return_not_yet_due_is_refused(app, api, catalog):
    from tests.helpers.orders import delivered_kit

    _, monitor, _ = delivered_kit(app, catalog)
    order_id = return_only(app, catalog, devices=[monitor])
    answer = returns(api, order_id, deviceIdentifiers=[{"value": values_of(app, monitor)}])
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (409, "not_awaiting_return")
    missing = returns(api, 999999, deviceIdentifiers=[{"value": "X"}])
    assert missing.status_code == 404


def test_webhooks_get_order_return_received_for_what_came_back_only(app, api, kit_back):
    from tests.helpers.webhooks import Receiver, body_of, deliver_everything, subscribe

    order_id, (first, *_) = kit_back
    receiver = Receiver().start()
    try:
        subscribe(api, receiver.url, types=("order.returnReceived",))
        returns(api, order_id, deviceIdentifiers=[{"value": values_of(app, first)}])
        deliver_everything(app)
        bodies = [body_of(hit) for hit in receiver.hits()]
    finally:
        receiver.stop()
    # One message, for the arrival: not for the status move (partlyReturned) it made.
    [body] = bodies
    assert body["type"] == "order.returnReceived"
    assert body["payload"]["orderId"] == order_id
    assert body["payload"]["event"]["name"] == "returnReceived"
    assert values_of(app, first) in body["payload"]["event"]["note"]
    assert "patient" not in body["payload"]


def test_a_subscription_to_statuses_and_returns_gets_the_arrival_and_the_move_each_once(
    app, api, kit_back
):
    from tests.helpers.webhooks import Receiver, body_of, deliver_everything, subscribe

    order_id, (first, *_) = kit_back
    receiver = Receiver().start()
    try:
        subscribe(api, receiver.url, types=("order.returnReceived", "order.status"))
        returns(api, order_id, deviceIdentifiers=[{"value": values_of(app, first)}])
        deliver_everything(app)
        bodies = [body_of(hit) for hit in receiver.hits()]
    finally:
        receiver.stop()
    assert sorted((b["type"], b["payload"]["event"]["name"]) for b in bodies) == [
        ("order.returnReceived", "returnReceived"),
        ("order.status", "partlyReturned"),
    ]
