"""The coordinator's new-order page in a real Chromium, against the app on a real port.

CSRF is on, as in production. The app sends a strict Content-Security-Policy, and every
test fails on a console error: a CSP violation, a script error or a refused request.
Elements are found by role and label, the way a person finds them.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.db.transactions import write_transaction
from app.orders.models import Order
from app.people.models import Patient
from tests.conftest import app_context
from tests.helpers.browser import serious_violations, watch_console
from tests.helpers.pages import choose, find_recipient, orders_in_db, placed_order

pytestmark = pytest.mark.browser


# --- What a person does, in words -------------------------------------------------------


def set_line(page: Page, label: str, text: str, count: int | None = None) -> None:
    """Fills row ``label`` ("Item 2", "Kit 1"), and its count when given."""
    page.get_by_label(label, exact=True).fill(text)
    if count is not None:
        page.get_by_label(f"Count of {label.lower()}", exact=True).fill(str(count))


def place(page: Page) -> None:
    page.get_by_role("button", name="Place order").click()


def fill_a_small_order(page: Page, javascript: bool = True) -> None:
    find_recipient(page, "Ada")
    if not javascript:
        page.get_by_role("button", name="Search", exact=True).click()
    choose(page, "Ada Lovelace")
    set_line(page, "Item 1", "Test strips", 2)


# --- With the mouse ---------------------------------------------------------------------


def test_patient_order_with_two_items_and_a_kit(app, coordinator: Page, catalog):
    page = coordinator
    find_recipient(page, "Lovelace")
    expect(page.get_by_text("1 patient found")).to_be_visible()
    choose(page, "Ada Lovelace")
    ship_to = page.locator("#ship-to")
    expect(ship_to).to_contain_text("3 Main St")
    expect(ship_to).to_contain_text("Born 1950-12-10 · MRN-1")
    # Once the recipient is chosen, the coordinator goes on with the first item.
    expect(page.get_by_label("Item 1", exact=True)).to_be_focused()

    set_line(page, "Item 1", "Test strips (STR)", 3)
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_label("Item 2", exact=True)).to_be_focused()
    set_line(page, "Item 2", "BP cuff, large", 1)
    page.get_by_role("button", name="Add kit").click()
    set_line(page, "Kit 1", "Hypertension kit")
    summary = page.locator("#order-summary")
    live_region = summary.element_handle()
    page.get_by_label("Count of kit 1").click()  # leaving the kit field shows what it holds
    expect(
        page.get_by_text("Contains 1 × BP monitor, 1 × BP cuff, large, 1 × Gateway")
    ).to_be_visible()
    expect(summary).to_have_text("3 lines · 7 units in all")
    # The summary changed in place: a live region that is replaced is not read out.
    assert live_region.evaluate("element => element.isConnected")

    page.get_by_label("External order ids").fill("EHR-1, EHR-2")
    page.get_by_label("Overnight").check()
    page.get_by_label("Note for the packer").fill("Call before delivery")
    place(page)

    order_id = placed_order(page)
    expect(page.get_by_text(f"Order {order_id} placed.")).to_be_visible()
    expect(page.locator("#order-status")).to_have_text(re.compile(r"Created"))
    expect(page.get_by_role("region", name="Ship to")).to_contain_text("Ada Lovelace")
    lines = page.get_by_role("table", name=re.compile("Items and kits"))
    expect(lines.get_by_role("row")).to_have_count(4)  # the header and three lines
    for text in ("Test strips", "BP cuff, large", "Hypertension kit"):
        expect(lines).to_contain_text(text)
    first_event = page.get_by_role("region", name="Timeline").get_by_role("listitem").first
    expect(first_event).to_contain_text("Created")
    expect(first_event).to_contain_text("Coordinator Tester")

    assert orders_in_db(app) == [
        {
            "id": order_id,
            "patient": catalog.patient,
            "site": None,
            "items": [("BP cuff, large", 1), ("Test strips", 3)],
            "kits": [("Hypertension kit", 1)],
            "shipping": "overnight",
            "external_ids": ["EHR-1", "EHR-2"],
            "notes": ["Call before delivery"],
        }
    ]


def test_site_order(app, coordinator: Page, catalog):
    page = coordinator
    page.get_by_label("Site", exact=True).check()
    search = page.get_by_label("Find a site")
    expect(search).to_be_focused()
    search.fill("clinic")
    results = page.locator("#recipient-results")
    expect(results.get_by_text("2 sites found")).to_be_visible()
    # The inactive site is listed, but cannot be chosen.
    expect(results.get_by_text("Inactive: cannot receive orders")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Closed Clinic"))).to_have_count(0)
    choose(page, "Riverside Clinic")
    expect(page.locator("#ship-to")).to_contain_text("+16145550100")

    set_line(page, "Item 1", "GWY", 2)
    place(page)

    order_id = placed_order(page)
    expect(page.get_by_role("region", name="Ship to")).to_contain_text("Riverside Clinic")
    [order] = orders_in_db(app)
    assert (order["id"], order["site"], order["patient"]) == (order_id, catalog.site, None)
    assert (order["items"], order["kits"], order["shipping"]) == ([("Gateway", 2)], [], "standard")


def test_problems_are_shown_at_their_fields_then_fixed(app, coordinator: Page):
    page = coordinator
    set_line(page, "Item 1", "Test strips", 0)
    page.get_by_role("button", name="Add item").click()
    set_line(page, "Item 2", "Unicorn saddle", 2)
    page.get_by_label("Note for the packer").fill("Leave with the neighbour")
    place(page)

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The order was not placed: 3 problems to fix")
    expect(summary).to_be_focused()
    # Each problem in the summary says which field it is about, and links to it.
    expect(summary.get_by_role("link")).to_have_text(
        [
            "Choose a patient or a site to ship to.",
            "Item 1: Count must be a whole number from 1 to 999.",
            "Item 2: Nothing on offer matches “Unicorn saddle”: choose an item from the list.",
        ]
    )
    find = page.get_by_label("Find a patient")
    expect(find).to_have_accessible_description(re.compile("Choose a patient or a site"))
    count_1 = page.get_by_label("Count of item 1")
    expect(count_1).to_have_attribute("aria-invalid", "true")
    expect(count_1).to_have_accessible_description("Count must be a whole number from 1 to 999.")
    item_2 = page.get_by_label("Item 2", exact=True)
    expect(item_2).to_have_attribute("aria-invalid", "true")
    expect(item_2).to_have_accessible_description(re.compile("Nothing on offer matches “Unicorn"))
    # The messages wrap under their fields; the row's inputs stay side by side.
    item_1 = page.get_by_label("Item 1", exact=True)
    assert count_1.bounding_box()["y"] == item_1.bounding_box()["y"]
    # What was typed is all still there.
    expect(item_1).to_have_value("Test strips")
    expect(count_1).to_have_value("0")
    expect(item_2).to_have_value("Unicorn saddle")
    expect(page.get_by_label("Count of item 2")).to_have_value("2")
    expect(page.get_by_label("Note for the packer")).to_have_value("Leave with the neighbour")
    assert orders_in_db(app) == []

    summary.get_by_role("link", name=re.compile("^Item 2:")).click()
    expect(item_2).to_be_focused()
    item_2.fill("Glucometer (GLU)")
    count_1.fill("5")
    find_recipient(page, "MRN-1")
    choose(page, "Ada Lovelace")
    place(page)

    placed_order(page)
    [order] = orders_in_db(app)
    assert order["items"] == [("Glucometer", 2), ("Test strips", 5)]
    assert order["notes"] == ["Leave with the neighbour"]


def test_recipient_archived_while_the_order_is_entered(app, coordinator: Page, catalog):
    page = coordinator
    fill_a_small_order(page)
    with app.app_context(), write_transaction() as session:
        session.get(Patient, catalog.patient).archived = True
    place(page)

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("1 problem to fix")
    # The search box is not on the page while a recipient is shown: the link goes to the
    # button that fixes the problem, which says what the problem is.
    summary.get_by_role("link", name="Ada Lovelace is archived and cannot receive orders.").click()
    change = page.get_by_role("button", name="Change recipient")
    expect(change).to_be_focused()
    expect(change).to_have_accessible_description(
        "Ada Lovelace is archived and cannot receive orders."
    )
    expect(page.get_by_text("cannot receive orders")).to_have_count(2)  # summary and field
    assert orders_in_db(app) == []


def test_removing_a_middle_row_renumbers_the_rest(app, coordinator: Page):
    page = coordinator
    find_recipient(page, "Ada")
    choose(page, "Ada Lovelace")
    set_line(page, "Item 1", "Test strips", 1)
    page.get_by_role("button", name="Add item").click()
    set_line(page, "Item 2", "Gateway", 2)
    page.get_by_role("button", name="Add item").click()
    set_line(page, "Item 3", "Glucometer", 3)

    page.get_by_role("button", name="Remove item 2").click()

    expect(page.get_by_label("Item 3", exact=True)).to_have_count(0)
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("Test strips")
    expect(page.get_by_label("Count of item 1")).to_have_value("1")
    expect(page.get_by_label("Item 2", exact=True)).to_have_value("Glucometer")
    expect(page.get_by_label("Count of item 2")).to_have_value("3")
    expect(page.get_by_role("button", name=re.compile(r"^Remove item"))).to_have_text(
        ["Remove item 1", "Remove item 2"]
    )
    expect(page.locator("#order-summary")).to_have_text("2 lines · 4 units in all")
    expect(page.get_by_role("button", name="Add item")).to_be_focused()

    place(page)
    placed_order(page)
    [order] = orders_in_db(app)
    assert order["items"] == [("Glucometer", 3), ("Test strips", 1)]


# --- Without JavaScript -----------------------------------------------------------------


def test_the_whole_order_without_javascript(app, coordinator_without_javascript: Page, catalog):
    page = coordinator_without_javascript
    search = page.get_by_label("Find a patient")
    search.fill("Lovelace")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("1 patient found")).to_be_visible()
    expect(search).to_be_focused()  # not back at the top of a reloaded page
    choose(page, "Ada Lovelace")
    expect(page.get_by_label("Item 1", exact=True)).to_be_focused()
    set_line(page, "Item 1", "Test strips", 2)
    page.get_by_role("button", name="Add kit").click()
    kit = page.get_by_label("Kit 1", exact=True)
    expect(kit).to_be_focused()
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("Test strips")
    expect(page.get_by_label("Count of item 1")).to_have_value("2")
    kit.fill("Diabetes kit")
    place(page)

    order_id = placed_order(page)
    expect(page.get_by_text(f"Order {order_id} placed.")).to_be_visible()
    expect(page.locator("#order-status")).to_have_text(re.compile(r"Created"))
    [order] = orders_in_db(app)
    assert order["patient"] == catalog.patient
    assert (order["items"], order["kits"]) == ([("Test strips", 2)], [("Diabetes kit", 1)])


def test_problems_are_shown_without_javascript(app, coordinator_without_javascript: Page):
    page = coordinator_without_javascript
    set_line(page, "Item 1", "Unicorn saddle", 0)
    place(page)
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The order was not placed: 3 problems to fix")
    expect(summary).to_be_focused()
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("Unicorn saddle")
    expect(page.get_by_label("Count of item 1")).to_have_accessible_description(
        "Count must be a whole number from 1 to 999."
    )
    assert orders_in_db(app) == []


# --- Placing twice ----------------------------------------------------------------------


def test_double_click_on_place_order_places_one_order(app, coordinator: Page):
    page = coordinator
    fill_a_small_order(page)
    placing = []
    page.on("request", lambda r: placing.append(r) if r.url.endswith("/orders/new") else None)
    page.get_by_role("button", name="Place order").dblclick()
    placed_order(page)
    assert len(placing) == 1  # the button is disabled while the order is on its way
    assert len(orders_in_db(app)) == 1


def test_pressing_place_order_again_while_it_is_on_its_way(
    app, coordinator_without_javascript: Page
):
    """Without JavaScript nothing stops a second press while the first is on its way: the
    browser sends the form again, and the server, not the page, must place one order."""
    page = coordinator_without_javascript
    fill_a_small_order(page, javascript=False)
    presses = []

    def on_place(route):
        presses.append(route)
        if len(presses) == 2:
            first, second = presses
            # The browser dropped the first press for the second; on a slow network the
            # server has it already: send it there, then the second, whose answer is shown.
            first.fetch(max_redirects=0)
            second.continue_()

    page.route("**/orders/new", on_place)
    button = page.get_by_role("button", name="Place order")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    for _ in range(2):  # the mouse, not .click(): that would wait for the first navigation
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/orders/new")):
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    order_id = placed_order(page)
    expect(page.get_by_text(f"Order {order_id} had already been placed")).to_be_visible()
    assert len(orders_in_db(app)) == 1
    page.unroute("**/orders/new", on_place)


def test_going_back_after_placing_does_not_place_again(app, coordinator: Page):
    page = coordinator
    fill_a_small_order(page)
    place(page)
    order_id = placed_order(page)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/orders/new$"))
    # A fresh, blank form: the browser's history kept nothing of the order placed.
    expect(page.get_by_label("Find a patient")).to_have_value("")
    expect(page.locator("#ship-to")).to_have_count(0)
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("")
    place(page)
    expect(page.get_by_role("alert")).to_contain_text("The order was not placed")
    assert [order["id"] for order in orders_in_db(app)] == [order_id]


# --- By keyboard alone ------------------------------------------------------------------


def test_the_whole_order_by_keyboard(app, coordinator: Page, catalog):
    page = coordinator
    keys = page.keyboard

    def focused(locator):
        expect(locator).to_be_focused()

    focused(page.get_by_label("Find a patient"))
    # Switch to sites and back with the arrow keys: the search box has the focus again.
    keys.press("Shift+Tab")
    focused(page.get_by_label("Patient", exact=True))
    keys.press("ArrowRight")
    focused(page.get_by_label("Find a site"))
    keys.press("Shift+Tab")
    focused(page.get_by_label("Site", exact=True))
    keys.press("ArrowLeft")
    focused(page.get_by_label("Find a patient"))

    keys.type("Lovelace")
    expect(page.get_by_text("1 patient found")).to_be_visible()
    keys.press("Tab")
    search_button = page.get_by_role("button", name="Search", exact=True)
    focused(search_button)
    keys.press("Enter")
    expect(page.get_by_text("1 patient found")).to_be_visible()
    focused(search_button)
    keys.press("Tab")
    focused(page.get_by_role("button", name=re.compile("^Ada Lovelace")))
    keys.press("Enter")
    expect(page.locator("#ship-to")).to_contain_text("Ada Lovelace")
    focused(page.get_by_label("Item 1", exact=True))
    keys.type("Test strips")
    keys.press("Tab")
    focused(page.get_by_label("Count of item 1"))
    keys.type("3")  # tabbing into a field selects what is in it
    keys.press("Tab")
    focused(page.get_by_role("button", name="Remove item 1"))
    keys.press("Tab")
    focused(page.get_by_role("button", name="Add item"))
    keys.press("Enter")
    focused(page.get_by_label("Item 2", exact=True))
    keys.type("BPM")
    # Enter in a field updates the rows, and never places the order.
    keys.press("Enter")
    expect(page.get_by_text("BP monitor · BPM")).to_be_visible()
    focused(page.get_by_label("Item 2", exact=True))
    keys.press("Tab")
    focused(page.get_by_label("Count of item 2"))
    keys.press("Tab")
    focused(page.get_by_role("button", name="Remove item 2"))
    keys.press("Tab")
    keys.press("Tab")
    focused(page.get_by_role("button", name="Add kit"))
    keys.press("Space")
    focused(page.get_by_label("Kit 1", exact=True))
    keys.type("Hypertension kit")
    keys.press("Tab")
    expect(page.get_by_text("Contains 1 × BP monitor")).to_be_visible()
    keys.type("2")
    keys.press("Tab")
    focused(page.get_by_role("button", name="Remove kit 1"))
    expect(page.locator("#order-summary")).to_have_text("3 lines · 10 units in all")

    keys.press("Tab")
    keys.press("Tab")  # "What comes back", closed: this order sends only
    keys.press("Tab")
    focused(page.get_by_label("External order ids"))
    keys.type("EHR-9")
    keys.press("Tab")
    focused(page.get_by_label("Standard"))
    keys.press("ArrowDown")
    expect(page.get_by_label("Overnight")).to_be_checked()
    keys.press("Tab")
    focused(page.get_by_label("Note for the packer"))
    keys.type("Ring twice")
    keys.press("Tab")
    focused(page.get_by_role("button", name="Place order"))
    assert orders_in_db(app) == []
    keys.press("Enter")

    order_id = placed_order(page)
    assert orders_in_db(app) == [
        {
            "id": order_id,
            "patient": catalog.patient,
            "site": None,
            "items": [("BP monitor", 1), ("Test strips", 3)],
            "kits": [("Hypertension kit", 2)],
            "shipping": "overnight",
            "external_ids": ["EHR-9"],
            "notes": ["Ring twice"],
        }
    ]


def test_a_button_used_the_moment_it_is_drawn_asks_htmx_not_the_whole_page(coordinator: Page):
    """A fast keyboard (or a test) can press a button in the very task after the swap that
    drew it. htmx used to wire new parts of the page only when the swap "settled", 20 ms
    later: such a press submitted the whole form natively and reloaded the page, and CI
    saw a row never appear. Here the press comes in the next task after each swap."""
    page = coordinator
    find_recipient(page, "Ada")
    choose(page, "Ada Lovelace")
    page.evaluate("window.samePage = true")
    page.evaluate(
        """() => {
            let presses = 0;
            document.addEventListener("htmx:afterSwap", (event) => {
                if (event.detail.target.id !== "order-lines" || presses >= 2) return;
                presses += 1;
                setTimeout(() => document.getElementById("add-item").click(), 0);
            });
        }"""
    )
    page.get_by_role("button", name="Add item").click()
    # The first click and the two presses in the next task: three rows added to Item 1.
    expect(page.get_by_label("Item 4", exact=True)).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Item \d$"))).to_have_count(4)
    assert page.evaluate("window.samePage") is True  # no reload: every press went through htmx


def held(page: Page, url: str):
    """Holds the next request to ``url``; answers a function that lets it go."""
    routes = []

    def hold(route):
        if routes:
            route.continue_()
        else:
            routes.append(route)

    page.route(f"**{url}", hold)

    def release():
        for _ in range(100):  # wait (up to 5 s on a busy machine) until it is held
            if routes:
                break
            page.wait_for_timeout(50)
        assert routes, "the request was not sent"
        routes[0].continue_()
        page.unroute(f"**{url}", hold)

    return release


def rows(page: Page) -> list[str]:
    return page.locator("#order-lines input[role=combobox]").evaluate_all(
        "boxes => boxes.map(box => box.labels[0].textContent.trim() + '=' + box.value)"
    )


def test_a_press_while_the_rows_are_redrawn_is_not_lost(coordinator: Page):
    """Enter in a field redraws the rows; "Add kit", pressed before that answer is back,
    waits its turn. The answer replaces the button that was pressed: the press still
    counts, on the button drawn in its place (CI once saw it dropped without a word)."""
    page = coordinator
    keys = page.keyboard
    find_recipient(page, "Ada")
    choose(page, "Ada Lovelace")
    set_line(page, "Item 1", "Test strips", 2)
    page.get_by_label("Item 1", exact=True).focus()
    release = held(page, "/orders/new/lines")
    keys.press("Enter")  # redraws the rows: held
    page.get_by_role("button", name="Add kit").focus()
    keys.press("Space")  # waits for the redraw
    release()
    expect(page.get_by_label("Kit 1", exact=True)).to_be_focused()
    assert rows(page) == ["Item 1=Test strips", "Kit 1="]

    # A press that names a row by its number is not replayed once the numbers changed:
    # "Remove item 2" pressed while "Remove item 1" is on its way would remove what was
    # item 3. It is said, and nothing else is removed.
    page.get_by_role("button", name="Add item").click()
    set_line(page, "Item 2", "Gateway", 1)
    page.get_by_role("button", name="Add item").click()
    set_line(page, "Item 3", "Glucometer", 1)
    expect(page.get_by_label("Count of item 3")).to_have_value("1")
    release = held(page, "/orders/new/lines")
    page.get_by_role("button", name="Remove item 1").focus()
    keys.press("Enter")  # held
    page.get_by_role("button", name="Remove item 2").focus()
    keys.press("Enter")  # waits, and the answer renumbers the rows
    release()
    expect(page.get_by_role("status").filter(has_text="Remove item 2")).to_contain_text(
        "press it again"
    )
    assert rows(page) == ["Item 1=Gateway", "Item 2=Glucometer", "Kit 1="]

    # Pressed while a redraw keeps the rows as they are, a numbered press still counts.
    release = held(page, "/orders/new/lines")
    page.get_by_label("Item 1", exact=True).focus()
    keys.press("Enter")  # held
    page.get_by_role("button", name="Remove item 2").focus()
    keys.press("Enter")
    release()
    expect(page.get_by_label("Item 2", exact=True)).to_have_count(0)
    assert rows(page) == ["Item 1=Gateway", "Kit 1="]
    expect(page.locator("#lines-notice")).to_be_empty()  # a new press: the note is gone

    # A double-click on "Add item" adds one row, not two.
    release = held(page, "/orders/new/lines")
    page.get_by_role("button", name="Add item").dblclick()
    release()
    expect(page.get_by_label("Item 2", exact=True)).to_be_focused()
    page.wait_for_timeout(300)  # a second row would have been asked for by now
    assert rows(page) == ["Item 1=Gateway", "Item 2=", "Kit 1="]


def redrawn_while_focused(page: Page, url: str, press: str, then_press: list[str]) -> None:
    """Presses ``press``, holds the request it sends to ``url`` until ``then_press`` have
    moved the focus, then lets the answer redraw that part of the page under the focus."""
    held = []

    def hold(route):
        if held:
            route.continue_()  # only the first is held
        else:
            held.append(route)

    page.route(f"**{url}", hold)
    pressed_in = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    page.keyboard.press(press)
    for _ in range(100):  # wait (up to 5 s on a busy machine) until the request is held
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1, f"{press} in {pressed_in} sent no request to {url}"
    for key in then_press:
        page.keyboard.press(key)
    focused = page.evaluate_handle("document.activeElement").as_element()
    held[0].continue_()
    page.unroute(f"**{url}", hold)
    focused.wait_for_element_state("hidden")  # replaced by the answer


def test_focus_stays_put_when_a_part_of_the_page_is_redrawn(coordinator: Page):
    page = coordinator
    keys = page.keyboard
    # One input event, so one live search: typed key by key on a busy machine, "Lov" could
    # answer "1 patient found" while the search for "Lovelace" is still to come, and that
    # one would race the search below.
    keys.insert_text("Lovelace")
    expect(page.get_by_text("1 patient found")).to_be_visible()
    expect(page.locator("#recipient-query.htmx-request")).to_have_count(0)
    keys.press("Tab")
    # Search again, and move on to the result before the answer comes.
    redrawn_while_focused(page, "/orders/new/recipient", "Enter", ["Tab"])
    expect(page.get_by_role("button", name=re.compile("^Ada Lovelace"))).to_be_focused()

    keys.press("Enter")
    expect(page.get_by_label("Item 1", exact=True)).to_be_focused()
    keys.type("Test strips")
    keys.press("Tab")
    expect(page.get_by_text("Test strips · STR")).to_be_visible()
    keys.press("Shift+Tab")
    # Enter in a field redraws the rows; the focus has moved on to "Remove" by then.
    redrawn_while_focused(page, "/orders/new/lines", "Enter", ["Tab", "Tab"])
    expect(page.get_by_role("button", name="Remove item 1")).to_be_focused()


# --- Accessibility (axe-core) -----------------------------------------------------------


def test_sign_in_page_passes_axe(page: Page, base_url, catalog):
    problems = watch_console(page)
    page.goto(f"{base_url}/sign-in")
    expect(page.get_by_label("Email")).to_be_focused()
    assert serious_violations(page) == []

    page.get_by_label("Email").fill("coordinator@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    assert serious_violations(page) == []
    # A refused sign-in answers 401, which Chromium logs; nothing else may go wrong.
    assert [p for p in problems if "status of 401" not in p] == []


def test_new_order_page_passes_axe_in_every_state(coordinator: Page):
    page = coordinator
    assert serious_violations(page) == [], "blank form"

    find_recipient(page, "MRN")
    expect(page.get_by_role("button", name=re.compile("^Ada Lovelace"))).to_be_visible()
    expect(page.get_by_text("Archived: cannot receive orders")).to_be_visible()
    set_line(page, "Item 1", "Test strips", 2)
    page.get_by_role("button", name="Add kit").click()
    set_line(page, "Kit 1", "Diabetes kit")
    page.get_by_label("Count of kit 1").focus()
    expect(page.get_by_text("Contains 1 × Glucometer")).to_be_visible()
    assert serious_violations(page) == [], "search results and rows"

    page.get_by_label("Count of kit 1").fill("0")
    page.get_by_label("External order ids").fill("x" * 70)
    place(page)
    expect(page.get_by_role("alert")).to_contain_text("3 problems to fix")
    assert serious_violations(page) == [], "problems shown"

    find_recipient(page, "Lovelace")
    choose(page, "Ada Lovelace")
    assert serious_violations(page) == [], "recipient chosen"


def test_order_page_passes_axe(coordinator: Page):
    page = coordinator
    fill_a_small_order(page)
    page.get_by_role("button", name="Add kit").click()
    set_line(page, "Kit 1", "Hypertension kit")
    page.get_by_label("Overnight").check()
    page.get_by_label("External order ids").fill("EHR-1")
    page.get_by_label("Note for the packer").fill("Fragile")
    place(page)
    placed_order(page)
    assert serious_violations(page) == []


# --- The console watch itself -----------------------------------------------------------


def test_console_watch_catches_csp_violations(page: Page, base_url):
    """The guard every test relies on: a blocked inline script is reported."""
    problems = watch_console(page)
    page.goto(f"{base_url}/sign-in")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.ran = true";
            document.body.append(script);
        }"""
    )
    expect(page.get_by_label("Email")).to_be_visible()
    assert not page.evaluate("() => window.ran === true")
    assert any("Content Security Policy" in p for p in problems), problems


def test_a_recipient_holding_more_than_is_listed_shows_everything_when_asked(
    app, coordinator: Page, catalog, monkeypatch
):
    """The returns list the newest deliveries' devices (DEVICES_OUT_CAP); "Show everything they
    have" lists the rest, puts the focus on the first of them, and what is ticked there
    stays ticked as the order is edited, and is placed."""
    from tests.helpers.orders import delivered_order

    monkeypatch.setattr("app.orders.lookups.DEVICES_OUT_CAP", 1)
    older, newer = (delivered_order(app, catalog, items={"monitor": 1}) for _ in range(2))
    with app_context(app) as session:
        oldest_device = session.get(Order, older).devices[0].device_id
    page = coordinator
    find_recipient(page, "Lovelace")
    choose(page, "Ada Lovelace")
    page.get_by_role("heading", name="What comes back").click()
    devices = page.locator('input[name="return_devices"]')
    expect(devices).to_have_count(1)
    expect(page.get_by_label(re.compile(rf"\(order {newer}\)"))).to_be_visible()
    page.get_by_role("button", name="Show everything they have").click()
    expect(devices).to_have_count(2)
    first = page.get_by_label(re.compile(rf"\(order {older}\)"))
    expect(first).to_be_focused()
    assert serious_violations(page) == [], "every held device listed"

    page.keyboard.press("Space")
    expect(first).to_be_checked()
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_label("Item 2", exact=True)).to_be_focused()
    expect(devices).to_have_count(2)
    expect(first).to_be_checked()
    set_line(page, "Item 1", "Test strips", 1)
    page.get_by_role("button", name="Remove item 2").click()
    place(page)
    order_id = placed_order(page)
    with app_context(app) as session:
        assert [line.device_id for line in session.get(Order, order_id).return_devices] == [
            oldest_device
        ]
