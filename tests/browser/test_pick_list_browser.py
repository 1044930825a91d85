"""Pick lists in Chromium: printed for a status tab from the order list, on Letter and A4,
its sums checked against the orders (kits multiplied out); printing recorded on each order;
bins set on the stock page by keyboard; axe clean on both pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.inventory import bins
from app.orders.models import OrderEvent
from tests.browser.test_packing_summary_pdf import pages_text
from tests.conftest import app_context
from tests.helpers.browser import serious_violations
from tests.helpers.orders import actor, move, place, units_ordered

pytestmark = pytest.mark.browser


@pytest.fixture
def morning(app, catalog):
    """Four orders to pick (items and kits, some of the same items), one already being
    packed (another tab), and bins for most items at the default location."""
    with app.app_context():
        for name, label in {"strips": "A-10", "cuff": "A-2", "monitor": "B-01"}.items():
            bins.set_bin(catalog.location, catalog.items[name], label, actor("admin"))
    created = [
        place(app, catalog, items={"strips": 3, "cuff": 1}, kits={"diabetes": 2}),
        place(app, catalog, kits={"hypertension": 2}),
        place(app, catalog, items={"strips": 10, "monitor": 1}, kits={"hypertension": 1}),
        place(app, catalog, items={"cuff": 2}, kits={"diabetes": 1}),
    ]
    processing = place(app, catalog, items={"strips": 7})
    move(app, processing, "processing")
    return created, processing


def rows_on(page) -> dict[str, tuple[str, int, str]]:
    """Each line of the page's pick list by SKU: (bin, count, orders)."""
    rows = {}
    for row in page.locator("tr.pick-line").all():
        cells = [c.inner_text().strip() for c in row.locator("td").all()]
        rows[cells[4]] = (cells[1], int(cells[2]), cells[5])
    return rows


def takes_of(app, order_ids, sku) -> str:
    """The orders column as the orders say it: each order taking the item, with its units
    when more than one, kits multiplied out."""
    parts = []
    for order_id in sorted(order_ids):
        n = units_ordered(app, [order_id])[sku]
        if n:
            parts.append(f"{order_id} ×{n}" if n > 1 else str(order_id))
    return ", ".join(parts)


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_a_pick_list_printed_for_a_status_tab_sums_what_its_orders_take(
    app, catalog, open_as, morning, paper
):
    created, processing = morning
    page = open_as("fulfillment", "/orders/")
    page.get_by_role("navigation", name="Order status").get_by_role(
        "link", name=re.compile(r"^Created")
    ).click()
    page.get_by_role("link", name="Pick list: all Created").click()
    expect(page.get_by_role("heading", name="Pick list · Main warehouse")).to_be_visible()
    assert serious_violations(page) == []

    expected = units_ordered(app, created)
    rows = rows_on(page)
    assert {sku: count for sku, (_, count, _) in rows.items()} == dict(expected)
    for sku, (_, _, orders) in rows.items():
        assert orders == takes_of(app, created, sku)
    assert processing not in [
        int(n) for n in re.findall(r"\d{1,9}", " ".join(r[2] for r in rows.values()))
    ]
    # One walk: bins in order, numbers read as numbers, items without a bin last.
    assert [bin_ for bin_, _, _ in rows.values()] == ["A-2", "A-10", "B-01", "No bin", "No bin"]
    expect(page.get_by_text(f"{sum(expected.values())} units")).to_be_visible()

    page.emulate_media(media="print")
    texts = pages_text(page.pdf(format=paper, print_background=True))
    assert len(texts) == 1
    text = re.sub(r"\s+", " ", texts[0])
    assert "Pick list · Main warehouse" in text and "Picked by" in text
    assert "Print the pick list" not in text and "Back" not in text
    for sku, (bin_, count, _) in rows.items():
        assert re.search(rf"{re.escape(bin_)} {count} .*?{re.escape(sku)}", text), sku
    assert "4 devices: each one's Serial number is recorded at packing" in text
    assert "Lovelace" not in text


def test_printing_a_pick_list_is_recorded_on_each_of_its_orders(app, catalog, open_as, morning):
    created, processing = morning
    page = open_as("fulfillment", "/orders/pick-list?status=created")
    # Headless Chromium has no print dialog: announce the end of printing as a browser does.
    with page.expect_response(lambda r: r.url.endswith("/pick-list/printed")) as answer:
        page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert answer.value.status == 204
    with app_context(app) as session:
        noted = session.scalars(
            select(OrderEvent.order_id).where(OrderEvent.name == "pickListPrinted")
        ).all()
    assert sorted(noted) == created
    page.goto(page.url.split("/orders/")[0] + f"/orders/{created[0]}")
    expect(page.get_by_text("Pick list printed")).to_be_visible()


def test_ticked_orders_make_a_pick_list(app, catalog, open_as, morning):
    created, _ = morning
    page = open_as("fulfillment", "/orders/?status=created")
    for order_id in created[:2]:
        page.get_by_label(f"Select order {order_id}").check()
    page.get_by_role("button", name="Print pick list for selected").click()
    expect(page.get_by_role("heading", name="Pick list · Main warehouse")).to_be_visible()
    rows = rows_on(page)
    assert {sku: count for sku, (_, count, _) in rows.items()} == dict(
        units_ordered(app, created[:2])
    )
    page.get_by_role("link", name="← Back").click()
    expect(page).to_have_url(re.compile(r"/orders/\?status=created$"))


def test_a_bin_is_set_on_the_stock_page_by_keyboard_and_the_page_passes_axe(app, catalog, open_as):
    page = open_as("fulfillment", "/stock/")
    assert serious_violations(page) == [], "the stock page"
    field = page.get_by_label("Bin for Gateway at Main warehouse")
    field.fill("\u200b")
    field.press("Enter")
    refused = page.get_by_label("Bin for Gateway at Main warehouse")
    expect(refused).to_be_focused()
    expect(refused).to_have_accessible_description("Bin has only invisible characters.")
    assert serious_violations(page) == [], "a refused bin"
    refused.fill("C-4")
    refused.press("Enter")
    expect(page.get_by_text("Gateway at Main warehouse: bin C-4.")).to_be_visible()
    expect(page.get_by_label("Bin for Gateway at Main warehouse")).to_have_value("C-4")
    expect(page).to_have_url(re.compile(rf"#bin-{catalog.location}-{catalog.items['gateway']}$"))


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_each_location_is_a_walk_of_its_own_pages_with_its_heads_on_every_page(
    app, catalog, open_as, paper
):
    from app.catalog.models import Item
    from app.db.transactions import write_transaction
    from app.inventory import receipts
    from app.orders import service
    from tests.helpers.stock import second_location

    east = second_location(app)
    with app.app_context(), write_transaction() as session:
        extra = [Item(name=f"Dressing size {n:02d}", sku=f"DRS-{n:02d}") for n in range(60)]
        session.add_all(extra)
        session.flush()
        extra_ids = [i.id for i in extra]
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=east, lines=[receipts.ReceiptLine(i, 5) for i in extra_ids]
            ),
            actor("admin"),
        )
        for n, item_id in enumerate(extra_ids):
            bins.set_bin(east, item_id, f"E-{n % 7}-{n}", actor("admin"))
        long_order = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient,
                items=[service.LineRequest(i, 2) for i in extra_ids],
                location_id=east,
            ),
            actor("coordinator"),
        ).order.id
    main_order = place(app, catalog, items={"strips": 2})
    cancelled = place(app, catalog, items={"strips": 1})
    move(app, cancelled, "cancelled", role="admin", reason="Duplicate")
    page = open_as("fulfillment", "/orders/")
    page.goto(f"{page.url}pick-list?order={main_order}&order={long_order}&order={cancelled}")
    expect(page.get_by_role("region", name="Not on this pick list")).to_contain_text(
        f"Order {cancelled}: Cancelled"
    )
    assert serious_violations(page) == []
    page.emulate_media(media="print")
    texts = [re.sub(r"\s+", " ", t) for t in pages_text(page.pdf(format=paper))]
    east_pages = [t for t in texts if "East depot" in t]
    assert len(east_pages) >= 2 and texts[0] == east_pages[0]
    # Every page of the walk carries the column heads; the walk's lines are all there, in
    # walking order (E-0-0, E-0-7, ..., E-1-1, ...).
    assert all("Bin Count Item SKU Orders" in t for t in texts)
    everything = " ".join(texts[: len(east_pages) + 1])
    found = [int(n) for n in re.findall(r"E-\d-(\d+) 2 Dressing", everything)]
    assert found == sorted(range(60), key=lambda n: (n % 7, n))
    # The next location starts on a page of its own, and the left-out order is not printed.
    assert "Main warehouse" in texts[len(east_pages)] and "East depot" not in texts[-1]
    assert len(texts) == len(east_pages) + 1
    assert "Not on this pick list" not in " ".join(texts)
