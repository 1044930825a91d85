"""What the walk-through found at the bench and the desk, checked in Chromium: the header
on one line, keyboard-shortcut hints only where the keys work, a stock refusal that reads
as a sentence."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.auth.models import User
from tests.conftest import app_context
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
