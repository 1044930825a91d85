"""The packing station (issue 9) in a real Chromium, with and without JavaScript.

A barcode scanner is a keyboard: it types the value and presses Enter into whatever has
the focus. These tests scan that way (``scan_with_the_scanner``), never by filling a field:
the defects they reproduce live exactly in what the box holds and where the focus is.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.orders import iccid, imei, move, place, set_monitor_pattern
from tests.helpers.pages import (
    devices,
    expect_latest_event,
    expect_status,
    order_page,
    scan_box,
    slot_row,
    step,
    stored,
)

pytestmark = pytest.mark.browser

JS = [pytest.param(True, id="htmx"), pytest.param(False, id="no-js")]


@pytest.fixture
def open_as_person(request):
    """The order page tests' ``open_as``: a person signed in, on a page, console watched."""
    return request.getfixturevalue("open_as")


def scan_with_the_scanner(page: Page, value: str, into=None) -> None:
    """What a scanner does: keys into the focused field, then Enter. The packer only points
    the scanner, so the field it must land in (the scan box by default) has the focus."""
    expect(into if into is not None else scan_box(page)).to_be_focused()
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def recorded(app, order_id) -> list[str]:
    return sorted(value for _, value, _ in stored(app, order_id)["devices"])


# --- Defect 1: a refused scan stays in the box and the next one is appended ---------------


@pytest.mark.parametrize("javascript", JS)
def test_after_a_refused_scan_the_next_two_scans_are_recorded_exactly(
    app, catalog, open_as_person, javascript
):
    set_monitor_pattern(app, catalog)
    other = place(app, catalog, items={"monitor": 1})
    move(app, other, "processing")
    order_id = place(app, catalog, items={"monitor": 2})
    move(app, order_id, "processing")
    # BP7450-CLEAN01 is already packed on another open order.
    packer = open_as_person("fulfillment", order_page(other), javascript=javascript)
    expect(scan_box(packer)).to_be_focused()
    scan_with_the_scanner(packer, "BP7450-CLEAN01")
    expect(devices(packer)).to_contain_text("The device is recorded.")

    page = open_as_person("fulfillment", order_page(order_id), javascript=javascript)
    expect(scan_box(page)).to_be_focused()
    scan_with_the_scanner(page, "BP7450-CLEAN01")
    expect(page.locator("#scan-error")).to_contain_text(
        f"“BP7450-CLEAN01” was not recorded. This device is already packed for order {other}"
    )
    expect(scan_box(page)).to_be_focused()
    expect(scan_box(page)).to_have_value("")

    scan_with_the_scanner(page, "BP7450-SCAN0002")
    expect(slot_row(page, "BP monitor 1 of 2")).to_contain_text("BP7450-SCAN0002")
    expect(scan_box(page)).to_be_focused()
    expect(scan_box(page)).to_have_value("")
    scan_with_the_scanner(page, "BP7450-SCAN0003")
    expect(slot_row(page, "BP monitor 2 of 2")).to_contain_text("BP7450-SCAN0003")
    assert recorded(app, order_id) == ["BP7450-SCAN0002", "BP7450-SCAN0003"]


@pytest.mark.parametrize("javascript", JS)
def test_after_any_refusal_the_box_is_emptied_and_focused_twice_in_a_row(
    app, catalog, open_as_person, javascript
):
    order_id = place(app, catalog, kits={"diabetes": 2})
    move(app, order_id, "processing")
    page = open_as_person("fulfillment", order_page(order_id), javascript=javascript)
    for refused in ("12", imei(5)[:-1] + str((int(imei(5)[-1]) + 1) % 10)):
        scan_with_the_scanner(page, refused)
        expect(page.locator("#scan-error")).to_contain_text(f"“{refused}” was not recorded.")
        expect(scan_box(page)).to_be_focused()
        expect(scan_box(page)).to_have_value("")
    scan_with_the_scanner(page, imei(5))
    expect(slot_row(page, "Diabetes kit 1: Glucometer")).to_contain_text(imei(5))
    scan_with_the_scanner(page, imei(6))
    expect(slot_row(page, "Diabetes kit 2: Glucometer")).to_contain_text(imei(6))
    assert recorded(app, order_id) == sorted([imei(5), imei(6)])


def test_a_scanner_faster_than_the_server_records_each_scan_exactly(app, catalog, open_as_person):
    """Three scans and Enters typed without waiting for any answer: the refused one, then
    two monitors. Each is sent alone, in order; none is appended to another."""
    set_monitor_pattern(app, catalog)
    order_id = place(app, catalog, items={"monitor": 2})
    move(app, order_id, "processing")
    page = open_as_person("fulfillment", order_page(order_id))
    expect(scan_box(page)).to_be_focused()
    for value in (imei(9), "BP7450-FAST0001", "BP7450-FAST0002"):
        page.keyboard.type(value)
        page.keyboard.press("Enter")
    expect(devices(page)).to_contain_text("All 2 devices recorded.")
    assert recorded(app, order_id) == ["BP7450-FAST0001", "BP7450-FAST0002"]
    events = [name for name, _, _ in stored(app, order_id)["events"]]
    assert events.count("deviceRecorded") == 2


# --- Defect 2: identifiers of the wrong kind recorded as serial numbers -------------------


@pytest.mark.parametrize("javascript", JS)
def test_an_imei_or_iccid_is_never_recorded_as_the_monitors_serial(
    app, catalog, open_as_person, javascript
):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    page = open_as_person("fulfillment", order_page(order_id), javascript=javascript)
    one_wrong_digit = iccid(8)[:6] + str((int(iccid(8)[6]) + 1) % 10) + iccid(8)[7:]
    for value, looks in (
        (imei(7), "This looks like an IMEI."),
        (iccid(8), "This looks like an ICCID."),
        (one_wrong_digit, "This looks like an ICCID."),
    ):
        scan_with_the_scanner(page, value)
        expect(page.locator("#scan-error")).to_contain_text(f"“{value}” was not recorded. {looks}")
        expect(page.locator("#scan-error")).to_contain_text(
            "Still needed: 1 serial number for BP monitor."
        )
    assert recorded(app, order_id) == []
    scan_with_the_scanner(page, "SN-0042")
    expect(slot_row(page, "BP monitor 1 of 1")).to_contain_text("SN-0042")
    assert recorded(app, order_id) == ["SN-0042"]


# --- Defect 3: devices inside kits missing before processing -----------------------------


def test_kit_devices_are_listed_before_processing_with_the_same_labels(
    app, catalog, open_as_person
):
    order_id = place(app, catalog, items={"monitor": 1}, kits={"hypertension": 1})
    page = open_as_person("fulfillment", order_page(order_id))
    labels = ["BP monitor 1 of 1", "Hypertension kit 1: BP monitor", "Hypertension kit 1: Gateway"]
    expect(devices(page)).to_contain_text("0 of 3 devices recorded; 3 to go.")
    for label in labels:
        expect(slot_row(page, label)).to_contain_text("Not recorded yet")
    step(page, "Start processing").click()
    expect_status(page, "Processing")
    expect(devices(page)).to_contain_text("0 of 3 devices recorded; 3 to go.")
    for label in labels:
        expect(slot_row(page, label)).to_be_visible()


# --- What the last scan did, and Undo ----------------------------------------------------


@pytest.mark.parametrize("javascript", JS)
def test_the_last_scan_is_said_under_the_box_and_can_be_undone(
    app, catalog, open_as_person, javascript
):
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    page = open_as_person("fulfillment", order_page(order_id), javascript=javascript)
    scan_with_the_scanner(page, iccid(4))
    said = f"Recorded ICCID {iccid(4)} for Hypertension kit 1: Gateway. 1 of 2 recorded."
    expect(page.locator("#scan-result")).to_contain_text(said)
    if javascript:
        expect(page.locator("#order-announcer")).to_have_text(said)
    page.get_by_role("button", name="Undo the last scan").click()
    expect(page.locator("#scan-result")).to_contain_text(
        f"Removed Gateway {iccid(4)}. 0 of 2 recorded."
    )
    expect(page.get_by_role("button", name="Undo the last scan")).to_have_count(0)
    expect_latest_event(page, "Device removed", "Fulfillment Tester", f"Gateway {iccid(4)}")
    assert recorded(app, order_id) == []


# --- The primary button ------------------------------------------------------------------


def test_the_primary_button_is_the_next_step_and_never_a_coordinators(app, catalog, open_as_person):
    order_id = place(app, catalog, kits={"diabetes": 1})
    coordinator = open_as_person("coordinator", order_page(order_id))
    expect(coordinator.locator("button.primary")).to_have_count(0)
    page = open_as_person("fulfillment", order_page(order_id))
    expect(page.locator("#move-processing button.primary")).to_have_text("Start processing")
    expect(page.locator("button.primary")).to_have_count(1)


# --- Scan to open ------------------------------------------------------------------------


@pytest.mark.parametrize("javascript", JS)
def test_scanning_a_summarys_barcode_into_the_list_search_opens_the_order(
    app, catalog, open_as_person, base_url, javascript
):
    ids = [place(app, catalog, kits={"diabetes": 1}) for _ in range(3)]
    page = open_as_person("fulfillment", "/orders/", javascript=javascript)
    page.get_by_label("Search").click()
    scan_with_the_scanner(page, str(ids[1]), into=page.get_by_label("Search"))
    expect(page).to_have_url(f"{base_url}/orders/{ids[1]}?focus=next-step")
    expect(page.get_by_role("heading", name=f"Order {ids[1]}")).to_be_visible()


@pytest.mark.parametrize("javascript", JS)
def test_go_to_order_in_the_header(app, catalog, open_as_person, base_url, javascript):
    order_id = place(app, catalog, kits={"diabetes": 1})
    page = open_as_person("fulfillment", "/items/", javascript=javascript)
    go_to = page.get_by_role("textbox", name="Go to order")
    go_to.click()
    scan_with_the_scanner(page, str(order_id), into=go_to)
    expect(page).to_have_url(f"{base_url}/orders/{order_id}?focus=next-step")
    go_to.click()
    scan_with_the_scanner(page, "424242", into=go_to)
    expect(page.get_by_text("There is no order “424242”")).to_be_visible()


# --- Batch print -------------------------------------------------------------------------


def test_select_all_prints_the_page_in_the_lists_order(app, catalog, open_as_person, base_url):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    page = open_as_person("fulfillment", "/orders/")
    select_all = page.get_by_label("Select all orders on this page")
    select_all.check()
    for order_id in ids:
        expect(page.get_by_label(f"Select order {order_id}")).to_be_checked()
    page.get_by_label(f"Select order {ids[0]}").uncheck()
    expect(select_all).not_to_be_checked()
    select_all.check()
    page.get_by_role("button", name="Print selected summaries").click()
    expect(page).to_have_url(re.compile(r"/orders/packing-summaries\?"))
    numbers = page.locator(".order-number").all_inner_texts()
    assert numbers == [f"Order {i}" for i in reversed(ids)]  # the list: newest first


@pytest.mark.parametrize("javascript", JS)
def test_print_selected_with_nothing_selected_says_so_and_keeps_tab_and_filters(
    app, catalog, open_as_person, base_url, javascript
):
    place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    page = open_as_person("fulfillment", "/orders/", javascript=javascript)
    page.goto(base_url + "/orders/?status=created&shipping=overnight")
    page.get_by_role("button", name="Print selected summaries").click()
    expect(
        page.get_by_text("No orders were selected: tick the orders to print first.")
    ).to_be_visible()
    expect(page).to_have_url(re.compile(r"/orders/\?"))
    assert "status=created" in page.url and "shipping=overnight" in page.url
    expect(page.locator("#tab-created")).to_have_attribute("aria-current", "page")
    expect(page.get_by_label("Shipping")).to_have_value("overnight")
