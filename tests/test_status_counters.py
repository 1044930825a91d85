"""The list's status counters move with every order, and the check command finds drift."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from app.extensions import db
from app.formats import day_in, warehouse_zone
from app.orders import daily_counts, status_counters
from app.orders.listing import OrderQuery, status_counts
from app.orders.models import Order, OrderStatusCount
from tests.conftest import app_context
from tests.helpers.orders import move, patient_order, place
from tests.helpers.returns import a_kit_and_a_device_asked_back, check_in, values_of


def test_counters_follow_placing_and_every_status_change(app, catalog):
    first = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    second = place(app, catalog, items={"strips": 2}, patient=False)
    place(app, catalog, items={"strips": 3})
    move(app, first, "processing", "onHold", reason="Patient in hospital")
    move(app, first, "processing")
    move(app, second, "cancelled", role="coordinator", reason="Ordered in error")

    with app_context(app):
        assert status_counters.drift() == []
        everything = status_counts(OrderQuery())
        assert everything[""] == 3
        assert (everything["created"], everything["processing"], everything["cancelled"]) == (
            1,
            1,
            1,
        )
        assert everything["onHold"] == 0
        overnight = status_counts(OrderQuery(shipping="overnight"))
        assert overnight[""] == 1 and overnight["processing"] == 1
        one_site = status_counts(OrderQuery(site=catalog.site))
        assert one_site[""] == 3  # the patient belongs to the site too
        sites = status_counts(OrderQuery(kind="site"))
        assert sites[""] == 1 and sites["cancelled"] == 1
        patients = status_counts(OrderQuery(kind="patient", shipping="overnight"))
        assert patients[""] == 1 and patients["processing"] == 1
        # A filter the counters do not keep is counted from the orders.
        today = status_counts(OrderQuery(date_from=date.today() - timedelta(days=1)))
        assert today[""] == 3 and today["cancelled"] == 1


def test_placing_counts_the_order_status_counter_first_and_on_postgresql_in_one_statement(
    app, api, catalog, count_queries
):
    """The status counter, then the day's counter (the lock order): on PostgreSQL one
    statement, the day's row made from the status counter's row it upserted first; SQLite
    has no INSERT inside WITH, so two."""
    with count_queries() as placing:
        assert api.post("/api/v3/order", json=patient_order(catalog)).status_code == 201
    counting = [
        " ".join(s.split())
        for s in placing.statements
        if "order_status_count" in s or "order_day_count" in s
    ]
    with app_context(app):
        postgres = db.engine.dialect.name == "postgresql"
        assert status_counters.drift() == [] and daily_counts.drift() == []
    if postgres:
        assert len(counting) == 1
        both = counting[0]
        assert both.index("INSERT INTO order_status_count") < both.index(
            "INSERT INTO order_day_count"
        )
        assert "FROM status_moved" in both
    else:
        assert [s.split(" (")[0] for s in counting] == [
            "INSERT INTO order_status_count",
            "INSERT INTO order_day_count",
        ]


def test_check_command_reports_drift_and_mends_it_when_asked(app, catalog):
    place(app, catalog, items={"strips": 1})
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["check-status-counts"])
    assert clean.exit_code == 0 and "match" in clean.output

    with app_context(app) as session:
        session.execute(update(OrderStatusCount).values(count=OrderStatusCount.count + 4))
        session.commit()
    found = runner.invoke(args=["check-status-counts"])
    assert found.exit_code != 0
    assert "created" in found.output and "counter 5, orders 1" in found.output

    fixed = runner.invoke(args=["check-status-counts", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert runner.invoke(args=["check-status-counts"]).exit_code == 0


def test_the_day_counts_follow_each_move_by_site_and_by_the_ship_by_date_kept(app, catalog):
    """The dashboard's counts per day (``daily_counts``) move with each status change: the
    order's site, its old and new status, and, when it ships, whether it kept its date."""
    late = place(app, catalog, items={"strips": 1}, patient=False)
    kept = place(app, catalog, items={"strips": 1}, patient=False)
    with app_context(app) as session:
        today = day_in(datetime.now(UTC), warehouse_zone())
        session.execute(
            update(Order).where(Order.id == late).values(ship_by=today - timedelta(days=1))
        )
        session.execute(update(Order).where(Order.id == kept).values(ship_by=today))
        session.commit()
        site = session.get(Order, late).responsible_site_id
    for order_id in (late, kept):
        move(app, order_id, "processing", "packed")
        move(app, order_id, "shipped", tracking=("DHL", "1234567890"))
    move(app, kept, "delivered")
    with app_context(app):
        assert daily_counts.drift() == []
        placed, shipped = daily_counts.stored()
        assert site is not None
        assert {key: n for key, n in placed.items() if n} == {
            (today, site, "shipped"): 1,
            (today, site, "delivered"): 1,
        }
        assert sorted((key[0], key[1], key[3], n) for key, n in shipped.items() if n) == [
            (today, site, False, 1),
            (today, site, True, 1),
        ]


def test_the_counts_follow_a_return_the_returns_station_receives_part_by_part(app, catalog):
    """The returns station moves an order on by itself (partly returned, then returned): the
    status counters and the day counts follow each of its moves as they follow the others."""
    order_id, devices = a_kit_and_a_device_asked_back(app, catalog)
    with app_context(app):
        site = db.session.get(Order, order_id).responsible_site_id
        db.session.remove()
    check_in(app, order_id, values_of(app, devices[0]))
    with app_context(app):
        assert status_counters.drift() == [] and daily_counts.drift() == []
        assert status_counts(OrderQuery())["partlyReturned"] == 1
    for device in devices[1:]:
        check_in(app, order_id, values_of(app, device))
    with app_context(app):
        assert db.session.get(Order, order_id).current_status == "returned"
        assert status_counters.drift() == [] and daily_counts.drift() == []
        counts = status_counts(OrderQuery())
        assert (counts["awaitingReturn"], counts["partlyReturned"], counts["returned"]) == (
            0,
            0,
            1,
        )
        placed, _ = daily_counts.stored()
        today = day_in(datetime.now(UTC), warehouse_zone())
        assert placed[(today, site, "returned")] == 1
        assert not placed.get((today, site, "partlyReturned"))
