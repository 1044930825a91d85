"""``flask generate-orders``: generated orders are orders the product could have placed."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from app.catalog import identifiers
from app.catalog.models import Device, DeviceIdentifier, Item
from app.dashboard import figures
from app.demo import catalog as demo
from app.demo.generate import Writer
from app.demo.progress import Progress
from app.extensions import db
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


def sqlite(session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def schema(session) -> list[tuple]:
    """Every key and constraint as the database reports it."""
    if not sqlite(session):
        return session.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
                "ORDER BY 1, 2"
            )
        ).all()
    tables = session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")).all()
    return [
        (table, *key)
        for table in sorted(tables)
        for key in session.execute(text(f'PRAGMA foreign_key_list("{table}")')).all()
    ]


def test_generation_leaves_every_key_as_it_was_and_every_counter_right(app):
    """PostgreSQL's foreign keys are dropped for the load and added back, checking every
    row; SQLite's page cache is enlarged for the load only."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app_context(app) as session:
        before = schema(session)
        assert before
        cache = session.scalar(text("PRAGMA cache_size")) if sqlite(session) else None
    result = runner.invoke(args=["generate-orders", "300", "--seed", "2"])
    assert result.exit_code == 0, result.output
    with app_context(app) as session:
        assert schema(session) == before
        if sqlite(session):
            assert session.execute(text("PRAGMA foreign_key_check")).all() == []
            assert session.scalar(text("PRAGMA cache_size")) == cache
    for check in ("stock-check", "check-status-counts", "check-dashboard-counts"):
        outcome = runner.invoke(args=[check])
        assert outcome.exit_code == 0, outcome.output
    # The dashboard has something to show: orders shipped lately, and units used.
    with app_context(app):
        now = datetime.now(UTC)
        assert sum(week.shipped for week in figures.order_figures(now, None).weeks) > 0
        assert any(row.used for row in figures.stock_cover(now, 30))


def test_a_table_written_without_a_required_column_is_refused(app):
    with app_context(app):
        writer = Writer()
        with pytest.raises(ValueError, match="missing \\['order_id'\\]"):
            writer.table(OrderDevice, "id device_id")
        with pytest.raises(ValueError, match="unknown \\['colour'\\]"):
            writer.table(OrderDevice, "id order_id device_id colour")
        db.session.rollback()


def test_progress_shows_rate_and_time_left():
    log = io.StringIO()  # not a terminal: a line now and then, for a log file
    with Progress(10_000, "Generating orders", "orders", stream=log) as bar:
        bar.started -= 5  # five seconds in
        bar.update(5_000)
        line = bar.line()
        assert "[############            ]  50% 5,000/10,000 orders" in line
        rate = int(line.split(", ")[1].split()[0].replace(",", ""))
        assert 900 <= rate <= 1000  # 5,000 orders in a little over 5 s
        assert line.endswith(" left")
        bar.update(0, note="VACUUM (ANALYZE)")
        bar.update(5_000)
    lines = log.getvalue().splitlines()
    assert lines[0] == "Generating orders: 10,000 orders"
    assert lines[1].endswith("left (VACUUM (ANALYZE))")
    assert "100% 10,000/10,000 orders" in lines[-1] and "in all" in lines[-1]
    assert time.perf_counter() - bar.started >= 5
