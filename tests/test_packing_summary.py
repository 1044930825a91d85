"""Packing summaries: content, batches, the print record and the cost in queries."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.orders.models import Order, OrderEvent
from app.orders.service import LineRequest
from tests.conftest import app_context
from tests.helpers.orders import move, pack_everything, place, receive_stock
from tests.helpers.web import Browserless


@pytest.fixture
def fulfillment(client, catalog):
    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_summary_holds_everything_needed_to_pack(app, fulfillment, catalog):
    order_id = place(
        app,
        catalog,
        items={"strips": 3, "monitor": 1},
        kits={"hypertension": 2},
        external_order_ids=["EHR-1", "EHR-2"],
        shipping_option="overnight",
        notes=["Leave at the back door"],
    )
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    html = fulfillment.get(f"/orders/{order_id}/packing-summary").text
    text = text_of(html)
    assert f"Order {order_id}" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="barcode"' in html
    assert "EHR-1, EHR-2" in text
    assert "Ada Lovelace" in text and "3 Main St" in text and "+16145550101" in text
    assert "OVERNIGHT" in text
    assert "3 Test strips" in text
    # Kit contents multiplied out: 2 kits x 1 monitor each.
    assert re.search(r"2 BP monitor \(1 per kit × 2\)", text)
    assert "Hypertension kit 2: Gateway" in text
    assert "SN000001" in text  # a device identifier recorded at packing
    assert "Leave at the back door" in text
    assert "Packed by" in text and "Signature" in text
    assert html.count('class="box"') >= 8  # a tick box per line


def test_two_way_order_shows_returns_and_label_instructions(app, fulfillment, catalog):
    emailed = place(
        app,
        catalog,
        return_items=[LineRequest(catalog.items["cuff"], 1)],
        email_label=True,
        shipping_option=None,
    )
    text = text_of(fulfillment.get(f"/orders/{emailed}/packing-summary").text)
    assert "Coming back" in text
    assert "BP cuff, large" in text
    assert "The return label is emailed to the recipient" in text


def test_batch_by_status_holds_each_order(app, fulfillment, catalog):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    move(app, ids[1], "processing")
    html = fulfillment.get("/orders/packing-summaries?status=created").text
    assert re.findall(r'aria-label="Order (\d+), page 1 of', html) == [str(ids[0]), str(ids[2])]


def test_batch_of_chosen_orders(app, fulfillment, catalog):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    html = fulfillment.get(
        f"/orders/packing-summaries?order={ids[2]}&order={ids[0]}&order=x&order=999999"
    ).text
    # In the order asked for: the list's order, as its boxes are ticked.
    assert re.findall(r'aria-label="Order (\d+), page 1 of', html) == [str(ids[2]), str(ids[0])]


def test_empty_batch_goes_back_to_the_list(fulfillment, catalog):
    response = fulfillment.get("/orders/packing-summaries")
    assert response.status_code == 303


def test_long_order_continues_with_its_number_and_page_x_of_y(app, fulfillment, catalog):
    from app.catalog.models import Item
    from app.db.transactions import write_transaction
    from app.orders import service
    from tests.helpers.orders import actor

    with app.app_context(), write_transaction() as session:
        extra = [Item(name=f"Supply number {n}", sku=f"SUP-{n}") for n in range(60)]
        session.add_all(extra)
        session.flush()
        extra_ids = [i.id for i in extra]
    receive_stock(app, {i: 1 for i in extra_ids})
    with app.app_context():
        order_id = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient, items=[service.LineRequest(i, 1) for i in extra_ids]
            ),
            actor("coordinator"),
        ).order.id
    html = fulfillment.get(f"/orders/{order_id}/packing-summary").text
    pages = re.findall(rf'aria-label="Order {order_id}, page (\d+) of (\d+)"', html)
    assert len(pages) >= 2
    assert [int(n) for n, _ in pages] == list(range(1, len(pages) + 1))
    assert {int(of) for _, of in pages} == {len(pages)}
    assert "To pack (continued)" in html
    for n in range(60):
        assert f"Supply number {n}<" in html


def test_summaries_cost_a_fixed_number_of_queries(app, fulfillment, catalog, count_queries):
    first = place(app, catalog, items={"strips": 1}, kits={"hypertension": 1})
    move(app, first, "processing")
    pack_everything(app, first)
    with count_queries() as one:
        fulfillment.get(f"/orders/packing-summaries?order={first}")
    ids = [first]
    receive_stock(app, {catalog.items["monitor"]: 90, catalog.items["gateway"]: 60})
    for n in range(30):
        order_id = place(app, catalog, items={"strips": 1, "monitor": 1}, kits={"hypertension": 2})
        move(app, order_id, "processing")
        pack_everything(app, order_id, start=100 + n * 10)
        ids.append(order_id)
    query = "&".join(f"order={i}" for i in ids)
    with count_queries() as many:
        html = fulfillment.get(f"/orders/packing-summaries?{query}").text
    assert html.count("page 1 of") == 31
    assert many.count == one.count


def test_printing_is_recorded_on_each_order(app, fulfillment, catalog):
    ids = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
    response = fulfillment.post(
        "/orders/packing-summaries/printed",
        {"order": [str(i) for i in ids]},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 204
    with app_context(app) as session:
        events = session.scalars(
            select(OrderEvent).where(OrderEvent.name == "packingSummaryPrinted")
        ).all()
        assert sorted(e.order_id for e in events) == ids
        assert {e.actor_user.email for e in events} == {"fulfillment@example.org"}
    page = fulfillment.get(f"/orders/{ids[0]}").text
    assert "Packing summary printed" in page


def test_printing_moves_each_printed_order_on_once_at_the_time_it_was_printed(
    app, fulfillment, catalog
):
    """Open order pages see the new event by the order's version: each printed order's goes
    up by one, with its last change at the event's time; other orders are left alone."""
    printed, other = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
    with app_context(app) as session:
        before = {o.id: (o.version, o.updated_at) for o in session.scalars(select(Order))}
    response = fulfillment.post(
        "/orders/packing-summaries/printed",
        {"order": str(printed)},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 204
    with app_context(app) as session:
        event = session.scalars(
            select(OrderEvent).where(OrderEvent.name == "packingSummaryPrinted")
        ).one()
        order = session.get(Order, printed)
        assert order.version == before[printed][0] + 1
        assert order.updated_at == event.event_timestamp > before[printed][1]
        untouched = session.get(Order, other)
        assert (untouched.version, untouched.updated_at) == before[other]


def test_print_button_without_javascript_records_and_goes_back(app, fulfillment, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    response = fulfillment.post(
        "/orders/packing-summaries/printed",
        {"order": str(order_id), "back": f"/orders/{order_id}/packing-summary"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/orders/{order_id}/packing-summary"
    assert "Recorded as printed" in fulfillment.get(response.headers["Location"]).text


def test_print_record_never_redirects_off_site(app, fulfillment, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    response = fulfillment.post(
        "/orders/packing-summaries/printed",
        {"order": str(order_id), "back": "https://evil.example/"},
    )
    assert response.headers["Location"] == "/orders/"


def test_summaries_need_a_signed_in_user(client, app, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    assert client.get(f"/orders/{order_id}/packing-summary").status_code == 302
    assert client.get("/orders/packing-summaries?status=created").status_code == 302


def test_the_note_for_the_packer_comes_first_on_the_first_sheet(app, fulfillment, catalog):
    order_id = place(app, catalog, items={"strips": 1}, notes=["Call before delivery"])
    html = fulfillment.get(f"/orders/{order_id}/packing-summary").text
    first_sheet = html.split('aria-label="Order', 2)[1]
    assert "Note for the packer" in first_sheet
    assert first_sheet.index("Call before delivery") < first_sheet.index("To pack")
    assert '<span class="small mrn">(MRN-1)</span>' in html
