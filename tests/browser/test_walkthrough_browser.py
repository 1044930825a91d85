"""What the walk-through found at the bench and the desk, checked in Chromium: the header
on one line, keyboard-shortcut hints only where the keys work, a stock refusal that reads
as a sentence."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.auth.models import User
from app.extensions import db
from tests.conftest import app_context
from tests.helpers.browser import serious_violations
from tests.helpers.pages import choose, find_recipient
from tests.helpers.stock import second_location

HEADER_ROW = """header => {
  const parts = [...header.querySelectorAll('a, button, input, label, .who .name')]
    .filter(el => el.offsetParent !== null)
    .map(el => el.getBoundingClientRect());
  const middles = parts.map(r => r.top + r.height / 2);
  return {
    spread: Math.max(...middles) - Math.min(...middles),
    right: Math.max(...parts.map(r => r.right)),
    overflow: header.scrollWidth > header.clientWidth,
  };
}"""


@pytest.mark.parametrize("role", ["admin", "coordinator", "fulfillment"])
def test_the_header_fits_one_line_at_1280_pixels(app, catalog, open_as, role):
    # A long name and a long time zone too: they are cut short, never pushed onto a line.
    with app_context(app) as session:
        user = session.get(User, catalog.users[role])
        user.first_name, user.last_name = "Bartholomew", "Featherstonehaugh-Worthington"
        user.time_zone = "America/Argentina/ComodRivadavia"
        session.commit()
    page = open_as(role, "/orders/")
    page.set_viewport_size({"width": 1280, "height": 800})
    header = page.locator("header.site-header")
    measured = header.evaluate(HEADER_ROW)
    assert measured["spread"] <= 8, measured  # every link, field and button on one line
    # Within the header's own padding (20 px), and nothing scrolls out of it.
    assert measured["right"] <= 1260.5 and not measured["overflow"], measured
    expect(page.get_by_role("textbox", name="Go to order")).to_be_visible()


def test_without_javascript_no_keyboard_shortcut_is_hinted(open_as):
    page = open_as("coordinator", "/orders/new", javascript=False)
    expect(page.locator("#keys-hint")).to_be_hidden()
    expect(page.locator("kbd.shortcut").first).to_be_hidden()
    assert page.locator("[aria-keyshortcuts]").count() == 0
    batch = open_as("coordinator", "/orders/batch", javascript=False)
    assert batch.locator("[aria-keyshortcuts]").count() == 0


def test_with_javascript_the_shortcuts_are_shown_and_announced(open_as):
    page = open_as("coordinator", "/orders/new")
    expect(page.locator("#keys-hint")).to_be_visible()
    expect(page.locator("kbd.shortcut").first).to_be_visible()
    expect(page.get_by_role("button", name="Place order")).to_have_attribute(
        "aria-keyshortcuts", "Control+Enter Meta+Enter"
    )
    # Lines drawn again by htmx announce theirs too.
    page.locator("#add-item").click()
    expect(page.locator("#items-1-ref")).to_be_visible()
    expect(page.locator("#add-item")).to_have_attribute("aria-keyshortcuts", re.compile("Alt"))


def test_the_stock_refusal_reads_as_a_sentence_under_its_row(app, open_as, catalog):
    east = second_location(app)
    page = open_as("coordinator", "/orders/new", javascript=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    find_recipient(page, "Lovelace")
    page.get_by_role("button", name="Search", exact=True).click()
    choose(page, "Ada Lovelace")
    page.get_by_label("Item 1", exact=True).fill("Test strips (STR)")
    page.get_by_label("Count of item 1").fill("3")
    page.get_by_label("Fulfilled from").select_option(str(east))
    page.get_by_role("button", name="Place order").click()
    refusal = page.locator("#items-0-count-error")
    expect(refusal).to_contain_text("Not enough stock for Test strips")
    box = refusal.bounding_box()
    count = page.get_by_label("Count of item 1").bounding_box()
    assert box["width"] > 3 * count["width"]  # across the row, not in the count's column
    line_height = refusal.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
    assert box["height"] < 2.5 * line_height  # a line or two, not a word a line


def test_the_changed_pages_pass_axe(app, catalog, open_as):
    """The PHI access log, a webhook's delivery log with a retry and a wait, a batch's result
    with a refused patient, and the account page."""
    from sqlalchemy import select

    from app.webhooks import worker
    from app.webhooks.models import WebhookSubscription
    from tests.helpers.orders import move, place
    from tests.helpers.web import Browserless

    admin = Browserless(app.test_client())
    admin.sign_in("admin")
    admin.post("/admin/webhooks/", {"url": "http://127.0.0.1:9/hooks", "types": ["order.status"]})
    order_id = place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        worker.record(claimed := worker.claim(), worker.deliver(claimed))
        move(app, order_id, "processing")
        worker.fan_out()
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
        db.session.remove()
    coordinator = open_as("coordinator", "/orders/batch")
    coordinator.get_by_label("Or paste their identifiers").fill("MRN-1\nMRN-2")
    coordinator.get_by_label("Item 1", exact=True).fill("Test strips (STR)")
    coordinator.get_by_label("Count of item 1").fill("1")
    coordinator.get_by_role("button", name="Preview orders").click()
    coordinator.get_by_role("button", name="Place 1 order").click()
    expect(coordinator.get_by_role("heading", name=re.compile("1 patient refused"))).to_be_visible()
    assert serious_violations(coordinator) == []
    coordinator.goto(coordinator.url.split("/orders/")[0] + "/account/time-zone")
    expect(coordinator.get_by_role("button", name="Sign out everywhere")).to_be_visible()
    assert serious_violations(coordinator) == []

    page = open_as("admin", "/admin/phi-access/")
    expect(page.get_by_role("cell", name="Listed on Send to many").first).to_be_visible()
    assert serious_violations(page) == []
    page.goto(page.url.replace("/admin/phi-access/", f"/admin/webhooks/{subscription_id}"))
    expect(page.get_by_role("button", name=re.compile("Retry now"))).to_be_visible()
    expect(page.get_by_text("behind an earlier event")).to_be_visible()
    assert serious_violations(page) == []
