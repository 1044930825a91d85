"""Finding devices: the device finder (any part of any identifier, as typed; filters; keyset
pages; a count; CSV), the shelf on the stock page (every item, none crowded out), and the
packing station offering what is on the shelf for the lines still waiting."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.catalog.identifiers import search_key
from app.catalog.models import DeviceIdentifier
from app.extensions import db
from app.orders import packing
from tests.conftest import STOCK_PER_DEVICE_ITEM, app_context, stock_identifier
from tests.helpers.orders import actor, imei, move, place, receive_stock
from tests.helpers.stock import SERIALS, receive, second_location
from tests.helpers.web import Browserless


@pytest.fixture
def fulfillment(client, catalog):
    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def device_rows(html: str) -> list[str]:
    """The identifiers of each row of the finder's table, in order, as "value value"."""
    body = html.split('id="device-results"', 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [" ".join(re.findall(r"<code>([^<]*)</code>", row)) for row in rows if "<code>" in row]


def count_of(html: str) -> str:
    return re.search(r'<p id="device-count"[^>]*>([^<]*)</p>', html).group(1)


def test_a_device_is_found_by_a_partial_serial_typed_with_spaces_and_lower_case(
    fulfillment, catalog, app
):
    receive(app, catalog.items["monitor"], "serial", SERIALS)
    page = fulfillment.get("/stock/devices/?identifier=bp7450 0131708")
    assert page.status_code == 200
    assert device_rows(page.text) == ["BP7450-01317087", "BP7450-01317086"]  # newest first
    assert count_of(page.text) == "2 devices match"
    # The whole serial, typed so, opens that device (it found nothing before).
    whole = fulfillment.get("/stock/devices/?identifier=bp7450 01317086")
    assert whole.status_code == 303
    device = fulfillment.get(whole.headers["Location"])
    assert "BP7450-01317086" in device.text and "Received" in device.text


# How a person might type a part of each kind: lower case, other separators, or none.
TYPINGS = {
    "imei": lambda v: f" {v[-5:-3]}-{v[-3:]}",
    "iccid": lambda v: f"{v[-6:-3]} {v[-3:]}",
    "serial": lambda v: v.lower().replace("-", " ")[2:],
    "macAddress": lambda v: v.lower()[3:11],  # "1c:05:4a"
    "macAddress.dotted": lambda v: (v[0:2] + v[3:5]).lower() + "." + (v[6:8] + v[9:11]).lower(),
}


@pytest.mark.parametrize("typing", list(TYPINGS))
def test_every_kind_of_identifier_is_found_by_a_part_whatever_its_separators(
    fulfillment, catalog, app, typing
):
    kind = typing.split(".")[0]
    if kind == "macAddress":
        from app.catalog.models import Item
        from app.db.transactions import write_transaction

        with app.app_context(), write_transaction() as session:
            hub = Item(name="Hub", sku="HUB", device_identifier_type="macAddress")
            session.add(hub)
            session.flush()
            hub_id = hub.id
        stored = "00:1C:05:4A:2B:3C"
        receive(app, hub_id, "macAddress", [stored, "00:1C:05:99:99:99"])
    else:
        item = {"imei": "glucometer", "iccid": "gateway", "serial": "monitor"}[kind]
        stored = stock_identifier(kind, catalog.items[item] * 1000 + 7)
    typed = TYPINGS[typing](stored)
    assert search_key(typed) != search_key(stored)  # a part, not the whole
    page = fulfillment.get("/stock/devices/", query_string={"identifier": typed})
    assert page.status_code == 200
    found = device_rows(page.text)
    assert stored in found
    assert all(search_key(typed) in search_key(row) for row in found)
    assert len(found) < STOCK_PER_DEVICE_ITEM  # not every device of the item


def test_devices_are_filtered_by_item_status_location_and_order(fulfillment, catalog, app):
    east = second_location(app)
    receive(app, catalog.items["monitor"], "serial", ["EAST-0001", "EAST-0002"], location=east)
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    allocated = stock_identifier("serial", catalog.items["monitor"] * 1000 + 4)
    with app.app_context():
        packing.record_device(order_id, allocated, actor("fulfillment"))
        db.session.remove()

    def rows(**args):
        return device_rows(fulfillment.get("/stock/devices/", query_string=args).text)

    monitors = rows(item=catalog.items["monitor"])
    assert len(monitors) == STOCK_PER_DEVICE_ITEM + 2
    assert rows(location=east) == ["EAST-0002", "EAST-0001"]
    assert rows(item=catalog.items["monitor"], status="allocated") == [allocated]
    assert rows(order=order_id) == [allocated]
    on_shelf = rows(item=catalog.items["monitor"], location=catalog.location, status="inStock")
    assert len(on_shelf) == STOCK_PER_DEVICE_ITEM - 1 and allocated not in on_shelf
    assert rows(item=catalog.items["glucometer"], identifier="EAST") == []
    page = fulfillment.get("/stock/devices/", query_string={"order": order_id}).text
    assert f'href="/orders/{order_id}"' in page and "Allocated" in page
    # A filter that is not one is left out, never an error.
    assert fulfillment.get("/stock/devices/?status=lost&item=x&location=٢").status_code == 200


def test_pages_are_keyset_pages_that_cover_every_device_once(fulfillment, catalog, app):
    receive_stock(app, {catalog.items["glucometer"]: 50})
    query = {"item": catalog.items["glucometer"]}
    first = fulfillment.get("/stock/devices/", query_string=query).text
    assert count_of(first) == f"{STOCK_PER_DEVICE_ITEM + 50} devices match"
    assert len(device_rows(first)) == 50
    older = re.search(r'href="([^"]*)" rel="next">Older devices', first).group(1)
    assert "before=" in older and "offset" not in older
    second = fulfillment.get(older.replace("&amp;", "&")).text
    assert len(device_rows(second)) == STOCK_PER_DEVICE_ITEM
    assert 'rel="next"' not in second
    everything = device_rows(first) + device_rows(second)
    assert len(set(everything)) == STOCK_PER_DEVICE_ITEM + 50
    newer = re.search(r'href="([^"]*)" rel="prev">Newer devices', second).group(1)
    assert device_rows(fulfillment.get(newer.replace("&amp;", "&")).text) == device_rows(first)


def test_the_csv_has_every_device_the_filters_select_and_no_patient(fulfillment, catalog, app):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    allocated = stock_identifier("serial", catalog.items["monitor"] * 1000 + 2)
    with app.app_context():
        packing.record_device(order_id, allocated, actor("fulfillment"))
        db.session.remove()
    response = fulfillment.get(f"/stock/devices.csv?item={catalog.items['monitor']}")
    assert response.mimetype == "text/csv"
    assert 'filename="devices-' in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).strip().splitlines()
    assert lines[0] == ("Device,Item,SKU,Identifiers,Status,Location,Last order,Received (UTC)")
    assert len(lines) == 1 + STOCK_PER_DEVICE_ITEM
    row = next(line for line in lines if allocated in line)
    assert f"Serial number {allocated},Allocated,Main warehouse,{order_id}," in row
    assert "Lovelace" not in response.get_data(as_text=True)
    with app_context(app) as session:
        from app.history.models import PatientDataAccess

        assert session.scalar(select(db.func.count()).select_from(PatientDataAccess)) == 0


@pytest.mark.parametrize("filters", ["none", "search", "all"])
def test_the_finder_costs_a_fixed_number_of_statements(
    fulfillment, catalog, app, count_queries, filters
):
    query = {
        "none": "",
        "search": "?identifier=8600",
        "all": f"?status=inStock&location={catalog.location}&item={catalog.items['monitor']}"
        "&identifier=stock",
    }[filters]
    with count_queries() as few:
        assert fulfillment.get(f"/stock/devices/{query}").status_code == 200
    receive_stock(app, {i: 30 for i in (catalog.items["glucometer"], catalog.items["monitor"])})
    for _ in range(3):
        order_id = place(app, catalog, kits={"diabetes": 1})
        move(app, order_id, "processing")
    with count_queries() as many:
        assert fulfillment.get(f"/stock/devices/{query}").status_code == 200
    assert many.count == few.count


def test_the_shelf_lists_every_item_however_many_devices_another_has(fulfillment, catalog, app):
    """The shelf used to show the 50 newest devices: 60 glucometers received last hid every
    monitor and gateway."""
    receive_stock(app, {catalog.items["glucometer"]: 60})
    page = fulfillment.get("/stock/").text
    for name in ("monitor", "gateway"):
        item_id = catalog.items[name]
        kind = {"monitor": "serial", "gateway": "iccid"}[name]
        for n in range(STOCK_PER_DEVICE_ITEM):
            assert stock_identifier(kind, item_id * 1000 + n) in page
    glucometers = catalog.items["glucometer"]
    assert f"Glucometer (GLU): {STOCK_PER_DEVICE_ITEM + 60} in stock" in page
    rest = (
        f'href="/stock/devices/?item={glucometers}&amp;location={catalog.location}'
        f'&amp;status=inStock">All {STOCK_PER_DEVICE_ITEM + 60} Glucometer devices'
    )
    assert rest in page


def test_the_packing_station_offers_the_devices_on_the_shelf_for_lines_still_waiting(
    fulfillment, catalog, app, count_queries
):
    order_id = place(app, catalog, items={"monitor": 1}, kits={"diabetes": 1})
    move(app, order_id, "processing")
    monitor = catalog.items["monitor"]
    page = fulfillment.get(f"/orders/{order_id}").text
    shelf = page.split('id="on-shelf-heading"', 1)[1].split("</section>", 1)[0]
    assert ">On the shelf at Main warehouse<" in page
    newest = [stock_identifier("serial", monitor * 1000 + n) for n in (11, 10, 9, 8, 7)]
    monitors = shelf.split("BP monitor", 1)[1].split("</ul>", 1)[0]
    assert re.findall(r"<code>([^<]*)</code>", monitors) == newest
    assert stock_identifier("serial", monitor * 1000 + 6) not in shelf
    assert stock_identifier("imei", catalog.items["glucometer"] * 1000 + 11) in shelf
    assert "Test strips" not in shelf  # counted, not a device
    assert (
        f'href="/stock/devices/?item={monitor}&amp;location={catalog.location}&amp;status=inStock"'
        in shelf
    )
    # A device scanned onto the order leaves the list; a line done is no longer offered.
    with app.app_context():
        packing.record_device(order_id, newest[0], actor("fulfillment"))
        db.session.remove()
    page = fulfillment.get(f"/orders/{order_id}").text
    shelf = page.split('id="on-shelf-heading"', 1)[1].split("</section>", 1)[0]
    assert "BP monitor" not in shelf and "Glucometer" in shelf
    # More lines waiting cost no more statements.
    small = place(app, catalog, items={"monitor": 1}, kits={"diabetes": 1})
    bigger = place(app, catalog, items={"monitor": 3, "gateway": 2}, kits={"diabetes": 2})
    move(app, small, "processing")
    move(app, bigger, "processing")
    counts = []
    for shown in (small, bigger):
        with count_queries() as counter:
            assert fulfillment.get(f"/orders/{shown}").status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1]


def test_the_api_finds_a_device_by_its_identifier_typed_with_spaces(api, catalog, app):
    receive(app, catalog.items["monitor"], "serial", SERIALS)
    found = api.get("/api/v3/device", query_string={"identifier": "bp7450 01317086"}).get_json()
    values = [i["value"] for d in found["content"] for i in d["deviceIdentifiers"]]
    assert values == ["BP7450-01317086"]


def test_search_keys_are_stored_with_every_identifier_and_indexed_for_parts(app, catalog):
    receive(app, catalog.items["monitor"], "serial", SERIALS)
    with app_context(app) as session:
        rows = session.execute(select(DeviceIdentifier.value, DeviceIdentifier.search_key)).all()
        assert rows and all(key == search_key(value) for value, key in rows)
        if db.engine.dialect.name == "postgresql":
            definition = session.scalar(
                db.text(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE indexname = 'ix_device_identifier_search_key'"
                )
            )
            assert "gin" in definition and "gin_trgm_ops" in definition


def test_the_migration_fills_the_search_keys_of_identifiers_stored_before_it(app, catalog):
    from flask_migrate import downgrade, upgrade

    receive(app, catalog.items["monitor"], "serial", SERIALS)
    with app.app_context():
        db.session.remove()
        downgrade(revision="3e1f7c2a9b60")
        upgrade()
    with app_context(app) as session:
        rows = session.execute(select(DeviceIdentifier.value, DeviceIdentifier.search_key)).all()
    assert len(rows) == 3 * STOCK_PER_DEVICE_ITEM + 3
    assert ("BP7450-01317086", "BP745001317086") in rows
    assert all(key == search_key(value) for value, key in rows)


def test_search_key_keeps_letters_and_digits_in_capitals():
    assert search_key("bp7450 01317086") == "BP745001317086"
    assert search_key("00:1c:05:4a:2b:3c") == search_key("001C.054A.2B3C") == "001C054A2B3C"
    assert search_key(" 35-6938 0356 43809\t") == "356938035643809"
    assert search_key("--") == "" and search_key(None) == ""
    assert imei(1)  # the helpers' identifiers are what the finder is tested with
