"""Ship-by dates in a real Chromium: the lead picks "Late" on the order list, sorts by ship-by,
and the page stays accessible."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from app.orders.models import Order
from tests.conftest import app_context
from tests.helpers.browser import serious_violations
from tests.helpers.orders import place


def test_the_lead_finds_late_orders_soonest_first(app, catalog, open_as, monkeypatch):
    standard = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    with app_context(app) as session:
        latest = session.get(Order, standard).ship_by
    # The day after the standard order's ship-by date, at noon in the warehouse: both late.
    noon = datetime.combine(latest + timedelta(days=1), time(12), ZoneInfo("America/New_York"))
    monkeypatch.setitem(app.config, "WAREHOUSE_TIME_ZONE", "America/New_York")
    monkeypatch.setitem(app.config, "SHIP_BY_CLOCK", lambda: noon.astimezone(UTC))

    page = open_as("fulfillment", "/orders/")
    page.get_by_label("Ship-by").select_option(label="Late")
    page.get_by_label("Sort").select_option(label="Ship-by, soonest first")
    expect(page).to_have_url(re.compile(r"due=late&.*sort=shipby"))
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(3)  # the header and two orders
    expect(rows.nth(1)).to_contain_text(f"{overnight}")
    expect(rows.nth(2)).to_contain_text(f"{standard}")
    expect(rows.nth(1)).to_contain_text("Late")
    assert serious_violations(page) == [], "the late orders"

    page.reload()  # without htmx: the same list, the filter kept
    expect(page.get_by_label("Ship-by")).to_have_value("late")
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(3)
