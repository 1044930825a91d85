"""Pages speak the users' words: no codes of the database or the API, counts with their
nouns in the right number, refusals written where they can be read."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from app.catalog.models import Item
from tests.conftest import app_context
from tests.helpers.orders import move, pack_everything, place
from tests.helpers.stock import second_location
from tests.helpers.web import Browserless, a_good_order

# Codes the pages once showed as they are stored.
CODES = re.compile(
    r"\b(simCardNumber|macAddress|iccid|imei|extraLarge|apiOrder|apiPatient|orderPage"
    r"|patientPage|packingSummary|sendToMany|ordersCsv|recipientSearch|patientSearch)\b"
)


def visible(html: str) -> str:
    """What a person reads: the text outside tags, scripts and attributes."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def admin(client, catalog) -> Browserless:
    person = Browserless(client)
    assert person.sign_in("admin").status_code == 303
    return person


def test_pages_show_no_raw_codes(app, admin, catalog):
    order_id = place(app, catalog, items={"strips": 1, "gateway": 1}, kits={"hypertension": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    new_item = {
        "name": "IoT SIM",
        "sku": "SIM-1",
        "device_identifier_type": "iccid",
        "size": "",
        "reorder_point": "0",
        "orderable": "y",
    }
    assert admin.post("/items/new", new_item).status_code == 303
    with app_context(app) as session:
        item_id = session.scalar(select(Item.id).where(Item.sku == "SIM-1"))
    changed = {**new_item, "device_identifier_type": "simCardNumber", "size": "extraLarge"}
    assert admin.post(f"/items/{item_id}/edit", changed).status_code == 303
    lines = admin.post(
        "/orders/new/lines",
        {**a_good_order(admin, catalog), "items-0-ref": "IoT SIM (SIM-1)", "action": "refresh"},
        htmx=True,
    )
    pages = {
        "item": admin.get(f"/items/{item_id}").text,
        "items": admin.get("/items/").text,
        "new order lines": lines.text,
        "order": admin.get(f"/orders/{order_id}").text,
        "summary": admin.get(f"/orders/{order_id}/packing-summary").text,
        "phi access log": admin.get("/admin/phi-access/").text,
        "devices": admin.get("/stock/devices/").text,
    }
    for name, html in pages.items():
        assert CODES.findall(visible(html)) == [], name
    item = visible(pages["item"])
    assert "Device identifier type: ICCID → SIM card number" in item
    assert "Size: — → Extra large" in item
    assert "device, SIM card number recorded at packing" in visible(pages["new order lines"])


def test_a_line_beyond_the_stock_says_not_enough_stock(app, client, catalog):
    east = second_location(app)
    coordinator = Browserless(client)
    coordinator.sign_in("coordinator")
    data = {**a_good_order(coordinator, catalog), "fulfillment_location": str(east)}
    lines = coordinator.post("/orders/new/lines", {**data, "action": "refresh"}, htmx=True).text
    assert "Not enough stock: 0 available at East depot" in lines
    assert "only 0" not in lines


def test_the_stock_refusal_is_written_under_the_row_not_in_the_count_column(app, client, catalog):
    east = second_location(app)
    coordinator = Browserless(client)
    coordinator.sign_in("coordinator")
    data = {**a_good_order(coordinator, catalog), "fulfillment_location": str(east)}
    refused = coordinator.post("/orders/new", data)
    assert refused.status_code == 422
    count_field = re.search(
        r'<div class="field count has-error">(.*?)</div>', refused.text, re.S
    ).group(1)
    assert "Not enough stock" not in count_field
    assert 'aria-describedby="items-0-count-error"' in count_field
    assert re.search(
        r'<div class="row-error"><p class="error" id="items-0-count-error">'
        r"Not enough stock for Test strips: 3 × Test strips needed, 0 available.</p></div>",
        refused.text,
    )


def test_one_device_is_said_in_the_singular(app, client, catalog):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    packer = Browserless(client)
    packer.sign_in("fulfillment")
    assert "0 of 1 device recorded; 1 to go." in visible(packer.get(f"/orders/{order_id}").text)
    pack_everything(app, order_id)
    html = visible(packer.get(f"/orders/{order_id}").text)
    assert "The device is recorded." in html and "1 devices" not in html
