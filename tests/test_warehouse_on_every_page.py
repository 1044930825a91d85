"""The warehouse an order is fulfilled from, on every page that shows the order: its page,
its packing summary, the order list (a column and a filter, counted like the other
filters), its CSV export and the batch print; and the new-order item picker's availability, for the
location chosen in "Fulfilled from", with and without JavaScript."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.inventory import receipts
from app.orders import status_counters
from tests.conftest import STOCK_PER_COUNTED_ITEM, app_context
from tests.helpers.orders import actor, move, place
from tests.helpers.stock import second_location
from tests.helpers.web import Browserless, new_form

EAST_STRIPS = 20


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def signed_in(client, role: str) -> Browserless:
    someone = Browserless(client)
    assert someone.sign_in(role).status_code == 303
    return someone


@pytest.fixture
def east(app, catalog) -> int:
    """East depot, holding 20 test strips (the default location holds many more)."""
    location_id = second_location(app)
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=location_id,
                lines=[receipts.ReceiptLine(catalog.items["strips"], EAST_STRIPS)],
            ),
            actor("admin"),
        )
        db.session.remove()
    return location_id


@pytest.fixture
def orders(app, catalog, east) -> dict[str, int]:
    return {
        "east": place(app, catalog, items={"strips": 2}, location_id=east),
        "main": place(app, catalog, items={"strips": 1}),
    }


def test_the_order_page_says_where_the_order_is_fulfilled_from(client, orders):
    html = signed_in(client, "fulfillment").get(f"/orders/{orders['east']}").text
    assert "<dt>Fulfilled from</dt><dd>East depot</dd>" in html


@pytest.mark.parametrize("batch", [False, True])
def test_each_packing_summary_says_where_the_order_is_fulfilled_from(client, orders, batch):
    packer = signed_in(client, "fulfillment")
    if batch:
        url = f"/orders/packing-summaries?order={orders['east']}&order={orders['main']}"
    else:
        url = f"/orders/{orders['east']}/packing-summary"
    facts = re.findall(r"<dt>Fulfilled from</dt><dd>([^<]+)</dd>", packer.get(url).text)
    assert facts == (["East depot", "Main warehouse"] if batch else ["East depot"])


def test_the_order_list_names_each_orders_warehouse_in_a_column(client, orders):
    html = signed_in(client, "coordinator").get("/orders/").text
    assert '<th scope="col">From</th>' in html
    rows = {
        int(number): text_of(row)
        for number, row in re.findall(r'<a href="/orders/(\d+)">\d+</a></td>(.*?)</tr>', html, re.S)
    }
    assert "East depot" in rows[orders["east"]] and "Main warehouse" not in rows[orders["east"]]
    assert "Main warehouse" in rows[orders["main"]]


def test_the_order_list_filters_by_warehouse_and_counts_its_tabs(app, client, orders, east):
    packer = signed_in(client, "fulfillment")
    listed = packer.get(f"/orders/?location={east}").text
    assert f'<option value="{east}" selected>East depot</option>' in listed
    shown = [int(n) for n in re.findall(r'<a href="/orders/(\d+)">\d+</a>', listed)]
    assert shown == [orders["east"]]
    assert re.search(r'id="tab-all"[^>]*>\s*All <span class="count">1</span>', listed)
    assert "1 order matches the filters" in listed
    # The tab counts come from the status counters, which follow each status move.
    move(app, orders["east"], "processing")
    listed = packer.get(f"/orders/?location={east}").text
    assert re.search(r'id="tab-processing"[^>]*>\s*Processing <span class="count">1</span>', listed)
    assert re.search(r'id="tab-created"[^>]*>\s*Created <span class="count">0</span>', listed)
    with app_context(app):
        assert status_counters.drift() == []


def test_the_csv_export_names_each_orders_warehouse(client, orders):
    exported = signed_in(client, "fulfillment").get("/orders/export.csv").text.splitlines()
    header = exported[0].split(",")
    where = {
        int(row.split(",")[0]): row.split(",")[header.index("Fulfilled from")]
        for row in exported[1:]
    }
    assert where[orders["east"]] == "East depot"
    assert where[orders["main"]] == "Main warehouse"


def test_print_all_of_a_status_prints_only_that_warehouses_orders(app, client, catalog, east):
    east_order = place(app, catalog, items={"strips": 1}, location_id=east)
    place(app, catalog, items={"strips": 1})
    packer = signed_in(client, "fulfillment")
    listed = packer.get(f"/orders/?status=created&location={east}").text
    link = re.search(
        r'<a class="button" href="([^"]+)">Print all Created at East depot</a>', listed
    )
    assert link, "the batch print names the warehouse"
    printed = packer.get(link.group(1).replace("&amp;", "&")).text
    assert re.findall(r'aria-label="Order (\d+), page 1 of', printed) == [str(east_order)]


# --- The new-order item picker ----------------------------------------------------------


def picker_options(person: Browserless, text: str, location: str | None = None) -> str:
    args = {"kind": "item", "row": "items-0", "items-0-ref": text}
    if location is not None:
        args["fulfillment_location"] = location
    return text_of(person.get("/orders/new/options", query_string=args).text)


def test_the_item_picker_says_what_the_chosen_location_has(app, client, catalog, east):
    coordinator = signed_in(client, "coordinator")
    assert f"STR · {STOCK_PER_COUNTED_ITEM} available" in picker_options(coordinator, "strips")
    assert f"STR · {EAST_STRIPS} available" in picker_options(coordinator, "strips", str(east))
    # A location that is none of the active ones: the picker claims nothing.
    assert "available" not in picker_options(coordinator, "strips", "999999")


def test_without_javascript_the_matches_say_what_the_chosen_location_has(client, catalog, east):
    coordinator = signed_in(client, "coordinator")
    form = {
        **new_form(coordinator),
        "fulfillment_location": str(east),
        "items-0-ref": "strips",
        "items-0-count": "1",
        "action": "find-item:0",
    }
    html = coordinator.post("/orders/new", form).text
    matches = text_of(re.search(r'<div class="matches".*?</div>', html, re.S).group(0))
    assert f"Test strips STR · {EAST_STRIPS} available" in matches


def test_without_javascript_a_new_location_shows_its_stock_when_asked(client, catalog, east):
    coordinator = signed_in(client, "coordinator")
    html = coordinator.get("/orders/new").text
    assert 'value="refresh" class="secondary location-refresh">Show what is available there' in (
        html
    )
    form = {
        **new_form(coordinator),
        "fulfillment_location": str(east),
        "items-0-ref": "Test strips (STR)",
        "items-0-count": "1",
        "action": "refresh",
    }
    html = coordinator.post("/orders/new", form).text
    assert f"{EAST_STRIPS} available at East depot" in text_of(html)
