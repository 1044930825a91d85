"""A smoother day at the bench, in a real Chromium: the keyboard is where the next step is
(after Go to order, after Mark packed), the carrier fills itself in from the tracking
number, the item picker follows "Fulfilled from" and says when nothing matches, and Adjust
shows what is there as the choices change. CSRF on; any console error fails the test;
axe stays clean."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.inventory import receipts
from tests.conftest import STOCK_PER_COUNTED_ITEM
from tests.helpers.browser import serious_violations
from tests.helpers.orders import actor, move, pack_everything, place
from tests.helpers.pages import (
    UPS_NUMBER,
    expect_status,
    next_steps,
    order_page,
    scan_box,
    step,
    stored,
)
from tests.helpers.stock import second_location

pytestmark = pytest.mark.browser


def test_go_to_order_gives_the_keyboard_to_the_next_step(app, catalog, open_as):
    order_id = place(app, catalog, items={"monitor": 1})
    page = open_as("fulfillment", "/orders/")
    page.get_by_label("Go to order").fill(str(order_id))  # what a summary's barcode types
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/orders/{order_id}\?focus=next-step$"))
    # No thirteen Tabs: Enter starts processing, and the scan box is next.
    expect(step(page, "Start processing")).to_be_focused()
    page.keyboard.press("Enter")
    expect_status(page, "Processing")
    expect(scan_box(page)).to_be_focused()
    assert serious_violations(page) == []


def test_after_mark_packed_the_tracking_number_is_typed_and_its_carrier_fills_in(
    app, catalog, open_as
):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    page = open_as("fulfillment", order_page(order_id))
    step(page, "Mark packed").click()
    expect_status(page, "Packed")
    tracking = next_steps(page).get_by_label("Tracking number")
    carrier = next_steps(page).get_by_label("Carrier")
    expect(tracking).to_be_focused()
    page.keyboard.type("123456789012")  # a FedEx Express number
    expect(carrier).to_have_value("FedEx")
    expect(carrier).to_have_accessible_description("told from the number")
    expect(tracking).to_be_focused()
    tracking.fill(UPS_NUMBER)  # the right label after all: the carrier follows
    expect(carrier).to_have_value("UPS")
    assert serious_violations(page) == []
    tracking.press("Enter")
    expect_status(page, "Shipped")
    assert stored(app, order_id)["tracking"] == [("UPS", UPS_NUMBER)]


def test_a_carrier_chosen_by_hand_stays(app, catalog, open_as):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    page = open_as("fulfillment", order_page(order_id))
    next_steps(page).get_by_label("Carrier").select_option("DHL")
    next_steps(page).get_by_label("Tracking number").fill("1234567890")
    page.wait_for_timeout(600)  # longer than the lookup's delay: it answered by now
    expect(next_steps(page).get_by_label("Carrier")).to_have_value("DHL")
    step(page, "Mark shipped").click()
    expect_status(page, "Shipped")
    assert stored(app, order_id)["tracking"] == [("DHL", "1234567890")]


def test_the_item_picker_follows_fulfilled_from_and_says_when_nothing_matches(
    app, catalog, coordinator
):
    east = second_location(app)
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=east, lines=[receipts.ReceiptLine(catalog.items["strips"], 20)]
            ),
            actor("admin"),
        )
        db.session.remove()
    page = coordinator
    page.reload()  # East depot is new since the page was drawn
    box = page.get_by_label("Item 1", exact=True)
    box.fill("strips")
    option = page.get_by_role("option", name=re.compile("Test strips"))
    expect(option).to_contain_text(f"{STOCK_PER_COUNTED_ITEM} available")
    # The lines are drawn again for East depot: wait until they are, or the typing below
    # lands in the row being replaced.
    with page.expect_response(lambda answer: "/orders/new/lines" in answer.url):
        page.get_by_label("Fulfilled from").select_option(label="East depot")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    expect(page.locator("#order-lines")).to_be_attached()
    box = page.get_by_label("Item 1", exact=True)
    box.fill("")
    box.fill("strip")
    expect(page.get_by_role("option", name=re.compile("Test strips"))).to_contain_text(
        "20 available"
    )
    box.fill("zzz")
    expect(page.get_by_text("Nothing on offer matches “zzz”.")).to_be_visible()
    box.fill("strips")
    expect(page.get_by_text("Nothing on offer matches")).to_be_hidden()
    assert serious_violations(page) == []


def test_adjust_shows_what_is_there_as_the_choices_change(app, catalog, open_as):
    place(app, catalog, items={"strips": 4})
    second_location(app)
    page = open_as("fulfillment", "/stock/adjust")
    figures = page.get_by_role("status").filter(has_text="Now at")
    page.get_by_label("Item").select_option(label="Test strips (STR)")
    on_hand = STOCK_PER_COUNTED_ITEM
    expect(figures).to_have_text(
        f"Now at Main warehouse: {on_hand} on hand · 4 reserved · {on_hand - 4} available"
    )
    page.get_by_label("Location").select_option(label="East depot")
    expect(figures).to_have_text("Now at East depot: 0 on hand · 0 reserved · 0 available")
    # The no-JavaScript button is not shown: the figures follow the choices.
    expect(page.get_by_role("button", name="Show what is there now")).to_be_hidden()
    assert serious_violations(page) == []


def test_the_order_list_and_receive_pass_axe_with_the_new_parts(app, catalog, open_as):
    place(app, catalog, items={"strips": 1})
    page = open_as("fulfillment", "/orders/")
    expect(page.get_by_role("columnheader", name="From")).to_be_visible()
    page.get_by_label("Fulfilled from").select_option(label="Main warehouse")
    expect(page.get_by_role("cell", name="Main warehouse")).to_be_visible()
    assert serious_violations(page) == []
    page.goto(page.url.split("/orders/")[0] + "/stock/receive")
    assert serious_violations(page) == []
