"""The coordinator's fast path in a real Chromium: item and kit pickers as comboboxes,
few keys (Enter in a count, Ctrl+Enter), and the same without JavaScript.

CSRF is on; every test fails on a console error (see ``watch_console``).
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from app.auth.models import User
from app.db.transactions import write_transaction
from app.orders.models import Order
from app.people.models import Address, Patient
from tests.conftest import app_context
from tests.helpers.browser import serious_violations, sign_in_through_form, watch_console
from tests.helpers.orders import delivered_order, place
from tests.helpers.pages import choose, find_recipient, orders_in_db, placed_order

pytestmark = pytest.mark.browser

# The budget for a typical order (a patient, two items, a kit, placed), counting
# every deliberate key press but the words typed.
KEY_BUDGET = 12


def options_of(page: Page, label: str):
    return page.get_by_role("listbox", name=f"Matches for {label.lower()}")


def test_combobox_by_keyboard(app, coordinator: Page, catalog):
    page = coordinator
    find_recipient(page, "Ada")
    choose(page, "Ada Lovelace")
    box = page.get_by_role("combobox", name="Item 1", exact=True)
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-expanded", "false")

    page.keyboard.type("strips")  # a word inside the name, not its start
    listbox = options_of(page, "Item 1")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#items-0-status")).to_have_text("1 match: ↓ to choose.")

    page.keyboard.type(" x")  # nothing matches any more: the list closes
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#items-0-status")).to_have_text("Nothing matches.")
    box.fill("")
    page.keyboard.type("omron")  # the maker's name
    expect(listbox.get_by_role("option")).to_have_count(2)
    page.keyboard.press("ArrowDown")
    first, second = listbox.get_by_role("option").all()
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
    page.keyboard.press("ArrowDown")
    expect(second).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowUp")
    expect(first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_be_focused()
    assert serious_violations(page) == []

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(box).to_have_attribute("aria-expanded", "true")
    assert serious_violations(page) == [], "list open"
    page.keyboard.press("Enter")
    expect(box).to_have_value("BP monitor (BPM)")
    expect(page.get_by_label("Count of item 1")).to_be_focused()
    expect(page.get_by_text("BP monitor · BPM")).to_be_visible()
    assert orders_in_db(app) == []  # Enter picked; it placed nothing


def test_combobox_by_mouse(app, coordinator: Page, catalog):
    page = coordinator
    page.get_by_role("button", name="Add kit").click()
    kit = page.get_by_role("combobox", name="Kit 1", exact=True)
    kit.fill("glu")  # what the kit holds: a glucometer, SKU GLU
    option = options_of(page, "Kit 1").get_by_role("option", name=re.compile("^Diabetes kit"))
    option.click()
    expect(kit).to_have_value("Diabetes kit")
    expect(page.get_by_label("Count of kit 1")).to_be_focused()
    expect(page.get_by_text("Contains 1 × Glucometer, 2 × Test strips")).to_be_visible()
    expect(page.locator("#order-summary")).to_have_text("1 line · 3 units in all")


def test_combobox_without_javascript(app, coordinator_without_javascript: Page, catalog):
    page = coordinator_without_javascript
    search = page.get_by_label("Find a patient")
    search.fill("Lovelace")
    search.press("Enter")
    expect(page.get_by_text("1 patient found")).to_be_visible()
    expect(search).to_be_focused()  # the reload keeps the place
    choose(page, "Ada Lovelace")
    box = page.get_by_label("Item 1", exact=True)
    expect(box).to_be_focused()

    box.fill("omron")
    box.press("Enter")
    expect(page.get_by_text("2 matches for “omron”")).to_be_visible()
    expect(page.get_by_label("Item 1", exact=True)).to_be_focused()
    page.get_by_role("button", name=re.compile(r"^BP cuff, large")).click()
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("BP cuff, large (CUF-L)")
    expect(page.get_by_label("Count of item 1")).to_be_focused()

    page.get_by_role("button", name="Add kit").click()
    page.get_by_label("Kit 1", exact=True).fill("hyper")
    page.get_by_role("button", name="Find kit 1").click()
    page.get_by_role("button", name=re.compile(r"^Hypertension kit")).click()
    page.get_by_role("button", name="Place order").click()
    placed_order(page)
    [order] = orders_in_db(app)
    assert (order["items"], order["kits"]) == ([("BP cuff, large", 1)], [("Hypertension kit", 1)])


def test_a_typical_order_within_the_key_budget(app, coordinator: Page, catalog):
    """Find the patient, add test strips and a blood-pressure monitor, add the hypertension
    kit, place it: by keyboard alone, counting the keys."""
    page = coordinator
    pressed: list[str] = []

    def press(key: str) -> None:
        pressed.append(key)
        page.keyboard.press(key)

    def pick(word: str, label: str) -> None:
        page.keyboard.type(word)
        expect(options_of(page, label).get_by_role("option").first).to_be_attached()
        press("ArrowDown")
        press("Enter")

    expect(page.get_by_label("Find a patient")).to_be_focused()
    page.keyboard.type("Lovelace")
    expect(page.get_by_text("1 patient found")).to_be_visible()
    press("ArrowDown")
    press("Enter")
    expect(page.get_by_label("Item 1", exact=True)).to_be_focused()
    pick("strips", "Item 1")
    expect(page.get_by_label("Count of item 1")).to_be_focused()
    page.keyboard.type("2")
    press("Enter")  # the next row
    expect(page.get_by_label("Item 2", exact=True)).to_be_focused()
    pick("monitor", "Item 2")
    press("Alt+K")  # "Add kit", as its button says
    expect(page.get_by_label("Kit 1", exact=True)).to_be_focused()
    pick("hypertension", "Kit 1")
    expect(page.locator("#order-summary")).to_have_text("3 lines · 6 units in all")
    press("Control+Enter")

    order_id = placed_order(page)
    assert len(pressed) <= KEY_BUDGET, pressed
    [order] = orders_in_db(app)
    assert order["id"] == order_id and order["patient"] == catalog.patient
    assert order["items"] == [("BP monitor", 1), ("Test strips", 2)]
    assert order["kits"] == [("Hypertension kit", 1)]


def test_ctrl_enter_places_from_any_field_and_enter_never_does(app, coordinator: Page, catalog):
    page = coordinator
    find_recipient(page, "Ada")
    choose(page, "Ada Lovelace")
    page.get_by_label("Item 1", exact=True).fill("Test strips (STR)")
    external = page.get_by_label("External order ids")
    external.fill("EHR-5")
    external.press("Enter")  # a single-line field: updates, never places
    page.get_by_label("Note for the packer").fill("Fragile")
    page.wait_for_timeout(300)
    assert orders_in_db(app) == []
    page.get_by_label("Note for the packer").press("Control+Enter")
    placed_order(page)
    [order] = orders_in_db(app)
    assert order["external_ids"] == ["EHR-5"] and order["notes"] == ["Fragile"]


def test_a_two_way_order_placed_from_the_form(app, coordinator: Page, catalog):
    delivered = delivered_order(app, catalog, items={"monitor": 1}, kits={"diabetes": 1})
    page = coordinator
    find_recipient(page, "Ada")
    choose(page, "Ada Lovelace")
    expect(page.get_by_label("Item 1", exact=True)).to_be_focused()
    page.keyboard.type("test strips")
    expect(options_of(page, "Item 1").get_by_role("option")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")

    page.get_by_text("What comes back").click()  # closed until used
    devices = page.get_by_role("group", name="Devices to return")
    expect(devices.get_by_role("checkbox")).to_have_count(2)  # the monitor, the glucometer
    devices.get_by_role("checkbox", name=re.compile("^BP monitor")).check()
    page.get_by_role("group", name="Packed kits to return").get_by_role(
        "checkbox", name=re.compile("^Diabetes kit")
    ).check()
    page.get_by_role("button", name="Add return item").click()
    returned = page.get_by_role("combobox", name="Return item 1", exact=True)
    expect(returned).to_be_focused()
    returned.fill("cuff")
    options_of(page, "Return item 1").get_by_role("option").first.click()
    expect(returned).to_have_value("BP cuff, large (CUF-L)")
    expect(page.locator("#order-summary")).to_have_text("1 line · 1 unit in all · 3 return lines")
    page.get_by_label("Email the return label to the recipient").check()
    assert serious_violations(page) == []
    page.keyboard.press("Control+Enter")

    order_id = placed_order(page)
    lines = page.get_by_role("main")
    for text in ("Test strips", "BP cuff, large", "BP monitor", "Diabetes kit"):
        expect(lines).to_contain_text(text)
    with app_context(app) as session:
        order = session.get(Order, order_id)
        assert [(r.item.name, r.count) for r in order.return_items] == [("BP cuff, large", 1)]
        assert [r.device.item.name for r in order.return_devices] == ["BP monitor"]
        assert [r.packed_kit.order_id for r in order.return_packed_kits] == [delivered]
        assert order.email_label is True and order.shipping_option == "standard"

    # What is coming back is no longer offered for the next order: the monitor, and the
    # glucometer inside the Diabetes kit asked back (a device is on one return at a time).
    page.goto(page.url.rsplit("/orders", 1)[0] + f"/orders/new?patient={catalog.patient}")
    page.get_by_text("What comes back").click()
    expect(page.get_by_role("checkbox", name=re.compile("^BP monitor"))).to_have_count(0)
    expect(page.get_by_role("checkbox", name=re.compile("^Glucometer"))).to_have_count(0)
    expect(page.get_by_role("checkbox", name=re.compile("^Diabetes kit"))).to_have_count(0)


def test_order_again(app, coordinator: Page, catalog):
    first = place(
        app,
        catalog,
        items={"strips": 3},
        kits={"hypertension": 1},
        external_order_ids=["EHR-17"],
        shipping_option="overnight",
    )
    page = coordinator
    page.goto(page.url.replace("/orders/new", f"/orders/{first}"))
    page.get_by_role("link", name="Order again").click()
    expect(page).to_have_url(re.compile(rf"/orders/new\?again={first}$"))
    expect(page.locator("#ship-to")).to_contain_text("Ada Lovelace")
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("Test strips (STR)")
    expect(page.get_by_label("Count of item 1")).to_have_value("3")
    expect(page.get_by_label("Kit 1", exact=True)).to_have_value("Hypertension kit")
    expect(page.get_by_label("Overnight")).to_be_checked()
    expect(page.get_by_label("External order ids")).to_have_value("EHR-")
    expect(page.get_by_role("button", name="Place order")).to_be_focused()
    assert serious_violations(page) == []
    assert len(orders_in_db(app)) == 1  # nothing placed yet

    page.get_by_label("External order ids").fill("EHR-18")
    page.keyboard.press("Control+Enter")
    second = placed_order(page)
    orders = orders_in_db(app)
    assert [o["id"] for o in orders] == [first, second]
    assert orders[1]["items"] == orders[0]["items"] and orders[1]["kits"] == orders[0]["kits"]
    assert orders[1]["shipping"] == "overnight" and orders[1]["external_ids"] == ["EHR-18"]


def test_the_patients_page_lists_their_orders_and_the_devices_they_have(
    app, coordinator: Page, catalog
):
    delivered = delivered_order(app, catalog, items={"monitor": 1})
    newer = place(app, catalog, items={"strips": 2}, kits={"diabetes": 1})
    page = coordinator
    page.goto(page.url.replace("/orders/new", f"/patients/{catalog.patient}"))
    orders = page.get_by_role("table", name=re.compile("orders, newest first"))
    rows = orders.get_by_role("row")
    expect(rows).to_have_count(3)  # the header and two orders
    expect(rows.nth(1)).to_contain_text(f"Order {newer}")
    expect(rows.nth(1)).to_contain_text("Created")
    expect(rows.nth(1)).to_contain_text("2 × Test strips, 1 × Diabetes kit")
    expect(rows.nth(2)).to_contain_text(f"Order {delivered}")
    expect(rows.nth(2)).to_contain_text("Delivered")
    devices = page.get_by_role("region", name="Devices they have now")
    expect(devices.get_by_role("listitem")).to_have_count(1)
    expect(devices).to_contain_text("BP monitor · Serial number")
    expect(devices.get_by_role("link", name=f"order {delivered}")).to_be_visible()
    assert serious_violations(page) == []


def test_send_to_many(app, coordinator: Page, catalog):
    with app.app_context(), write_transaction() as session:
        hopper = Patient(
            external_identifier="MRN-3",
            first_name="Grace",
            last_name="Hopper",
            address=Address(line_one="5 Navy Rd", city="Dayton", state="OH", zip_code="45402"),
        )
        session.add(hopper)
        session.flush()
        hopper_id = hopper.id
    page = coordinator
    page.get_by_role("link", name="Send to many").click()
    expect(page.get_by_role("heading", name="Send to many", exact=True)).to_be_visible()
    search = page.get_by_label("Find patients")
    expect(search).to_be_focused()
    search.fill("Hopper")
    search.press("Enter")
    page.get_by_role("checkbox", name=re.compile("^Grace Hopper")).check()
    page.get_by_label("Or paste their identifiers").fill("MRN-1\nMRN-2")  # MRN-2 is archived
    kit = page.get_by_role("combobox", name="Item 1", exact=True)
    kit.fill("strips")
    options_of(page, "Item 1").get_by_role("option").first.click()
    page.get_by_role("button", name="Add kit").click()
    expect(page.get_by_label("Kit 1", exact=True)).to_be_focused()
    page.keyboard.type("hypertension")
    expect(options_of(page, "Kit 1").get_by_role("option")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Enter")  # the preview

    preview = page.get_by_role("region", name=re.compile("^Preview"))
    expect(preview.get_by_role("heading")).to_have_text("Preview: 2 orders to place, 1 refused")
    rows = preview.get_by_role("row")
    expect(rows.filter(has_text="Old Patient")).to_contain_text("Refused")
    expect(rows.filter(has_text="Old Patient")).to_contain_text("Archived: cannot receive orders.")
    expect(rows.filter(has_text="Grace Hopper")).to_contain_text("Ready")
    expect(rows.filter(has_text="Ada Lovelace")).to_contain_text("Ready")
    assert serious_violations(page) == []
    assert orders_in_db(app) == []

    place_button = page.get_by_role("button", name="Place 2 orders")
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    place_button.click()
    expect(page.get_by_role("heading", name="Orders placed")).to_be_visible()
    result_url = page.url
    # The very same submission again (a retry on a slow network, a resubmitted page): the
    # batch token makes it place nothing more, and it answers the same result.
    [placing] = posts
    again = page.request.fetch(placing, max_redirects=0)
    assert again.status == 303 and result_url.endswith(again.headers["location"])
    orders = orders_in_db(app)
    assert sorted(o["patient"] for o in orders) == sorted([catalog.patient, hopper_id])
    assert all(o["items"] == [("Test strips", 1)] for o in orders)
    assert all(o["kits"] == [("Hypertension kit", 1)] for o in orders)
    table = page.get_by_role("table", name="The orders of this batch")
    for order in orders:
        expect(table.get_by_role("link", name=f"Order {order['id']}")).to_be_visible()
    assert serious_violations(page) == []

    page.get_by_role("link", name="Print the packing summaries").click()
    for order in orders:
        expect(page.get_by_text(f"Order {order['id']}").first).to_be_visible()


def test_the_packing_summary_passes_axe(app, coordinator: Page, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    page = coordinator
    page.goto(page.url.replace("/orders/new", f"/orders/{order_id}/packing-summary"))
    expect(page.get_by_role("banner").get_by_role("link", name="← Back")).to_be_visible()
    assert serious_violations(page) == []
    results = Axe().run(page).response["violations"]
    assert [v["id"] for v in results if v["id"] == "region"] == []


def test_the_browsers_time_zone_becomes_the_users(app, new_context, base_url, catalog):
    page = new_context(timezone_id="America/Chicago").new_page()
    problems = watch_console(page)
    with page.expect_response(lambda r: r.url.endswith("/account/time-zone")) as told:
        sign_in_through_form(page, base_url, "coordinator")
    assert told.value.status == 204
    page.reload()  # the zone is stored, and shown from now on
    link = page.get_by_role("link", name="America/Chicago")
    expect(link).to_be_visible()
    link.click()
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Dates are shown in America/New York time.")).to_be_visible()
    assert serious_violations(page) == []
    with app_context(app) as session:
        assert session.get(User, catalog.users["coordinator"]).time_zone == "America/New_York"
    assert problems == []
