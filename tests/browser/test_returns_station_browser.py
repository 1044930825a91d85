"""The returns station (issue 24) in a real Chromium, with and without JavaScript: a return
checked in by scan (one device expected, one unexpected, one missing), closed as partly
returned, and each device's history as its page tells it. Scans are typed into whatever has
the focus, then Enter, as a barcode scanner does."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import serious_violations
from tests.helpers.orders import delivered_kit, move
from tests.helpers.returns import delivered_glucometer, order_status, return_only, values_of

pytestmark = pytest.mark.browser

JS = [pytest.param(True, id="htmx"), pytest.param(False, id="no-js")]


def scan_box(page: Page):
    return page.get_by_label("Scan or type a returned device")


def scan_with_the_scanner(page: Page, value: str) -> None:
    expect(scan_box(page)).to_be_focused()
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def history_of(page: Page, base_url: str, device_id: int):
    page.goto(f"{base_url}/stock/devices/{device_id}")
    return page.locator("ol.timeline")


@pytest.mark.parametrize("javascript", JS)
def test_a_return_is_checked_in_by_scan_and_closed_as_partly_returned(
    app, catalog, open_as, base_url, javascript
):
    glucometer = delivered_glucometer(app, catalog)
    _, monitor, _ = delivered_kit(app, catalog)
    stranger = delivered_glucometer(app, catalog)  # went out on another order, not asked back
    order_id = return_only(app, catalog, devices=[glucometer, monitor])
    move(app, order_id, "awaitingReturn", role="coordinator")

    page = open_as("fulfillment", f"/orders/{order_id}", javascript=javascript)
    expect(page.locator("#nothing-ships")).to_have_text(
        "Nothing ships: this order only asks things back."
    )
    expect(page.locator("#return-progress")).to_contain_text("0 of 2 devices back")
    assert not javascript or serious_violations(page) == [], "a return-only order's page"
    page.get_by_role("link", name=f"Returns station for order {order_id}").click()
    expect(page.get_by_role("heading", name=f"Returns station: order {order_id}")).to_be_visible()
    progress = page.locator("#returns-progress")
    expect(progress).to_contain_text("0 of 2 devices back")
    # axe runs in the page: only where scripts run (the markup is the same without them).
    assert not javascript or serious_violations(page) == []

    # The expected one: checked in, and the box has the focus for the next.
    scan_with_the_scanner(page, values_of(app, glucometer))
    expect(progress).to_contain_text("1 of 2 devices back; still missing: BP monitor")
    expect(page.locator(".status")).to_have_text("Status: Partly returned")
    expect(scan_box(page)).to_be_focused()
    expect(scan_box(page)).to_have_value("")

    # The unexpected one: refused, saying where it belongs, then recorded with a reason.
    stranger_value = values_of(app, stranger)
    scan_with_the_scanner(page, stranger_value)
    expect(page.locator("#station-error")).to_contain_text(
        f"“{stranger_value}” was not checked in."
    )
    expect(page.locator(".unexpected")).to_contain_text("went out on order")
    expect(scan_box(page)).to_be_focused()
    assert not javascript or serious_violations(page) == [], "unexpected device offered"
    page.get_by_label(f"Why record {stranger_value} on this order?").fill("In the same box")
    page.get_by_role("button", name="Record as unexpected arrival").click()
    expect(page.get_by_role("heading", name="Unexpected arrivals")).to_be_visible()
    expect(page.locator("#station-result")).to_contain_text("In the same box")
    expect(progress).to_contain_text("1 of 2 devices back")

    # The missing one: closed with a reason.
    page.get_by_label("Why is it closed with something missing?").fill("Patient kept it")
    page.get_by_role("button", name="Close the return").click()
    expect(page.locator(".status")).to_have_text("Status: Returned")
    expect(page.get_by_role("row", name="BP monitor")).to_contain_text("Lost: Patient kept it")
    assert not javascript or serious_violations(page) == [], "closed"
    assert order_status(app, order_id) == "returned"

    back = history_of(page, base_url, glucometer)
    expect(back.locator("li").last).to_contain_text(
        re.compile(
            rf"Quarantined.*at Main warehouse\s+on order {order_id}.*Returned on order", re.S
        )
    )
    expect(page.locator(".facts")).to_contain_text("Quarantined")
    unexpected = history_of(page, base_url, stranger)
    expect(unexpected.locator("li").last).to_contain_text(
        f"Unexpected arrival on order {order_id}: In the same box"
    )
    lost = history_of(page, base_url, monitor)
    expect(lost.locator("li").last).to_contain_text(re.compile(rf"Lost.*on order {order_id}", re.S))
    expect(lost.locator("li").last).to_contain_text("Not returned: Patient kept it")
    expect(page.locator(".facts")).to_contain_text("Lost")
