"""Stock in a real Chromium: devices received from a pasted manifest, an order placed for
them, packed by scanning those devices (an unknown one refused), shipped, and the devices'
histories. CSRF on; the test fails on any console error."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.catalog.models import Item
from app.db.transactions import write_transaction
from tests.helpers.browser import serious_violations
from tests.helpers.orders import imei
from tests.helpers.pages import (
    UPS_NUMBER,
    choose,
    devices,
    expect_status,
    find_recipient,
    next_steps,
    placed_order,
    scan,
    scan_box,
    step,
)

pytestmark = pytest.mark.browser


def test_received_devices_are_packed_shipped_and_traced(app, catalog, open_as):
    with app.app_context(), write_transaction() as session:
        # Glucometers are picked from the shelf only: no receiving when scanned.
        session.get(Item, catalog.items["glucometer"]).accept_unreceived_devices = False
    first, second = imei(7301), imei(7302)

    # Fulfillment receives two glucometers from a pasted manifest, after a preview.
    receiver = open_as("fulfillment", "/stock/receive")
    devices_form = receiver.get_by_role("form", name="Devices")
    devices_form.get_by_label("Device item").select_option(label="Glucometer (GLU)")
    devices_form.get_by_label("Identifiers").fill(f"{first}\n{first}\n{second}\n")
    devices_form.get_by_role("button", name="Preview").click()
    expect(receiver.get_by_text("3 identifiers, 1 flagged")).to_be_visible()
    expect(receiver.get_by_text("Listed twice in this manifest.")).to_be_visible()
    devices_form = receiver.get_by_role("form", name="Devices")
    devices_form.get_by_label("Identifiers").fill(f"{first}\n{second}\n")
    devices_form.get_by_role("button", name="Receive devices").click()
    expect(
        receiver.get_by_text(f"Received 2 Glucometers at Main warehouse: {first}, {second}.")
    ).to_be_visible()

    # A coordinator orders a diabetes kit, seeing what is available as the line is entered.
    coordinator = open_as("coordinator", "/orders/new")
    find_recipient(coordinator, "Ada")
    choose(coordinator, "Ada Lovelace")
    coordinator.get_by_label("Item 1", exact=True).fill("Test strips")
    coordinator.get_by_role("button", name="Add kit").click()
    coordinator.get_by_label("Kit 1", exact=True).fill("Diabetes kit")
    coordinator.get_by_label("Count of kit 1").click()
    expect(coordinator.locator("#order-lines")).to_contain_text("available at Main warehouse")
    coordinator.get_by_role("button", name="Place order").click()
    order_id = placed_order(coordinator)

    # Fulfillment packs it: an unknown device is refused, a received one is recorded.
    packer = open_as("fulfillment", f"/orders/{order_id}")
    step(packer, "Start processing").click()
    expect_status(packer, "Processing")
    scan(packer, imei(7999))
    expect(packer.locator("#scan-error")).to_have_text(re.compile("has been received"))
    expect(scan_box(packer)).to_be_focused()
    scan(packer, second)
    expect(devices(packer)).to_contain_text(f"IMEI {second}")
    step(packer, "Mark packed").click()
    expect_status(packer, "Packed")
    next_steps(packer).get_by_label("Carrier").select_option("UPS")
    next_steps(packer).get_by_label("Tracking number").fill(UPS_NUMBER)
    step(packer, "Mark shipped").click()
    expect_status(packer, "Shipped")

    # Anyone can trace the devices: the shipped one to its order, the other still in stock.
    receiver.goto(receiver.url.split("/stock/")[0] + "/stock/devices/")
    receiver.get_by_label("Identifier").fill(second)
    receiver.get_by_role("button", name="Find").click()
    history = receiver.get_by_role("region", name="History")
    expect(history).to_contain_text("Received")
    expect(history).to_contain_text("Allocated")
    expect(history).to_contain_text("Shipped")
    expect(history.get_by_role("link", name=f"order {order_id}").first).to_be_visible()
    receiver.get_by_role("link", name="Devices").first.click()
    receiver.get_by_label("Identifier").fill(first)
    receiver.get_by_role("button", name="Find").click()
    # The finder lists every device until Find opens the one whose identifier this is.
    expect(receiver.get_by_role("region", name="History")).to_be_visible()
    expect(receiver.get_by_text("In stock", exact=True)).to_be_visible()


def test_an_admin_adds_a_location_by_keyboard_and_the_page_passes_axe(app, open_as):  # noqa: F811

    page = open_as("admin", "/stock/locations")
    assert serious_violations(page) == [], "the list"
    page.get_by_role("link", name="Add a location").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New stock location")).to_be_visible()
    page.get_by_label("Name").focus()
    page.keyboard.type("Main Warehouse")  # taken, in another case
    page.keyboard.press("Enter")
    expect(page.locator("#name-error")).to_have_text(
        "There is a location called “Main Warehouse” already."
    )
    expect(page.get_by_label("Name")).to_have_value("Main Warehouse")
    assert serious_violations(page) == [], "the refused form"
    page.get_by_label("Name").fill("East depot")
    page.keyboard.press("Enter")
    expect(page.get_by_role("rowheader", name="East depot")).to_be_visible()
    page.get_by_role("button", name="Make East depot the default").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("East depot is now the default")).to_be_visible()
    assert serious_violations(page) == [], "after a change"


def test_devices_are_found_by_part_of_a_serial_as_typed_and_without_javascript(
    app,
    catalog,
    open_as,  # noqa: F811
):
    from tests.browser.test_new_order_browser import serious_violations
    from tests.helpers.stock import SERIALS, receive

    receive(app, catalog.items["monitor"], "serial", SERIALS)
    page = open_as("fulfillment", "/stock/devices/")
    page.get_by_label("Identifier").fill("bp7450 0131708")
    results = page.locator("#device-results")
    expect(page.locator("#device-count")).to_have_text("2 devices match")
    expect(results.get_by_role("row")).to_have_count(3)  # the heading and the two serials
    expect(results).to_contain_text("BP7450-01317087")
    expect(page).to_have_url(re.compile(r"identifier=bp7450"))  # a reload shows the same
    assert serious_violations(page) == [], "the finder"
    page.get_by_label("Status").select_option(label="Allocated")
    expect(page.locator("#device-count")).to_have_text("0 devices match")

    page.goto(page.url.split("/stock/")[0] + "/stock/")
    expect(page.get_by_role("heading", name="BP monitor (BPM): 15 in stock")).to_be_visible()
    assert serious_violations(page) == [], "the stock page"

    # Without JavaScript, the same form is sent by Find (axe needs JavaScript: not here).
    plain = open_as("fulfillment", "/stock/devices/", javascript=False)
    plain.get_by_label("Identifier").fill("BP7450-0131")
    plain.get_by_role("button", name="Find").click()
    expect(plain.locator("#device-count")).to_have_text("2 devices match")
