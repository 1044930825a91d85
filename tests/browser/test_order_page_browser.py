"""The order page (the timeline and every action on it) and the order list, in a real
Chromium against the app on a real port.

CSRF is on, as in production. The app sends a strict Content-Security-Policy, and every
test fails on a console error: a CSP violation, a script error or a refused request.
Each person has their own browser context, signed in through the real form. Elements are
found by role and label, the way a person finds them.
"""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.helpers.browser import serious_violations
from tests.helpers.orders import iccid, imei, move, pack_everything, place
from tests.helpers.pages import (
    UPS_NUMBER,
    devices,
    expect_latest_event,
    expect_status,
    next_steps,
    order_page,
    scan,
    scan_box,
    slot_row,
    step,
    stored,
    timeline,
)

pytestmark = pytest.mark.browser

# --- What a person sees and does, in words -----------------------------------------------


def remember_this_page(page: Page) -> None:
    """Marks the document: the mark survives in-place updates, not a page load."""
    page.evaluate("window.sameDocument = true")


def assert_same_page(page: Page) -> None:
    assert page.evaluate("window.sameDocument === true"), "the page was loaded again"


def tab_to(page: Page, target: Locator, presses: int = 40) -> None:
    """Presses Tab until ``target`` has the focus, as a keyboard user would."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} is not reachable with Tab")


def event_names(app, order_id: int) -> list[str]:
    return [name for name, _, _ in stored(app, order_id)["events"]]


def shipped_order(app, catalog) -> int:
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("UPS", UPS_NUMBER))
    return order_id


# --- Fulfillment, with htmx ---------------------------------------------------------------


def test_fulfillment_takes_an_order_from_created_to_delivered_in_place(app, catalog, open_as):
    order_id = place(app, catalog, items={"strips": 2}, kits={"diabetes": 1, "hypertension": 1})
    page = open_as("fulfillment", order_page(order_id))
    remember_this_page(page)
    expect_status(page, "Created")
    expect(step(page, "Cancel order")).to_have_count(0)

    step(page, "Start processing").click()
    expect_status(page, "Processing")
    expect_latest_event(page, "Processing", "Fulfillment Tester")
    expect(devices(page)).to_contain_text("0 of 3 devices recorded; 3 to go.")
    expect(scan_box(page)).to_be_focused()

    # A scan goes to the line that takes it; a wrong one can be removed again.
    scan(page, imei(1))
    expect(slot_row(page, "Diabetes kit 1: Glucometer")).to_contain_text(f"IMEI {imei(1)}")
    expect(devices(page)).to_contain_text("1 of 3 devices recorded; 2 to go.")
    expect(scan_box(page)).to_be_focused()
    expect(scan_box(page)).to_have_value("")
    page.get_by_role("button", name="Remove Diabetes kit 1: Glucometer").click()
    expect(devices(page)).to_contain_text("0 of 3 devices recorded; 3 to go.")
    expect(page.get_by_label("IMEI for Diabetes kit 1: Glucometer")).to_be_visible()
    expect_latest_event(page, "Device removed", "Fulfillment Tester", f"Glucometer {imei(1)}")

    scan(page, iccid(2))
    expect(slot_row(page, "Hypertension kit 1: Gateway")).to_contain_text(f"ICCID {iccid(2)}")
    # A line's own field takes what the scan box would not guess (any text is a serial).
    page.get_by_label("Serial number for Hypertension kit 1: BP monitor").fill("sn-1001")
    page.get_by_role("button", name="Record Hypertension kit 1: BP monitor").click()
    expect(slot_row(page, "Hypertension kit 1: BP monitor")).to_contain_text("SN-1001")

    # A mistyped IMEI: the error is next to the scan box, which is emptied for the next scan
    # and keeps the focus; the message quotes what was refused.
    mistyped = imei(3)[:-1] + str((int(imei(3)[-1]) + 1) % 10)
    scan(page, mistyped)
    expect(scan_box(page)).to_have_attribute("aria-invalid", "true")
    expect(scan_box(page)).to_have_accessible_description(
        re.compile("This IMEI's check digit is wrong")
    )
    expect(page.locator("#scan-error")).to_have_text(
        re.compile(f"“{mistyped}” was not recorded.*check digit is wrong")
    )
    expect(scan_box(page)).to_have_value("")
    expect(scan_box(page)).to_be_focused()
    expect(devices(page)).to_contain_text("2 of 3 devices recorded; 1 to go.")

    scan(page, imei(3))
    expect(devices(page)).to_contain_text("All 3 devices recorded.")
    expect(scan_box(page)).to_have_count(0)

    step(page, "Mark packed").click()
    expect_status(page, "Packed")
    expect_latest_event(page, "Packed", "Fulfillment Tester")

    next_steps(page).get_by_label("Carrier").select_option("UPS")
    next_steps(page).get_by_label("Tracking number").fill(UPS_NUMBER)
    step(page, "Mark shipped").click()
    expect_status(page, "Shipped")
    expect_latest_event(page, "Shipped", "Fulfillment Tester")
    link = page.get_by_role("region", name="Tracking").get_by_role(
        "link", name=re.compile(UPS_NUMBER)
    )
    expect(link).to_have_attribute("href", f"https://www.ups.com/track?tracknum={UPS_NUMBER}")
    expect(link).to_have_attribute("target", "_blank")

    step(page, "Mark delivered").click()
    expect_status(page, "Delivered")
    expect_latest_event(page, "Delivered", "Fulfillment Tester")
    expect(step(page, "Mark returned")).to_be_visible()
    assert_same_page(page)

    order = stored(app, order_id)
    assert order["status"] == "delivered"
    assert [name for name, _, _ in order["events"]] == [
        "created",
        "processing",
        "deviceRecorded",
        "deviceRemoved",
        "deviceRecorded",
        "deviceRecorded",
        "deviceRecorded",
        "packed",
        "trackingNumberAdded",
        "shipped",
        "delivered",
    ]
    assert {who for _, who, _ in order["events"][1:]} == {"Fulfillment Tester"}
    assert order["devices"] == [  # delivered with the order
        ("BP monitor", "SN-1001", "delivered"),
        ("Gateway", iccid(2), "delivered"),
        ("Glucometer", imei(3), "delivered"),
    ]
    assert order["tracking"] == [("UPS", UPS_NUMBER)]


def test_hold_needs_a_reason_and_resumes_where_it_was(app, catalog, open_as):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    page = open_as("fulfillment", order_page(order_id))
    remember_this_page(page)

    step(page, "Put on hold").click()
    reason = page.get_by_label("Reason for the hold")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_have_accessible_description(
        "Say why the order is on hold: a reason is required."
    )
    expect(reason).to_be_focused()
    expect_status(page, "Processing")
    assert event_names(app, order_id) == ["created", "processing"]

    reason.fill("Waiting for the insurer")
    step(page, "Put on hold").click()
    expect_status(page, "On hold (was Processing)")
    expect_latest_event(page, "On hold", "Fulfillment Tester", "Waiting for the insurer")
    expect(scan_box(page)).to_have_count(0)  # nothing is packed while on hold

    step(page, "Resume (Processing)").click()
    expect_status(page, "Processing")
    expect_latest_event(page, "Processing", "Fulfillment Tester")
    expect(scan_box(page)).to_be_visible()
    assert_same_page(page)

    order = stored(app, order_id)
    assert order["status"] == "processing" and order["held_from"] is None
    assert order["events"][-2:] == [
        ("onHold", "Fulfillment Tester", "Waiting for the insurer"),
        ("processing", "Fulfillment Tester", None),
    ]


def test_each_role_sees_only_its_own_actions_and_a_coordinator_cancels(app, catalog, open_as):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")

    packer = open_as("fulfillment", order_page(order_id))
    expect(next_steps(packer).get_by_role("button")).to_have_text(["Mark packed", "Put on hold"])
    expect(scan_box(packer)).to_be_visible()

    page = open_as("coordinator", order_page(order_id))
    remember_this_page(page)
    expect(next_steps(page).get_by_role("button")).to_have_text(["Put on hold", "Cancel order"])
    expect(scan_box(page)).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Record|Remove)"))).to_have_count(0)
    expect(slot_row(page, "Diabetes kit 1: Glucometer")).to_contain_text("Not recorded yet")

    step(page, "Cancel order").click()
    expect(page.get_by_label("Reason for cancelling")).to_have_accessible_description(
        "Say why the order is cancelled: a reason is required."
    )
    page.get_by_label("Reason for cancelling").fill("Patient left the programme")
    step(page, "Cancel order").click()
    expect_status(page, "Cancelled")
    expect_latest_event(page, "Cancelled", "Coordinator Tester", "Patient left the programme")
    expect(next_steps(page)).to_have_count(0)
    assert_same_page(page)

    assert stored(app, order_id)["status"] == "cancelled"
    assert stored(app, order_id)["events"][-1] == (
        "cancelled",
        "Coordinator Tester",
        "Patient left the programme",
    )


def test_pickup_and_a_tracking_number_added_before_shipping(app, catalog, open_as):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    page = open_as("fulfillment", order_page(order_id))
    remember_this_page(page)

    step(page, "Ready for pickup").click()
    expect_status(page, "Available for pickup")
    expect_latest_event(page, "Available for pickup", "Fulfillment Tester")

    tracking = page.get_by_role("region", name="Tracking")
    tracking.get_by_label("Carrier").select_option("FedEx")
    tracking.get_by_label("Tracking number").fill("1234")
    tracking.get_by_role("button", name="Add tracking number").click()
    expect(tracking.get_by_label("Tracking number")).to_have_accessible_description(
        "A FedEx tracking number is 12, 15, 20 or 22 digits."
    )
    expect(tracking.get_by_label("Tracking number")).to_be_focused()
    tracking.get_by_label("Tracking number").fill("1234 5678 9012")
    tracking.get_by_role("button", name="Add tracking number").click()
    expect(tracking.get_by_role("link", name=re.compile("123456789012"))).to_have_attribute(
        "href", "https://www.fedex.com/fedextrack/?trknbr=123456789012"
    )
    expect_latest_event(page, "Tracking number added", "Fulfillment Tester", "FedEx 123456789012")
    expect(tracking.get_by_label("Tracking number")).to_be_focused()  # ready for another

    # With a tracking number on the order, shipping needs no other.
    expect(next_steps(page)).to_contain_text("Ships with 1 tracking number")
    step(page, "Mark shipped").click()
    expect_status(page, "Shipped")
    assert_same_page(page)

    order = stored(app, order_id)
    assert order["status"] == "shipped"
    assert order["tracking"] == [("FedEx", "123456789012")]
    assert [name for name, _, _ in order["events"]][-3:] == [
        "availableForPickup",
        "trackingNumberAdded",
        "shipped",
    ]


@pytest.mark.parametrize("role", ["fulfillment", "admin"])
def test_delivery_exception_then_returned(app, catalog, open_as, role):
    order_id = shipped_order(app, catalog)
    page = open_as(role, order_page(order_id))
    who = f"{role.title()} Tester"

    page.get_by_label("Note (optional)").fill("No one at the address")
    step(page, "Report delivery exception").click()
    expect_status(page, "Delivery exception")
    expect_latest_event(page, "Delivery exception", who, "No one at the address")

    page.get_by_label("Note (optional)").fill("Back at the warehouse")
    step(page, "Mark returned").click()
    expect_status(page, "Returned")
    expect_latest_event(page, "Returned", who, "Back at the warehouse")
    expect(next_steps(page)).to_have_count(0)

    order = stored(app, order_id)
    assert order["status"] == "returned"
    assert order["events"][-2:] == [
        ("deliveryException", who, "No one at the address"),
        ("returned", who, "Back at the warehouse"),
    ]
    # Returned devices wait in quarantine until someone inspects them.
    assert {status for _, _, status in order["devices"]} == {"quarantined"}


def test_a_note_appears_on_the_timeline_with_its_author(app, catalog, open_as):
    order_id = place(app, catalog, items={"strips": 1})
    page = open_as("coordinator", order_page(order_id))
    remember_this_page(page)
    note = page.get_by_label("Add a note")

    page.get_by_role("button", name="Add note").click()
    expect(note).to_have_attribute("aria-invalid", "true")
    expect(note).to_have_accessible_description("Write the note.")
    expect(note).to_be_focused()

    note.fill("Patient prefers <b>morning</b> deliveries")
    page.get_by_role("button", name="Add note").click()
    expect_latest_event(
        page, "Note", "Coordinator Tester", "Patient prefers <b>morning</b> deliveries"
    )
    expect(note).to_have_value("")
    expect(note).to_be_focused()  # ready for the next note
    assert_same_page(page)

    assert stored(app, order_id)["notes"] == [
        ("Patient prefers <b>morning</b> deliveries", "Coordinator Tester")
    ]


def test_a_refused_cancel_keeps_the_note_being_written_and_the_reason(app, catalog, open_as):
    """A coordinator writes a note; someone else puts the order on hold; the coordinator's
    Cancel is refused. The page is drawn again, and nothing typed is lost."""
    order_id = place(app, catalog, items={"strips": 1})
    page = open_as("coordinator", order_page(order_id))
    remember_this_page(page)
    page.get_by_label("Add a note").fill("Patient asked to call first")
    move(app, order_id, "onHold", role="fulfillment", reason="Stock count")
    page.get_by_label("Reason for cancelling").fill("Duplicate of an earlier order")
    step(page, "Cancel order").click()
    expect(page.get_by_role("alert")).to_contain_text("someone changed it while you were looking")
    expect_status(page, "On hold (was Created)")
    expect(page.get_by_label("Add a note")).to_have_value("Patient asked to call first")
    expect(page.get_by_label("Reason for cancelling")).to_have_value(
        "Duplicate of an earlier order"
    )
    assert_same_page(page)
    assert stored(app, order_id)["status"] == "onHold"
    assert stored(app, order_id)["notes"] == []

    # Sent again, the cancel goes through, and the note is still there to add.
    step(page, "Cancel order").click()
    expect_status(page, "Cancelled")
    expect(page.get_by_label("Add a note")).to_have_value("Patient asked to call first")
    page.get_by_role("button", name="Add note").click()
    expect_latest_event(page, "Note", "Coordinator Tester", "Patient asked to call first")
    expect(page.get_by_label("Add a note")).to_have_value("")
    assert stored(app, order_id)["notes"] == [("Patient asked to call first", "Coordinator Tester")]


# --- Without JavaScript -------------------------------------------------------------------


def test_every_action_works_without_javascript(app, catalog, open_as):
    order_id = place(app, catalog, items={"monitor": 1, "strips": 1})
    page = open_as("fulfillment", order_page(order_id), javascript=False)
    # The order's page again (after a status move, asking for its next step's field).
    here = re.compile(rf"/orders/{order_id}(\?focus=next-field)?$")

    step(page, "Start processing").click()
    expect(page).to_have_url(here)
    expect_status(page, "Processing")

    step(page, "Put on hold").click()
    expect(page.get_by_label("Reason for the hold")).to_have_accessible_description(
        re.compile("a reason is required")
    )
    page.get_by_label("Reason for the hold").fill("Stock count")
    step(page, "Put on hold").click()
    expect(page).to_have_url(here)
    expect_status(page, "On hold (was Processing)")
    step(page, "Resume (Processing)").click()
    expect_status(page, "Processing")

    scan(page, "x")
    expect(scan_box(page)).to_have_accessible_description(re.compile("4 to 40 letters"))
    scan(page, "SN-2002")
    expect(page).to_have_url(here)
    expect(slot_row(page, "BP monitor 1 of 1")).to_contain_text("SN-2002")
    step(page, "Mark packed").click()
    expect_status(page, "Packed")

    next_steps(page).get_by_label("Carrier").select_option("DHL")
    next_steps(page).get_by_label("Tracking number").fill("12345")
    step(page, "Mark shipped").click()
    expect(next_steps(page).get_by_label("Tracking number")).to_have_accessible_description(
        re.compile("A DHL tracking number is 10 digits")
    )
    next_steps(page).get_by_label("Tracking number").fill("1234567890")
    step(page, "Mark shipped").click()
    expect(page).to_have_url(here)
    expect_status(page, "Shipped")
    expect(page.get_by_role("link", name=re.compile("1234567890"))).to_have_attribute(
        "href", re.compile(r"^https://www\.dhl\.com/.*1234567890$")
    )

    page.get_by_label("Add a note").fill("Left with the neighbour")
    page.get_by_role("button", name="Add note").click()
    expect(page).to_have_url(here)
    expect_latest_event(page, "Note", "Fulfillment Tester", "Left with the neighbour")

    step(page, "Mark delivered").click()
    expect_status(page, "Delivered")

    order = stored(app, order_id)
    assert order["status"] == "delivered"
    assert [name for name, _, _ in order["events"]] == [
        "created",
        "processing",
        "onHold",
        "processing",
        "deviceRecorded",
        "packed",
        "trackingNumberAdded",
        "shipped",
        "delivered",
    ]
    assert order["devices"] == [("BP monitor", "SN-2002", "delivered")]
    assert order["tracking"] == [("DHL", "1234567890")]
    assert order["notes"] == [("Left with the neighbour", "Fulfillment Tester")]


# --- Changes made by someone else ---------------------------------------------------------


@pytest.fixture
def quick_polls(app, monkeypatch):
    """The page asks for changes every second instead of every ten."""
    monkeypatch.setitem(app.config, "ORDER_POLL_SECONDS", 1)


def test_the_page_follows_changes_made_by_someone_else(app, catalog, open_as, quick_polls):
    order_id = place(app, catalog, kits={"diabetes": 1})
    page = open_as("fulfillment", order_page(order_id))
    remember_this_page(page)
    announcer = page.get_by_role("status").filter(has_text=re.compile("Status"))

    move(app, order_id, "processing")
    expect_status(page, "Processing")
    expect_latest_event(page, "Processing", "Fulfillment Tester")
    expect(announcer).to_have_text(re.compile("Order .* changed.*Processing"))
    # A refresh nobody asked for does not move the focus (checked once it has settled: the
    # new event's time is shown in local time then).
    expect(timeline(page).last.locator("time")).to_have_attribute("title", re.compile("UTC"))
    expect(scan_box(page)).not_to_be_focused()

    # Someone typing keeps what they typed; the page says the order changed instead.
    page.get_by_label("Add a note").fill("Half-written note")
    move(app, order_id, "onHold", role="coordinator", reason="Insurance")
    expect(page.get_by_role("status").filter(has_text="This order was changed")).to_be_visible(
        timeout=15_000
    )
    expect(page.get_by_label("Add a note")).to_have_value("Half-written note")
    expect_status(page, "Processing")
    assert_same_page(page)

    page.get_by_role("link", name="Show the latest").click()
    expect_status(page, "On hold (was Processing)")


def test_the_page_polls_every_ten_seconds_by_default(app, catalog, open_as):
    order_id = place(app, catalog, items={"strips": 1})
    page = open_as("coordinator", order_page(order_id))
    expect(page.locator("#order-live")).to_have_attribute("hx-trigger", "every 10s")


# --- Keyboard -----------------------------------------------------------------------------


def test_fulfillment_packs_and_ships_with_the_keyboard_alone(app, catalog, open_as):
    order_id = place(app, catalog, items={"glucometer": 1}, kits={"diabetes": 1})
    page = open_as("fulfillment", order_page(order_id))

    tab_to(page, step(page, "Start processing"))
    page.keyboard.press("Enter")
    expect_status(page, "Processing")
    expect(scan_box(page)).to_be_focused()

    page.keyboard.type(imei(21))  # what a barcode scanner does: keys, then Enter
    page.keyboard.press("Enter")
    expect(devices(page)).to_contain_text("1 of 2 devices recorded; 1 to go.")
    expect(scan_box(page)).to_be_focused()
    expect(scan_box(page)).to_have_accessible_description(re.compile("1 to go"))
    page.keyboard.type("12")
    page.keyboard.press("Enter")
    expect(scan_box(page)).to_have_attribute("aria-invalid", "true")
    expect(scan_box(page)).to_be_focused()
    expect(scan_box(page)).to_have_value("")
    page.keyboard.type(imei(22))
    page.keyboard.press("Enter")
    expect(devices(page)).to_contain_text("All 2 devices recorded.")
    # The scan box is gone with the last scan; the keyboard goes to the next step.
    expect(step(page, "Mark packed")).to_be_focused()
    page.keyboard.press("Enter")
    expect_status(page, "Packed")
    # The next step's field has the keyboard; the number names its carrier.
    expect(next_steps(page).get_by_label("Tracking number")).to_be_focused()
    page.keyboard.type(UPS_NUMBER)
    expect(next_steps(page).get_by_label("Carrier")).to_have_value("UPS")
    page.keyboard.press("Enter")
    expect_status(page, "Shipped")

    tab_to(page, step(page, "Mark delivered"))
    page.keyboard.press("Space")
    expect_status(page, "Delivered")
    assert stored(app, order_id)["status"] == "delivered"


# --- Accessibility (axe-core) -------------------------------------------------------------


def test_order_page_passes_axe_in_each_state(app, catalog, open_as):
    order_id = place(app, catalog, items={"strips": 2}, kits={"diabetes": 1, "hypertension": 1})
    page = open_as("fulfillment", order_page(order_id))
    assert serious_violations(page) == [], "created"

    step(page, "Start processing").click()
    expect_status(page, "Processing")
    scan(page, imei(31))
    expect(devices(page)).to_contain_text("1 of 3 devices recorded")
    scan(page, "12")
    expect(scan_box(page)).to_have_attribute("aria-invalid", "true")
    assert serious_violations(page) == [], "processing, with a device and a wrong scan"

    page.get_by_label("ICCID for Hypertension kit 1: Gateway").fill("12")
    page.get_by_role("button", name="Record Hypertension kit 1: Gateway").click()
    expect(page.get_by_label("ICCID for Hypertension kit 1: Gateway")).to_be_focused()
    assert serious_violations(page) == [], "a line's own field refused what was typed"

    pack_everything(app, order_id, start=40)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("UPS", UPS_NUMBER))
    page.reload()
    expect_status(page, "Shipped")
    assert serious_violations(page) == [], "shipped"

    coordinator = open_as("coordinator", order_page(order_id))
    coordinator.get_by_role("button", name="Add note").click()
    expect(coordinator.get_by_label("Add a note")).to_have_attribute("aria-invalid", "true")
    assert serious_violations(coordinator) == [], "coordinator, note refused"


# --- The order list -----------------------------------------------------------------------


def results_table(page: Page) -> Locator:
    return page.get_by_role("table", name=re.compile("^Orders"))


def listed_ids(page: Page) -> list[int]:
    links = results_table(page).get_by_role("row").get_by_role("link", name=re.compile(r"^\d+$"))
    return [int(text) for text in links.all_inner_texts()]


def expect_listed(page: Page, ids: list[int]) -> None:
    links = results_table(page).get_by_role("link", name=re.compile(r"^\d+$"))
    expect(links).to_have_text([str(i) for i in ids])


@pytest.fixture
def many_orders(app, catalog) -> dict:
    """28 orders, newest first: one with an external id, one processing."""
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(27)]
    tagged = place(app, catalog, items={"strips": 1}, external_order_ids=["EHR-4242"])
    move(app, ids[5], "processing")
    return {"all": sorted([*ids, tagged], reverse=True), "tagged": tagged, "processing": ids[5]}


def test_active_search_updates_the_results_and_the_address(app, open_as, many_orders):
    page = open_as("fulfillment", "/orders/")
    remember_this_page(page)
    expect_listed(page, many_orders["all"][:25])
    announcer = page.get_by_role("status").filter(has_text=re.compile("orders?"))
    expect(announcer).to_have_text("28 orders")

    page.get_by_label("Search", exact=True).press_sequentially("EHR-4242")
    expect_listed(page, [many_orders["tagged"]])
    expect(page).to_have_url(re.compile(r"[?&]q=EHR-4242(&|$)"))
    # The count is announced: the live region is updated, not replaced.
    expect(announcer).to_have_text("1 order matches the filters")
    assert_same_page(page)
    # Patient data stays out of the browser's storage.
    assert page.evaluate("Object.keys(localStorage)") == []

    page.reload()
    expect(page.get_by_label("Search", exact=True)).to_have_value("EHR-4242")
    expect_listed(page, [many_orders["tagged"]])


def test_status_tabs_pages_and_csv_export(app, open_as, many_orders, tmp_path):
    page = open_as("fulfillment", "/orders/")
    remember_this_page(page)
    tabs = page.get_by_role("navigation", name="Order status")
    expect(tabs.get_by_role("link", name="All 28")).to_have_attribute("aria-current", "page")

    processing = tabs.get_by_role("link", name="Processing 1")
    processing.click()
    expect(processing).to_have_attribute("aria-current", "page")
    expect(processing).to_be_focused()
    expect_listed(page, [many_orders["processing"]])
    expect(page).to_have_url(re.compile(r"[?&]status=processing(&|$)"))

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.reader(download.value.path().open(newline="", encoding="utf-8")))
    assert rows[0][:2] == ["Order", "Status"]
    assert [(int(r[0]), r[1]) for r in rows[1:]] == [(many_orders["processing"], "Processing")]

    tabs.get_by_role("link", name="All 28").click()
    expect_listed(page, many_orders["all"][:25])
    pages = page.get_by_role("navigation", name="Pages")
    expect(pages.get_by_role("link")).to_have_text(["Next"])
    pages.get_by_role("link", name="Next").click()
    expect_listed(page, many_orders["all"][25:])
    expect(pages.get_by_role("link")).to_have_text(["First", "Previous"])
    pages.get_by_role("link", name="Previous").click()
    expect_listed(page, many_orders["all"][:25])
    assert_same_page(page)

    page.reload()  # the address names the page shown
    expect_listed(page, many_orders["all"][:25])

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.reader(download.value.path().open(newline="", encoding="utf-8")))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(many_orders["all"])


def test_order_list_passes_axe(app, open_as, many_orders):
    page = open_as("coordinator", "/orders/")
    assert serious_violations(page) == [], "all orders"
    page.get_by_label("Placed from").fill("2020-02-02")
    page.get_by_label("Placed to").fill("2020-01-01")
    expect(page.get_by_role("alert")).to_contain_text("The end date is before the start date.")
    assert serious_violations(page) == [], "a date problem, shown by htmx"

    page.reload()  # the filter form shows the problem at its field
    expect(page.get_by_label("Placed to")).to_have_accessible_description(
        "The end date is before the start date."
    )
    assert serious_violations(page) == [], "a date problem, whole page"
