"""The packing queue in a real Chromium: a packer takes the next order from the header, the
page says it is theirs, another packer sees the claim and takes it over; axe is clean."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from app.auth.models import User
from app.db.transactions import write_transaction
from tests.conftest import password_hash
from tests.helpers.browser import serious_violations
from tests.helpers.orders import place


def test_next_order_is_claimed_and_another_packer_takes_it_over(app, catalog, open_as):
    with app.app_context(), write_transaction() as session:
        session.add(
            User(
                email="ana@example.org",
                role="fulfillment",
                first_name="Ana",
                last_name="Lima",
                password_hash=password_hash(),
            )
        )
    standard = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")

    page = open_as("fulfillment", "/orders/next")
    assert serious_violations(page) == [], "the packing home page"
    page.get_by_role("banner").get_by_role("button", name="Next order").click()
    expect(page).to_have_url(re.compile(rf"/orders/{overnight}$"))
    expect(page.locator("#claim")).to_contain_text("Being packed by you since")
    assert serious_violations(page) == [], "an order of one's own"

    ana = open_as("ana", f"/orders/{overnight}")
    expect(ana.locator("#claim")).to_contain_text("Being packed by Fulfillment Tester since")
    assert serious_violations(ana) == [], "an order someone else packs"
    ana.get_by_role("button", name="Take over from Fulfillment Tester").click()
    expect(ana.locator("#claim")).to_contain_text("Being packed by you since")
    expect(ana.get_by_text("Packing taken over")).to_be_visible()

    # The first packer's Next now skips it: the standard order is next.
    page.get_by_role("banner").get_by_role("button", name="Next order").click()
    expect(page).to_have_url(re.compile(rf"/orders/{standard}$"))
