"""Packing summaries rendered to PDF by Chromium (print media), read back like paper.

Checks page counts on US Letter and A4, that each order starts on its own page, that
every line and device identifier is in the PDF's text, and that the barcode, rasterised
from the PDF, decodes to the order number.
"""

from __future__ import annotations

import io
import re
import unicodedata

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.orders import service
from tests.helpers.orders import actor, move, pack_everything, place, receive_stock

pytestmark = pytest.mark.browser


def pdf_of(page, url: str, paper: str) -> bytes:
    page.goto(url)
    page.emulate_media(media="print")
    return page.pdf(format=paper, print_background=True)


def pages_text(pdf: bytes) -> list[str]:
    # NFKC undoes typographic ligatures ("ﬀ" in "cuff") that PDF text carries.
    return [
        unicodedata.normalize("NFKC", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages
    ]


def barcodes(pdf: bytes, page_number: int = 0) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    image = document[page_number].render(scale=3).to_pil()
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.Code128
    ]


@pytest.fixture
def packed_order(app, catalog):
    """A typical order: one patient, two items, one kit, packed, with a note."""
    order_id = place(
        app,
        catalog,
        items={"strips": 4, "monitor": 1},
        kits={"hypertension": 1},
        external_order_ids=["EHR-PDF-1"],
        shipping_option="overnight",
        notes=["Fragile: pack the monitor in foam"],
    )
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    with app.app_context():
        from app.orders.lookups import get_order

        order = get_order(order_id)
        identifiers = [i.value for od in order.devices for i in od.device.identifiers]
    return order_id, identifiers


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_typical_order_fits_one_page_with_every_line_and_device(
    page, sign_in, base_url, packed_order, paper
):
    order_id, identifiers = packed_order
    sign_in("fulfillment")
    pdf = pdf_of(page, f"{base_url}/orders/{order_id}/packing-summary", paper)
    texts = pages_text(pdf)
    assert len(texts) == 1
    text = re.sub(r"\s+", " ", texts[0])
    assert f"Order {order_id}" in text and "Page 1 of 1" in text
    assert "OVERNIGHT" in text.replace(" ", "")
    for line in ("Test strips", "BP monitor", "Hypertension kit", "BP cuff, large", "Gateway"):
        assert line in text
    assert len(identifiers) == 3
    for identifier in identifiers:
        assert identifier in text.replace(" ", "") or identifier in text
    assert "EHR-PDF-1" in text and "Fragile: pack the monitor in foam" in text
    assert "Navigation" not in text and "Sign out" not in text and "Print 1 packing" not in text
    assert barcodes(pdf) == [str(order_id)]


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_batch_puts_each_order_on_its_own_pages(page, sign_in, base_url, app, catalog, paper):
    ids = [place(app, catalog, items={"strips": n + 1}, kits={"diabetes": 1}) for n in range(4)]
    sign_in("fulfillment")
    pdf = pdf_of(page, f"{base_url}/orders/packing-summaries?status=created", paper)
    texts = pages_text(pdf)
    assert len(texts) == 4
    for n, (order_id, text) in enumerate(zip(ids, texts, strict=True)):
        assert re.search(rf"Order {order_id}\b", text)
        assert "Page 1 of 1" in text
        other = [i for i in ids if i != order_id]
        assert not any(re.search(rf"Order {i}\b", text) for i in other)
        assert barcodes(pdf, n) == [str(order_id)]


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_long_order_continues_with_its_number_and_page_x_of_y(
    page, sign_in, base_url, app, catalog, paper
):
    with app.app_context(), write_transaction() as session:
        extra = [Item(name=f"Supply item number {n:02d}", sku=f"SUP-{n:02d}") for n in range(70)]
        session.add_all(extra)
        session.flush()
        extra_ids = [i.id for i in extra]
    receive_stock(app, {i: 2 for i in extra_ids})
    with app.app_context():
        order_id = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient,
                items=[service.LineRequest(i, 2) for i in extra_ids],
                kits=[service.LineRequest(catalog.kits["hypertension"], 3)],
            ),
            actor("coordinator"),
        ).order.id
    short_id = place(app, catalog, items={"strips": 1})
    sign_in("fulfillment")
    pdf = pdf_of(
        page, f"{base_url}/orders/packing-summaries?order={order_id}&order={short_id}", paper
    )
    texts = [re.sub(r"\s+", " ", t) for t in pages_text(pdf)]
    long_pages = [t for t in texts if f"Order {order_id}" in t]
    total = len(long_pages)
    assert total >= 3
    for n, text in enumerate(long_pages, start=1):
        assert f"Page {n} of {total}" in text
    # The short order starts on a fresh page after the long one.
    assert f"Order {short_id}" in texts[total] and "Page 1 of 1" in texts[total]
    everything = " ".join(long_pages)
    for n in range(70):
        assert f"Supply item number {n:02d}" in everything
    assert everything.count("Hypertension kit") >= 1
    assert "Packed by" in long_pages[-1] and "Packed by" not in long_pages[0]


def test_print_button_records_printing(page, sign_in, base_url, app, catalog):
    from sqlalchemy import select

    from app.orders.models import OrderEvent
    from tests.conftest import app_context

    order_id = place(app, catalog, items={"strips": 1})
    sign_in("fulfillment")
    page.goto(f"{base_url}/orders/{order_id}/packing-summary")
    # Headless Chromium has no print dialog: announce the end of printing as a browser does.
    with page.expect_response(lambda r: r.url.endswith("/packing-summaries/printed")) as answer:
        page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert answer.value.status == 204
    with app_context(app) as session:
        names = session.scalars(
            select(OrderEvent.name).where(OrderEvent.order_id == order_id)
        ).all()
    assert names == ["created", "packingSummaryPrinted"]


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_a_created_orders_summary_has_a_row_per_device_kit_contents_included(
    page, sign_in, base_url, app, catalog, paper
):
    """Issue 9, defect 3: packers print at the start of a shift, before processing."""
    order_id = place(app, catalog, items={"monitor": 1}, kits={"hypertension": 1, "diabetes": 2})
    sign_in("fulfillment")
    text = re.sub(
        r"\s+",
        " ",
        " ".join(pages_text(pdf_of(page, f"{base_url}/orders/{order_id}/packing-summary", paper))),
    )
    assert "Status Created" in text or "Created" in text
    # One identifier row per device: the monitor, the kit's monitor and gateway, two glucometers.
    rows = re.findall(
        r"(BP monitor 1 of 1|Hypertension kit 1: BP monitor|Hypertension kit 1: Gateway"
        r"|Diabetes kit [12]: Glucometer) (Serial number|ICCID|IMEI):",
        text,
    )
    assert sorted(label for label, _ in rows) == [
        "BP monitor 1 of 1",
        "Diabetes kit 1: Glucometer",
        "Diabetes kit 2: Glucometer",
        "Hypertension kit 1: BP monitor",
        "Hypertension kit 1: Gateway",
    ]


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_the_note_prints_at_the_top_of_the_first_sheet_of_a_long_order(
    page, sign_in, base_url, app, catalog, paper
):
    with app.app_context(), write_transaction() as session:
        extra = [Item(name=f"Supply item number {n:02d}", sku=f"SUP-{n:02d}") for n in range(70)]
        session.add_all(extra)
        session.flush()
        extra_ids = [i.id for i in extra]
    receive_stock(app, {i: 1 for i in extra_ids})
    with app.app_context():
        order_id = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient,
                items=[service.LineRequest(i, 1) for i in extra_ids],
                notes=["Fragile: pack the monitor in foam"],
            ),
            actor("coordinator"),
        ).order.id
    sign_in("fulfillment")
    texts = [
        re.sub(r"\s+", " ", t)
        for t in pages_text(pdf_of(page, f"{base_url}/orders/{order_id}/packing-summary", paper))
    ]
    assert len(texts) >= 3
    first = texts[0].lower()  # headings print in capitals
    assert "fragile: pack the monitor in foam" in first
    assert first.index("fragile: pack the monitor in foam") < first.index("to pack")
    assert not any("Fragile" in t for t in texts[1:])


def test_an_mrn_is_never_broken_at_its_hyphen(page, sign_in, base_url, app, catalog):
    """Names of every length put the MRN at every place of the line: it stays whole."""
    from app.people.models import Address, Patient

    with app.app_context(), write_transaction() as session:
        patients = [
            Patient(
                external_identifier=f"MRN-2024-{n:05d}-XY",
                first_name="Bartholomew" + "x" * n,
                last_name="Featherstonehaugh-Worthington",
                address=Address(line_one="1 Elm St", city="Dayton", state="OH", zip_code="45402"),
            )
            for n in range(24)
        ]
        session.add_all(patients)
        session.flush()
        patient_ids = [p.id for p in patients]
    ids = []
    with app.app_context():
        for patient_id in patient_ids:
            draft = service.OrderDraft(
                patient_id=patient_id, items=[service.LineRequest(catalog.items["strips"], 1)]
            )
            ids.append(service.place_order(draft, actor("coordinator")).order.id)
    sign_in("fulfillment")
    page.goto(f"{base_url}/orders/packing-summaries?" + "&".join(f"order={i}" for i in ids))
    page.emulate_media(media="print")
    lines_of_each = page.eval_on_selector_all(
        ".ship-to .mrn", "els => els.map(el => el.getClientRects().length)"
    )
    assert lines_of_each == [1] * len(ids)
    # The names did wrap: the MRN would have been broken without the rule.
    assert page.eval_on_selector_all(
        ".ship-to .name", "els => els.some(el => el.getClientRects()[0].height > 40)"
    )
