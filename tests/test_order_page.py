"""The order page (timeline and actions), the order list and CSV export, through the server."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from flask import url_for

from tests.conftest import app_context
from tests.helpers.orders import (
    actor,
    delivered_order,
    imei,
    move,
    pack_everything,
    place,
    receive_stock,
)
from tests.helpers.web import Browserless


def person(client, role) -> Browserless:
    someone = Browserless(client)
    assert someone.sign_in(role).status_code == 303
    return someone


@pytest.fixture
def fulfillment(client, catalog):
    return person(client, "fulfillment")


@pytest.fixture
def order(app, catalog):
    return place(
        app, catalog, items={"strips": 2}, kits={"diabetes": 1}, external_order_ids=["EHR-77"]
    )


def status_of(app, order_id):
    from app.orders.models import Order

    with app_context(app) as session:
        return session.get(Order, order_id).current_status


def test_order_page_is_the_timeline(app, fulfillment, order):
    html = fulfillment.get(f"/orders/{order}").text
    assert 'id="order-status"' in html and "Created" in html
    assert "Ada Lovelace" in html and "Test strips" in html and "Diabetes kit" in html
    assert "Coordinator Tester" in html
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', html)
    assert "Start processing" in html
    assert "Cancel order" not in html  # fulfillment does not cancel


def test_only_allowed_actions_are_offered(app, client, catalog, order):
    coordinator = person(client, "coordinator")
    html = coordinator.get(f"/orders/{order}").text
    assert "Cancel order" in html and "Put on hold" in html
    assert "Start processing" not in html


def test_action_without_javascript_redirects_back_to_the_page(app, fulfillment, order):
    response = fulfillment.post(
        f"/orders/{order}/status", {"to_status": "processing", "from_status": "created"}
    )
    assert response.status_code == 303
    # Back to the page, which gives the keyboard to the next step's field if it has one.
    assert response.headers["Location"] == f"/orders/{order}?focus=next-field"
    assert status_of(app, order) == "processing"


def test_action_with_htmx_answers_the_live_part(app, fulfillment, order):
    response = fulfillment.post(
        f"/orders/{order}/status", {"to_status": "processing", "from_status": "created"}, htmx=True
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="order-live"')
    assert "<html" not in response.text
    assert "Processing" in response.text


def test_hold_without_reason_shows_the_error_at_the_reason(app, fulfillment, order):
    response = fulfillment.post(
        f"/orders/{order}/status", {"to_status": "onHold", "from_status": "created"}, htmx=True
    )
    assert response.status_code == 422
    assert 'id="reason-onHold-error"' in response.text
    assert "a reason is required" in response.text
    assert status_of(app, order) == "created"


def test_stale_action_is_refused_with_a_message(app, fulfillment, order):
    move(app, order, "processing")
    response = fulfillment.post(
        f"/orders/{order}/status", {"to_status": "processing", "from_status": "created"}, htmx=True
    )
    assert response.status_code == 409
    assert "someone changed it while you were looking" in response.text


def test_fulfillment_packs_by_scanning(app, fulfillment, order):
    move(app, order, "processing")
    html = fulfillment.get(f"/orders/{order}").text
    assert "0 of 1 device recorded" in html
    bad = fulfillment.post(f"/orders/{order}/devices", {"identifier": "123"}, htmx=True)
    assert bad.status_code == 422
    assert 'id="scan-error"' in bad.text
    response = fulfillment.post(f"/orders/{order}/devices", {"identifier": imei(11)}, htmx=True)
    assert response.status_code == 200
    assert imei(11) in response.text and "The device is recorded." in response.text
    more = fulfillment.post(f"/orders/{order}/devices", {"identifier": imei(12)}, htmx=True)
    assert more.status_code == 409
    assert "Every device this order needs is already recorded." in more.text


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_scan_empties_the_box_and_quotes_the_value(app, fulfillment, order, htmx):
    """Issue 9, defect 1: a scanner types the next value into whatever the box holds."""
    move(app, order, "processing")
    response = fulfillment.post(
        f"/orders/{order}/devices", {"identifier": "35000000000001"}, htmx=htmx
    )
    assert response.status_code == 422
    scan_box = re.search(r'<input[^>]*id="scan"[^>]*>', response.text).group(0)
    assert 'value=""' in scan_box and "autofocus" in scan_box
    assert "“35000000000001” was not recorded." in response.text
    assert "An IMEI is 15 digits." in response.text


# --- A refusal keeps what was typed, with and without htmx -----------------------------------


def kept(html: str, label: str) -> str | None:
    """What a field labelled ``label`` holds in the answer, wherever it is drawn: its own
    form, or the refusal's "not saved" box when that form is not offered any more."""
    found = re.search(rf'<label for="([^"]+)">{re.escape(label)}( \(not saved\))?</label>', html)
    if found is None:
        return None
    field_id = re.escape(found.group(1))
    textarea = re.search(rf'<textarea[^>]*\sid="{field_id}"[^>]*>\r?\n?([^<]*)</textarea>', html)
    if textarea:
        return unescape(textarea.group(1))
    tag = re.search(rf'<input[^>]*\sid="{field_id}"[^>]*>', html)
    if tag:
        value = re.search(r'\svalue="([^"]*)"', tag.group(0))
        return unescape(value.group(1)) if value else ""
    select = re.search(rf'<select[^>]*\sid="{field_id}"[^>]*>(.*?)</select>', html, re.S)
    chosen = select and re.search(r'<option selected value="([^"]*)"', select.group(1))
    return unescape(chosen.group(1)) if chosen else None


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_cancel_keeps_its_reason(app, client, catalog, order, htmx):
    coordinator = person(client, "coordinator")
    move(app, order, "onHold", role="fulfillment", reason="Stock count")
    refused = coordinator.post(
        f"/orders/{order}/status",
        {"to_status": "cancelled", "from_status": "created", "reason": "Patient moved away"},
        htmx=htmx,
    )
    assert refused.status_code == 409
    assert "someone changed it while you were looking" in refused.text
    assert kept(refused.text, "Reason for cancelling") == "Patient moved away"
    assert status_of(app, order) == "onHold"


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_hold_keeps_its_reason_when_holding_is_no_longer_offered(
    app, client, catalog, order, htmx
):
    coordinator = person(client, "coordinator")
    move(app, order, "cancelled", role="admin", reason="Duplicate")
    refused = coordinator.post(
        f"/orders/{order}/status",
        {"to_status": "onHold", "from_status": "created", "reason": "Waiting for insurance"},
        htmx=htmx,
    )
    assert refused.status_code == 409
    assert "Put on hold" not in refused.text  # nothing is offered on a cancelled order
    assert kept(refused.text, "Reason for the hold") == "Waiting for insurance"


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_shipment_keeps_its_carrier_and_tracking_number(app, fulfillment, order, htmx):
    move(app, order, "processing")
    pack_everything(app, order)
    move(app, order, "packed")
    bad = fulfillment.post(
        f"/orders/{order}/status",
        {
            "to_status": "shipped",
            "from_status": "packed",
            "carrier": "DHL",
            "tracking_number": "12345",
        },
        htmx=htmx,
    )
    assert bad.status_code == 422
    assert (kept(bad.text, "Carrier"), kept(bad.text, "Tracking number")) == ("DHL", "12345")
    # Put on hold meanwhile: shipping is not offered, what was typed is still shown.
    move(app, order, "onHold", role="coordinator", reason="Address check")
    stale = fulfillment.post(
        f"/orders/{order}/status",
        {
            "to_status": "shipped",
            "from_status": "packed",
            "carrier": "DHL",
            "tracking_number": "1234567890",
        },
        htmx=htmx,
    )
    assert stale.status_code == 409
    assert (kept(stale.text, "Carrier"), kept(stale.text, "Tracking number")) == (
        "DHL",
        "1234567890",
    )
    assert status_of(app, order) == "onHold"


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_tracking_number_is_kept(app, fulfillment, order, htmx):
    move(app, order, "processing")
    pack_everything(app, order)
    move(app, order, "packed")
    move(app, order, "shipped", tracking=("UPS", "1Z999AA10123456784"))
    bad = fulfillment.post(
        f"/orders/{order}/tracking", {"carrier": "FedEx", "tracking_number": "12"}, htmx=htmx
    )
    assert bad.status_code == 422
    assert (kept(bad.text, "Carrier"), kept(bad.text, "Tracking number")) == ("FedEx", "12")
    # Delivered meanwhile: no tracking number is added now, and what was typed is shown.
    move(app, order, "delivered")
    late = fulfillment.post(
        f"/orders/{order}/tracking",
        {"carrier": "DHL", "tracking_number": "1234567890"},
        htmx=htmx,
    )
    assert late.status_code == 409
    assert (kept(late.text, "Carrier"), kept(late.text, "Tracking number")) == (
        "DHL",
        "1234567890",
    )


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_note_is_kept(app, fulfillment, order, htmx):
    refused = fulfillment.post(f"/orders/{order}/notes", {"note": "x" * 2001}, htmx=htmx)
    assert refused.status_code == 422
    assert kept(refused.text, "Add a note") == "x" * 2001


def empty_slots(app, order_id: int) -> list[str]:
    from app.orders import packing
    from app.orders.lookups import get_order

    with app_context(app):
        return [s.key for s in packing.packing_plan(get_order(order_id)).slots if not s.filled]


@pytest.mark.parametrize("htmx", [True, False])
def test_a_device_typed_into_a_line_filled_meanwhile_is_kept(
    app, fulfillment, catalog, order, htmx
):
    move(app, order, "processing")
    [slot] = empty_slots(app, order)
    pack_everything(app, order)  # someone else recorded it meanwhile
    refused = fulfillment.post(
        f"/orders/{order}/devices", {"identifier": imei(31), "slot": slot}, htmx=htmx
    )
    assert refused.status_code == 409
    assert kept(refused.text, "Device identifier") == imei(31)
    # A line still waiting keeps the value in its own box.
    other = place(app, catalog, kits={"diabetes": 1})
    move(app, other, "processing")
    [slot] = empty_slots(app, other)
    bad = fulfillment.post(
        f"/orders/{other}/devices", {"identifier": "123", "slot": slot}, htmx=htmx
    )
    assert bad.status_code == 422
    assert re.search(rf'id="slot-{re.escape(slot)}"[^>]*\svalue="123"', bad.text, re.S)


@pytest.mark.parametrize("htmx", [True, False])
def test_a_wrong_tracking_number_is_removed_from_the_page_with_a_reason(
    app, fulfillment, order, htmx
):
    wrong = "1Z999AA10123456784"
    move(app, order, "processing")
    pack_everything(app, order)
    move(app, order, "packed")
    move(app, order, "shipped", tracking=("UPS", wrong))
    page = fulfillment.get(f"/orders/{order}").text
    assert f'<label for="remove-UPS-{wrong}">Why remove UPS {wrong}?</label>' in page
    assert (
        "Remove tracking number"
        not in person(app.test_client(), "coordinator").get(f"/orders/{order}").text
    )
    form = {"carrier": "UPS", "tracking_number": wrong}
    no_reason = fulfillment.post(
        f"/orders/{order}/tracking/remove", {**form, "reason": " "}, htmx=htmx
    )
    assert no_reason.status_code == 422
    assert re.search(rf'id="remove-UPS-{wrong}-error">Say why', no_reason.text)
    assert re.search(r'<details class="tracking-removal no-print" open>', no_reason.text)
    removed = fulfillment.post(
        f"/orders/{order}/tracking/remove", {**form, "reason": "Label of another parcel"}, htmx=htmx
    )
    assert removed.status_code == (200 if htmx else 303)
    page = fulfillment.get(f"/orders/{order}").text
    assert "Tracking number removed" in page and f"UPS {wrong}: Label of another parcel" in page
    assert f'href="https://www.ups.com/track?tracknum={wrong}"' not in page
    assert "on its way without a tracking number" in page and 'id="tracking-form"' in page
    assert status_of(app, order) == "shipped"


def test_ship_with_tracking_in_one_step(app, fulfillment, order):
    move(app, order, "processing")
    pack_everything(app, order)
    move(app, order, "packed")
    bad = fulfillment.post(
        f"/orders/{order}/status",
        {
            "to_status": "shipped",
            "from_status": "packed",
            "carrier": "UPS",
            "tracking_number": "nope",
        },
        htmx=True,
    )
    assert bad.status_code == 422
    assert 'id="ship-tracking-error"' in bad.text
    good = fulfillment.post(
        f"/orders/{order}/status",
        {
            "to_status": "shipped",
            "from_status": "packed",
            "carrier": "UPS",
            "tracking_number": "1Z999AA10123456784",
        },
        htmx=True,
    )
    assert good.status_code == 200
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"' in good.text
    assert status_of(app, order) == "shipped"


def test_notes_appear_on_the_timeline(app, client, catalog, order):
    coordinator = person(client, "coordinator")
    response = coordinator.post(
        f"/orders/{order}/notes", {"note": "Patient prefers mornings <b>!</b>"}, htmx=True
    )
    assert response.status_code == 200
    assert "Patient prefers mornings &lt;b&gt;!&lt;/b&gt;" in response.text
    empty = coordinator.post(f"/orders/{order}/notes", {"note": "  "}, htmx=True)
    assert empty.status_code == 422
    assert 'id="note-error"' in empty.text


def test_polling_answers_204_until_the_order_changes(app, fulfillment, order):
    from app.orders.models import Order

    with app_context(app) as session:
        version = session.get(Order, order).version
    assert (
        fulfillment.get(
            f"/orders/{order}/changes?since={version}", headers={"HX-Request": "true"}
        ).status_code
        == 204
    )
    move(app, order, "processing")
    changed = fulfillment.get(
        f"/orders/{order}/changes?since={version}", headers={"HX-Request": "true"}
    )
    assert changed.status_code == 200
    assert "Processing" in changed.text
    assert f"since={version + 1}" in changed.text


def test_unknown_order_is_404(fulfillment, catalog):
    assert fulfillment.get("/orders/999999").status_code == 404
    assert fulfillment.post("/orders/999999/status", {"to_status": "processing"}).status_code == 404


def test_timeline_costs_the_same_queries_however_long_the_order(
    app, fulfillment, catalog, count_queries
):
    receive_stock(app, {catalog.items["glucometer"]: 13, catalog.items["monitor"]: 13})
    small = place(app, catalog, kits={"diabetes": 1})
    big = place(
        app, catalog, kits={"diabetes": 12, "hypertension": 8}, items={"monitor": 5, "strips": 9}
    )
    for order_id in (small, big):
        move(app, order_id, "processing")
        pack_everything(app, order_id, start=1 if order_id == small else 100)
        move(app, order_id, "packed")
    with count_queries() as one:
        assert fulfillment.get(f"/orders/{small}").status_code == 200
    with count_queries() as many:
        assert fulfillment.get(f"/orders/{big}").status_code == 200
    assert many.count == one.count


def order_with_every_kind_of_line(app, catalog, n: int) -> int:
    """A packed order with ``n`` of everything: items, kits, devices, external ids, notes,
    a tracking number and return lines of each kind (devices and packed kits delivered on an
    earlier order)."""
    from app.orders import lifecycle
    from app.orders.models import Order
    from app.orders.service import LineRequest

    delivered = delivered_order(app, catalog, items={"monitor": n}, kits={"diabetes": n})
    with app_context(app) as session:
        sent = session.get(Order, delivered)
        monitors = [od.device_id for od in sent.devices if od.order_item_id]
        packed_kits = [pk.id for pk in sent.packed_kits]
    order_id = place(
        app,
        catalog,
        items={"monitor": n, "strips": n},
        kits={"diabetes": n, "hypertension": n},
        external_order_ids=[f"EHR-{delivered}-{k}" for k in range(n)],
        notes=[f"Note {k}" for k in range(n)],
        return_items=[LineRequest(catalog.items["cuff"], n)],
        return_device_ids=monitors,
        return_packed_kit_ids=packed_kits,
    )
    move(app, order_id, "processing")
    pack_everything(app, order_id, start=order_id * 100)
    move(app, order_id, "packed")
    with app.app_context():
        lifecycle.add_tracking_number(order_id, "UPS", "1Z999AA10123456784", actor("fulfillment"))
        lifecycle.add_note(order_id, "Packed with care", actor("fulfillment"))
    return order_id


def test_every_kind_of_line_costs_the_same_queries_however_many(
    app, fulfillment, catalog, count_queries
):
    """The order is read with plain statements, one per kind of line it has: more lines of
    each kind cost no more statements."""
    receive_stock(
        app,
        {
            catalog.items["glucometer"]: 20,
            catalog.items["monitor"]: 20,
            catalog.items["gateway"]: 20,
        },
    )
    small = order_with_every_kind_of_line(app, catalog, 1)
    big = order_with_every_kind_of_line(app, catalog, 4)
    counts = []
    for order_id in (small, big):
        with count_queries() as page:
            html = fulfillment.get(f"/orders/{order_id}").text
        assert "Expected back" in html and "Packed with care" in html and "1Z999AA" in html
        with count_queries() as live:
            assert fulfillment.get(f"/orders/{order_id}/changes?since=0").status_code == 200
        with count_queries() as summary:
            assert fulfillment.get(f"/orders/{order_id}/packing-summary").status_code == 200
        counts.append((page.count, live.count, summary.count))
    assert counts[0] == counts[1]


def test_the_page_reads_plain_copies_that_tell_what_the_orm_objects_tell(app, catalog):
    """The page and the summaries read the order through read_model (plain statements);
    the packing plan, the timeline, the last scan and the summary's sections come out as
    they do from the ORM's objects, which the changes in lifecycle load."""
    from app.orders import packing, read_model
    from app.orders.lookups import get_order
    from app.orders.web import order_detail, packing_summary

    receive_stock(app, {catalog.items["glucometer"]: 10, catalog.items["monitor"]: 10})
    packed = order_with_every_kind_of_line(app, catalog, 2)
    partly = place(app, catalog, items={"monitor": 2}, kits={"diabetes": 2, "hypertension": 1})
    move(app, partly, "processing")
    with app.app_context():
        packing.record_device(partly, imei(901), actor("fulfillment"))
        packing.record_device(partly, "SN000901", actor("fulfillment"))

    def slots(plan):
        return [
            (s.key, s.label, s.item.id, s.order_item_id, s.kit_name, s.kit_number)
            + ((s.filled.id, s.filled.device.id) if s.filled else ())
            + ((s.packed_kit.id,) if s.packed_kit else ())
            for s in plan.slots
        ]

    for order_id in (packed, partly):
        with app.app_context():
            orm, plain = get_order(order_id), read_model.load_one(order_id)
            orm_plan, plain_plan = packing.packing_plan(orm), packing.packing_plan(plain)
            assert slots(plain_plan) == slots(orm_plan) and plain_plan.slots
            assert order_detail._timeline(plain) == order_detail._timeline(orm)
            assert order_detail.last_scan(plain, plain_plan) == order_detail.last_scan(
                orm, orm_plan
            )
            assert packing_summary.sections_of(plain) == packing_summary.sections_of(orm)
            assert (plain.version, plain.held_from_status) == (orm.version, orm.held_from_status)
            assert plain.recipient.address.lines() == orm.recipient.address.lines()
            assert plain.has_return_lines == orm.has_return_lines


# --- Roles, route by route ---------------------------------------------------------------

ROUTES = [
    ("get", "/orders/", {"coordinator": 200, "fulfillment": 200, "admin": 200}),
    ("get", "/orders/export.csv", {"coordinator": 200, "fulfillment": 200, "admin": 200}),
    ("get", "/orders/new", {"coordinator": 200, "fulfillment": 403, "admin": 200}),
    ("get", "/orders/{id}", {"coordinator": 200, "fulfillment": 200, "admin": 200}),
    ("post", "/orders/{id}/notes", {"coordinator": 303, "fulfillment": 303, "admin": 303}),
    ("post", "/orders/{id}/devices", {"coordinator": 403, "fulfillment": 409, "admin": 409}),
    ("post", "/orders/{id}/tracking", {"coordinator": 403, "fulfillment": 409, "admin": 409}),
    (
        "post",
        "/orders/{id}/status#processing",
        {"coordinator": 403, "fulfillment": 303, "admin": 303},
    ),
    (
        "post",
        "/orders/{id}/status#cancelled",
        {"coordinator": 303, "fulfillment": 403, "admin": 303},
    ),
]


@pytest.mark.parametrize("role", ["coordinator", "fulfillment", "admin"])
@pytest.mark.parametrize("method, url, expected", ROUTES, ids=[r[1] for r in ROUTES])
def test_roles_are_enforced_route_by_route(app, client, catalog, role, method, url, expected):
    order_id = place(app, catalog, items={"strips": 1})
    someone = person(client, role)
    path, _, to_status = url.format(id=order_id).partition("#")
    if method == "get":
        response = someone.get(path)
    else:
        data = {
            "note": "hello",
            "identifier": "SN-1",
            "carrier": "DHL",
            "tracking_number": "1234567890",
        }
        if to_status:
            data.update(to_status=to_status, from_status="created", reason="because")
        response = someone.post(path, data)
    assert response.status_code == expected[role]


def test_signed_out_people_reach_nothing(client, catalog, app):
    order_id = place(app, catalog, items={"strips": 1})
    for url in (
        f"/orders/{order_id}",
        "/orders/",
        "/orders/export.csv",
        f"/orders/{order_id}/changes",
    ):
        assert client.get(url).status_code == 302
    assert client.post(f"/orders/{order_id}/status", data={}).status_code in (302, 400)


# --- The order list ------------------------------------------------------------------------


@pytest.fixture
def many_orders(app, catalog):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(7)]
    ids.append(place(app, catalog, items={"strips": 1}, patient=False, shipping_option="overnight"))
    move(app, ids[0], "processing")
    move(app, ids[1], "cancelled", role="coordinator", reason="not needed")
    return ids


def listed(someone, query=""):
    response = someone.get(f"/orders/?{query}")
    assert response.status_code == 200
    body = (
        response.text.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in response.text else ""
    )
    return [int(i) for i in re.findall(r'<a href="/orders/(\d+)">', body)], response.text


def test_list_shows_newest_first_with_status_counts(fulfillment, many_orders):
    ids, html = listed(fulfillment)
    assert ids == sorted(many_orders, reverse=True)
    assert re.search(r"All <span class=\"count\">8</span>", html)
    assert re.search(r"Processing <span class=\"count\">1</span>", html)
    assert re.search(r"Cancelled <span class=\"count\">1</span>", html)


def test_list_rows_link_to_the_order_pages(app, fulfillment, many_orders):
    """The rows build their links from the list's address (one url_for a page): they must
    be the order pages' own."""
    _, html = listed(fulfillment)
    with app.test_request_context():
        for order_id in many_orders:
            assert f'<a href="{url_for("orders.show_order", order_id=order_id)}">' in html


def test_list_filters(fulfillment, many_orders, catalog):
    assert listed(fulfillment, "status=processing")[0] == [many_orders[0]]
    assert listed(fulfillment, "kind=site")[0] == [many_orders[-1]]
    assert listed(fulfillment, "shipping=overnight")[0] == [many_orders[-1]]
    assert listed(fulfillment, f"site={catalog.site}")[0] == sorted(many_orders, reverse=True)
    assert listed(fulfillment, "from=2000-01-01&to=2000-01-02")[0] == []
    ids, html = listed(fulfillment, "from=nonsense")
    assert "Use a date like" in html


def test_list_search(app, fulfillment, many_orders):
    assert listed(fulfillment, "q=Lovelace")[0] == sorted(many_orders[:-1], reverse=True)
    assert listed(fulfillment, f"q={many_orders[3]}")[0] == [many_orders[3]]
    assert listed(fulfillment, "q=Nobody")[0] == []


def test_list_search_by_external_id_and_tracking(app, fulfillment, catalog):
    target = place(app, catalog, items={"strips": 1}, external_order_ids=["EHR-4242"])
    other = place(app, catalog, items={"strips": 1})
    move(app, other, "processing", "packed")
    from app.orders import lifecycle
    from tests.helpers.orders import actor

    with app.app_context():
        lifecycle.add_tracking_number(other, "FedEx", "123456789012", actor("fulfillment"))
    assert listed(fulfillment, "q=EHR-4242")[0] == [target]
    assert listed(fulfillment, "q=1234 5678 9012")[0] == [other]


def test_list_pages_with_keyset_cursors_both_ways(fulfillment, many_orders):
    newest = sorted(many_orders, reverse=True)
    first, html = listed(fulfillment, "size=25")
    assert first == newest
    # three pages of 3 with a made-up small size is not offered; use sort + cursor directly
    page1, html = listed(fulfillment, f"after={newest[2] + 1}")
    assert page1 == newest[2:]
    oldest, _ = listed(fulfillment, "sort=oldest")
    assert oldest == sorted(many_orders)
    back, _ = listed(fulfillment, f"sort=oldest&before={sorted(many_orders)[4]}")
    assert back == sorted(many_orders)[:4]


def test_list_pager_links_follow_the_filters(app, fulfillment, catalog):
    for _ in range(27):
        place(app, catalog, items={"strips": 1})
    ids, html = listed(fulfillment, "kind=patient")
    assert len(ids) == 25
    next_link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "kind=patient" in next_link
    rest, html2 = listed(fulfillment, next_link.split("?", 1)[1])
    assert len(rest) == 2 and set(rest).isdisjoint(ids)
    prev_link = re.search(r'rel="prev" href="([^"]+)"', html2).group(1).replace("&amp;", "&")
    back, _ = listed(fulfillment, prev_link.split("?", 1)[1])
    assert back == ids


def test_list_by_last_change(app, fulfillment, many_orders):
    ids, _ = listed(fulfillment, "sort=updated")
    assert ids[0] in (many_orders[0], many_orders[1])  # the ones changed after placing
    assert sorted(ids) == sorted(many_orders)


def test_htmx_list_request_gets_the_results_part(fulfillment, many_orders):
    response = fulfillment.get("/orders/?status=created", headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith("{#") is False
    assert 'id="order-results"' in response.text[:200]
    assert "<html" not in response.text


def test_list_costs_a_fixed_number_of_queries(app, fulfillment, catalog, count_queries):
    place(app, catalog, items={"strips": 1})
    with count_queries() as one:
        fulfillment.get("/orders/?q=Ada")
    for _ in range(30):
        place(app, catalog, items={"strips": 1}, external_order_ids=["X"])
    with count_queries() as many:
        fulfillment.get("/orders/?q=Ada")
    assert many.count == one.count


def test_htmx_list_costs_a_fixed_number_of_queries_and_reads_no_sites(
    app, fulfillment, catalog, count_queries
):
    """The results part has no filter form: its site names are not read. Its rows' external
    ids and tracking numbers come in one statement, however many."""
    from app.orders import lifecycle
    from tests.helpers.orders import actor

    htmx = {"HX-Request": "true"}
    place(app, catalog, items={"strips": 1})
    with count_queries() as full:
        fulfillment.get("/orders/")
    with count_queries() as one:
        fulfillment.get("/orders/", headers=htmx)
    for n in range(30):
        order_id = place(app, catalog, items={"strips": 1}, external_order_ids=["X", "Y"])
        if n >= 27:  # among the newest, on the first page
            move(app, order_id, "processing", "packed")
            with app.app_context():
                for number in ("123456789012", "123456789023"):
                    lifecycle.add_tracking_number(order_id, "FedEx", number, actor("fulfillment"))
    with count_queries() as many:
        html = fulfillment.get("/orders/", headers=htmx).text
    assert html.count('href="https://') >= 6 and html.count("X, Y") == 25
    assert many.count == one.count == full.count - 1


def test_csv_export_follows_the_filters(app, fulfillment, many_orders):
    response = fulfillment.get("/orders/export.csv?status=created")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["Order", "Status", "Placed (UTC)"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(many_orders[2:])
    assert {r[1] for r in rows[1:]} == {"Created"}


def test_csv_export_defuses_formulas(app, fulfillment, catalog):
    from app.db.transactions import write_transaction
    from app.people.models import Patient

    with app.app_context(), write_transaction() as session:
        session.get(Patient, catalog.patient).first_name = "=HYPERLINK(1)"
    place(app, catalog, items={"strips": 1})
    text = fulfillment.get("/orders/export.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1) Lovelace" in text


def test_a_search_matching_too_many_shows_the_newest_and_says_so(
    app, fulfillment, many_orders, monkeypatch
):
    from app.orders import listing

    monkeypatch.setattr(listing, "SEARCH_CAP", 3)
    ids, html = listed(fulfillment, "q=Lovelace")
    assert ids == sorted(many_orders[:-1], reverse=True)[:3]
    assert "More orders match than can be shown: these are the newest 3" in html


@pytest.mark.parametrize("window", [0, 1, 2, 3, 4, 6, 100])
@pytest.mark.parametrize("cap", [3, 500])
def test_a_name_search_finds_the_newest_whichever_orders_are_recent(
    app, fulfillment, many_orders, monkeypatch, window, cap
):
    """A patient's newest orders are looked for among the newest RECENT_WINDOW orders first,
    the older ones only if too few are there: the same newest matches either way."""
    from app.orders import listing

    monkeypatch.setattr(listing, "SEARCH_CAP", cap)
    monkeypatch.setattr(listing, "RECENT_WINDOW", window)
    ids, html = listed(fulfillment, "q=Lovelace")
    assert ids == sorted(many_orders[:-1], reverse=True)[:cap]
    assert ("More orders match than can be shown" in html) == (cap == 3)
