"""``flask generate-orders``: generated orders are orders the product could have placed."""

from __future__ import annotations

from sqlalchemy import func, select

from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.demo import catalog as demo
from app.inventory.models import StockMovement
from app.orders import carriers, statuses
from app.orders.models import Order, OrderDevice
from app.webhooks.models import WebhookMessage
from tests.conftest import app_context


def shape(value):
    """The document's shape: keys and the kinds of their values, lists by their first item."""
    if isinstance(value, dict):
        return {key: shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def same_shape(a, b, path="order") -> None:
    """Two documents have the same keys everywhere, and values of the same kinds (a null
    matches anything: a placed order may leave out what a generated one has, or back)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), (path, a.keys() ^ b.keys())
        for key in a:
            same_shape(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if a and b:
            same_shape(a[0], b[0], f"{path}[0]")
    elif "NoneType" not in (a, b):
        assert a == b, (path, a, b)


def test_generated_orders_read_back_like_placed_ones_and_a_second_run_adds_more(app, client):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app_context(app) as session:
        placed_ids = session.scalars(select(Order.id).order_by(Order.id)).all()
        before = len(placed_ids)

    first = runner.invoke(args=["generate-orders", "400", "--seed", "5"])
    assert first.exit_code == 0, first.output
    assert "Added 400 orders" in first.output
    # The same seed again adds orders beside the first run's (device identifiers once clashed).
    second = runner.invoke(args=["generate-orders", "400", "--seed", "5"])
    assert second.exit_code == 0, second.output

    headers = {"Impilo-API-Key": demo.API_KEY}
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == before + 800
        generated = {
            status: session.scalar(
                select(func.max(Order.id)).where(
                    Order.current_status == status, Order.id > placed_ids[-1]
                )
            )
            for status in statuses.ALL
        }
        messages_before = session.scalar(select(func.count(WebhookMessage.id)))
        identifier_types = dict(session.execute(select(Item.id, Item.device_identifier_type)).all())
        assert session.scalar(select(func.count(DeviceIdentifier.id))) > 0

    placed = client.get(f"/api/v3/order/{placed_ids[0]}", headers=headers).get_json()
    seen_devices = 0
    for status, order_id in generated.items():
        if order_id is None:
            continue
        response = client.get(f"/api/v3/order/{order_id}", headers=headers)
        assert response.status_code == 200
        document = response.get_json()
        assert document["currentStatus"] == status
        same_shape(shape(placed), shape(document))
        # The events follow the status machine from Created to where the order is now.
        names = [e["name"] for e in document["orderEvents"]]
        assert names[0] == statuses.CREATED and names[-1] == status
        for before_, after in zip(names, names[1:], strict=False):
            assert after in statuses.next_statuses(before_, None) or before_ == statuses.ON_HOLD
        for tracking in document["trackingNumbers"]:
            value = carriers.normalise(tracking["value"])
            assert carriers.problem(tracking["carrier"], value) is None, tracking
        for packed in document["packedKits"]:
            for device in packed["devices"]:
                seen_devices += 1
                kind = identifier_types[device["item"]["id"]]
                for found in device["deviceIdentifiers"]:
                    assert found["type"] == kind
                    assert identifiers.problem(kind, found["value"]) is None, found
                    pattern = device["item"]["serialPattern"]
                    if pattern:
                        assert identifiers.fits_serial_pattern(pattern, found["value"]), found
    assert seen_devices > 0

    # Stock stays consistent: every balance equals its ledger, open orders hold their units
    # reserved as placed ones do, and generated history sends no webhook messages.
    check = runner.invoke(args=["stock-check"])
    assert check.exit_code == 0, check.output
    with app_context(app) as session:
        holding = session.scalar(
            select(func.count(func.distinct(StockMovement.order_id))).where(
                StockMovement.order_id > placed_ids[-1],
                StockMovement.kind == "reservation",
            )
        )
        open_orders = session.scalar(
            select(func.count(Order.id)).where(
                Order.id > placed_ids[-1],
                Order.current_status.in_(["created", "processing", "packed", "onHold"]),
            )
        )
        assert holding >= open_orders > 0
        assert session.scalar(select(func.count(WebhookMessage.id))) == messages_before
        # A packed device is where its order left it.
        device_status = dict(
            session.execute(
                select(Order.current_status, Device.current_status)
                .join(OrderDevice, OrderDevice.order_id == Order.id)
                .join(Device, Device.id == OrderDevice.device_id)
                .where(Order.id > placed_ids[-1])
                .distinct()
            ).all()
        )
        assert device_status.get("packed", "allocated") == "allocated"
        assert device_status.get("shipped", "shipped") == "shipped"
        assert device_status.get("delivered") == "delivered"
