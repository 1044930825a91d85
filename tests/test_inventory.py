"""Stock: receipts, reservations, release, shipment, returns and quarantine, devices picked
from the shelf, the ledger's invariant, the API, and the pages. On whichever database the
suite runs on (SQLite here, PostgreSQL in the second CI run)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from app.auth.actor import Actor
from app.auth.models import User
from app.catalog.models import Device, DeviceIdentifier, Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import adjustments, ledger, receipts
from app.inventory import devices as stock_devices
from app.inventory.models import DeviceEvent, StockBalance, StockMovement
from app.orders import packing
from app.orders.models import Order
from app.validation import Rejected
from tests.conftest import (
    STOCK_PER_COUNTED_ITEM,
    STOCK_PER_DEVICE_ITEM,
    app_context,
    stock_identifier,
)
from tests.helpers.orders import actor, imei, move, pack_everything, place
from tests.helpers.stock import figures, ledger_count, record, second_location, statuses_of


def strict(app, catalog, *names: str) -> None:
    """These device items are packed only from devices on the shelf (the default rule)."""
    with app.app_context(), write_transaction() as session:
        for name in names:
            session.get(Item, catalog.items[name]).accept_unreceived_devices = False


def shelf(catalog, name: str, n: int, kind: str) -> str:
    """The identifier of the fixture's n-th received device of an item."""
    return stock_identifier(kind, catalog.items[name] * 1000 + n)


def refused_scan(app, order_id, value) -> Rejected:
    with pytest.raises(Rejected) as error:
        record(app, order_id, value)
    return error.value


def receive(app, *, lines=(), devices=(), location=None, reference="Delivery 42"):
    with app.app_context():
        try:
            return receipts.receive(
                receipts.ReceiptDraft(
                    location_ref=location,
                    reference=reference,
                    lines=[receipts.ReceiptLine(i, n) for i, n in lines],
                    devices=[receipts.ReceiptDevices(i, list(ids)) for i, ids in devices],
                ),
                actor("fulfillment"),
            ).id
        finally:
            db.session.remove()


# --- Receipts ------------------------------------------------------------------------------


def test_a_counted_receipt_adds_on_hand_with_a_ledger_row(app, catalog):
    strips = catalog.items["strips"]
    receive(app, lines=[(strips, 25)])
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM + 25, 0)
    with app_context(app) as session:
        row = session.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
        assert (row.kind, row.item_id, row.on_hand_change, row.reserved_change) == (
            "receipt",
            strips,
            25,
            0,
        )
        assert row.reason == "Delivery 42" and row.receipt_id and row.actor_user.role


def test_received_devices_are_in_stock_with_their_history(app, catalog):
    glucometer = catalog.items["glucometer"]
    from tests.helpers.orders import imei

    receive(app, devices=[(glucometer, [("imei", imei(7001)), ("imei", imei(7002))])])
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM + 2, 0)
    assert statuses_of(app, imei(7001), imei(7002)) == ["inStock", "inStock"]
    with app_context(app) as session:
        device_id = session.scalar(
            select(DeviceIdentifier.device_id).where(DeviceIdentifier.value == imei(7001))
        )
        events = session.scalars(
            select(DeviceEvent.status).where(DeviceEvent.device_id == device_id)
        ).all()
        assert events == ["received"]


def test_a_receipt_refuses_bad_duplicate_and_known_identifiers_and_stores_nothing(app, catalog):
    glucometer, strips = catalog.items["glucometer"], catalog.items["strips"]
    from tests.helpers.orders import imei

    before = ledger_count(app)
    known = shelf(catalog, "glucometer", 0, "imei")
    cases = [
        ([("imei", "123")], "invalid_identifier"),
        ([("imei", imei(7010)), ("imei", imei(7010))], "duplicate_identifier"),
        ([("imei", known)], "device_already_known"),
    ]
    for identifiers, code in cases:
        with pytest.raises(ledger.StockRefused) as error:
            receive(app, lines=[(strips, 5)], devices=[(glucometer, identifiers)])
        assert error.value.problems[0].code == code
    with pytest.raises(ledger.StockRefused) as error:
        receive(app, lines=[(glucometer, 5)])
    assert error.value.problems[0].code == "device_tracked_item"
    assert "tracked by device" in error.value.problems[0].message
    assert ledger_count(app) == before
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM, 0)


def test_a_manifest_preview_flags_bad_duplicate_and_known_identifiers(app, catalog):
    from tests.helpers.orders import imei

    known = shelf(catalog, "glucometer", 3, "imei")
    with app_context(app) as session:
        item = session.get(Item, catalog.items["glucometer"])
        entries = receipts.read_manifest(
            item, f"{imei(8001)}\n{imei(8001)}, 35000000000000X\n{known}\n\n{imei(8002)}"
        )
    assert [(e.raw, e.problem is None) for e in entries] == [
        (imei(8001), True),
        (imei(8001), False),
        ("35000000000000X", False),
        (known, False),
        (imei(8002), True),
    ]
    assert "twice" in entries[1].problem
    assert "Already received" in entries[3].problem


# --- Reservations ------------------------------------------------------------------------


def test_placing_reserves_items_and_kit_contents_multiplied_out(app, catalog):
    strict(app, catalog, "glucometer")
    place(app, catalog, items={"strips": 10}, kits={"diabetes": 3})
    # The diabetes kit holds a glucometer and 2 boxes of strips.
    assert figures(app, catalog.items["strips"]) == (STOCK_PER_COUNTED_ITEM, 10 + 6)
    assert figures(app, catalog.items["glucometer"]) == (STOCK_PER_DEVICE_ITEM, 3)
    with app_context(app) as session:
        kinds = session.scalars(
            select(StockMovement.kind).where(StockMovement.order_id.is_not(None))
        ).all()
        assert kinds == ["reservation", "reservation"]  # one row per item, not per line


def test_a_shortfall_refuses_the_whole_order_pointing_at_the_line(app, api, catalog):
    strict(app, catalog, "glucometer")
    before = (ledger_count(app), figures(app, catalog.items["cuff"]))
    response = api.post(
        "/api/v3/order",
        json={
            "patient": {"id": catalog.patient},
            "orderItems": [
                {"item": {"id": catalog.items["strips"]}, "count": 1},
                {"item": {"id": catalog.items["glucometer"]}, "count": STOCK_PER_DEVICE_ITEM + 1},
            ],
            "orderKits": [{"kit": {"id": catalog.kits["hypertension"]}, "count": 1}],
        },
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_inventory"
    assert error["field"] == "orderItems[1].count"
    assert f"{STOCK_PER_DEVICE_ITEM + 1} × Glucometer needed" in error["message"]
    assert f"{STOCK_PER_DEVICE_ITEM} available" in error["message"]
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == 0
    assert (ledger_count(app), figures(app, catalog.items["cuff"])) == before


def test_a_kit_shortfall_counts_what_earlier_lines_took(app, api, catalog):
    strict(app, catalog, "glucometer")
    response = api.post(
        "/api/v3/order",
        json={
            "patient": {"id": catalog.patient},
            "orderItems": [
                {"item": {"id": catalog.items["glucometer"]}, "count": STOCK_PER_DEVICE_ITEM}
            ],
            "orderKits": [{"kit": {"id": catalog.kits["diabetes"]}, "count": 1}],
        },
    )
    error = response.get_json()["error"]
    assert (response.status_code, error["code"], error["field"]) == (
        400,
        "insufficient_inventory",
        "orderKits[0].count",
    )
    assert "Diabetes kit" in error["message"] and "0 available" in error["message"]


def test_an_order_is_fulfilled_from_the_location_it_names(app, api, catalog):
    east = second_location(app)
    strips = catalog.items["strips"]
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": strips}, "count": 2}],
        "fulfillmentLocation": {"id": east},
    }
    refused = api.post("/api/v3/order", json=body).get_json()["error"]
    assert (refused["code"], refused["field"]) == ("insufficient_inventory", "orderItems[0].count")
    receive(app, lines=[(strips, 5)], location=east)
    placed = api.post("/api/v3/order", json=body)
    assert placed.status_code == 201
    assert placed.get_json()["fulfillmentLocation"] == {"id": east, "name": "East depot"}
    assert figures(app, strips, east) == (5, 2)
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM, 0)
    default = api.post("/api/v3/order", json={**body, "fulfillmentLocation": None}).get_json()
    assert default["fulfillmentLocation"]["name"] == "Main warehouse"
    unknown = api.post("/api/v3/order", json={**body, "fulfillmentLocation": {"id": 999}})
    assert unknown.get_json()["error"]["code"] == "location_not_found"


def test_reserving_costs_the_same_statements_for_one_line_or_forty(app, catalog, count_queries):
    with app.app_context(), write_transaction() as session:
        extra = [Item(name=f"Supply {n}", sku=f"SUP-{n}") for n in range(40)]
        session.add_all(extra)
        session.flush()
        ids = [i.id for i in extra]
    receive(app, lines=[(i, 5) for i in ids])

    def stock_statements(items) -> int:
        from app.orders import service

        with count_queries() as counter, app.app_context():
            service.place_order(
                service.OrderDraft(
                    patient_id=catalog.patient,
                    items=[service.LineRequest(i, 1) for i in items],
                    kits=[service.LineRequest(catalog.kits["diabetes"], 1)],
                ),
                actor("coordinator"),
            )
            db.session.remove()
        # The location (checked, then checked again under the lock), the kits' contents,
        # which items are received when scanned, the locked balances, the ledger rows, and
        # the balances' update.
        touching = [s for s in counter.statements if "stock_" in s or "kit_item" in s]
        return len(touching)

    one, forty = stock_statements(ids[:1]), stock_statements(ids)
    assert one == forty <= 6


# --- Status changes move the stock -------------------------------------------------------


def test_cancelling_releases_the_reservation(app, catalog):
    order_id = place(app, catalog, items={"strips": 7}, kits={"diabetes": 1})
    assert figures(app, catalog.items["strips"]) == (STOCK_PER_COUNTED_ITEM, 9)
    move(app, order_id, "cancelled", role="admin", reason="patient moved")
    assert figures(app, catalog.items["strips"]) == (STOCK_PER_COUNTED_ITEM, 0)
    with app_context(app) as session:
        kinds = session.scalars(
            select(StockMovement.kind).where(StockMovement.order_id == order_id)
        ).all()
        assert kinds == ["reservation", "release"]


def ship(app, order_id):
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("DHL", "1234567890"))


def test_packing_picks_devices_from_the_shelf_and_shipping_takes_them_out(app, catalog):
    strict(app, catalog, "glucometer")
    order_id = place(app, catalog, items={"strips": 3}, kits={"diabetes": 1})
    move(app, order_id, "processing")
    device = shelf(catalog, "glucometer", 4, "imei")
    assert record(app, order_id, device) == "Diabetes kit 1: Glucometer"
    assert statuses_of(app, device) == ["allocated"]
    ship(app, order_id)
    assert statuses_of(app, device) == ["shipped"]
    assert figures(app, catalog.items["strips"]) == (STOCK_PER_COUNTED_ITEM - 5, 0)
    assert figures(app, catalog.items["glucometer"]) == (STOCK_PER_DEVICE_ITEM - 1, 0)
    # Delivering again after a delivery exception ships nothing twice.
    move(app, order_id, "deliveryException", "shipped", "delivered")
    assert figures(app, catalog.items["strips"]) == (STOCK_PER_COUNTED_ITEM - 5, 0)
    assert statuses_of(app, device) == ["delivered"]


def test_returned_devices_wait_in_quarantine_until_inspected(app, catalog):
    strict(app, catalog, "glucometer")
    order_id = place(app, catalog, kits={"diabetes": 2})
    move(app, order_id, "processing")
    first, second = (shelf(catalog, "glucometer", n, "imei") for n in (1, 2))
    record(app, order_id, first)
    record(app, order_id, second)
    ship(app, order_id)
    move(app, order_id, "delivered", "returned")
    assert statuses_of(app, first, second) == ["quarantined", "quarantined"]
    glucometer = catalog.items["glucometer"]
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM - 2, 0)  # not sellable yet

    with app_context(app) as session:
        ids = {
            v: session.scalar(select(DeviceIdentifier.device_id).where(DeviceIdentifier.value == v))
            for v in (first, second)
        }
    with app.app_context():
        fulfillment = Actor(user=db.session.scalar(select(User).where(User.role == "fulfillment")))
        stock_devices.inspect_device(ids[first], True, "Cleaned, tested", fulfillment)
        stock_devices.inspect_device(ids[second], False, "Cracked screen", fulfillment)
        with pytest.raises(ledger.StockRefused) as error:
            stock_devices.inspect_device(ids[second], True, None, fulfillment)
        assert error.value.problems[0].code == "not_quarantined"
        db.session.remove()
    assert statuses_of(app, first, second) == ["inStock", "retired"]
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM - 1, 0)
    with app_context(app) as session:
        history = session.scalars(
            select(DeviceEvent.status)
            .where(DeviceEvent.device_id == ids[first])
            .order_by(DeviceEvent.id)
        ).all()
    assert history == [
        "received",
        "allocated",
        "shipped",
        "delivered",
        "quarantined",
        "passedInspection",
    ]


def test_return_items_are_counted_back_in_when_the_return_arrives(app, catalog):
    order_id = place(app, catalog, items={"strips": 1}, return_items=[])
    from app.orders import service

    with app.app_context():
        placed = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient,
                return_items=[service.LineRequest(catalog.items["cuff"], 4)],
            ),
            actor("coordinator"),
        )
        return_id = placed.order.id
        db.session.remove()
    assert order_id != return_id
    # A return-only order: its label is sent, then what comes back is counted in.
    move(app, return_id, "awaitingReturn")
    from app.orders import returns_station

    with app.app_context():
        returns_station.check_in_items(return_id, catalog.items["cuff"], 4, actor("fulfillment"))
        db.session.remove()
    assert figures(app, catalog.items["cuff"]) == (STOCK_PER_COUNTED_ITEM + 4, 0)


# --- Packing refusals, each with its own message ------------------------------------------


def test_a_scan_of_a_device_never_received_is_refused(app, catalog):
    from tests.helpers.orders import imei

    strict(app, catalog, "glucometer")
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    error = refused_scan(app, order_id, imei(424242))
    assert (error.code, error.message, error.kind, error.field) == (
        "unknown_device",
        f"No device {imei(424242)} has been received: it is not in stock anywhere. "
        "Check the label, or receive the device first (Stock, Receive).",
        "invalid",
        "identifier",
    )
    assert statuses_of(app, imei(424242)) == [None]


def test_a_device_at_another_location_is_refused(app, catalog):
    from tests.helpers.orders import imei

    strict(app, catalog, "glucometer")
    east = second_location(app)
    receive(app, devices=[(catalog.items["glucometer"], [("imei", imei(5151))])], location=east)
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    error = refused_scan(app, order_id, imei(5151))
    assert (error.code, error.message, error.kind, error.field) == (
        "device_at_another_location",
        "This device is at East depot, not at Main warehouse where this order is packed.",
        "conflict",
        "identifier",
    )
    assert statuses_of(app, imei(5151)) == ["inStock"]


def test_a_device_on_another_order_is_refused(app, catalog):
    strict(app, catalog, "glucometer")
    first = place(app, catalog, kits={"diabetes": 1})
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    move(app, second, "processing")
    device = shelf(catalog, "glucometer", 5, "imei")
    record(app, first, device)
    error = refused_scan(app, second, device)
    assert (error.code, error.message, error.kind, error.field) == (
        "device_in_open_order",
        f"This device is already packed for order {first}, which is still open.",
        "conflict",
        "identifier",
    )


def test_a_device_already_shipped_is_refused(app, catalog):
    strict(app, catalog, "glucometer")
    first = place(app, catalog, kits={"diabetes": 1})
    move(app, first, "processing")
    device = shelf(catalog, "glucometer", 6, "imei")
    record(app, first, device)
    ship(app, first)
    second = place(app, catalog, kits={"diabetes": 1})
    move(app, second, "processing")
    error = refused_scan(app, second, device)
    assert (error.code, error.message, error.kind, error.field) == (
        "device_already_shipped",
        "This device has already been shipped; it is not on the shelf.",
        "conflict",
        "identifier",
    )


def test_removing_a_device_puts_it_back_on_the_shelf(app, catalog):
    from app.orders.lookups import get_order

    strict(app, catalog, "glucometer")
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    device = shelf(catalog, "glucometer", 7, "imei")
    record(app, order_id, device)
    with app.app_context():
        recorded = get_order(order_id).devices[0].id
        packing.remove_device(order_id, recorded, actor("fulfillment"))
        db.session.remove()
    assert statuses_of(app, device) == ["inStock"]


def test_an_item_accepting_unreceived_devices_receives_them_when_scanned(app, catalog):
    from tests.helpers.orders import imei

    glucometer = catalog.items["glucometer"]  # the fixture's device items accept them
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    record(app, order_id, imei(6161))
    assert statuses_of(app, imei(6161)) == ["allocated"]
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM + 1, 0)
    with app_context(app) as session:
        row = session.scalars(select(StockMovement).order_by(StockMovement.id.desc())).first()
        assert (row.kind, row.item_id, row.on_hand_change) == ("receipt", glucometer, 1)
    ship(app, order_id)
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM, 0)


# --- The ledger's invariant --------------------------------------------------------------


def test_balances_equal_the_ledger_after_a_random_sequence(app, catalog):
    """Receipts, adjustments, counts, orders placed, refused, cancelled and shipped, in a
    random order: every balance always equals the sums of its ledger rows."""
    rng = random.Random(20261127)
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east = second_location(app)
    open_orders: list[int] = []
    with app.app_context():
        admin = Actor(user=db.session.scalar(select(User).where(User.role == "admin")))
        db.session.remove()
    for step in range(60):
        choice = rng.choice(["receive", "adjust", "count", "place", "place", "cancel", "ship"])
        try:
            if choice == "receive":
                receive(
                    app,
                    lines=[(rng.choice([strips, cuff]), rng.randrange(1, 50))],
                    location=rng.choice([None, east]),
                )
            elif choice in ("adjust", "count"):
                with app.app_context():
                    try:
                        adjustments.adjust(
                            rng.choice([None, east]),
                            rng.choice([strips, cuff]),
                            rng.randrange(-30, 30) if choice == "adjust" else rng.randrange(0, 200),
                            f"step {step}",
                            admin,
                            counted=choice == "count",
                        )
                    finally:
                        db.session.remove()
            elif choice == "place":
                open_orders.append(
                    place(
                        app,
                        catalog,
                        items={"strips": rng.randrange(1, 400), "cuff": rng.randrange(1, 300)},
                        kits={"diabetes": rng.randrange(1, 3)},
                    )
                )
            elif choice == "cancel" and open_orders:
                move(
                    app,
                    open_orders.pop(rng.randrange(len(open_orders))),
                    "cancelled",
                    role="admin",
                    reason="random",
                )
            elif choice == "ship" and open_orders:
                order_id = open_orders.pop(rng.randrange(len(open_orders)))
                move(app, order_id, "processing")
                # The glucometers are received as they are scanned (the fixture's rule).
                pack_everything(app, order_id, start=1000 + step * 10)
                ship(app, order_id)
        except (ledger.StockRefused, Rejected):
            pass
        except Exception as error:  # an order refused for stock is fine, anything else not
            if getattr(error, "problems", None) and all(
                p.code == "insufficient_inventory" for p in error.problems
            ):
                continue
            raise
        with app_context(app):
            assert ledger.balance_mismatches() == [], f"after step {step}: {choice}"
            balances = ledger.balance_totals()
            assert all(
                reserved >= 0 and on_hand >= reserved for on_hand, reserved in balances.values()
            )


def test_the_stock_check_recomputes_balances_from_the_ledger(app, catalog):
    place(app, catalog, items={"strips": 5})
    runner = app.test_cli_runner()
    good = runner.invoke(args=["stock-check"])
    assert good.exit_code == 0 and "Every balance equals" in good.output
    with app.app_context(), write_transaction() as session:
        # Someone edits a figure behind the ledger's back: the check names it.
        balance = session.scalar(
            select(StockBalance).where(StockBalance.item_id == catalog.items["strips"])
        )
        balance.on_hand += 1
    bad = runner.invoke(args=["stock-check"])
    assert bad.exit_code == 1
    assert f"item {catalog.items['strips']}" in bad.output and "ledger says" in bad.output


def test_a_new_device_is_in_stock_and_every_device_status_has_a_label():
    from app.inventory import devices

    # The catalog's Device model names inventory's first status without importing it.
    assert Device.__table__.c.current_status.default.arg == devices.IN_STOCK
    assert set(devices.DEVICE_STATUSES) <= set(devices.DEVICE_STATUS_LABELS)
    assert devices.device_status_label(devices.PASSED) == "Passed inspection"


def test_a_manifest_is_previewed_only_for_a_device_item_and_with_an_identifier(app, catalog):
    with app.app_context():
        for item, text, refusal in [
            (
                "strips",
                imei(7301),
                ("device_item_required", "devices[0].item.id", "Choose a device-tracked item."),
            ),
            (
                "glucometer",
                "  ",
                (
                    "identifiers_required",
                    "devices[0].deviceIdentifiers",
                    "Scan, paste or upload at least one identifier.",
                ),
            ),
        ]:
            with pytest.raises(ledger.StockRefused) as error:
                receipts.preview_manifest(catalog.items[item], text)
            assert [(p.code, p.field, p.message) for p in error.value.problems] == [refusal]
        item, entries = receipts.preview_manifest(catalog.items["glucometer"], imei(7301))
        assert (item.id, [e.problem for e in entries]) == (catalog.items["glucometer"], [None])
