"""What a person sees and does on the pages, in words, for the browser tests: the new-order
page (find a recipient, choose them, the order placed) and the order page (its status, next
steps, timeline, devices and scan box); and the orders as stored, to check what changed."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from app.orders import lookups
from app.orders.models import Order
from tests.conftest import app_context

UPS_NUMBER = "1Z999AA10123456784"


# --- The new-order page -------------------------------------------------------------------


def orders_in_db(app) -> list[dict]:
    """Every order stored, as what a person would check on it."""
    with app_context(app) as session:
        return [
            {
                "id": order.id,
                "patient": order.patient_id,
                "site": order.site_id,
                "items": sorted((line.item.name, line.count) for line in order.items),
                "kits": sorted((line.kit.name, line.count) for line in order.kits),
                "shipping": order.shipping_option,
                "external_ids": sorted(e.value for e in order.external_ids),
                "notes": [n.note for n in order.notes],
            }
            for order in session.scalars(select(Order).order_by(Order.id))
        ]


def find_recipient(page: Page, query: str) -> None:
    page.get_by_label(re.compile(r"^Find a (patient|site)$")).fill(query)


def choose(page: Page, name: str) -> None:
    page.get_by_role("button", name=re.compile("^" + re.escape(name))).click()
    expect(page.locator("#ship-to")).to_contain_text(name)


def placed_order(page: Page) -> int:
    """Waits for the order page; answers the order's id."""
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    order_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", name=f"Order {order_id}", exact=True)).to_be_visible()
    return order_id


# --- The order page -----------------------------------------------------------------------


def order_page(order_id: int) -> str:
    return f"/orders/{order_id}"


def expect_status(page: Page, label: str) -> None:
    expect(page.locator("#order-status")).to_have_text(
        re.compile(rf"^\s*Status:\s*{re.escape(label)}(\s|$)")
    )


def next_steps(page: Page) -> Locator:
    return page.get_by_role("region", name="Next steps")


def step(page: Page, name: str) -> Locator:
    return next_steps(page).get_by_role("button", name=name, exact=True)


def timeline(page: Page) -> Locator:
    return page.get_by_role("region", name="Timeline").get_by_role("listitem")


def expect_latest_event(page: Page, name: str, who: str, note: str | None = None) -> None:
    latest = timeline(page).last
    expect(latest.locator(".event-name")).to_have_text(name)
    expect(latest).to_contain_text(who)
    if note is not None:
        expect(latest).to_contain_text(note)


def devices(page: Page) -> Locator:
    return page.get_by_role("region", name="Devices")


def slot_row(page: Page, label: str) -> Locator:
    return (
        devices(page)
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=label, exact=True))
    )


def scan_box(page: Page) -> Locator:
    return page.get_by_label("Scan or type a device identifier")


def scan(page: Page, identifier: str) -> None:
    scan_box(page).fill(identifier)
    page.get_by_role("button", name="Record", exact=True).click()


def stored(app, order_id: int) -> dict:
    """The order as stored: what each test checks it changed."""
    with app_context(app):
        order = lookups.get_order(order_id)
        return {
            "status": order.current_status,
            "held_from": order.held_from_status,
            "events": [(e.name, e.actor_name, e.note) for e in order.events],
            "notes": [(n.note, n.created_by.full_name) for n in order.notes],
            "devices": sorted(
                (od.device.item.name, od.device.identifiers[0].value, od.device.current_status)
                for od in order.devices
            ),
            "tracking": [(t.carrier, t.value) for t in order.tracking_numbers],
        }
