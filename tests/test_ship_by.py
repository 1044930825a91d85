"""Ship-by dates: the rule on a fixed clock (weekends, holidays, the overnight cut-off in the
warehouse's time zone), stored when placing through both doors and by the migration for
orders placed before it, and shown, sorted and filtered on the list, the order page, the
packing summary and the API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app import config
from app.db.types import UTCDateTime
from app.extensions import db
from app.orders import ship_by
from app.orders.models import Order
from app.orders.ship_by import ShipByRules, ship_by_date
from tests.conftest import app_context
from tests.helpers.orders import move, patient_order, place
from tests.helpers.web import Browserless, a_good_order

NEW_YORK = ZoneInfo("America/New_York")
CHRISTMAS = date(2026, 12, 25)  # a Friday
RULES = ShipByRules(NEW_YORK, time(14, 0), 2, frozenset({CHRISTMAS}))


def at(day: str, hour: int, minute: int = 0, zone=NEW_YORK) -> datetime:
    """A moment in the warehouse's time (or ``zone``), as placing gives it: in UTC."""
    return datetime.combine(date.fromisoformat(day), time(hour, minute), zone).astimezone(UTC)


# --- the rule, on a fixed clock ---------------------------------------------------------------


def test_an_overnight_order_placed_before_the_cut_off_ships_that_business_day():
    assert ship_by_date("overnight", at("2026-12-08", 13, 59), RULES) == date(2026, 12, 8)


def test_an_overnight_order_placed_at_or_after_the_cut_off_ships_the_next_business_day():
    assert ship_by_date("overnight", at("2026-12-08", 14, 0), RULES) == date(2026, 12, 9)
    assert ship_by_date("overnight", at("2026-12-08", 23, 59), RULES) == date(2026, 12, 9)


def test_the_cut_off_is_read_in_the_warehouses_time_zone_not_in_utc():
    # 18:30 and 19:30 UTC are 13:30 and 14:30 in New York (EST): either side of 14:00.
    assert ship_by_date("overnight", at("2026-12-08", 18, 30, UTC), RULES) == date(2026, 12, 8)
    assert ship_by_date("overnight", at("2026-12-08", 19, 30, UTC), RULES) == date(2026, 12, 9)
    # 02:00 UTC on Wednesday is still Tuesday evening in the warehouse: two business days
    # after Tuesday, not after Wednesday.
    assert ship_by_date("standard", at("2026-12-09", 2, 0, UTC), RULES) == date(2026, 12, 10)


def test_a_weekend_is_skipped():
    friday_late, saturday, sunday = at("2026-12-11", 15), at("2026-12-12", 9), at("2026-12-13", 9)
    monday, tuesday = date(2026, 12, 14), date(2026, 12, 15)
    assert ship_by_date("overnight", friday_late, RULES) == monday
    # Before the cut-off, but not a business day: the next one.
    assert ship_by_date("overnight", saturday, RULES) == monday
    assert ship_by_date("overnight", sunday, RULES) == monday
    assert ship_by_date("standard", at("2026-12-11", 9), RULES) == tuesday
    assert ship_by_date("standard", saturday, RULES) == tuesday


def test_a_listed_holiday_is_skipped_like_a_weekend():
    # Thursday 24th after the cut-off: Friday 25th is a holiday, then the weekend.
    assert ship_by_date("overnight", at("2026-12-24", 15), RULES) == date(2026, 12, 28)
    assert ship_by_date("overnight", at("2026-12-25", 9), RULES) == date(2026, 12, 28)
    # Two business days after Thursday 24th: Monday 28th and Tuesday 29th.
    assert ship_by_date("standard", at("2026-12-24", 9), RULES) == date(2026, 12, 29)
    no_holiday = ShipByRules(NEW_YORK, time(14, 0), 2)
    assert ship_by_date("standard", at("2026-12-24", 9), no_holiday) == date(2026, 12, 28)


def test_standard_orders_take_the_configured_number_of_business_days():
    same_day = ShipByRules(NEW_YORK, time(14, 0), 0, frozenset({CHRISTMAS}))
    assert ship_by_date("standard", at("2026-12-08", 20), same_day) == date(2026, 12, 8)
    assert ship_by_date("standard", at("2026-12-12", 9), same_day) == date(2026, 12, 14)
    five = ShipByRules(NEW_YORK, time(14, 0), 5, frozenset({CHRISTMAS}))
    assert ship_by_date("standard", at("2026-12-21", 9), five) == date(2026, 12, 29)


def test_an_order_with_nothing_going_out_has_the_standard_days():
    assert ship_by_date(None, at("2026-12-11", 9), RULES) == date(2026, 12, 15)


def test_an_order_is_late_or_due_only_while_it_has_not_left():
    today = date(2026, 12, 9)
    assert ship_by.standing(date(2026, 12, 8), "processing", today) == "late"
    assert ship_by.standing(date(2026, 12, 9), "onHold", today) == "due"
    assert ship_by.standing(date(2026, 12, 10), "created", today) is None
    assert ship_by.standing(date(2026, 12, 8), "shipped", today) is None
    assert ship_by.standing(date(2026, 12, 8), "cancelled", today) is None


# --- the settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("WAREHOUSE_TIME_ZONE", "Mars/Olympus"),
        ("OVERNIGHT_CUTOFF", "2pm"),
        ("OVERNIGHT_CUTOFF", "25:00"),
        ("STANDARD_SHIP_DAYS", "-1"),
        ("STANDARD_SHIP_DAYS", "two"),
        ("WAREHOUSE_HOLIDAYS", "2026-12-25,Christmas"),
    ],
)
def test_a_bad_ship_by_setting_is_one_line_naming_the_variable(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.SettingError) as refused:
        config.settings(tmp_path)
    assert refused.value.name == name
    assert name in str(refused.value.message) and "\n" not in refused.value.message


def test_the_ship_by_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WAREHOUSE_TIME_ZONE", "America/Chicago")
    monkeypatch.setenv("OVERNIGHT_CUTOFF", "15:30")
    monkeypatch.setenv("STANDARD_SHIP_DAYS", "0")
    monkeypatch.setenv("WAREHOUSE_HOLIDAYS", " 2026-12-25, 2027-01-01 ")
    rules = ShipByRules.from_config(config.settings(tmp_path))
    assert rules == ShipByRules(
        ZoneInfo("America/Chicago"),
        time(15, 30),
        0,
        frozenset({date(2026, 12, 25), date(2027, 1, 1)}),
    )


# --- stored when placing, through both doors --------------------------------------------------


def stored(app, order_id: int) -> tuple[str | None, datetime, date]:
    with app_context(app) as session:
        order = session.get(Order, order_id)
        return order.shipping_option, order.created_at, order.ship_by


def expected(app, order_id: int) -> date:
    option, created_at, _ = stored(app, order_id)
    with app.app_context():
        return ship_by_date(option, created_at, ship_by.rules())


def test_an_order_placed_through_the_api_stores_and_answers_its_ship_by_date(app, api, catalog):
    placed = api.post("/api/v3/order", json=patient_order(catalog, shippingOption="overnight"))
    assert placed.status_code == 201
    order = placed.get_json()
    *_, ship_by_day = stored(app, order["id"])
    assert ship_by_day == expected(app, order["id"])
    assert order["shipBy"] == ship_by_day.isoformat()
    assert api.get(f"/api/v3/order/{order['id']}").get_json()["shipBy"] == ship_by_day.isoformat()
    listed = api.get("/api/v3/order").get_json()["content"]
    assert [o["shipBy"] for o in listed] == [ship_by_day.isoformat()]


def test_an_order_placed_on_the_web_stores_its_ship_by_date(app, client, catalog):
    coordinator = Browserless(client)
    assert coordinator.sign_in("coordinator").status_code == 303
    form = {**a_good_order(coordinator, catalog), "shipping_option": "overnight"}
    response = coordinator.post("/orders/new", form)
    assert response.status_code == 303
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    option, _, ship_by_day = stored(app, order_id)
    assert option == "overnight" and ship_by_day == expected(app, order_id)


def test_standard_orders_ship_after_overnight_ones_placed_at_the_same_time(app, catalog):
    standard = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    assert stored(app, overnight)[2] < stored(app, standard)[2]


# --- the migration fills orders placed before it ----------------------------------------------


def test_the_migration_gives_orders_placed_before_it_their_ship_by_dates(app, catalog, monkeypatch):
    from flask_migrate import downgrade, upgrade

    placed = {
        # id: (shipping option, placed at, ship-by with Monday 14th a holiday)
        place(app, catalog, items={"strips": 1}, shipping_option=option): (option, when, day)
        for option, when, day in [
            ("overnight", at("2026-12-11", 13, 59), date(2026, 12, 11)),
            ("overnight", at("2026-12-11", 14, 0), date(2026, 12, 15)),
            ("overnight", at("2026-12-12", 9), date(2026, 12, 15)),
            ("standard", at("2026-12-11", 13, 59), date(2026, 12, 16)),
            ("standard", at("2026-12-08", 2, 0, UTC), date(2026, 12, 9)),
            ("standard", at("2027-01-04", 9), date(2027, 1, 6)),
        ]
    }
    monkeypatch.setitem(app.config, "WAREHOUSE_HOLIDAYS", (date(2026, 12, 14),))
    orders = sa.table("order_", sa.column("id", sa.Integer), sa.column("created_at", UTCDateTime))
    with app.app_context():
        db.session.remove()
        downgrade(revision="5d7e2a9c4f18")
        with db.engine.begin() as conn:
            for order_id, (_, when, _) in placed.items():
                conn.execute(orders.update().where(orders.c.id == order_id).values(created_at=when))
        upgrade()
    with app_context(app) as session:
        found = dict(session.execute(sa.select(Order.id, Order.ship_by)).all())
    assert found == {order_id: day for order_id, (_, _, day) in placed.items()}


# --- shown, sorted and filtered -----------------------------------------------------------------


@pytest.fixture
def fulfillment(client, catalog) -> Browserless:
    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def warehouse_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), NEW_YORK).astimezone(UTC)


def set_clock(monkeypatch, app, moment: datetime) -> None:
    monkeypatch.setitem(app.config, "WAREHOUSE_TIME_ZONE", "America/New_York")
    monkeypatch.setitem(app.config, "SHIP_BY_CLOCK", lambda: moment)


def listed_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'name="order" value="(\d+)"', html)]


def test_the_list_filters_late_orders_and_orders_due_today(app, fulfillment, catalog, monkeypatch):
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    standard = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    cancelled = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    move(app, cancelled, "cancelled", role="coordinator", reason="Not needed")
    overnight_day, standard_day = stored(app, overnight)[2], stored(app, standard)[2]

    set_clock(monkeypatch, app, warehouse_noon(standard_day))
    due = fulfillment.get("/orders/?due=today").text
    assert listed_ids(due) == [standard]
    assert "Due today" in due and "1 order matches the filters" in due
    late = fulfillment.get("/orders/?due=late").text
    assert listed_ids(late) == [overnight]
    assert '<span class="tag late">Late</span>' in late
    # The status tabs count the same orders.
    assert re.search(r'id="tab-created"[^>]*>\s*Created <span class="count">1</span>', late)

    set_clock(monkeypatch, app, warehouse_noon(standard_day + timedelta(days=3)))
    late = fulfillment.get("/orders/?due=late&sort=shipby").text
    assert listed_ids(late) == [overnight, standard]  # not the cancelled one
    assert overnight_day < standard_day
    assert fulfillment.get("/orders/?due=today").text.count('name="order" value=') == 0


def test_today_is_the_warehouses_day_so_an_order_is_still_due_on_its_evening_after_utc_midnight(
    app, fulfillment, catalog, monkeypatch
):
    order_id = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    day = stored(app, order_id)[2]
    # 21:00 in New York on the ship-by day is 02:00 UTC the day after.
    evening = datetime.combine(day, time(21, 0), NEW_YORK).astimezone(UTC)
    assert evening.date() == day + timedelta(days=1)
    set_clock(monkeypatch, app, evening)
    assert listed_ids(fulfillment.get("/orders/?due=today").text) == [order_id]
    assert listed_ids(fulfillment.get("/orders/?due=late").text) == []
    page = fulfillment.get(f"/orders/{order_id}").text
    assert '<span class="tag due">' in page and '<span class="tag late">' not in page


def test_the_list_sorts_by_ship_by_across_keyset_pages(app, fulfillment, catalog):
    ids = [
        place(app, catalog, items={"strips": 1}, shipping_option=option)
        for option in ["standard", "overnight"] * 16
    ]
    with app_context(app) as session:
        rows = session.execute(sa.select(Order.id, Order.ship_by)).all()
    expected_order = [order_id for order_id, _ in sorted(rows, key=lambda r: (r[1], r[0]))]
    assert sorted(expected_order) == sorted(ids)

    first = fulfillment.get("/orders/?sort=shipby").text
    assert '<th scope="col">Ship by</th>' in first
    cursor = re.search(r'id="pager-next"[^>]*href="[^"]*after=([^"&]+)', first).group(1)
    second = fulfillment.get(f"/orders/?sort=shipby&after={cursor}").text
    assert listed_ids(first) + listed_ids(second) == expected_order
    assert len(listed_ids(first)) == 25
    back = re.search(r'id="pager-prev"[^>]*href="[^"]*before=([^"&]+)', second).group(1)
    assert (
        listed_ids(fulfillment.get(f"/orders/?sort=shipby&before={back}").text)
        == (expected_order[:25])
    )


def test_the_ship_by_filter_and_sort_cost_a_fixed_number_of_queries(
    app, fulfillment, catalog, count_queries, monkeypatch
):
    first = place(app, catalog, items={"strips": 1})
    set_clock(monkeypatch, app, warehouse_noon(stored(app, first)[2] + timedelta(days=7)))
    url = "/orders/?due=late&sort=shipby"
    with count_queries() as one:
        html = fulfillment.get(url).text
    assert listed_ids(html) == [first]
    for n in range(30):
        place(app, catalog, items={"strips": 1}, shipping_option=("standard", "overnight")[n % 2])
    with count_queries() as many:
        html = fulfillment.get(url).text
    assert len(listed_ids(html)) == 25
    assert many.count == one.count
    with count_queries() as plain:
        fulfillment.get("/orders/?sort=shipby", headers={"HX-Request": "true"})
    with count_queries() as filtered:
        fulfillment.get(url, headers={"HX-Request": "true"})
    assert filtered.count == plain.count


def test_the_order_page_and_packing_summary_show_the_ship_by_date(
    app, fulfillment, catalog, monkeypatch
):
    order_id = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    day = stored(app, order_id)[2]
    shown = day.strftime("%a %Y-%m-%d")
    page = fulfillment.get(f"/orders/{order_id}").text
    assert re.search(r"<dt>Ship by</dt><dd id=\"ship-by\"><span class=\"ship-by\">" + shown, page)
    summary = fulfillment.get(f"/orders/{order_id}/packing-summary").text
    assert f'<dt>Ship by</dt><dd class="ship-by">{shown}</dd>' in summary

    set_clock(monkeypatch, app, warehouse_noon(day + timedelta(days=1)))
    assert '<span class="tag late">Late</span>' in fulfillment.get(f"/orders/{order_id}").text
    move(app, order_id, "cancelled", role="coordinator", reason="Not needed")
    assert '<span class="tag late">' not in fulfillment.get(f"/orders/{order_id}").text


def test_the_csv_export_has_the_ship_by_date(app, fulfillment, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    rows = fulfillment.get("/orders/export.csv").text.splitlines()
    header = rows[0].split(",")
    assert rows[1].split(",")[header.index("Ship by")] == stored(app, order_id)[2].isoformat()
