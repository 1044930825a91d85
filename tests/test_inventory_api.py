"""The stock API: figures, receipts and devices, checked against the OpenAPI document."""

from __future__ import annotations

from tests.conftest import STOCK_PER_COUNTED_ITEM, STOCK_PER_DEVICE_ITEM, stock_identifier
from tests.helpers.openapi import check
from tests.helpers.orders import imei, patient_order, place


def test_inventory_lists_figures_filtered_by_item_and_location(api, app, catalog, spec):
    place(app, catalog, items={"strips": 4})
    response = api.get(f"/api/v3/inventory?itemId={catalog.items['strips']}")
    assert response.status_code == 200
    check(spec, "/api/v3/inventory", "get", response)
    page = response.get_json()
    assert page["total"] == 1
    row = page["content"][0]
    assert row["item"]["id"] == catalog.items["strips"]
    assert row["location"] == {"id": catalog.location, "name": "Main warehouse"}
    assert (row["onHand"], row["reserved"], row["available"]) == (
        STOCK_PER_COUNTED_ITEM,
        4,
        STOCK_PER_COUNTED_ITEM - 4,
    )
    everything = api.get(f"/api/v3/inventory?locationId={catalog.location}&size=2").get_json()
    assert everything["total"] == len(catalog.items) and len(everything["content"]) == 2
    assert api.get("/api/v3/inventory?locationId=999").get_json()["total"] == 0
    assert api.get("/api/v3/inventory?itemId=x").status_code == 400


def test_a_receipt_of_lines_and_devices_answers_201(api, catalog, spec):
    response = api.post(
        "/api/v3/inventory/receipts",
        json={
            "location": {"id": catalog.location},
            "reference": "PO-2231",
            "lines": [{"item": {"id": catalog.items["cuff"]}, "count": 12}],
            "devices": [
                {
                    "item": {"id": catalog.items["glucometer"]},
                    "deviceIdentifiers": [{"type": "imei", "value": imei(3101)}],
                }
            ],
        },
    )
    assert response.status_code == 201, response.get_json()
    check(spec, "/api/v3/inventory/receipts", "post", response)
    answer = response.get_json()
    assert answer["reference"] == "PO-2231"
    # The answer says what came in: the counted lines, and each device as it is now stored.
    assert [(line["item"]["id"], line["count"]) for line in answer["lines"]] == [
        (catalog.items["cuff"], 12)
    ]
    found = api.get(f"/api/v3/device?identifier={imei(3101)}").get_json()["content"]
    assert [d["id"] for d in answer["devices"]] == [found[0]["id"]]
    received = answer["devices"][0]
    assert (received["item"]["id"], received["currentStatus"]) == (
        catalog.items["glucometer"],
        "inStock",
    )
    assert received["deviceIdentifiers"] == [{"type": "imei", "value": imei(3101)}]
    stock = api.get(f"/api/v3/inventory?itemId={catalog.items['glucometer']}").get_json()
    assert stock["content"][0]["onHand"] == STOCK_PER_DEVICE_ITEM + 1


def test_a_known_identifier_answers_409_and_a_counted_device_line_400(api, catalog, spec):
    known = stock_identifier("imei", catalog.items["glucometer"] * 1000)
    conflict = api.post(
        "/api/v3/inventory/receipts",
        json={
            "devices": [
                {
                    "item": {"id": catalog.items["glucometer"]},
                    "deviceIdentifiers": [{"type": "imei", "value": known}],
                }
            ]
        },
    )
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "device_already_known"
    assert conflict.get_json()["error"]["field"] == "devices[0].deviceIdentifiers[0]"
    counted = api.post(
        "/api/v3/inventory/receipts",
        json={"lines": [{"item": {"id": catalog.items["glucometer"]}, "count": 3}]},
    )
    assert counted.status_code == 400
    assert counted.get_json()["error"]["code"] == "device_tracked_item"
    assert counted.get_json()["error"]["field"] == "lines[0].item.id"
    check(spec, "/api/v3/inventory/receipts", "post", counted)
    assert api.post("/api/v3/inventory/receipts", json={}).status_code == 400
    assert api.post("/api/v3/inventory/receipts", json={"lines": "x"}).status_code == 400


def test_a_device_is_found_by_any_identifier_with_its_orders(api, app, catalog, spec):
    from app.catalog.models import Item
    from app.db.transactions import write_transaction
    from tests.helpers.orders import move
    from tests.helpers.stock import record

    with app.app_context(), write_transaction() as session:
        session.get(Item, catalog.items["glucometer"]).accept_unreceived_devices = False
    value = stock_identifier("imei", catalog.items["glucometer"] * 1000 + 1)
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    record(app, order_id, value)
    spaced = f"{value[:5]} {value[5:10]} {value[10:]}"  # as a person might type it
    response = api.get(f"/api/v3/device?identifier={spaced}")
    assert response.status_code == 200
    check(spec, "/api/v3/device", "get", response)
    page = response.get_json()
    assert page["total"] == 1
    device = page["content"][0]
    assert device["currentStatus"] == "allocated"
    assert device["deviceIdentifiers"] == [{"type": "imei", "value": value}]
    assert device["location"]["name"] == "Main warehouse"
    assert device["orders"] == [{"id": order_id}]
    assert api.get("/api/v3/device?identifier=NOPE-0000").get_json()["total"] == 0
    assert api.get("/api/v3/device").status_code == 400


def test_an_order_answers_its_fulfillment_location(api, catalog, spec):
    response = api.post("/api/v3/order", json=patient_order(catalog))
    assert response.get_json()["fulfillmentLocation"] == {
        "id": catalog.location,
        "name": "Main warehouse",
    }
    check(spec, "/api/v3/order", "post", response)


def test_a_receipt_posted_with_an_api_key_is_stored_as_received_by_that_key(api, app, catalog):
    from sqlalchemy import select

    from app.auth.models import ApiKey
    from app.inventory.models import StockReceipt
    from tests.conftest import app_context

    response = api.post(
        "/api/v3/inventory/receipts",
        json={
            "reference": "PO-KEY",
            "lines": [{"item": {"id": catalog.items["cuff"]}, "count": 1}],
        },
    )
    assert response.status_code == 201, response.get_json()
    with app_context(app) as session:
        receipt = session.scalars(
            select(StockReceipt).where(StockReceipt.reference == "PO-KEY")
        ).one()
        key = session.get(ApiKey, receipt.actor_api_key_id)
        assert (key.name, receipt.actor_user_id) == ("Tests", None)
