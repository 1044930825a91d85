"""The dashboard in a real Chromium, without JavaScript: the charts are there as images
named and described, each with its figures as a table, and the site filter works; axe
finds nothing serious (run with JavaScript on, as axe runs in the page)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.orders.service import LineRequest
from tests.helpers.browser import serious_violations
from tests.helpers.orders import move, place
from tests.helpers.pages import UPS_NUMBER
from tests.helpers.sites import new_site, works_for

pytestmark = pytest.mark.browser


def test_the_dashboard_shows_its_charts_and_tables_without_javascript(app, catalog, open_as):
    shipped = place(app, catalog, items={"strips": 4})
    move(app, shipped, "processing", "packed")
    move(app, shipped, "shipped", tracking=("UPS", UPS_NUMBER))
    place(app, catalog, items={"cuff": 1}, patient=False)
    return_only = place(app, catalog, return_items=[LineRequest(catalog.items["cuff"], 1)])
    move(app, return_only, "awaitingReturn")

    page = open_as("fulfillment", "/dashboard", javascript=False)
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    for name in (
        "Orders placed and shipped per day",
        "Open orders by status and age",
        "Time from placed to shipped, per week",
        "Shipped on time against the ship-by date, per week",
        "Returns outstanding by status and age",
        "Days of stock cover",
    ):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    daily = page.get_by_role("table", name="Orders placed and shipped per day, last 30 days")
    today = daily.get_by_role("row").nth(1)
    expect(today.get_by_role("cell")).to_have_text(["3", "1"])
    open_orders = page.get_by_role("table", name="Open orders by status and by how long ago")
    expect(open_orders.get_by_role("row", name="Created")).to_contain_text("1")
    weekly = page.get_by_role("table", name="Time from placed to shipped per week")
    expect(weekly.get_by_role("row").nth(1).get_by_role("cell").last).to_have_text("100% (1 of 1)")
    returns = page.get_by_role("table", name="Returns outstanding by status")
    expect(returns.get_by_role("row", name="Awaiting return").get_by_role("cell")).to_have_text(
        ["1", "0", "0", "0", "1", "0"]
    )
    cover = page.get_by_role("table", name="Stock cover per item and location")
    expect(cover.get_by_role("row", name="Test strips STR")).to_be_visible()
    expect(page.get_by_role("link", name="Download the stock cover as CSV")).to_be_visible()
    page.get_by_label("Site", exact=True).select_option(label="Closed Clinic (inactive)")
    page.get_by_role("button", name="Show").click()
    expect(today.get_by_role("cell")).to_have_text(["0", "0"])

    # axe runs in the page: with JavaScript on (the page itself needs none).
    assert serious_violations(open_as("fulfillment", "/dashboard")) == []


def test_coordinators_see_their_sites_figures_but_not_the_stock_cover(app, catalog, open_as):
    hilltop, lakeside = new_site(app, "Hilltop Clinic"), new_site(app, "Lakeside Clinic")
    place(app, catalog, items={"strips": 1})
    place(app, catalog, items={"strips": 1}, patient=False, site_id=hilltop)
    place(app, catalog, items={"strips": 1}, patient=False, site_id=lakeside)
    none_yet = open_as("coordinator", "/dashboard")
    expect(none_yet.get_by_role("heading", name="No sites are assigned to you yet")).to_be_visible()
    assert serious_violations(none_yet) == []

    works_for(app, catalog.users["coordinator"], [catalog.site, hilltop])
    page = open_as("coordinator", "/dashboard", javascript=False)
    expect(page.get_by_text("Your sites: Hilltop Clinic, Riverside Clinic.")).to_be_visible()
    expect(page.get_by_role("img", name="Open orders by status and age")).to_be_visible()
    expect(page.get_by_role("img", name="Returns outstanding by status and age")).to_be_visible()
    expect(page.get_by_role("heading", name="Stock cover")).to_have_count(0)
    daily = page.get_by_role("table", name="Orders placed and shipped per day, last 30 days")
    today = daily.get_by_role("row").nth(1)
    expect(today.get_by_role("cell")).to_have_text(["2", "0"])  # not Lakeside's
    page.get_by_label("Site", exact=True).select_option(label="Hilltop Clinic")
    page.get_by_role("button", name="Show").click()
    expect(today.get_by_role("cell")).to_have_text(["1", "0"])
    assert serious_violations(open_as("coordinator", "/dashboard")) == []
