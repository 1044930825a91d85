"""Pick lists: every unit to pull for a set of orders, kits multiplied out, summed by item
at each location with its bin, in walking order; bins set on the stock page; printing
recorded on each order; a fixed number of statements whatever the number of orders."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.history.models import PatientDataAccess, RecordChange
from app.inventory import bins, receipts
from app.inventory.models import ItemBin
from app.orders import pick_list
from app.orders.models import Order, OrderEvent
from tests.conftest import app_context
from tests.helpers.orders import actor, move, place, units_ordered
from tests.helpers.stock import second_location
from tests.helpers.web import Browserless


@pytest.fixture
def fulfillment(client, catalog):
    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def set_bins(app, catalog, location_id: int | None = None, **by_name: str) -> None:
    with app.app_context():
        for name, label in by_name.items():
            bins.set_bin(
                location_id or catalog.location, catalog.items[name], label, actor("admin")
            )


def lines_by_sku(walk) -> dict:
    return {line.sku: line for line in walk.lines}


# --- The service --------------------------------------------------------------------------


def test_a_pick_list_sums_each_item_over_the_orders_with_kits_multiplied_out(app, catalog):
    first = place(app, catalog, items={"strips": 3, "cuff": 1}, kits={"diabetes": 2})
    second = place(app, catalog, items={"strips": 5}, kits={"hypertension": 1, "diabetes": 1})
    third = place(app, catalog, kits={"hypertension": 2})
    with app.app_context():
        picked = pick_list.for_orders([third, first, second])
    [walk] = picked.walks
    lines = lines_by_sku(walk)
    # Strips: 3 + 5 on item lines, and 2 per diabetes kit × (2 + 1) kits.
    assert lines["STR"].count == 3 + 5 + 2 * 3
    assert [(t.order_id, t.count) for t in lines["STR"].takes] == [
        (first, 3 + 2 * 2),
        (second, 5 + 2),
    ]
    assert lines["CUF-L"].count == 1 + 1 + 2  # an item line and a cuff in each hypertension kit
    assert lines["CUF-L"].order_ids == [first, second, third]
    assert lines["GLU"].count == 3 and lines["BPM"].count == 3 and lines["GWY"].count == 3
    assert {sku: line.count for sku, line in lines.items()} == units_ordered(
        app, [first, second, third]
    )
    assert walk.units == sum(units_ordered(app, [first, second, third]).values())
    assert picked.order_ids == [third, first, second] and picked.left_out == []


def test_device_tracked_items_say_how_many_devices_to_pull(app, catalog):
    order_id = place(app, catalog, items={"monitor": 2, "strips": 4}, kits={"hypertension": 1})
    with app.app_context():
        [walk] = pick_list.for_orders([order_id]).walks
    lines = lines_by_sku(walk)
    assert (lines["BPM"].devices, lines["BPM"].device_type) == (3, "serial")
    assert (lines["GWY"].devices, lines["GWY"].device_type) == (1, "iccid")
    assert lines["STR"].devices == 0
    assert walk.devices == 4


def test_lines_are_in_walking_order_of_their_bins_numbers_read_as_numbers_no_bin_last(app, catalog):
    set_bins(app, catalog, strips="A-10", cuff="a-2", monitor="B-1", glucometer="A-2-3")
    order_id = place(
        app, catalog, items={"strips": 1, "cuff": 1, "monitor": 1, "glucometer": 1, "gateway": 1}
    )
    with app.app_context():
        [walk] = pick_list.for_orders([order_id]).walks
    assert [(line.bin, line.sku) for line in walk.lines] == [
        ("a-2", "CUF-L"),
        ("A-2-3", "GLU"),
        ("A-10", "STR"),
        ("B-1", "BPM"),
        (None, "GWY"),
    ]


def test_orders_from_two_locations_are_two_walks_each_with_its_own_bins(app, catalog):
    east = second_location(app)
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=east, lines=[receipts.ReceiptLine(catalog.items["strips"], 50)]
            ),
            actor("admin"),
        )
    set_bins(app, catalog, strips="MAIN-1")
    set_bins(app, catalog, east, strips="EAST-9")
    main_order = place(app, catalog, items={"strips": 2})
    east_orders = [place(app, catalog, items={"strips": n}, location_id=east) for n in (3, 4)]
    with app.app_context():
        picked = pick_list.for_orders([east_orders[0], main_order, east_orders[1]])
    assert [(w.location_name, w.order_ids) for w in picked.walks] == [
        ("East depot", east_orders),
        ("Main warehouse", [main_order]),
    ]
    east_walk, main_walk = picked.walks
    assert [(line.bin, line.count) for line in east_walk.lines] == [("EAST-9", 7)]
    assert [(line.bin, line.count) for line in main_walk.lines] == [("MAIN-1", 2)]


def test_orders_whose_units_are_not_on_the_shelves_are_left_out_and_named(app, catalog):
    created, processing, held, cancelled = (
        place(app, catalog, items={"strips": 1}) for _ in "1234"
    )
    move(app, processing, "processing")
    move(app, held, "onHold", reason="Waiting for the clinic")
    move(app, cancelled, "cancelled", role="admin", reason="Duplicate")
    with app.app_context():
        picked = pick_list.for_orders([created, processing, held, cancelled, 999_999])
    assert picked.order_ids == [created, processing]
    assert picked.left_out == [(held, "onHold"), (cancelled, "cancelled")]
    assert picked.walks[0].lines[0].count == 2


def test_a_status_tab_is_picked_oldest_first_and_only_a_status_still_to_pick(app, catalog):
    from app.validation import Rejected

    ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    move(app, ids[1], "processing")
    with app.app_context():
        assert pick_list.for_status("created").order_ids == [ids[0], ids[2]]
        assert pick_list.for_status("processing").order_ids == [ids[1]]
        with pytest.raises(Rejected) as refused:
            pick_list.for_status("shipped")
    assert (refused.value.code, refused.value.problems[0].field) == ("status_not_picked", "status")
    assert refused.value.message == (
        "A pick list is for orders still to be picked: Created or Processing."
    )


def test_a_list_takes_at_most_max_orders_and_says_when_more_were_asked_or_are_waiting(
    app, catalog, monkeypatch
):
    monkeypatch.setattr(pick_list, "MAX_ORDERS", 2)
    first, second, third = (place(app, catalog, items={"strips": 1}) for _ in range(3))
    with app.app_context():
        exactly = pick_list.for_orders([third, first])
        over = pick_list.for_orders([third, first, second])
        tab = pick_list.for_status("created")
    assert (exactly.order_ids, exactly.more) == ([third, first], False)
    assert (over.order_ids, over.more) == ([third, first], True)
    assert (tab.order_ids, tab.more) == ([first, second], True)  # the oldest first
    move(app, third, "cancelled", role="admin", reason="Duplicate")
    with app.app_context():
        tab = pick_list.for_status("created")
    assert (tab.order_ids, tab.more) == ([first, second], False)


def test_a_pick_list_of_no_order_or_of_numbers_no_order_can_have_is_empty(app, catalog):
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        for asked in ([], [0, -1, 2**31]):
            picked = pick_list.for_orders(asked)
            assert (picked.walks, picked.order_ids, picked.left_out, picked.more) == (
                [],
                [],
                [],
                False,
            )


def test_each_walk_lists_its_orders_oldest_first_whatever_order_they_were_asked_in(app, catalog):
    first, second = (place(app, catalog, items={"strips": 1}) for _ in range(2))
    with app.app_context():
        picked = pick_list.for_orders([second, first])
    assert picked.order_ids == [second, first]
    assert [(w.location_id, w.order_ids) for w in picked.walks] == [
        (catalog.location, [first, second])
    ]
    assert [line.item_id for line in picked.walks[0].lines] == [catalog.items["strips"]]


# --- Bins ---------------------------------------------------------------------------------


def test_a_bin_is_stored_in_one_spelling_cleared_when_empty_and_kept_in_history(app, catalog):
    strips = catalog.items["strips"]
    with app.app_context():
        assert bins.set_bin(catalog.location, strips, "  Ａ‑03  ", actor("fulfillment")) == "A-03"
        assert bins.set_bin(catalog.location, strips, "A-03", actor("fulfillment")) == "A-03"
        assert bins.set_bin(catalog.location, strips, "", actor("fulfillment")) is None
    with app_context(app) as session:
        assert session.scalars(select(ItemBin.bin)).all() == [None]
        changes = session.scalars(
            select(RecordChange.changes).where(RecordChange.record_type == "stock_location")
        ).all()
    assert changes == [{"bin.STR": [None, "A-03"]}, {"bin.STR": ["A-03", None]}]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("A-03\nB", "Bin must be on one line."),
        ("x" * 41, "Bin is at most 40 characters."),
        ("\u200b", "Bin has only invisible characters."),
    ],
)
def test_a_bin_that_is_not_one_short_line_is_refused_and_nothing_changes(
    app, catalog, typed, message
):
    from app.validation import Rejected

    with app.app_context():
        with pytest.raises(Rejected) as refused:
            bins.set_bin(catalog.location, catalog.items["strips"], typed, actor("fulfillment"))
    assert (refused.value.field, refused.value.message) == ("bin", message)
    with app_context(app) as session:
        assert session.scalars(select(ItemBin)).all() == []


def test_a_bin_starting_with_a_number_comes_before_one_starting_with_a_letter(app, catalog):
    set_bins(app, catalog, strips="10", cuff="A-1", monitor="9")
    order_id = place(app, catalog, items={"strips": 1, "cuff": 1, "monitor": 1})
    with app.app_context():
        [walk] = pick_list.for_orders([order_id]).walks
    assert [line.bin for line in walk.lines] == ["9", "10", "A-1"]


def test_the_bins_asked_for_are_those_of_the_asked_items_at_the_asked_locations_that_have_one(
    app, catalog
):
    main, east = catalog.location, second_location(app)
    strips, cuff, monitor = (catalog.items[n] for n in ("strips", "cuff", "monitor"))
    set_bins(app, catalog, strips="A-1", cuff="A-2", monitor="A-3")
    set_bins(app, catalog, east, strips="E-1")
    set_bins(app, catalog, monitor="")  # cleared: its row is kept, with no bin
    with app.app_context():
        assert bins.bins_of({main}, {strips, monitor}) == {(main, strips): "A-1"}
        assert bins.bins_of({east}, {strips, cuff}) == {(east, strips): "E-1"}


def test_a_bin_change_is_on_the_locations_history_with_who_made_it(app, catalog):
    with app.app_context():
        bins.set_bin(catalog.location, catalog.items["strips"], "A-1", actor("fulfillment"))
    with app_context(app) as session:
        [change] = session.scalars(select(RecordChange)).all()
        assert (change.record_type, change.record_id, change.action) == (
            "stock_location",
            catalog.location,
            "updated",
        )
        assert change.actor_user.email == "fulfillment@example.org"
        assert change.changes == {"bin.STR": [None, "A-1"]}


@pytest.mark.parametrize(
    ("where", "code", "message"),
    [
        ("location", "stock_location_not_found", "There is no stock location with id 99999."),
        ("item", "item_not_found", "There is no item with id 99999."),
    ],
)
def test_a_bin_at_a_location_or_for_an_item_that_does_not_exist_is_refused(
    app, catalog, where, code, message
):
    from app.validation import Rejected

    location = 99999 if where == "location" else catalog.location
    item = 99999 if where == "item" else catalog.items["strips"]
    with app.app_context():
        with pytest.raises(Rejected) as refused:
            bins.set_bin(location, item, "A-1", actor("fulfillment"))
    assert (refused.value.code, refused.value.message) == (code, message)
    with app_context(app) as session:
        assert session.scalars(select(ItemBin)).all() == []
        assert session.scalars(select(RecordChange)).all() == []


# --- The pages ----------------------------------------------------------------------------


def rows_of(html: str) -> list[list[str]]:
    """The pick list's lines as their cells' text (a line break is a space)."""
    rows = re.findall(r'<tr class="pick-line"[^>]*>(.*?)</tr>', html, re.S)
    return [
        [
            re.sub(r"\s+", " ", re.sub(r"<br>", " ", re.sub(r"<(?!br>)[^>]+>", "", cell))).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def test_the_pick_list_page_for_a_status_tab_shows_bins_counts_devices_and_orders(
    app, fulfillment, catalog
):
    set_bins(app, catalog, strips="A-1", cuff="A-2")
    first = place(app, catalog, items={"strips": 3}, kits={"hypertension": 1})
    second = place(app, catalog, kits={"hypertension": 2, "diabetes": 1})
    page = fulfillment.get("/orders/pick-list?status=created")
    assert page.status_code == 200
    rows = rows_of(page.text)
    assert rows[0][1:] == ["A-1", "5", "Test strips", "STR", f"{first} ×3, {second} ×2"]
    assert rows[1][1:] == ["A-2", "3", "BP cuff, large", "CUF-L", f"{first}, {second} ×2"]
    monitor = next(r for r in rows if r[4] == "BPM")
    assert monitor[1:4] == [
        "No bin",
        "3",
        "BP monitor 3 devices: each one's Serial number is recorded at packing",
    ]
    assert (
        "Pick list · Main warehouse" in page.text and "2 orders · 15 units (7 devices)" in page.text
    )
    # No recipient on a pick list, so no entry in the PHI access log.
    assert "Lovelace" not in page.text and "MRN-1" not in page.text
    with app_context(app) as session:
        assert session.scalars(select(PatientDataAccess)).all() == []


def test_the_order_list_offers_a_pick_list_for_the_ticked_orders_and_a_tab_to_pick(
    fulfillment, app, catalog
):
    place(app, catalog, items={"strips": 1})
    created = fulfillment.get("/orders/?status=created").text
    assert 'formaction="/orders/pick-list"' in created and "Print pick list for selected" in created
    assert "Pick list: all Created" in created
    assert "Pick list: all" not in fulfillment.get("/orders/?status=shipped").text


def test_ticked_orders_come_from_the_list_and_unticked_goes_back_to_it(app, fulfillment, catalog):
    ids = [place(app, catalog, items={"strips": n}) for n in (1, 2, 4)]
    page = fulfillment.get(f"/orders/pick-list?order={ids[2]}&order={ids[0]}&order=x")
    assert rows_of(page.text)[0][2] == "5"
    nothing = fulfillment.get("/orders/pick-list?back=status%3Dcreated")
    assert (nothing.status_code, nothing.headers["Location"]) == (303, "/orders/?status=created")
    assert "tick the orders to pick first" in fulfillment.get(nothing.headers["Location"]).text
    refused = fulfillment.get("/orders/pick-list?status=shipped")
    assert refused.status_code == 303
    assert "for orders still to be picked" in fulfillment.get(refused.headers["Location"]).text


def test_a_pick_list_of_orders_past_picking_says_there_is_nothing_to_pick(
    app, fulfillment, catalog
):
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "cancelled", role="admin", reason="Duplicate")
    page = fulfillment.get(f"/orders/pick-list?order={order_id}").text
    assert "Nothing to pick" in page and f"Order {order_id}: Cancelled" in page
    assert "data-print-record" not in page


def test_a_pick_list_costs_a_fixed_number_of_statements(app, fulfillment, catalog, count_queries):
    from tests.helpers.orders import receive_stock

    first = place(app, catalog, items={"strips": 1}, kits={"hypertension": 1})
    with count_queries() as one:
        assert fulfillment.get(f"/orders/pick-list?order={first}").status_code == 200
    east = second_location(app)
    receive_stock(app, {catalog.items["monitor"]: 40, catalog.items["gateway"]: 40})
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=east, lines=[receipts.ReceiptLine(catalog.items["cuff"], 250)]
            ),
            actor("admin"),
        )
    set_bins(app, catalog, strips="A-1", cuff="B-2", monitor="C-3")
    set_bins(app, catalog, east, cuff="E-1")
    ids = [first]
    for n in range(20):
        ids.append(
            place(
                app,
                catalog,
                items={"strips": 2, "monitor": 1},
                kits={"hypertension": 1, "diabetes": 1},
            )
        )
        ids.append(place(app, catalog, items={"cuff": n + 1}, location_id=east))
    query = "&".join(f"order={i}" for i in ids)
    with count_queries() as many:
        page = fulfillment.get(f"/orders/pick-list?{query}")
    assert page.text.count("<article") == 2
    assert many.count == one.count
    with count_queries() as tab:
        assert fulfillment.get("/orders/pick-list?status=created").status_code == 200
    assert tab.count == one.count


def test_printing_a_pick_list_is_recorded_on_each_orders_timeline(app, fulfillment, catalog):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
    other = place(app, catalog, items={"strips": 1})
    with app_context(app) as session:
        versions = {o.id: o.version for o in session.scalars(select(Order))}
    response = fulfillment.post(
        "/orders/pick-list/printed",
        {"order": [str(i) for i in ids] + ["999999"]},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 204
    with app_context(app) as session:
        events = session.scalars(
            select(OrderEvent).where(OrderEvent.name == "pickListPrinted")
        ).all()
        assert sorted(e.order_id for e in events) == ids
        assert {e.actor_user.email for e in events} == {"fulfillment@example.org"}
        after = {o.id: o.version for o in session.scalars(select(Order))}
    assert after == {**versions, ids[0]: versions[ids[0]] + 1, ids[1]: versions[ids[1]] + 1}
    assert after[other] == versions[other]
    assert "Pick list printed" in fulfillment.get(f"/orders/{ids[0]}").text


def test_the_print_button_without_javascript_records_and_goes_back(app, fulfillment, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    page = fulfillment.get("/orders/pick-list?status=created").text
    assert f'<input type="hidden" name="order" value="{order_id}">' in page
    response = fulfillment.post(
        "/orders/pick-list/printed",
        {"order": str(order_id), "back": "/orders/pick-list?status=created"},
    )
    assert (response.status_code, response.headers["Location"]) == (
        303,
        "/orders/pick-list?status=created",
    )
    assert "Recorded as printed" in fulfillment.get(response.headers["Location"]).text
    off_site = fulfillment.post(
        "/orders/pick-list/printed", {"order": str(order_id), "back": "https://evil.example/"}
    )
    assert off_site.headers["Location"] == "/orders/"


def test_a_bin_is_set_on_the_stock_page_and_comes_back_to_its_row(app, fulfillment, catalog):
    strips = catalog.items["strips"]
    key = f"{catalog.location}-{strips}"
    page = fulfillment.get("/stock/").text
    assert (
        f'<label for="bin-{key}" class="visually-hidden">'
        "Bin for Test strips at Main warehouse</label>" in page
    )
    saved = fulfillment.post(
        "/stock/bins", {"location": catalog.location, "item": strips, "bin": " A-07 "}
    )
    assert (saved.status_code, saved.headers["Location"]) == (303, f"/stock/#bin-{key}")
    after = fulfillment.get(saved.headers["Location"]).text
    assert "Test strips at Main warehouse: bin A-07." in after
    assert re.search(rf'id="bin-{key}"[^>]*value="A-07"', after, re.S)


def test_a_refused_bin_keeps_what_was_typed_at_its_field_and_changes_nothing(
    app, fulfillment, catalog
):
    strips = catalog.items["strips"]
    key = f"{catalog.location}-{strips}"
    typed = "A" * 41
    refused = fulfillment.post(
        "/stock/bins",
        {
            "location": catalog.location,
            "item": strips,
            "bin": typed,
            "shown_location": catalog.location,
        },
    )
    assert refused.status_code == 422
    assert re.search(
        rf'id="bin-{key}"[^>]*value="{typed}"[^>]*aria-invalid="true" '
        rf'aria-describedby="bin-{key}-error" autofocus',
        refused.text,
        re.S,
    )
    assert (
        f'<p class="error" id="bin-{key}-error">Bin is at most 40 characters.</p>' in refused.text
    )
    assert refused.text.count('aria-invalid="true"') == 1
    with app_context(app) as session:
        assert session.scalars(select(ItemBin)).all() == []
    assert (
        fulfillment.post(
            "/stock/bins", {"location": "99999", "item": strips, "bin": "A"}
        ).status_code
        == 404
    )


def test_coordinators_see_bins_but_do_not_set_them(app, client, catalog):
    set_bins(app, catalog, strips="A-07")
    coordinator = Browserless(client)
    coordinator.sign_in("coordinator")
    page = coordinator.get("/stock/").text
    assert "A-07" in page and 'action="/stock/bins"' not in page
    refused = coordinator.post(
        "/stock/bins", {"location": catalog.location, "item": catalog.items["strips"], "bin": "B"}
    )
    assert refused.status_code == 403


def test_a_bin_change_shows_in_the_locations_history(app, client, catalog):
    set_bins(app, catalog, strips="A-07")
    set_bins(app, catalog, strips="A-08")
    admin = Browserless(client)
    admin.sign_in("admin")
    text = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", admin.get(f"/stock/locations/{catalog.location}").text)
    )
    assert "Bin: STR: A-07 → A-08" in text and "Bin: STR: — → A-07" in text


def test_an_empty_tab_has_nothing_to_pick_and_a_list_takes_at_most_500_orders(
    app, fulfillment, catalog
):
    empty = fulfillment.get("/orders/pick-list?status=processing")
    assert (empty.status_code, empty.headers["Location"]) == (303, "/orders/?status=processing")
    assert (
        "No orders are Processing: there is nothing to pick."
        in fulfillment.get(empty.headers["Location"]).text
    )
    order_id = place(app, catalog, items={"strips": 1})
    many = "&".join(f"order={n}" for n in [order_id, *range(900_000, 900_500)])
    page = fulfillment.get(f"/orders/pick-list?{many}").text
    assert "Only 500 orders fit on one pick list: print the rest once these are picked." in page
    assert rows_of(page)[0][2] == "1"


def test_people_setting_the_same_bin_at_once_each_get_an_answer_and_one_row_is_kept(
    app, live_server, catalog
):
    from tests.helpers.real_http import HttpSession, in_parallel

    people = [HttpSession(live_server.url, role) for role in ("fulfillment", "admin") * 3]
    strips = catalog.items["strips"]
    codes = in_parallel(
        [
            (
                lambda p=p, n=n: p.post(
                    "/stock/bins", {"location": catalog.location, "item": strips, "bin": f"A-{n}"}
                )
            )
            for n, p in enumerate(people)
        ]
    )
    assert codes == [303] * len(people)
    with app_context(app) as session:
        [kept] = session.scalars(select(ItemBin)).all()
        changes = session.scalars(
            select(RecordChange.changes).where(RecordChange.record_type == "stock_location")
        ).all()
    # Each change took the one before it as its "before": one chain, ending at what is kept.
    chain = [c["bin.STR"] for c in changes]
    assert chain[0][0] is None and chain[-1][1] == kept.bin
    assert all(a[1] == b[0] for a, b in zip(chain, chain[1:], strict=False))
