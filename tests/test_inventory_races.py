"""No overselling under load: truly parallel HTTP requests against the app on a real port,
competing for the last units and for one device, on whichever database the suite runs on."""

from __future__ import annotations

from sqlalchemy import func, select

from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.inventory import ledger
from app.inventory.locations import default_location
from app.inventory.models import StockBalance
from app.orders.models import Order, OrderEvent
from tests.conftest import app_context, stock_identifier
from tests.helpers.orders import move, place, receive_stock
from tests.helpers.real_http import HttpSession, api_post, in_parallel

PARALLEL = 8
LAST_UNITS = 3


def test_parallel_orders_for_the_last_units_place_exactly_what_exists(
    app, live_server, api_key, catalog
):
    with app.app_context(), write_transaction() as session:
        item = Item(name="Pulse oximeter sleeve", sku="POX-SLV")
        session.add(item)
        session.flush()
        item_id = item.id
    receive_stock(app, {item_id: LAST_UNITS})
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [
            {"item": {"id": catalog.items["strips"]}, "count": 1},
            {"item": {"id": item_id}, "count": 1},
        ],
    }
    results = in_parallel(
        [lambda: api_post(live_server.url, api_key, "/api/v3/order", body)] * PARALLEL
    )
    codes = sorted(code for code, _ in results)
    assert codes == [201] * LAST_UNITS + [400] * (PARALLEL - LAST_UNITS)
    for code, answer in results:
        if code == 400:
            assert answer["error"]["code"] == "insufficient_inventory"
            assert answer["error"]["field"] == "orderItems[1].count"
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == LAST_UNITS
        assert ledger.balance_mismatches() == []
        assert ledger.available(default_location().id, [item_id]) == {item_id: 0}


def test_parallel_kits_competing_for_the_last_devices_never_oversell(
    app, live_server, api_key, catalog
):
    with app.app_context(), write_transaction() as session:
        session.get(Item, catalog.items["glucometer"]).accept_unreceived_devices = False
    body = {
        "patient": {"id": catalog.patient},
        "orderKits": [{"kit": {"id": catalog.kits["diabetes"]}, "count": 5}],
    }
    results = in_parallel([lambda: api_post(live_server.url, api_key, "/api/v3/order", body)] * 4)
    # 12 glucometers on the shelf: two orders of 5 fit, the other two do not.
    assert sorted(code for code, _ in results) == [201, 201, 400, 400]
    with app_context(app) as session:
        assert ledger.balance_mismatches() == []


def test_two_packers_scanning_one_shelf_device_into_two_orders_one_wins(app, live_server, catalog):
    with app.app_context(), write_transaction() as session:
        session.get(Item, catalog.items["glucometer"]).accept_unreceived_devices = False
    device = stock_identifier("imei", catalog.items["glucometer"] * 1000 + 2)
    first = place(app, catalog, kits={"diabetes": 1})
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    move(app, second, "processing")
    a, b = HttpSession(live_server.url, "fulfillment"), HttpSession(live_server.url, "fulfillment")
    results = in_parallel(
        [
            lambda: a.post(f"/orders/{first}/devices", {"identifier": device}),
            lambda: b.post(f"/orders/{second}/devices", {"identifier": device}),
        ]
    )
    assert sorted(results) == [303, 409]
    with app_context(app) as session:
        recorded = session.scalar(
            select(func.count(OrderEvent.id)).where(
                OrderEvent.order_id.in_([first, second]), OrderEvent.name == "deviceRecorded"
            )
        )
        assert recorded == 1


ROUNDS = 5
MIX = 10


def test_cancels_and_new_orders_for_one_item_in_parallel_all_get_a_real_answer(
    app, live_server, api_key, catalog
):
    """Cancelling releases an item's balance while placing reserves it: both lock the order
    and the balance (and the status counters), in one order everywhere, so neither waits
    for the other forever (on PostgreSQL a deadlock answered 503 busy)."""
    strips = catalog.items["strips"]
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": strips}, "count": 1}],
    }

    def cancel(order_id):
        return api_post(
            live_server.url, api_key, f"/api/v3/order/{order_id}/cancel", {"reason": "duplicate"}
        )

    def place_one():
        return api_post(live_server.url, api_key, "/api/v3/order", body)

    answers = []
    for _ in range(ROUNDS):
        placed = in_parallel([place_one] * MIX)
        assert [code for code, _ in placed] == [201] * MIX
        ids = [answer["id"] for _, answer in placed]
        calls = [lambda i=i: cancel(i) for i in ids] + [place_one] * MIX
        answers += in_parallel(calls)
    # Each round: its MIX cancels, then its MIX placements. Every one is a real outcome
    # (the orders were all cancellable and the stock suffices): none is "503 busy".
    rounds = [answers[r * 2 * MIX : (r + 1) * 2 * MIX] for r in range(ROUNDS)]
    cancelled = [code for answered in rounds for code, _ in answered[:MIX]]
    placed_too = [code for answered in rounds for code, _ in answered[MIX:]]
    assert cancelled == [200] * ROUNDS * MIX, sorted(cancelled)
    assert placed_too == [201] * ROUNDS * MIX, sorted(placed_too)
    with app_context(app) as session:
        assert ledger.balance_mismatches() == []
        statuses = dict(
            session.execute(
                select(Order.current_status, func.count(Order.id)).group_by(Order.current_status)
            ).all()
        )
        assert statuses == {"cancelled": ROUNDS * MIX, "created": ROUNDS * MIX}
        location = default_location().id
        reserved = session.scalar(
            select(StockBalance.reserved).where(
                StockBalance.location_id == location,
                StockBalance.item_id == strips,
            )
        )
        assert reserved == ROUNDS * MIX
