"""The packing station (issue 9): classify before matching, serial patterns, every device
from the start, what the last scan did and its Undo, the primary button, scan to open."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.catalog import service as catalog_service
from app.catalog.identifiers import luhn_check_digit
from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.orders import lifecycle, packing
from app.orders.lookups import get_order
from app.orders.models import OrderEvent
from app.validation import Rejected
from tests.conftest import app_context
from tests.helpers.orders import (
    MONITOR_PATTERN,
    actor,
    give_serial_pattern,
    iccid,
    imei,
    move,
    pack_everything,
    place,
    set_monitor_pattern,
)
from tests.helpers.web import Browserless


def record(app, order_id, value, slot_key=None):
    with app.app_context():
        try:
            return packing.record_device(order_id, value, actor("fulfillment"), slot_key).label
        finally:
            db.session.remove()


def refusal(app, order_id, value, slot_key=None) -> Rejected:
    with pytest.raises(Rejected) as error:
        record(app, order_id, value, slot_key)
    return error.value


def plan_of(app, order_id) -> list[tuple[str, bool]]:
    with app_context(app):
        return [
            (s.label, s.filled is not None) for s in packing.packing_plan(get_order(order_id)).slots
        ]


def recorded_values(app, order_id) -> list[str]:
    with app_context(app):
        order = get_order(order_id)
        return sorted(i.value for od in order.devices for i in od.device.identifiers)


@pytest.fixture
def person(client, catalog):
    def signed_in(role):
        someone = Browserless(client)
        assert someone.sign_in(role).status_code == 303
        return someone

    return signed_in


# --- Every device from the start (defect 3) ----------------------------------------------


def test_every_device_is_listed_from_the_moment_the_order_is_placed(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1}, kits={"hypertension": 1})
    expected = [
        ("BP monitor 1 of 1", False),
        ("Hypertension kit 1: BP monitor", False),
        ("Hypertension kit 1: Gateway", False),
    ]
    assert plan_of(app, order_id) == expected
    move(app, order_id, "processing")
    assert plan_of(app, order_id) == expected  # the same labels once processing opens the kits
    record(app, order_id, iccid(1))
    assert plan_of(app, order_id)[2] == ("Hypertension kit 1: Gateway", True)


def test_every_device_line_has_its_slots_whatever_lines_come_before_it(app, catalog):
    order_id = place(app, catalog, items={"strips": 3, "monitor": 2})
    assert plan_of(app, order_id) == [("BP monitor 1 of 2", False), ("BP monitor 2 of 2", False)]


def test_the_order_page_counts_kit_devices_before_processing(app, person, catalog):
    order_id = place(app, catalog, items={"monitor": 1}, kits={"hypertension": 1})
    text = person("coordinator").get(f"/orders/{order_id}").text
    assert "0 of 3 devices recorded" in text
    assert "Hypertension kit 1: Gateway" in text


def test_kit_contents_multiply_out_three_diabetes_kits(app, person, catalog):
    """count × per-kit was never checked: every other test uses one kit of one of each."""
    order_id = place(app, catalog, kits={"diabetes": 3})
    html = person("fulfillment").get(f"/orders/{order_id}/packing-summary").text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert re.search(r"6 Test strips \(2 per kit × 3\)", text)
    assert re.search(r"3 Glucometer \(1 per kit × 3\)", text)
    assert [f"Diabetes kit {n}: Glucometer" in text for n in (1, 2, 3)] == [True] * 3
    assert html.count('<tr class="device">') == 3


# --- Classify before matching (defect 2) ------------------------------------------------


def test_an_imei_is_never_recorded_as_a_serial(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    refused = refusal(app, order_id, imei(7))
    assert refused.code == "invalid_identifier"
    assert refused.message == (
        "This looks like an IMEI. The order needs no more of those. "
        "Still needed: 1 serial number for BP monitor."
    )
    assert recorded_values(app, order_id) == []


@pytest.mark.parametrize("wrong", ["valid", "one wrong digit"])
def test_an_iccid_is_never_recorded_as_a_serial_and_the_monitor_still_can_be(app, catalog, wrong):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    value = iccid(3)
    if wrong == "one wrong digit":
        value = value[:5] + str((int(value[5]) + 1) % 10) + value[6:]
    refused = refusal(app, order_id, value)
    assert "This looks like an ICCID." in refused.message
    assert "Still needed: 1 serial number for BP monitor." in refused.message
    assert record(app, order_id, "SN-0001") == "BP monitor 1 of 1"
    assert recorded_values(app, order_id) == ["SN-0001"]


def test_a_mac_address_is_never_recorded_as_a_serial(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    assert "This looks like a MAC address." in refusal(app, order_id, "00-1c-05-4a-2b-3c").message


def test_the_refusal_says_what_the_order_still_needs(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1}, kits={"hypertension": 1})
    move(app, order_id, "processing")
    record(app, order_id, "SN-0001")  # the standalone monitor
    assert refusal(app, order_id, imei(1)).message == (
        "This looks like an IMEI. The order needs no more of those. Still needed: "
        "1 serial number for BP monitor (Hypertension kit 1), "
        "1 ICCID for Gateway (Hypertension kit 1)."
    )


@pytest.mark.parametrize("length", [18, 21])
def test_a_luhn_valid_iccid_of_18_or_21_digits_is_refused_at_packing(app, catalog, length):
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    body = "8901260" + "4" * (length - 8)
    refused = refusal(app, order_id, body + luhn_check_digit(body))
    assert "An ICCID is 19 or 20 digits starting with 89." in refused.message
    assert recorded_values(app, order_id) == []


def test_non_ascii_digits_are_refused(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    arabic = imei(4).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert refusal(app, order_id, arabic).code == "invalid_identifier"
    assert recorded_values(app, order_id) == []


def test_a_line_form_refuses_a_value_of_the_wrong_kind(app, catalog):
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    with app_context(app):
        monitor = next(
            s.key for s in packing.packing_plan(get_order(order_id)).slots if "monitor" in s.label
        )
    refused = refusal(app, order_id, iccid(2), slot_key=monitor)
    assert refused.message == "This looks like an ICCID. This line takes a serial number."


# --- Serial patterns ---------------------------------------------------------------------


def test_a_serial_that_does_not_fit_the_items_pattern_is_refused(app, catalog):
    set_monitor_pattern(app, catalog)
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    # Defect 1's appended scans: serial-shaped, but no monitor's serial.
    refused = refusal(app, order_id, "BP7450-CLEAN01BP7450-SCAN0002")
    assert refused.code == "serial_pattern_mismatch"
    assert MONITOR_PATTERN in refused.message
    assert record(app, order_id, "bp7450-scan0002") == "BP monitor 1 of 1"
    assert recorded_values(app, order_id) == ["BP7450-SCAN0002"]


def test_a_bad_serial_pattern_is_refused_at_its_field(app, catalog):
    with pytest.raises(Rejected) as error:
        set_monitor_pattern(app, catalog, "(a+)+b")
    assert [p.field for p in error.value.problems] == ["serialPattern"]
    with app_context(app) as session:
        assert session.get(Item, catalog.items["monitor"]).serial_pattern is None


def test_only_serial_numbered_items_take_a_pattern(app, catalog):
    with app.app_context():
        with pytest.raises(Rejected) as error:
            catalog_service.create_item(
                catalog_service.ItemDraft(
                    name="Gateway 2",
                    sku="GW2",
                    device_identifier_type="iccid",
                    serial_pattern="89.*",
                ),
                actor("admin"),
            )
    assert error.value.problems[0].code == "serial_pattern_not_used"


def test_the_item_form_shows_a_bad_pattern_next_to_the_field(app, person, catalog):
    admin = person("admin")
    url = f"/items/{catalog.items['monitor']}/edit"
    response = admin.post(
        url,
        {
            "name": "BP monitor",
            "sku": "BPM",
            "device_identifier_type": "serial",
            "serial_pattern": "BP7450-[0-9",
            "orderable": "y",
        },
    )
    assert response.status_code == 422
    assert re.search(
        r'id="serial_pattern-error">[^<]*not a valid regular expression', response.text
    )
    assert 'value="BP7450-[0-9"' in response.text  # what was typed is kept
    saved = admin.post(
        url,
        {
            "name": "BP monitor",
            "sku": "BPM",
            "device_identifier_type": "serial",
            "serial_pattern": MONITOR_PATTERN,
            "orderable": "y",
        },
    )
    assert saved.status_code == 303
    assert MONITOR_PATTERN in admin.get(f"/items/{catalog.items['monitor']}").text


# --- What the last scan did, and Undo ----------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_the_last_scan_is_confirmed_under_the_box_and_undone(app, person, catalog, htmx):
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    packer = person("fulfillment")
    response = packer.post(f"/orders/{order_id}/devices", {"identifier": iccid(5)}, htmx=htmx)
    if not htmx:
        assert response.status_code == 303
        response = packer.get(response.headers["Location"])
    said = f"Recorded ICCID {iccid(5)} for Hypertension kit 1: Gateway. 1 of 2 recorded."
    assert said in response.text
    undo = re.search(
        r'action="(/orders/\d+/devices/\d+/remove)"[^>]*>\s*<input[^>]*>\s*<button[^>]*>Undo',
        response.text,
    )
    assert undo
    undone = packer.post(undo.group(1), htmx=htmx)
    if not htmx:
        undone = packer.get(undone.headers["Location"])
    assert "0 of 2 recorded." in undone.text
    assert recorded_values(app, order_id) == []
    with app_context(app) as session:
        removed = session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == order_id, OrderEvent.name == "deviceRemoved"
            )
        ).all()
        assert [e.note for e in removed] == [f"Gateway {iccid(5)}"]


def test_the_scan_box_is_empty_and_focused_after_a_success(app, person, catalog):
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    response = person("fulfillment").post(
        f"/orders/{order_id}/devices", {"identifier": iccid(6)}, htmx=True
    )
    box = re.search(r'<input[^>]*id="scan"[^>]*>', response.text).group(0)
    assert 'value=""' in box and "autofocus" in box


# --- The primary button ------------------------------------------------------------------


def primary_buttons(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", b).strip()
        for b in re.findall(r'<button type="submit" class="primary"[^>]*>(.*?)</button>', html)
    ]


def test_the_obvious_next_step_is_the_primary_button(app, person, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    packer = person("fulfillment")
    assert primary_buttons(packer.get(f"/orders/{order_id}").text) == ["Start processing"]
    move(app, order_id, "processing")
    assert primary_buttons(packer.get(f"/orders/{order_id}").text) == ["Mark packed"]
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    html = packer.get(f"/orders/{order_id}").text
    assert primary_buttons(html) == ["Mark shipped"]
    # Carrier and tracking number are entered in the Mark shipped form, and only there.
    ship_form = re.search(r'<form[^>]*id="move-shipped".*?</form>', html, re.S).group(0)
    assert 'id="ship-carrier"' in ship_form and 'id="ship-tracking"' in ship_form
    assert 'id="tracking-form"' not in html
    with app.app_context():
        lifecycle.change_status(
            order_id, "shipped", actor("fulfillment"), tracking=("UPS", "1Z999AA10123456784")
        )
        db.session.remove()
    assert primary_buttons(packer.get(f"/orders/{order_id}").text) == ["Mark delivered"]


def test_a_coordinators_order_page_has_no_primary_status_button(app, person, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    coordinator = person("coordinator")
    assert primary_buttons(coordinator.get(f"/orders/{order_id}").text) == []
    move(app, order_id, "onHold", role="coordinator", reason="waiting")
    assert primary_buttons(coordinator.get(f"/orders/{order_id}").text) == []


# --- Scan to open ------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_searching_exactly_an_order_number_with_enter_opens_it(app, person, catalog, htmx):
    order_id = place(app, catalog, kits={"diabetes": 1})
    packer = person("fulfillment")
    response = packer.get(
        f"/orders/?q=+{order_id}+&apply=1", headers={"HX-Request": "true"} if htmx else {}
    )
    if htmx:
        assert response.headers["HX-Redirect"] == f"/orders/{order_id}?focus=next-step"
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == f"/orders/{order_id}?focus=next-step"
    # Searching as one types lists, never jumps; a number that is no order lists too.
    assert packer.get(f"/orders/?q={order_id}").status_code == 200
    assert packer.get("/orders/?q=99999&apply=1").status_code == 200
    arabic = str(order_id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert packer.get(f"/orders/?q={arabic}&apply=1").status_code == 200


def test_go_to_order_in_the_header(app, person, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    for role in ("fulfillment", "coordinator", "admin"):
        someone = Browserless(app.test_client())
        assert someone.sign_in(role).status_code == 303
        page = someone.get("/orders/").text
        assert '<label for="go-to-order">Go to order</label>' in page
        response = someone.get(f"/orders/go?number={order_id}")
        assert response.headers["Location"] == f"/orders/{order_id}?focus=next-step"
        missing = someone.get("/orders/go?number=123456", follow_redirects=True)
        assert "There is no order “123456”" in missing.text


# --- Batch print -------------------------------------------------------------------------


def test_batch_sheets_come_out_in_the_lists_order(app, person, catalog):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    newest_first = list(reversed(ids))
    html = (
        person("fulfillment")
        .get("/orders/packing-summaries?" + "&".join(f"order={i}" for i in newest_first))
        .text
    )
    assert re.findall(r'aria-label="Order (\d+), page 1 of', html) == [str(i) for i in newest_first]


def test_print_selected_with_nothing_selected_says_so_and_keeps_tab_and_filters(
    app, person, catalog
):
    place(app, catalog, items={"strips": 1})
    packer = person("fulfillment")
    page = packer.get("/orders/?status=created&shipping=standard&q=Ada").text
    back = re.search(r'<input type="hidden" name="back" value="([^"]*)"', page).group(1)
    response = packer.get(f"/orders/packing-summaries?back={back.replace('&amp;', '%26')}")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/orders/?")
    assert {"status=created", "shipping=standard", "q=Ada"} <= set(
        location.split("?")[1].split("&")
    )
    assert "No orders were selected" in packer.get(location).text


def test_the_list_has_a_select_all_box(app, person, catalog):
    place(app, catalog, items={"strips": 1})
    html = person("fulfillment").get("/orders/").text
    assert re.search(
        r'<input type="checkbox" id="select-all"[^>]*aria-label="Select all orders on this page"',
        html,
    )


def test_a_batch_of_created_and_processing_orders_costs_a_fixed_number_of_queries(
    app, person, catalog, count_queries
):
    packer = person("fulfillment")

    def order(n):
        order_id = place(
            app, catalog, items={"monitor": 2}, kits={"hypertension": 2, "diabetes": 3}
        )
        if n % 2:
            move(app, order_id, "processing")
            pack_everything(app, order_id, start=100 + n * 20)
        return order_id

    def summaries(ids):
        with count_queries() as counter:
            html = packer.get(
                "/orders/packing-summaries?" + "&".join(f"order={i}" for i in ids)
            ).text
        # Every device of every order, kit contents included, created or processing.
        assert html.count('<tr class="device">') == len(ids) * (2 + 2 * 2 + 3)
        return counter.count

    ids = [order(n) for n in range(12)]
    assert summaries(ids[:2]) == summaries(ids)


def test_packing_and_shipping_cost_the_same_statements_however_big_the_order(
    app, client, catalog, count_queries
):
    """Start processing, a scan of a device from the shelf, packed and shipped, as the page
    sends them: each change reads the order's collections its rules look at, each in one
    statement, and answers the live part; a bigger order reads no more. (What is written
    grows with what the order holds on SQLite: its packed kits, its devices' events.)"""
    from tests.conftest import stock_identifier
    from tests.helpers.orders import receive_stock

    monitor = catalog.items["monitor"]
    receive_stock(app, {monitor: 2})
    packer = Browserless(client)
    assert packer.sign_in("fulfillment").status_code == 303
    small = place(app, catalog, items={"monitor": 1, "strips": 1}, kits={"diabetes": 1})
    big = place(
        app, catalog, items={"monitor": 5, "strips": 9}, kits={"diabetes": 6, "hypertension": 4}
    )
    counts = []
    for n, order_id in enumerate((small, big)):

        def status(to: str, seen: str, order_id=order_id, **fields):
            fields = {"to_status": to, "from_status": seen, **fields}
            with count_queries() as counted:
                response = packer.post(f"/orders/{order_id}/status", fields, htmx=True)
            assert response.status_code == 200, response.text
            return counted

        processing = status("processing", "created")
        with app_context(app):
            slot = next(
                s for s in packing.packing_plan(get_order(order_id)).slots if s.item.id == monitor
            )
        device = stock_identifier("serial", 500_000 + monitor * 1000 + n)
        with count_queries() as scan:
            response = packer.post(
                f"/orders/{order_id}/devices", {"slot": slot.key, "identifier": device}, htmx=True
            )
        assert response.status_code == 200 and device in response.text
        pack_everything(app, order_id, start=100 + 100 * n)
        packed = status("packed", "processing")
        shipped = status("shipped", "packed", carrier="DHL", tracking_number=f"123456789{n}")
        changes = (processing, scan, packed, shipped)
        counts.append([(reads(c), c.count) for c in changes])
    # Reads: the sign-in, the order locked, the collections each change uses, the device
    # scanned, the stock shipped; then the live part as the order page reads it.
    assert [r for r, _ in counts[0]] == [r for r, _ in counts[1]] == [15, 20, 16, 19]
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:  # PostgreSQL writes a change's rows of a kind in one statement
        assert counts[0] == counts[1] == [(15, 22), (20, 26), (16, 22), (19, 33)]


def reads(counted) -> int:
    return sum(1 for s in counted.statements if s.lstrip().upper().startswith("SELECT"))


# --- Each packing refusal in full, with nothing stored -------------------------------------


def events_of(app, order_id) -> list[tuple[str, str | None]]:
    with app_context(app) as session:
        return [
            (e.name, e.note)
            for e in session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
            )
        ]


def refused_whole(app, order_id, value, slot_key=None, role="fulfillment"):
    """(code, message, kind, field) of a refused scan, after checking nothing was stored."""
    before = (recorded_values(app, order_id), events_of(app, order_id))
    with app.app_context():
        with pytest.raises(Rejected) as error:
            packing.record_device(order_id, value, actor(role), slot_key)
        db.session.remove()
    assert (recorded_values(app, order_id), events_of(app, order_id)) == before
    refused = error.value
    return refused.code, refused.message, refused.kind, refused.field


def slot_keys(app, order_id) -> dict[str, str]:
    with app_context(app):
        return {s.label: s.key for s in packing.packing_plan(get_order(order_id)).slots}


def remove_refused(app, order_id, order_device_id, role="fulfillment"):
    with app.app_context():
        with pytest.raises(Rejected) as error:
            packing.remove_device(order_id, order_device_id, actor(role))
        db.session.remove()
    return error.value.code, error.value.message, error.value.kind, error.value.field


def test_an_admin_records_and_removes_a_device_while_packing(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1}, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with app.app_context():
        admin = actor("admin")
        slot = packing.record_device(order_id, imei(11), admin)
        assert slot.label == "Diabetes kit 1: Glucometer"
        assert [i.value for i in slot.filled.device.identifiers] == [imei(11)]
        assert packing.record_device(order_id, "sn-0011", admin).label == "BP monitor 1 of 1"
        db.session.remove()
    assert events_of(app, order_id)[-2:] == [
        ("deviceRecorded", f"Diabetes kit 1: Glucometer: IMEI {imei(11)}"),
        ("deviceRecorded", "BP monitor 1 of 1: Serial number SN-0011"),
    ]
    with app_context(app):
        order = get_order(order_id)
        glucometer = next(od for od in order.devices if od.packed_kit_id is not None)
        assert [od.id for od in order.packed_kits[0].devices] == [glucometer.id]
        assert glucometer.order_item_id is None
        monitor = next(od for od in order.devices if od.packed_kit_id is None)
        assert monitor.order_item_id == order.items[0].id
        removed = glucometer.id
    with app.app_context():
        packing.remove_device(order_id, removed, actor("admin"))
        db.session.remove()
    assert events_of(app, order_id)[-1] == ("deviceRemoved", f"Glucometer {imei(11)}")
    assert plan_of(app, order_id) == [
        ("BP monitor 1 of 1", True),
        ("Diabetes kit 1: Glucometer", False),
    ]
    with app_context(app):
        assert get_order(order_id).packed_kits[0].devices == []


def test_devices_are_recorded_only_by_fulfillment_and_only_while_processing(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    assert refused_whole(app, order_id, imei(1)) == (
        "not_packing",
        "Devices are recorded while an order is Processing; this one is Created.",
        "conflict",
        None,
    )
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, imei(1), role="coordinator") == (
        "forbidden",
        "Only fulfillment records devices.",
        "forbidden",
        None,
    )


def test_a_line_that_has_its_device_and_an_order_that_has_them_all_take_no_more(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    slot = slot_keys(app, order_id)["Diabetes kit 1: Glucometer"]
    record(app, order_id, imei(1), slot_key=slot)
    assert refused_whole(app, order_id, imei(2), slot_key=slot) == (
        "slot_filled",
        "That line already has its device.",
        "conflict",
        "identifier",
    )
    assert refused_whole(app, order_id, imei(2)) == (
        "nothing_to_record",
        "Every device this order needs is already recorded.",
        "conflict",
        "identifier",
    )


@pytest.mark.parametrize("typed", [None, "", "   "])
def test_a_scan_needs_an_identifier(app, catalog, typed):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, typed) == (
        "identifier_required",
        "Scan or type the device identifier.",
        "invalid",
        "identifier",
    )


def test_an_identifier_is_at_most_64_characters(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, "A" * 65) == (
        "invalid_identifier",
        "That identifier is too long.",
        "invalid",
        "identifier",
    )
    code, message, _, _ = refused_whole(app, order_id, "A" * 64)
    assert (code, message.startswith("That identifier is too long.")) == (
        "invalid_identifier",
        False,
    )


def test_a_device_already_on_this_order_is_not_recorded_twice(app, catalog):
    order_id = place(app, catalog, items={"monitor": 2})
    move(app, order_id, "processing")
    record(app, order_id, "SN-0001")
    assert refused_whole(app, order_id, "SN-0001") == (
        "device_already_recorded",
        "This device is already on this order.",
        "conflict",
        "identifier",
    )


def another_device_item(app, kind: str, name: str, value: str) -> int:
    """A second device item taking unreceived devices, with one device ``value`` received."""
    from app.inventory import receipts

    with app.app_context(), write_transaction() as session:
        item = Item(name=name, sku=name[:3].upper(), device_identifier_type=kind)
        item.accept_unreceived_devices = True
        session.add(item)
        session.flush()
        item_id = item.id
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                reference="A device of another item",
                devices=[receipts.ReceiptDevices(item_id, [(kind, value)])],
            ),
            actor("admin"),
        )
        db.session.remove()
    return item_id


def test_a_received_device_of_another_item_is_refused_by_name(app, catalog):
    value = "TH-0042"
    another_device_item(app, "serial", "Thermometer", value)
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, value) == (
        "wrong_item",
        f"{value} is a Thermometer, which this order does not still need.",
        "invalid",
        "identifier",
    )
    slot = slot_keys(app, order_id)["BP monitor 1 of 1"]
    assert refused_whole(app, order_id, value, slot_key=slot) == (
        "wrong_item",
        f"{value} is a Thermometer, which this line does not take.",
        "invalid",
        "identifier",
    )


def test_a_sim_cards_number_is_refused_where_an_iccid_is_needed(app, catalog):
    value = iccid(4242)
    another_device_item(app, "simCardNumber", "SIM card", value)
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, value) == (
        "wrong_item",
        f"{value} is the SIM card number of a SIM card, which this order does not take.",
        "invalid",
        "identifier",
    )


def test_a_new_serial_two_lines_could_take_is_refused_until_its_line_is_chosen(app, catalog):
    catalog.items["thermometer"] = another_device_item(app, "serial", "Thermometer", "TH-1")
    order_id = place(app, catalog, items={"monitor": 1, "thermometer": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, "SN-777") == (
        "ambiguous_identifier",
        "Several lines take a serial number: enter it in the line it belongs to.",
        "invalid",
        "identifier",
    )
    slot = slot_keys(app, order_id)["Thermometer 1 of 1"]
    assert record(app, order_id, "SN-777", slot_key=slot) == "Thermometer 1 of 1"


def test_a_device_is_removed_only_while_packing_and_only_if_on_the_order(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    record(app, order_id, imei(3))
    with app_context(app):
        recorded = get_order(order_id).devices[0].id
    assert remove_refused(app, order_id, recorded + 1) == (
        "device_not_on_order",
        "That device is not on this order.",
        "not_found",
        None,
    )
    not_packing = (
        "not_packing",
        "Devices can be removed only while the order is Processing.",
        "conflict",
        None,
    )
    assert remove_refused(app, order_id, recorded, role="coordinator") == not_packing
    move(app, order_id, "packed")
    assert remove_refused(app, order_id, recorded) == not_packing
    assert recorded_values(app, order_id) == [imei(3)]


# --- What a scan is taken for, each refusal whole ------------------------------------------


def test_an_unreadable_value_is_refused_whole_by_scan_and_by_line(app, catalog):
    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    problem = (
        "This is not a device identifier: a serial number is 4 to 40 letters, digits or dashes."
    )
    assert refused_whole(app, order_id, "AB") == (
        "invalid_identifier",
        f"{problem} Still needed: 1 serial number for BP monitor.",
        "invalid",
        "identifier",
    )
    slot = slot_keys(app, order_id)["BP monitor 1 of 1"]
    assert refused_whole(app, order_id, "AB", slot_key=slot) == (
        "invalid_identifier",
        problem,
        "invalid",
        "identifier",
    )


def test_an_imei_with_a_wrong_check_digit_is_refused_whole_by_scan_and_by_line(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    good = imei(5)
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    problem = (
        "This looks like an IMEI. This IMEI's check digit is wrong; check for a mistyped digit."
    )
    assert refused_whole(app, order_id, wrong) == (
        "invalid_identifier",
        f"{problem} Still needed: 1 IMEI for Glucometer (Diabetes kit 1).",
        "invalid",
        "identifier",
    )
    slot = slot_keys(app, order_id)["Diabetes kit 1: Glucometer"]
    assert refused_whole(app, order_id, wrong, slot_key=slot) == (
        "invalid_identifier",
        problem,
        "invalid",
        "identifier",
    )


def test_a_value_of_a_kind_the_order_does_not_need_is_refused_whole(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, iccid(8)) == (
        "invalid_identifier",
        "This looks like an ICCID. The order needs no more of those. "
        "Still needed: 1 IMEI for Glucometer (Diabetes kit 1).",
        "invalid",
        "identifier",
    )
    slot = slot_keys(app, order_id)["Diabetes kit 1: Glucometer"]
    assert refused_whole(app, order_id, iccid(8), slot_key=slot) == (
        "invalid_identifier",
        "This looks like an ICCID. This line takes an IMEI.",
        "invalid",
        "identifier",
    )


def test_the_still_needed_list_names_six_kinds_of_device_and_counts_the_rest(app, catalog):
    kit_needs = [
        f"1 {what} (Hypertension kit {n})"
        for n in (1, 2, 3)
        for what in ("serial number for BP monitor", "ICCID for Gateway")
    ]
    six = place(app, catalog, kits={"hypertension": 3})
    move(app, six, "processing")
    assert refused_whole(app, six, "AB")[1].split(" Still needed: ")[1] == (
        ", ".join(kit_needs) + "."
    )
    seven = place(app, catalog, items={"monitor": 2}, kits={"hypertension": 3})
    move(app, seven, "processing")
    assert refused_whole(app, seven, "AB")[1].split(" Still needed: ")[1] == (
        ", ".join(["2 serial numbers for BP monitor", *kit_needs[:5], "and 1 more"]) + "."
    )
    eight = place(app, catalog, kits={"hypertension": 4})
    move(app, eight, "processing")
    assert refused_whole(app, eight, "AB")[1].split(" Still needed: ")[1] == (
        ", ".join([*kit_needs, "and 2 more"]) + "."
    )


def test_a_serial_that_fits_no_lines_pattern_is_refused_naming_each_item_and_pattern(app, catalog):
    set_monitor_pattern(app, catalog)
    catalog.items["thermometer"] = another_device_item(app, "serial", "Thermometer", "TH-0001")
    give_serial_pattern(app, catalog.items["thermometer"], "TH-[0-9]{4}")
    order_id = place(app, catalog, items={"monitor": 1, "thermometer": 1})
    move(app, order_id, "processing")
    assert refused_whole(app, order_id, "zz-1234") == (
        "serial_pattern_mismatch",
        "ZZ-1234 does not fit the serial numbers of BP monitor or Thermometer "
        f"(pattern {MONITOR_PATTERN} or TH-[0-9]{{4}}): check it is the right label, "
        "scanned once. Still needed: 1 serial number for BP monitor, "
        "1 serial number for Thermometer.",
        "invalid",
        "identifier",
    )
    slot = slot_keys(app, order_id)["Thermometer 1 of 1"]
    assert refused_whole(app, order_id, "zz-1234", slot_key=slot) == (
        "serial_pattern_mismatch",
        "ZZ-1234 does not fit the serial numbers of Thermometer (pattern TH-[0-9]{4}): "
        "check it is the right label, scanned once.",
        "invalid",
        "identifier",
    )


def test_a_new_serial_that_fits_one_lines_pattern_goes_to_that_line(app, catalog):
    set_monitor_pattern(app, catalog)
    catalog.items["thermometer"] = another_device_item(app, "serial", "Thermometer", "TH-0001")
    give_serial_pattern(app, catalog.items["thermometer"], "TH-[0-9]{4}")
    order_id = place(app, catalog, items={"thermometer": 1, "monitor": 1})
    move(app, order_id, "processing")
    assert record(app, order_id, "bp7450-0042") == "BP monitor 1 of 1"
    assert plan_of(app, order_id) == [("Thermometer 1 of 1", False), ("BP monitor 1 of 1", True)]
    assert events_of(app, order_id)[-1] == (
        "deviceRecorded",
        "BP monitor 1 of 1: Serial number BP7450-0042",
    )


def test_a_received_device_goes_to_its_own_items_line_when_another_takes_the_same_kind(
    app, catalog
):
    catalog.items["thermometer"] = another_device_item(app, "serial", "Thermometer", "TH-0001")
    order_id = place(app, catalog, items={"monitor": 1, "thermometer": 1})
    move(app, order_id, "processing")
    assert record(app, order_id, "TH-0001") == "Thermometer 1 of 1"
    assert plan_of(app, order_id) == [("BP monitor 1 of 1", False), ("Thermometer 1 of 1", True)]
    with app_context(app):
        (recorded,) = get_order(order_id).devices
        assert (recorded.device.item.name, recorded.device.current_status) == (
            "Thermometer",
            "allocated",
        )


def test_a_value_on_record_as_a_sim_cards_number_and_a_gateways_iccid_records_the_gateway(
    app, catalog
):
    from app.inventory import receipts

    value = iccid(4343)
    another_device_item(app, "simCardNumber", "SIM card", value)
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                reference="A gateway",
                devices=[receipts.ReceiptDevices(catalog.items["gateway"], [("iccid", value)])],
            ),
            actor("admin"),
        )
        db.session.remove()
    order_id = place(app, catalog, kits={"hypertension": 1})
    move(app, order_id, "processing")
    assert record(app, order_id, value) == "Hypertension kit 1: Gateway"
    with app_context(app):
        (recorded,) = get_order(order_id).devices
        assert recorded.device.item.name == "Gateway"
        assert [(i.type, i.value) for i in recorded.device.identifiers] == [("iccid", value)]


def test_a_kit_with_two_devices_of_one_item_numbers_them_and_fills_them_in_turn(app, catalog):
    with app.app_context():
        kit = catalog_service.create_kit(
            catalog_service.KitDraft(
                name="Twin kit",
                lines=[catalog_service.KitLineDraft(catalog.items["glucometer"], 2)],
            ),
            actor("admin"),
        )
        catalog.kits["twin"] = kit.id
        db.session.remove()
    order_id = place(app, catalog, kits={"twin": 1})
    move(app, order_id, "processing")
    assert record(app, order_id, imei(21)) == "Twin kit 1: Glucometer 1"
    assert plan_of(app, order_id) == [
        ("Twin kit 1: Glucometer 1", True),
        ("Twin kit 1: Glucometer 2", False),
    ]
    assert record(app, order_id, imei(22)) == "Twin kit 1: Glucometer 2"
    assert events_of(app, order_id)[-2:] == [
        ("deviceRecorded", f"Twin kit 1: Glucometer 1: IMEI {imei(21)}"),
        ("deviceRecorded", f"Twin kit 1: Glucometer 2: IMEI {imei(22)}"),
    ]


def test_removing_a_lines_device_frees_the_line_and_puts_the_device_back_on_the_shelf(app, catalog):
    from app.inventory.models import DeviceEvent

    order_id = place(app, catalog, items={"monitor": 2})
    move(app, order_id, "processing")
    record(app, order_id, "SN-0101")
    record(app, order_id, "SN-0102")
    with app_context(app):
        first, second = get_order(order_id).devices
        removed, device_id, kept = first.id, first.device_id, second.id
    with app.app_context():
        packing.remove_device(order_id, removed, actor("fulfillment"))
        db.session.remove()
    assert plan_of(app, order_id) == [("BP monitor 1 of 2", True), ("BP monitor 2 of 2", False)]
    assert recorded_values(app, order_id) == ["SN-0102"]
    assert events_of(app, order_id)[-1] == ("deviceRemoved", "BP monitor SN-0101")
    with app_context(app) as session:
        assert [od.id for od in get_order(order_id).devices] == [kept]
        last = session.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == device_id)
            .order_by(DeviceEvent.id.desc())
        ).first()
        assert (last.status, last.order_id, last.note, last.actor_user.role) == (
            "inStock",
            order_id,
            "Removed from the order",
            "fulfillment",
        )
        assert last.device.current_status == "inStock"


def test_each_kits_devices_are_stored_in_that_kits_own_packed_kit(app, catalog):
    order_id = place(app, catalog, kits={"diabetes": 2})
    move(app, order_id, "processing")
    keys = slot_keys(app, order_id)
    assert record(app, order_id, imei(31), keys["Diabetes kit 2: Glucometer"]) == (
        "Diabetes kit 2: Glucometer"
    )
    assert record(app, order_id, imei(32), keys["Diabetes kit 1: Glucometer"]) == (
        "Diabetes kit 1: Glucometer"
    )
    with app_context(app):
        first, second = get_order(order_id).packed_kits
        assert first.id < second.id
        assert [
            [i.value for od in pk.devices for i in od.device.identifiers] for pk in (first, second)
        ] == [
            [imei(32)],
            [imei(31)],
        ]
