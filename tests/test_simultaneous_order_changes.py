"""Two people acting on one order at the same moment never make two changes from one state.

Truly parallel HTTP requests against the app served on a real port, on whichever database
the suite runs on (SQLite here, PostgreSQL in the second CI run).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from sqlalchemy import func, select

from app.orders.models import Order, OrderEvent
from tests.conftest import app_context
from tests.helpers.orders import place
from tests.helpers.real_http import HttpSession, in_parallel

PARALLEL = 8


def events(app, order_id, name):
    with app_context(app) as session:
        return session.scalar(
            select(func.count(OrderEvent.id)).where(
                OrderEvent.order_id == order_id, OrderEvent.name == name
            )
        )


def test_parallel_holds_from_one_state_make_one_change(app, live_server, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    people = [HttpSession(live_server.url, "fulfillment") for _ in range(PARALLEL)]
    results = in_parallel(
        [
            (
                lambda p=p, n=n: p.post(
                    f"/orders/{order_id}/status",
                    {"to_status": "onHold", "from_status": "created", "reason": f"hold {n}"},
                )
            )
            for n, p in enumerate(people)
        ]
    )
    assert sorted(results) == [303] + [409] * (PARALLEL - 1)
    assert events(app, order_id, "onHold") == 1
    with app_context(app) as session:
        order = session.get(Order, order_id)
        assert (order.current_status, order.held_from_status) == ("onHold", "created")


def test_parallel_different_changes_from_one_state_make_one_change(app, live_server, catalog):
    """Half try to start processing, half to hold, all from "created": only one wins."""
    order_id = place(app, catalog, items={"strips": 1})
    people = [HttpSession(live_server.url, "admin") for _ in range(PARALLEL)]
    calls = []
    for n, p in enumerate(people):
        to_status = "processing" if n % 2 else "onHold"
        calls.append(
            lambda p=p, to_status=to_status: p.post(
                f"/orders/{order_id}/status",
                {"to_status": to_status, "from_status": "created", "reason": "r"},
            )
        )
    results = in_parallel(calls)
    assert results.count(303) == 1
    assert events(app, order_id, "processing") + events(app, order_id, "onHold") == 1


def test_parallel_api_cancels_make_one_cancellation(app, live_server, api_key, catalog):
    order_id = place(app, catalog, items={"strips": 1})

    def cancel():
        request = urllib.request.Request(
            f"{live_server.url}/api/v3/order/{order_id}/cancel",
            data=json.dumps({"reason": "duplicate"}).encode(),
            headers={"Content-Type": "application/json", "Impilo-API-Key": api_key},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    results = in_parallel([cancel] * PARALLEL)
    assert sorted(results) == [200] + [409] * (PARALLEL - 1)
    assert events(app, order_id, "cancelled") == 1


def test_two_returns_of_one_device_placed_at_once_one_wins(app, live_server, api_key, catalog):
    """Half name the monitor, half the packed kit it was shipped in: the device is locked
    while the rule is checked, so the others wait and then see the first."""
    from tests.helpers.orders import delivered_kit, orders_returning
    from tests.helpers.real_http import api_post

    _, monitor, packed_kit = delivered_kit(app, catalog)
    bodies = [
        {"patient": {"id": catalog.patient}, "returnDevices": [{"id": monitor}]},
        {"patient": {"id": catalog.patient}, "returnPackedKits": [{"id": packed_kit}]},
    ] * (PARALLEL // 2)
    results = in_parallel(
        [lambda b=b: api_post(live_server.url, api_key, "/api/v3/order", b) for b in bodies]
    )
    assert sorted(code for code, _ in results) == [201] + [400] * (len(bodies) - 1)
    for code, answer in results:
        if code == 400:
            assert answer["error"]["code"] == "device_on_open_return"
    [(_, placed)] = [(code, answer) for code, answer in results if code == 201]
    assert orders_returning(app, monitor) == [placed["id"]]


def test_parallel_scans_of_one_device_into_two_orders_record_it_once(app, live_server, catalog):
    from tests.helpers.orders import imei, move

    first = place(app, catalog, kits={"diabetes": 1})
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    move(app, second, "processing")
    a, b = HttpSession(live_server.url, "fulfillment"), HttpSession(live_server.url, "fulfillment")
    results = in_parallel(
        [
            lambda: a.post(f"/orders/{first}/devices", {"identifier": imei(99)}),
            lambda: b.post(f"/orders/{second}/devices", {"identifier": imei(99)}),
        ]
    )
    assert sorted(results) == [303, 409]
    assert events(app, first, "deviceRecorded") + events(app, second, "deviceRecorded") == 1


def test_parallel_scans_of_a_known_device_into_two_orders_record_it_once(app, live_server, catalog):
    from tests.helpers.orders import imei, move, record_and_release

    known = imei(98)
    record_and_release(app, catalog, known)  # the device exists, back in stock
    first = place(app, catalog, kits={"diabetes": 1})
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    move(app, second, "processing")
    a, b = HttpSession(live_server.url, "fulfillment"), HttpSession(live_server.url, "fulfillment")
    results = in_parallel(
        [
            lambda: a.post(f"/orders/{first}/devices", {"identifier": known}),
            lambda: b.post(f"/orders/{second}/devices", {"identifier": known}),
        ]
    )
    assert sorted(results) == [303, 409]
    assert events(app, first, "deviceRecorded") + events(app, second, "deviceRecorded") == 1
