"""The stock pages: receiving (scanner, pasted and uploaded manifests), adjusting and
counting, devices, the ledger and its CSV; each at a fixed number of statements."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import STOCK_PER_COUNTED_ITEM, stock_identifier
from tests.helpers.orders import imei, place
from tests.helpers.stock import figures, ledger_count, statuses_of
from tests.helpers.web import Browserless


@pytest.fixture
def fulfillment(client, catalog):
    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def test_a_pasted_manifest_is_previewed_with_bad_and_duplicate_identifiers_flagged(
    fulfillment, catalog, app
):
    manifest = f"{imei(4001)}\n{imei(4001)}\n12345\n{imei(4002)}"
    data = {
        "devices-location_id": str(catalog.location),
        "devices-item_id": str(catalog.items["glucometer"]),
        "devices-manifest": manifest,
        "action": "preview",
    }
    preview = fulfillment.post("/stock/receive", data)
    assert preview.status_code == 200
    assert "4 identifiers, 2 flagged" in preview.text
    assert "Listed twice in this manifest." in preview.text
    assert "An IMEI is 15 digits." in preview.text
    refused = fulfillment.post("/stock/receive", {**data, "action": "devices"})
    assert refused.status_code == 422
    assert statuses_of(app, imei(4002)) == [None]  # nothing received
    ok = fulfillment.post(
        "/stock/receive",
        {**data, "devices-manifest": f"{imei(4001)}\n{imei(4002)}", "action": "devices"},
    )
    assert ok.status_code == 303
    assert statuses_of(app, imei(4001), imei(4002)) == ["inStock", "inStock"]


@pytest.mark.parametrize("action", ["preview", "devices"])
def test_a_manifest_needs_a_device_item_and_an_identifier_said_at_their_fields(
    fulfillment, catalog, app, action
):
    data = {
        "devices-location_id": str(catalog.location),
        "devices-item_id": str(catalog.items["strips"]),
        "devices-manifest": imei(4301),
        "action": action,
    }
    counted_item = fulfillment.post("/stock/receive", data)
    assert counted_item.status_code == 422
    assert error_of(counted_item.text, "devices-item_id") == "Choose a device-tracked item."
    assert error_of(counted_item.text, "devices-manifest") is None
    glucometer = {**data, "devices-item_id": str(catalog.items["glucometer"])}
    empty = fulfillment.post("/stock/receive", {**glucometer, "devices-manifest": " \n "})
    assert empty.status_code == 422
    assert error_of(empty.text, "devices-item_id") is None
    assert error_of(empty.text, "devices-manifest") == (
        "Scan, paste or upload at least one identifier."
    )
    assert statuses_of(app, imei(4301)) == [None]


def test_a_manifest_with_flagged_identifiers_is_not_received_and_says_so(fulfillment, catalog, app):
    rows = ledger_count(app)
    refused = fulfillment.post(
        "/stock/receive",
        {
            "devices-location_id": str(catalog.location),
            "devices-item_id": str(catalog.items["glucometer"]),
            "devices-manifest": f"{imei(4401)}\n12345",
            "action": "devices",
        },
    )
    assert refused.status_code == 422
    assert "Some identifiers are flagged below: correct or remove them" in refused.text
    assert "1 flagged" in refused.text
    assert statuses_of(app, imei(4401)) == [None]
    assert ledger_count(app) == rows


def test_an_uploaded_manifest_is_received(fulfillment, catalog, app):
    upload = (io.BytesIO(f"{imei(4101)},{imei(4102)}\n".encode()), "manifest.csv")
    response = fulfillment.post(
        "/stock/receive",
        {
            "devices-location_id": str(catalog.location),
            "devices-item_id": str(catalog.items["glucometer"]),
            "devices-manifest": "",
            "devices-manifest_file": upload,
            "action": "devices",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert statuses_of(app, imei(4101), imei(4102)) == ["inStock", "inStock"]


def test_counted_receipts_and_adjustments_keep_input_and_say_what_is_wrong(
    fulfillment, catalog, app
):
    strips = catalog.items["strips"]
    bad = fulfillment.post(
        "/stock/receive",
        {
            "counted-location_id": str(catalog.location),
            "counted-item_id": str(strips),
            "counted-count": "0",
            "counted-reference": "DN-1",
            "action": "counted",
        },
    )
    assert bad.status_code == 422
    assert "Count must be a whole number" in bad.text and 'value="DN-1"' in bad.text
    good = fulfillment.post(
        "/stock/receive",
        {
            "counted-location_id": str(catalog.location),
            "counted-item_id": str(strips),
            "counted-count": "20",
            "action": "counted",
        },
    )
    assert good.status_code == 303
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM + 20, 0)
    no_reason = fulfillment.post(
        "/stock/adjust",
        {
            "location_id": str(catalog.location),
            "item_id": str(strips),
            "kind": "adjustment",
            "quantity": "-5",
            "reason": "",
        },
    )
    assert no_reason.status_code == 422 and "a reason is required" in no_reason.text
    fulfillment.post(
        "/stock/adjust",
        {
            "location_id": str(catalog.location),
            "item_id": str(strips),
            "kind": "adjustment",
            "quantity": "-5",
            "reason": "Water damage",
        },
    )
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM + 15, 0)
    place(app, catalog, items={"strips": 10})
    below = fulfillment.post(
        "/stock/adjust",
        {
            "location_id": str(catalog.location),
            "item_id": str(strips),
            "kind": "count",
            "quantity": "3",
            "reason": "Cycle count",
        },
    )
    assert below.status_code == 422 and "cannot go below" in below.text
    counted = fulfillment.post(
        "/stock/adjust",
        {
            "location_id": str(catalog.location),
            "item_id": str(strips),
            "kind": "count",
            "quantity": "50",
            "reason": "Cycle count",
        },
    )
    assert counted.status_code == 303
    assert figures(app, strips) == (50, 10)


# Sent for a location or an item: an Arabic-Indic 2, beyond the id column's range, not a number.
NOT_IDS = ["٢", "2147483648", "abc"]


def error_of(html: str, field_id: str) -> str | None:
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', html)
    return found.group(1) if found else None


@pytest.mark.parametrize("sent", NOT_IDS)
def test_a_location_that_is_not_valid_is_refused_at_the_field_never_taken_for_the_default(
    fulfillment, catalog, app, sent
):
    strips = catalog.items["strips"]
    before, rows = figures(app, strips), ledger_count(app)
    adjusted = fulfillment.post(
        "/stock/adjust",
        {
            "location_id": sent,
            "item_id": str(strips),
            "kind": "adjustment",
            "quantity": "5",
            "reason": "Found behind the shelf",
        },
    )
    assert adjusted.status_code == 422
    assert "not a valid location" in error_of(adjusted.text, "location_id")
    # What was sent is kept: the reason, and the location shown as sent (not the default).
    assert 'value="Found behind the shelf"' in adjusted.text
    assert re.search(rf'<option selected value="{re.escape(sent)}">', adjusted.text)
    counted = fulfillment.post(
        "/stock/receive",
        {
            "counted-location_id": sent,
            "counted-item_id": str(strips),
            "counted-count": "20",
            "counted-reference": "DN-7",
            "action": "counted",
        },
    )
    assert counted.status_code == 422
    assert "not a valid location" in error_of(counted.text, "counted-location_id")
    assert 'value="DN-7"' in counted.text
    devices = fulfillment.post(
        "/stock/receive",
        {
            "devices-location_id": sent,
            "devices-item_id": str(catalog.items["glucometer"]),
            "devices-manifest": imei(4201),
            "action": "devices",
        },
    )
    assert devices.status_code == 422
    assert "not a valid location" in error_of(devices.text, "devices-location_id")
    assert imei(4201) in devices.text
    assert statuses_of(app, imei(4201)) == [None]
    assert (figures(app, strips), ledger_count(app)) == (before, rows)


@pytest.mark.parametrize("sent", NOT_IDS)
def test_an_item_that_is_not_valid_is_refused_at_the_field(fulfillment, catalog, app, sent):
    rows = ledger_count(app)
    for url, data, field_id in [
        (
            "/stock/adjust",
            {
                "location_id": str(catalog.location),
                "item_id": sent,
                "kind": "adjustment",
                "quantity": "5",
                "reason": "Found",
            },
            "item_id",
        ),
        (
            "/stock/receive",
            {
                "counted-location_id": str(catalog.location),
                "counted-item_id": sent,
                "counted-count": "20",
                "action": "counted",
            },
            "counted-item_id",
        ),
    ]:
        refused = fulfillment.post(url, data)
        assert refused.status_code == 422
        assert error_of(refused.text, field_id) == f"There is no item with id {sent}."
        assert re.search(rf'<option selected value="{re.escape(sent)}">', refused.text)
    assert ledger_count(app) == rows


def test_the_stock_page_highlights_low_stock_and_shows_demand(fulfillment, catalog, app):
    from app.catalog.models import Item
    from app.db.transactions import write_transaction

    with app.app_context(), write_transaction() as session:
        session.get(Item, catalog.items["cuff"]).reorder_point = STOCK_PER_COUNTED_ITEM
    place(app, catalog, items={"strips": 7})
    page = fulfillment.get("/stock/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "Low" in page.text and ">7<" in page.text
    assert stock_identifier("imei", catalog.items["glucometer"] * 1000) in page.text


def test_a_device_is_found_by_identifier_and_shows_its_history(fulfillment, catalog, app):
    value = stock_identifier("imei", catalog.items["glucometer"] * 1000 + 3)
    found = fulfillment.get(f"/stock/devices/?identifier={value}")
    assert found.status_code == 303
    page = fulfillment.get(found.headers["Location"])
    assert "Received" in page.text and "Main warehouse" in page.text
    none = fulfillment.get("/stock/devices/?identifier=NOTHING-1")
    assert "No device has that identifier." in none.text


def test_the_ledger_filters_pages_and_exports(fulfillment, catalog, app):
    order_id = place(app, catalog, items={"strips": 3})
    page = fulfillment.get(f"/stock/ledger?order={order_id}")
    assert page.status_code == 200
    assert "Reservation" in page.text and f"Order {order_id}" in page.text
    csv = fulfillment.get("/stock/ledger.csv?kind=reservation").get_data(as_text=True)
    lines = csv.strip().splitlines()
    assert lines[0].startswith("Row,When (UTC),Kind")
    assert len(lines) == 2 and "Reservation" in lines[1]


@pytest.mark.parametrize("url", ["/stock/", "/stock/ledger"])
def test_stock_and_ledger_pages_cost_a_fixed_number_of_statements(
    fulfillment, catalog, app, count_queries, url
):
    with count_queries() as few:
        assert fulfillment.get(url).status_code == 200
    for _ in range(5):
        place(app, catalog, items={"strips": 1, "cuff": 1}, kits={"diabetes": 1})
    with app.app_context():
        from app.catalog.models import Item
        from app.db.transactions import write_transaction

        with write_transaction() as session:
            session.add_all(Item(name=f"Gauze {n}", sku=f"GZ-{n}") for n in range(10))
    from app.catalog.models import Item
    from tests.helpers.orders import receive_stock

    with app.app_context():
        from sqlalchemy import select

        from app.extensions import db

        ids = db.session.scalars(select(Item.id).where(Item.sku.like("GZ-%"))).all()
        db.session.remove()
    receive_stock(app, {i: 2 for i in ids})
    with count_queries() as many:
        assert fulfillment.get(url).status_code == 200
    assert many.count == few.count


def test_coordinators_see_stock_but_do_not_move_it(client, catalog):
    coordinator = Browserless(client)
    coordinator.sign_in("coordinator")
    assert coordinator.get("/stock/").status_code == 200
    assert coordinator.get("/stock/receive").status_code == 403
    assert coordinator.get("/stock/adjust").status_code == 403


# --- The new-order page ------------------------------------------------------------------


def test_the_new_order_page_shows_what_is_available_beside_each_line(client, catalog, app):
    from tests.helpers.stock import second_location
    from tests.helpers.web import a_good_order

    east = second_location(app)
    coordinator = Browserless(client)
    coordinator.sign_in("coordinator")
    page = coordinator.get("/orders/new").text
    assert "Fulfilled from" in page and "Main warehouse (default)" in page and "East depot" in page
    data = a_good_order(coordinator, catalog)
    lines = coordinator.post("/orders/new/lines", {**data, "action": "refresh"}, htmx=True).text
    assert f"{STOCK_PER_COUNTED_ITEM} available at Main warehouse" in lines
    elsewhere = coordinator.post(
        "/orders/new/lines",
        {**data, "action": "refresh", "fulfillment_location": str(east)},
        htmx=True,
    ).text
    assert "Not enough stock: 0 available at East depot" in elsewhere
    refused = coordinator.post("/orders/new", {**data, "fulfillment_location": str(east)})
    assert refused.status_code == 422
    assert "Not enough stock for Test strips: 3 × Test strips needed, 0 available." in refused.text
    placed = coordinator.post("/orders/new", data)
    assert placed.status_code == 303
    assert figures(app, catalog.items["strips"]) == (STOCK_PER_COUNTED_ITEM, 3)
