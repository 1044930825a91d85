"""The dashboard: its figures equal a recount from the orders and the ledger after any
sequence of changes, it costs a fixed number of statements, and each role sees its part."""

from __future__ import annotations

import csv
import io
import math
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text, update

from app.dashboard import charts, figures
from app.extensions import db
from app.formats import day_in, warehouse_zone
from app.inventory import usage
from app.inventory.models import SHIPMENT, StockBalance, StockMovement, StockUseCount
from app.orders import daily_counts, owed, returns_station, statuses
from app.orders.models import Order, OrderDayCount, OrderEvent, OrderShippedCount
from app.orders.service import LineRequest
from app.validation import Rejected
from tests.conftest import app_context
from tests.helpers.orders import actor, move, pack_everything, place, receive_stock
from tests.helpers.pages import UPS_NUMBER
from tests.helpers.sites import new_site, works_for
from tests.helpers.web import Browserless

TRACKING = ("UPS", UPS_NUMBER)


def ship(app, order_id: int) -> None:
    move(app, order_id, "processing", "packed")
    move(app, order_id, "shipped", tracking=TRACKING)


def signed_in(client, role: str) -> Browserless:
    person = Browserless(client)
    person.sign_in(role)
    return person


# --- A recount from the orders, the events and the ledger, written out here ------------


def _nearest_rank(durations: list[timedelta], share: float) -> timedelta:
    ordered = sorted(durations)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def recounted_order_figures(now: datetime, sites: set[int] | None) -> figures.OrderFigures:
    """The figures of every order (``sites`` None) or of these sites' orders."""
    zone = warehouse_zone()
    today = day_in(now, zone)
    orders = db.session.scalars(select(Order)).all()
    if sites is not None:
        orders = [o for o in orders if o.responsible_site_id in sites]
    shipped_at = {}
    for event in db.session.scalars(select(OrderEvent).where(OrderEvent.name == "shipped")):
        if event.order_id not in shipped_at or event.event_timestamp < shipped_at[event.order_id]:
            shipped_at[event.order_id] = event.event_timestamp
    placed = Counter(day_in(o.created_at, zone) for o in orders)
    shipped = Counter(day_in(shipped_at[o.id], zone) for o in orders if o.id in shipped_at)
    days = [
        figures.Day(d, placed[d], shipped[d])
        for d in (today - timedelta(days=n) for n in range(figures.DAYS - 1, -1, -1))
    ]
    by_age = defaultdict(lambda: [0, 0, 0, 0])
    late = Counter(
        o.current_status for o in orders if o.current_status in statuses.OPEN and o.ship_by < today
    )
    for o in orders:
        if o.current_status in statuses.OPEN:
            age = (today - day_in(o.created_at, zone)).days
            by_age[o.current_status][0 if age < 1 else 1 if age <= 2 else 2 if age <= 5 else 3] += 1
    open_rows = [
        figures.OpenRow(s, statuses.label(s), tuple(by_age[s]), late[s])
        for s in statuses.ALL
        if s in statuses.OPEN
    ]
    monday = today - timedelta(days=today.weekday())
    weeks = []
    for n in range(figures.WEEKS - 1, -1, -1):
        starts = monday - timedelta(weeks=n)
        that_week = [
            o
            for o in orders
            if o.id in shipped_at
            and starts <= day_in(shipped_at[o.id], zone) < starts + timedelta(days=7)
        ]
        took = [shipped_at[o.id] - o.created_at for o in that_week]
        # On time: left on the warehouse's ship-by day or before.
        on_time = sum(1 for o in that_week if day_in(shipped_at[o.id], zone) <= o.ship_by)
        median, p90 = (
            (
                daily_counts.hours_bucket(now, now + _nearest_rank(took, 0.5)),
                daily_counts.hours_bucket(now, now + _nearest_rank(took, 0.9)),
            )
            if took
            else (None, None)
        )
        weeks.append(figures.Week(starts, len(took), median, p90, on_time))
    return figures.OrderFigures(today, days, open_rows, weeks, late_known=True)


RETURN_OUT = ("shipped", "deliveryException", "delivered", "awaitingReturn", "partlyReturned")


def recounted_returns_out(now: datetime, sites: set[int] | None) -> list[figures.ReturnRow]:
    """Orders asking something back (of every site, or of ``sites``), in a status where it is
    out, by days since their first label-sending event (shipped, or awaiting the return) and
    overdue after the setting."""
    overdue_after = timedelta(days=owed.overdue_days())
    by_age = defaultdict(lambda: [0, 0, 0, 0])
    overdue = Counter()
    for o in db.session.scalars(select(Order)):
        asks_back = o.return_items or o.return_devices or o.return_packed_kits
        if not asks_back or o.current_status not in RETURN_OUT:
            continue
        if sites is not None and o.responsible_site_id not in sites:
            continue
        sent = min(e.event_timestamp for e in o.events if e.name in ("shipped", "awaitingReturn"))
        days = (now - sent).days
        by_age[o.current_status][0 if days < 7 else 1 if days < 14 else 2 if days < 21 else 3] += 1
        overdue[o.current_status] += now - sent > overdue_after
    return [
        figures.ReturnRow(s, statuses.label(s), tuple(by_age[s]), overdue[s]) for s in RETURN_OUT
    ]


def recounted_use(now: datetime) -> dict[tuple[int, int], tuple[int, int]]:
    """(location, item) -> (available, units shipped in the last 30 days)."""
    since = day_in(now, warehouse_zone()) - timedelta(days=usage.RATE_DAYS - 1)
    used: Counter = Counter()
    for m in db.session.scalars(select(StockMovement).where(StockMovement.kind == SHIPMENT)):
        if day_in(m.created_at, warehouse_zone()) >= since:
            used[(m.location_id, m.item_id)] -= m.on_hand_change
    return {
        (b.location_id, b.item_id): (b.on_hand - b.reserved, used[(b.location_id, b.item_id)])
        for b in db.session.scalars(select(StockBalance))
    }


# --- A day of work, at random --------------------------------------------------------------


def _one_step(app, catalog, rng: random.Random, orders: list[int]) -> None:
    if not orders or rng.random() < 0.3:
        lines = {
            name: rng.randint(1, 3) for name in rng.sample(["strips", "cuff"], rng.randint(1, 2))
        }
        kits = {"diabetes": 1} if rng.random() < 0.2 else {}
        # Some ask cuffs back: with what they send (an exchange), or alone (return-only).
        asks_back = rng.random() < 0.5
        if asks_back and rng.random() < 0.4:
            lines, kits = {}, {}
        returns = [LineRequest(catalog.items["cuff"], rng.randint(1, 2))] if asks_back else []
        orders.append(
            place(
                app,
                catalog,
                items=lines,
                kits=kits,
                patient=rng.random() < 0.7,
                return_items=returns,
            )
        )
        return
    if rng.random() < 0.08:
        receive_stock(app, {catalog.items["strips"]: rng.randint(1, 20)})
        return
    order_id = rng.choice(orders)
    with app_context(app) as session:
        order = session.get(Order, order_id)
        status, held_from = order.current_status, order.held_from_status
        asks_back = bool(order.return_items)
        return_only = asks_back and not (order.items or order.kits)
        if status in statuses.OPEN and rng.random() < 0.2:
            # A promise already past (placed days ago, as far as its ship-by date goes): it
            # ships late. The date is the order's own, read when it ships.
            order.ship_by = day_in(datetime.now(UTC), warehouse_zone()) - timedelta(days=1)
            session.commit()
    if status in (statuses.CREATED, statuses.PROCESSING) and rng.random() < 0.15:
        move(app, order_id, "cancelled", role="coordinator", reason="No longer needed")
    elif status in statuses.OPEN and status != statuses.ON_HOLD and rng.random() < 0.1:
        move(app, order_id, "onHold", reason="Waiting for the clinic")
    elif status == statuses.ON_HOLD:
        move(app, order_id, held_from)
    elif status == statuses.CREATED:
        move(app, order_id, "awaitingReturn" if return_only else "processing")
    elif status in statuses.CHECK_IN_FROM and asks_back and rng.random() < 0.3:
        with app.app_context():
            returns_station.check_in_items(order_id, catalog.items["cuff"], 1, actor("fulfillment"))
            db.session.remove()
    elif status == statuses.PROCESSING:
        pack_everything(app, order_id, start=order_id * 10)
        move(app, order_id, "packed")
    elif status in (statuses.PACKED, statuses.AVAILABLE_FOR_PICKUP):
        move(app, order_id, "shipped", tracking=TRACKING)
    elif status == statuses.SHIPPED:
        move(app, order_id, rng.choice(["delivered", "deliveryException"]))
    elif status == statuses.DELIVERY_EXCEPTION:
        move(app, order_id, "shipped")


@pytest.mark.parametrize("seed", [2, 3])
def test_the_dashboard_figures_equal_a_recount_after_any_sequence_of_changes(
    app, catalog, seed, monkeypatch
):
    monkeypatch.setitem(app.config, "RETURN_OVERDUE_DAYS", 10)
    rng, orders = random.Random(seed), []
    for _ in range(90):
        try:
            _one_step(app, catalog, rng, orders)
        except Rejected:
            pass  # refused (not enough stock, a device already used): nothing was changed

    with app_context(app) as session:
        # Labels sent days ago: the return-only orders' (no counter reads that event).
        sent = session.scalars(select(OrderEvent).where(OrderEvent.name == "awaitingReturn"))
        for at, event in enumerate(sent):
            event.event_timestamp -= timedelta(days=(30, 0, 15, 8)[at % 4], hours=1)
        session.commit()
    now = datetime.now(UTC)
    with app_context(app):
        assert daily_counts.drift() == [] and usage.drift() == []
        both = {catalog.site, catalog.inactive_site}
        for sites in (None, {catalog.site}, {catalog.inactive_site}, both, set()):
            assert figures.order_figures(now, sites) == recounted_order_figures(now, sites)
            assert figures.returns_out(now, sites) == recounted_returns_out(now, sites)
        returns = figures.returns_out(now, None)
        assert sum(r.total for r in returns) > sum(r.overdue for r in returns) > 0
        expected = recounted_use(now)
        cover = figures.stock_cover(now, 30)
        assert {(r.location_id, r.item_id): (r.available, r.used) for r in cover} == expected
        this_week = figures.order_figures(now, None).weeks[-1]
        assert 0 < this_week.on_time < this_week.shipped  # both kinds of shipment were made


def test_open_orders_are_aged_and_weeks_take_the_median_and_90th_percentile(app, catalog):
    """Orders placed days ago (their times moved back, then the counts rebuilt as
    `flask check-dashboard-counts --fix` does) land in their age and week."""
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(6)]
    for order_id in ids[:4]:
        ship(app, order_id)
    now = datetime.now(UTC)
    # Days before now each was placed; the first four shipped now, after 0, 2, 4 and 9 days.
    ages = [0, 2, 4, 9, 1, 40]
    with app_context(app) as session:
        for order_id, days_ago in zip(ids, ages, strict=True):
            placed_at = now - timedelta(days=days_ago, hours=1)
            session.execute(update(Order).where(Order.id == order_id).values(created_at=placed_at))
        session.commit()
        assert daily_counts.drift() != []
        daily_counts.rebuild()
        session.commit()
        found = figures.order_figures(now, None)
        assert found == recounted_order_figures(now, None)
        created = next(r for r in found.open_rows if r.status == "created")
        assert created.by_age == (0, 1, 0, 1)  # 1 and 40 days old
        assert sum(w.shipped for w in found.weeks) == 4
        this_week = found.weeks[-1]
        # Took about 1, 49, 97 and 217 hours: the median is the second, the 90th the last.
        assert (this_week.median_hours, this_week.p90_hours) == (60, 264)


def test_open_orders_past_their_ship_by_date_are_marked_late(client, app, catalog):
    """Late: not yet shipped on the day after its ship-by date. A late order that has since
    shipped is no longer late (its week counts it as shipped late); one due today is not
    late yet, and shipped today it is on time."""
    late, shipped_late, due_today, shipped_today = (
        place(app, catalog, items={"strips": 1}) for _ in range(4)
    )
    now = datetime.now(UTC)
    with app_context(app) as session:
        today = day_in(now, warehouse_zone())  # the app's warehouse, not the process's
        session.execute(
            update(Order)
            .where(Order.id.in_([late, shipped_late]))
            .values(ship_by=today - timedelta(days=1))
        )
        session.execute(
            update(Order).where(Order.id.in_([due_today, shipped_today])).values(ship_by=today)
        )
        session.commit()
    ship(app, shipped_late)
    ship(app, shipped_today)
    with app_context(app):
        found = figures.order_figures(now, None)
        assert found == recounted_order_figures(now, None)
        assert {r.status: r.late for r in found.open_rows}["created"] == 1
        assert sum(r.late for r in found.open_rows) == 1
        this_week = found.weeks[-1]
        assert (this_week.on_time, this_week.shipped) == (1, 2)
    page = signed_in(client, "fulfillment").get("/dashboard").get_data(as_text=True)
    assert "1 late" in page and "50% (1 of 2)" in page


def _label_sent_days_ago(session, order_id: int, days: int) -> None:
    session.execute(
        update(OrderEvent)
        .where(OrderEvent.order_id == order_id, OrderEvent.name.in_(owed.LABEL_SENT))
        .values(event_timestamp=datetime.now(UTC) - timedelta(days=days))
    )


def test_returns_out_are_aged_from_their_label_and_overdue_after_the_setting(client, app, catalog):
    """A return is out from its label (the shipment, or awaiting a return-only order's
    return) until all is back; overdue RETURN_OVERDUE_DAYS (21) after the label was sent.
    Returns nothing was sent for yet, and those all back, are not counted."""
    cuffs = [LineRequest(catalog.items["cuff"], 1)]
    overdue, recent, not_sent, back = (
        place(app, catalog, return_items=cuffs, patient=n != 1) for n in range(4)
    )
    exchange = place(app, catalog, items={"strips": 1}, return_items=cuffs)
    for order_id in (overdue, recent, back):
        move(app, order_id, "awaitingReturn")
    ship(app, exchange)
    with app.app_context():
        returns_station.check_in_items(back, catalog.items["cuff"], 1, actor("fulfillment"))
        db.session.remove()
    with app_context(app) as session:
        _label_sent_days_ago(session, overdue, 25)
        _label_sent_days_ago(session, exchange, 9)
        session.commit()
        now = datetime.now(UTC)
        found = {r.status: r for r in figures.returns_out(now, None)}
        assert found["awaitingReturn"].by_age == (1, 0, 0, 1)
        assert found["awaitingReturn"].overdue == 1
        assert found["shipped"].by_age == (0, 1, 0, 0) and found["shipped"].overdue == 0
        assert sum(r.total for r in found.values()) == 3  # not the unsent, not the one back
        assert figures.returns_out(now, None) == recounted_returns_out(now, None)
        # The site's own: the second order was placed for the clinic itself.
        at_site = figures.returns_out(now, {catalog.site})
        assert at_site == recounted_returns_out(now, {catalog.site})
        assert sum(r.total for r in at_site) == (
            sum(1 for o in (overdue, recent, exchange) if _site_of(session, o) == catalog.site)
        )
    page = signed_in(client, "fulfillment").get("/dashboard").get_data(as_text=True)
    assert "Returns outstanding" in page and "1 overdue" in page
    assert "returns=overdue" in page  # a link to the order list's overdue filter


def _site_of(session, order_id: int) -> int | None:
    return session.get(Order, order_id).responsible_site_id


def test_returns_out_are_read_through_their_partial_index(app):
    """The dashboard's returns and the order list's overdue filter walk
    ix_order__returns_out (the few orders whose return is out), never every order. SQLite
    chooses without statistics, so there the index is shown usable: the statement runs with
    the index forced (INDEXED BY fails when the index cannot answer the query)."""
    now = datetime.now(UTC)
    with app_context(app) as session:
        statements = [
            owed.returns_out_statement(now, None, figures.RETURN_AGES),
            owed.returns_out_statement(now, {3}, figures.RETURN_AGES),
            select(Order.id).where(owed.overdue_condition(now)),
        ]
        postgresql = session.get_bind().dialect.name == "postgresql"
        if postgresql:
            # An empty table is cheapest to scan: make the planner use an index if it may.
            session.execute(text("SET LOCAL enable_seqscan = off"))
        for stmt in statements:
            sql = str(stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
            if not postgresql:
                sql = re.sub(
                    r"FROM order_\s*\n", "FROM order_ INDEXED BY ix_order__returns_out\n", sql
                )
            explain = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
            plan = " ".join(str(row[-1]) for row in session.execute(text(explain + sql)))
            assert "ix_order__returns_out" in plan, plan
            assert plan.count("SCALAR SUBQUERY") <= 1  # the label looked up once an order


def test_days_of_cover_and_the_suggested_reorder_follow_the_last_30_days(app, catalog):
    for _ in range(3):
        order_id = place(app, catalog, items={"strips": 5})
        ship(app, order_id)
    now = datetime.now(UTC)
    with app_context(app) as session:
        # An old shipment, outside the 30 days, does not count.
        session.add(
            StockUseCount(
                used_day=day_in(now, warehouse_zone()) - timedelta(days=40),
                location_id=catalog.location,
                item_id=catalog.items["strips"],
                units=900,
            )
        )
        session.commit()
        row = next(r for r in figures.stock_cover(now, 60) if r.item_id == catalog.items["strips"])
        assert row.used == 15 and row.per_day == pytest.approx(0.5)
        assert row.days_of_cover == pytest.approx(row.available / 0.5)
        assert row.suggested_reorder == max(30 - row.available, 0)
        unused = next(
            r for r in figures.stock_cover(now, 60) if r.item_id == catalog.items["monitor"]
        )
        assert unused.days_of_cover is None and unused.suggested_reorder == 0


# --- The page ------------------------------------------------------------------------------


def test_fulfilment_and_admins_see_every_figure_and_coordinators_the_orders(client, catalog, app):
    order_id = place(app, catalog, items={"strips": 2})
    ship(app, order_id)
    for role in ("fulfillment", "admin"):
        person = signed_in(app.test_client(), role)
        page = person.get("/dashboard")
        assert page.status_code == 200
        for heading in (
            "Orders placed and shipped per day",
            "Open orders by status and age",
            "Time from placed to shipped",
            "Stock cover",
        ):
            assert heading in page.text
        assert "<svg viewBox" in page.text and 'role="img"' in page.text
        assert person.get("/dashboard/stock-cover.csv").status_code == 200
    works_for(app, catalog.users["coordinator"], [catalog.site])
    coordinator = signed_in(client, "coordinator")
    page = coordinator.get("/dashboard")
    assert page.status_code == 200
    assert "Open orders by status and age" in page.text and "Stock cover" not in page.text
    assert coordinator.get("/dashboard/stock-cover.csv").status_code == 403


def todays_row(page: str) -> tuple[int, int]:
    """Placed and shipped today, from the daily table (newest day first)."""
    table = page[page.index('aria-labelledby="daily-heading"') :]
    cells = re.search(r'<tbody>\s*<tr><th scope="row">[^<]*</th>(.*?)</tr>', table, re.S)
    placed, shipped = re.findall(r'<td class="num">(\d+)</td>', cells.group(1))
    return int(placed), int(shipped)


def test_a_coordinators_figures_are_their_sites_orders_together(client, catalog, app):
    """Riverside (its patient's orders) and Hilltop are the coordinator's; Lakeside is not."""
    hilltop, lakeside = new_site(app, "Hilltop Clinic"), new_site(app, "Lakeside Clinic")
    riverside_orders = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
    hilltop_orders = [place(app, catalog, items={"strips": 1}, patient=False, site_id=hilltop)]
    for _ in range(3):
        place(app, catalog, items={"strips": 1}, patient=False, site_id=lakeside)
    ship(app, riverside_orders[0])
    ship(app, hilltop_orders[0])
    works_for(app, catalog.users["coordinator"], [hilltop, catalog.site])
    now = datetime.now(UTC)
    with app_context(app):
        theirs = figures.order_figures(now, {catalog.site, hilltop})
        assert theirs == recounted_order_figures(now, {catalog.site, hilltop})
        one, other = (
            figures.order_figures(now, {catalog.site}),
            figures.order_figures(now, {hilltop}),
        )
        for day, a, b in zip(theirs.days, one.days, other.days, strict=True):
            assert (day.placed, day.shipped) == (a.placed + b.placed, a.shipped + b.shipped)
        for row, a, b in zip(theirs.open_rows, one.open_rows, other.open_rows, strict=True):
            assert row.by_age == tuple(x + y for x, y in zip(a.by_age, b.by_age, strict=True))
        assert sum(d.placed for d in theirs.days) == 3
        assert sum(r.total for r in theirs.open_rows) == 1

    page = signed_in(client, "coordinator").get("/dashboard")
    assert page.status_code == 200
    assert "Your sites: Hilltop Clinic, Riverside Clinic." in page.text
    assert todays_row(page.text) == (3, 2)  # not Lakeside's three
    assert '<option value="">All your sites</option>' in page.text
    assert "Lakeside Clinic" not in page.text
    page = signed_in(app.test_client(), "fulfillment").get("/dashboard")
    assert todays_row(page.text) == (6, 2) and "Lakeside Clinic" in page.text


def test_a_coordinator_may_narrow_to_one_of_their_sites_and_no_other(client, catalog, app):
    hilltop, lakeside = new_site(app, "Hilltop Clinic"), new_site(app, "Lakeside Clinic")
    place(app, catalog, items={"strips": 1}, patient=False, site_id=hilltop)
    place(app, catalog, items={"strips": 1}, patient=False, site_id=lakeside)
    place(app, catalog, items={"strips": 1})
    works_for(app, catalog.users["coordinator"], [hilltop, catalog.site])
    coordinator = signed_in(client, "coordinator")
    page = coordinator.get(f"/dashboard?site={hilltop}").text
    assert todays_row(page) == (1, 0) and "Showing Hilltop Clinic only." in page
    page = coordinator.get(f"/dashboard?site={lakeside}").text
    assert todays_row(page) == (2, 0)  # both of theirs, not Lakeside's
    assert "That site is not one of yours: showing all your sites." in page


def test_a_coordinator_with_no_sites_is_told_to_ask_an_admin(client, catalog, app):
    place(app, catalog, items={"strips": 1})
    coordinator = signed_in(client, "coordinator")
    page = coordinator.get("/dashboard")
    assert page.status_code == 200
    assert "No sites are assigned to you yet" in page.text and "Ask an admin" in page.text
    for everyones in ("Orders placed and shipped per day", "Open orders by status", "<svg"):
        assert everyones not in page.text
    assert coordinator.get(f"/dashboard?site={catalog.site}").text == page.text


def test_the_dashboard_needs_a_sign_in_not_an_api_key(client, catalog, api_key):
    answer = client.get("/dashboard", headers={"Authorization": f"Bearer {api_key}"})
    assert answer.status_code in (302, 303) and "/sign-in" in answer.headers["Location"]
    assert client.get("/dashboard/stock-cover.csv").status_code in (302, 303)


def test_the_stock_cover_exports_as_csv_for_purchasing(client, catalog, app):
    with app_context(app) as session:
        session.execute(
            update(StockBalance)
            .where(StockBalance.item_id == catalog.items["cuff"])
            .values(on_hand=0)
        )
        session.commit()
    fulfilment = signed_in(client, "fulfillment")
    answer = fulfilment.get("/dashboard/stock-cover.csv")
    assert answer.mimetype == "text/csv" and "stock-cover-" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    cuff = next(r for r in rows if r["SKU"] == "CUF-L")
    assert cuff["Available"] == "0" and cuff["At or below reorder point"] == "yes"
    assert {"Location", "Days of cover", "Suggested reorder"} <= rows[0].keys()


@pytest.mark.parametrize("role", ["fulfillment", "coordinator"])
def test_the_dashboard_costs_a_fixed_number_of_statements(
    client, catalog, app, count_queries, role
):
    """Whatever the number of orders, and for a coordinator whatever the number of sites."""
    if role == "coordinator":
        works_for(app, catalog.users["coordinator"], [catalog.site])
    person = signed_in(client, role)
    with count_queries() as few:
        assert person.get("/dashboard").status_code == 200
    rng = random.Random(3)
    for n in range(12):
        order_id = place(app, catalog, items={"strips": 1, "cuff": 1}, patient=n % 2 == 0)
        steps = rng.randint(0, 2)
        if steps == 2:
            ship(app, order_id)
        elif steps == 1:
            move(app, order_id, "processing")
    receive_stock(app, {catalog.items["strips"]: 5})
    if role == "coordinator":
        others = [new_site(app, f"Clinic {n}") for n in range(4)]
        works_for(app, catalog.users["coordinator"], [catalog.site, *others])
    with count_queries() as many:
        page = person.get("/dashboard")
        assert page.status_code == 200
    assert many.count == few.count
    if role == "coordinator":
        assert "Clinic 3, Riverside Clinic" in page.text  # five sites, by name


def test_the_check_command_reports_drift_and_mends_it(app, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    ship(app, order_id)
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["check-dashboard-counts"])
    assert clean.exit_code == 0 and "match" in clean.output, clean.output

    with app_context(app) as session:
        session.execute(update(StockUseCount).values(units=StockUseCount.units + 2))
        session.execute(delete_shipped())
        session.commit()
    found = runner.invoke(args=["check-dashboard-counts"])
    assert found.exit_code != 0
    assert "used " in found.output and "counter 3, ledger 1" in found.output
    assert "shipped " in found.output and "on time: counter 0, orders 1" in found.output
    fixed = runner.invoke(args=["check-dashboard-counts", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert runner.invoke(args=["check-dashboard-counts"]).exit_code == 0


def delete_shipped():
    return delete(OrderShippedCount)


def test_chart_bars_are_drawn_to_scale_inside_the_chart():
    chart = charts.bar_chart(
        "Stacked", "Two stacks", ["a", "b"], [("x", [1, 2]), ("y", [3, 0])], stacked=True
    )
    plot_h = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert charts.scale_top(4) == 4 and charts.scale_top(7) == 8 and charts.scale_top(0) == 4
    first, second = chart.bars[0], chart.bars[1]
    assert first.height == pytest.approx(plot_h / 4) and second.height == pytest.approx(
        plot_h * 3 / 4
    )
    assert second.y + second.height == pytest.approx(first.y)  # stacked on top of the first
    for bar in chart.bars:
        assert bar.y >= charts.TOP - 1e-9 and bar.y + bar.height <= charts.TOP + plot_h + 1e-9
    assert chart.bars[0].title == "a: 1 x"


def test_days_begin_at_the_warehouses_midnight(app, catalog, monkeypatch):
    """With the warehouse 14 hours ahead of UTC, an order is counted on the warehouse's day."""
    monkeypatch.setitem(app.config, "WAREHOUSE_TIME_ZONE", "Pacific/Kiritimati")
    order_id = place(app, catalog, items={"strips": 1})
    with app_context(app) as session:
        placed = session.get(Order, order_id).created_at
        days = session.scalars(select(OrderDayCount.placed_day)).all()
        assert days == [placed.astimezone(ZoneInfo("Pacific/Kiritimati")).date()]
        assert daily_counts.drift() == []
        app.config["WAREHOUSE_TIME_ZONE"] = "UTC"  # (monkeypatch puts the setting back)
        if placed.astimezone(ZoneInfo("Pacific/Kiritimati")).date() != placed.date():
            assert daily_counts.drift() != []  # counted again by UTC days, they differ
