"""A smoother day at the bench, through HTTP: the order opened by its number and a status
move give the keyboard to the next step; the carrier is told from the tracking number;
the item picker offers what is ordered most first and says when nothing matches; Receive
keeps the location and item between receipts and says what came in; Adjust shows what is
there before the change. (The focus itself, in Chromium: tests/browser/test_bench_browser.py.)"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.formats import plural_name
from app.inventory.models import StockMovement
from tests.conftest import STOCK_PER_COUNTED_ITEM, app_context
from tests.helpers.orders import imei, move, pack_everything, place, receive_stock
from tests.helpers.pages import UPS_NUMBER, stored
from tests.helpers.stock import figures, second_location
from tests.helpers.web import Browserless, new_form


def signed_in(client, role: str) -> Browserless:
    someone = Browserless(client)
    assert someone.sign_in(role).status_code == 303
    return someone


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def packer(client, catalog) -> Browserless:
    return signed_in(client, "fulfillment")


def packed_order(app, catalog) -> int:
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    return order_id


# --- The next step has the keyboard -------------------------------------------------------


def test_go_to_order_opens_the_order_at_its_next_step(app, packer, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    opened = packer.get(f"/orders/go?number={order_id}")
    assert opened.headers["Location"] == f"/orders/{order_id}?focus=next-step"
    html = packer.get(opened.headers["Location"]).text
    assert re.search(r'<button type="submit" class="primary"\s+autofocus>Start processing', html)
    # Opened from the list or a link, the page moves no focus.
    assert "autofocus" not in packer.get(f"/orders/{order_id}").text


def test_after_mark_packed_the_tracking_number_has_the_keyboard(app, packer, catalog):
    for start, htmx in ((1, True), (50, False)):
        order_id = place(app, catalog, items={"monitor": 1})
        move(app, order_id, "processing")
        pack_everything(app, order_id, start=start)
        answer = packer.post(
            f"/orders/{order_id}/status",
            {"to_status": "packed", "from_status": "processing"},
            htmx=htmx,
        )
        html = answer.text if htmx else packer.get(answer.headers["Location"]).text
        tracking = re.search(r'<input type="text" id="ship-tracking"[^>]*>', html).group(0)
        assert "autofocus" in tracking, "htmx" if htmx else "without JavaScript"
        assert html.count("autofocus") == 1


def test_after_shipping_no_button_takes_the_keyboard(app, packer, catalog):
    """Mark delivered is not focused: a second Enter must not deliver the order."""
    order_id = packed_order(app, catalog)
    html = packer.post(
        f"/orders/{order_id}/status",
        {"to_status": "shipped", "from_status": "packed", "tracking_number": UPS_NUMBER},
        htmx=True,
    ).text
    assert "Mark delivered" in html and "autofocus" not in html


# --- The carrier, told from the tracking number ----------------------------------------------


def test_a_tracking_number_left_without_a_carrier_gets_the_one_its_format_names(
    app, packer, catalog
):
    order_id = packed_order(app, catalog)
    answer = packer.post(
        f"/orders/{order_id}/status",
        {
            "to_status": "shipped",
            "from_status": "packed",
            "carrier": "",
            "tracking_number": UPS_NUMBER,
        },
    )
    assert answer.status_code == 303
    assert stored(app, order_id)["tracking"] == [("UPS", UPS_NUMBER)]
    assert stored(app, order_id)["status"] == "shipped"


def test_a_number_no_carrier_uses_is_refused_at_the_carrier(app, packer, catalog):
    order_id = packed_order(app, catalog)
    answer = packer.post(
        f"/orders/{order_id}/status",
        {"to_status": "shipped", "from_status": "packed", "tracking_number": "12345"},
        htmx=True,
    )
    assert answer.status_code == 422
    assert "The carrier cannot be told from this number: choose it." in answer.text
    assert re.search(
        r'<select[^>]*aria-invalid="true"[^>]*id="ship-carrier"|<select[^>]*id="ship-carrier"[^>]*aria-invalid="true"',
        answer.text,
    )
    assert 'value="12345"' in answer.text  # what was typed stays
    assert stored(app, order_id)["status"] == "packed" and stored(app, order_id)["tracking"] == []


def carrier_choice(packer, order_id: int, **args) -> str:
    answer = packer.get(
        f"/orders/{order_id}/carrier", query_string={"select": "ship-carrier", **args}
    )
    assert answer.status_code == 200
    return answer.text


def selected(html: str) -> str | None:
    match = re.search(r'<option selected value="([^"]*)"', html) or re.search(
        r'<option value="([^"]*)" selected', html
    )
    return match.group(1) if match else None


def test_typing_a_number_fills_in_its_carrier_which_stays_changeable(app, packer, catalog):
    order_id = packed_order(app, catalog)
    html = carrier_choice(packer, order_id, tracking_number=UPS_NUMBER, carrier="")
    assert selected(html) == "UPS" and "told from the number" in html
    assert 'name="carrier_recognised" value="1"' in html
    # Filled from a number earlier: follows the number as it changes.
    html = carrier_choice(
        packer, order_id, tracking_number="123456789012", carrier="UPS", carrier_recognised="1"
    )
    assert selected(html) == "FedEx"
    # Chosen by hand: never replaced.
    html = carrier_choice(packer, order_id, tracking_number=UPS_NUMBER, carrier="DHL")
    assert selected(html) == "DHL" and "told from the number" not in html
    # Nothing recognisable: nothing chosen.
    assert selected(carrier_choice(packer, order_id, tracking_number="12", carrier="")) == ""
    assert packer.get(f"/orders/{order_id}/carrier?select=other").status_code == 404


# --- The item picker ------------------------------------------------------------------------


@pytest.fixture
def cuffs(app, catalog) -> dict[str, int]:
    """Two more cuffs beside the catalog's large one, in stock."""
    with app.app_context(), write_transaction() as session:
        made = {
            "standard": Item(name="BP cuff, standard", sku="CUF-M"),
            "extra large": Item(name="BP cuff, extra large", sku="CUF-XL"),
        }
        session.add_all(made.values())
        session.flush()
        ids = {size: item.id for size, item in made.items()}
    receive_stock(app, {item_id: 50 for item_id in ids.values()})
    catalog.items.update({f"cuff {size}": item_id for size, item_id in ids.items()})
    return ids


def option_names(html: str) -> list[str]:
    return re.findall(r'<span class="option-name">([^<]+)</span>', html)


def test_the_item_picker_offers_what_is_ordered_most_first(app, client, catalog, cuffs):
    for _ in range(3):
        place(app, catalog, items={"cuff standard": 1})
    place(app, catalog, items={"cuff extra large": 2})
    coordinator = signed_in(client, "coordinator")
    args = {"kind": "item", "row": "items-0", "items-0-ref": "cuff"}
    html = coordinator.get("/orders/new/options", query_string=args).text
    # Standard on three order lines, extra large on one, large on none (only in kits).
    assert option_names(html) == ["BP cuff, standard", "BP cuff, extra large", "BP cuff, large"]


def test_the_item_picker_has_a_visible_place_to_say_nothing_matches(client, catalog):
    """Typing, the script fills it when the options' answer is empty (the browser test);
    without JavaScript, Find says it in the row."""
    coordinator = signed_in(client, "coordinator")
    args = {"kind": "item", "row": "items-0", "items-0-ref": "zzz"}
    assert option_names(coordinator.get("/orders/new/options", query_string=args).text) == []
    assert '<p class="no-match" id="items-0-none"></p>' in coordinator.get("/orders/new").text
    form = {**new_form(coordinator), "items-0-ref": "zzz", "action": "find-item:0"}
    html = coordinator.post("/orders/new", form).text
    assert "Nothing on offer matches “zzz”." in text_of(html)


# --- Receive --------------------------------------------------------------------------------


def select_value(html: str, select_id: str) -> str | None:
    block = re.search(rf'<select[^>]*id="{select_id}".*?</select>', html, re.S).group(0)
    return selected(block)


def test_receiving_keeps_the_location_and_item_and_says_what_came_in(app, packer, catalog):
    east = second_location(app)
    page = packer.get("/stock/receive").text
    answer = packer.post(
        "/stock/receive",
        {
            "action": "counted",
            "counted-location_id": str(east),
            "counted-item_id": str(catalog.items["strips"]),
            "counted-count": "3",
            "counted-csrf_token": re.search(
                r'id="counted-csrf_token" name="counted-csrf_token" type="hidden" value="([^"]+)"',
                page,
            ).group(1),
        },
    )
    assert answer.status_code == 303
    again = packer.get(answer.headers["Location"]).text
    assert "Received 3 Test strips at East depot." in again
    assert select_value(again, "counted-location_id") == str(east)
    assert select_value(again, "counted-item_id") == str(catalog.items["strips"])
    assert select_value(again, "devices-location_id") == str(east)
    assert re.search(r'<input autofocus[^>]*id="counted-count"', again)
    assert figures(app, catalog.items["strips"], east) == (3, 0)


@pytest.mark.parametrize("count", [1, 3])
def test_received_devices_are_named_in_their_number(app, packer, catalog, count):
    page = packer.get("/stock/receive").text
    values = [imei(8800 + n) for n in range(count)]
    answer = packer.post(
        "/stock/receive",
        {
            "action": "devices",
            "devices-item_id": str(catalog.items["glucometer"]),
            "devices-location_id": str(catalog.location),
            "devices-manifest": "\n".join(values),
            "devices-csrf_token": re.search(
                r'id="devices-csrf_token" name="devices-csrf_token" type="hidden" value="([^"]+)"',
                page,
            ).group(1),
        },
    )
    assert answer.status_code == 303
    again = packer.get(answer.headers["Location"]).text
    noun = "Glucometer" if count == 1 else "Glucometers"
    assert f"Received {count} {noun} at Main warehouse: {', '.join(values)}." in again
    assert select_value(again, "devices-item_id") == str(catalog.items["glucometer"])
    assert re.search(r'<textarea[^>]*autofocus[^>]*id="devices-manifest"', again)


@pytest.mark.parametrize(
    "count, name, said",
    [
        (1, "Blood pressure monitor", "1 Blood pressure monitor"),
        (3, "Blood pressure monitor", "3 Blood pressure monitors"),
        (2, "Blood pressure cuff, large (32-42 cm)", "2 Blood pressure cuffs, large (32-42 cm)"),
        (40, "Test strips (box of 50)", "40 Test strips (box of 50)"),
        (2, "Glucometer battery", "2 Glucometer batteries"),
        (2, "Lancet box", "2 Lancet boxes"),
        (3, "Omron 7156T", "3 × Omron 7156T"),
    ],
)
def test_a_catalog_name_is_counted_in_its_number(count, name, said):
    assert plural_name(count, name) == said


def test_receive_offers_orderable_items_first(packer, catalog):
    html = packer.get("/stock/receive").text
    counted = re.search(r'<select[^>]*id="counted-item_id".*?</select>', html, re.S).group(0)
    labels = re.findall(r">([^<]+)</option>", counted)
    assert labels[-1] == "Old monitor (OLD), not orderable"
    assert labels[:-1] == sorted(labels[:-1]) and "not orderable" not in " ".join(labels[:-1])


# --- Adjust ---------------------------------------------------------------------------------


def test_adjust_shows_on_hand_reserved_and_available_before_the_change(app, packer, catalog):
    place(app, catalog, items={"strips": 4})
    strips = catalog.items["strips"]
    on_hand = STOCK_PER_COUNTED_ITEM
    expected = f"Now at Main warehouse: {on_hand} on hand · 4 reserved · {on_hand - 4} available"
    html = packer.get(f"/stock/adjust?location={catalog.location}&item={strips}").text
    assert expected in text_of(html)
    assert select_value(html, "item_id") == str(strips)
    # As the choices change (htmx): the figures of the new choice, alone.
    part = packer.get(
        "/stock/adjust/current", query_string={"location_id": catalog.location, "item_id": strips}
    ).text
    assert text_of(part) == expected
    east = second_location(app)
    part = packer.get(
        "/stock/adjust/current", query_string={"location_id": east, "item_id": strips}
    ).text
    assert text_of(part) == "Now at East depot: 0 on hand · 0 reserved · 0 available"


def test_without_javascript_show_changes_nothing_and_shows_the_figures(app, packer, catalog):
    with app_context(app) as session:
        movements = session.scalar(select(func.count(StockMovement.id)))
    page = packer.get("/stock/adjust").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = packer.post(
        "/stock/adjust",
        {
            "csrf_token": token,
            "action": "show",
            "location_id": str(catalog.location),
            "item_id": str(catalog.items["strips"]),
            "kind": "adjustment",
            "quantity": "5",
            "reason": "found",
        },
    )
    assert answer.status_code == 200
    assert f"{STOCK_PER_COUNTED_ITEM} on hand" in text_of(answer.text)
    assert 'value="found"' in answer.text  # what was typed stays, unsaved
    with app_context(app) as session:
        assert session.scalar(select(func.count(StockMovement.id))) == movements
