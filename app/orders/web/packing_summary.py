"""Packing summaries: the paper a packer works from, for one order or a batch.

The server lays each order out on sheets (pages) itself, so that every sheet can say
"Order 1234, page 2 of 3" and each order starts on a new sheet however many are printed
together; budgets are set so that a sheet fits on US Letter and on A4 alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.auth.access import role_required, signed_in_actor
from app.catalog import identifiers
from app.extensions import db
from app.history.patient_access import VIEWED, note_patient_access
from app.orders import packing, read_model, statuses
from app.orders.listing import OrderQuery
from app.orders.models import Order
from app.orders.web import bp
from app.orders.web.barcodes import code128_svg
from app.validation import parse_int

MAX_BATCH = 500
# SheetRow units a sheet holds, measured on US Letter (A4 holds a little more) with a margin
# for rows that wrap: the first sheet also carries the barcode and the address block.
# tests/browser/test_packing_summary_pdf.py renders both papers and checks the pages.
FIRST_SHEET_UNITS = 23
SHEET_UNITS = 31
SIGN_OFF_UNITS = 3
HEADING_UNITS = 2  # a section's heading and its table's column heads
CHARS_PER_LINE = 95


@dataclass
class SheetRow:
    kind: str
    cells: dict
    cost: int = 1


@dataclass
class Section:
    key: str
    title: str
    rows: list[SheetRow]
    note: str | None = None


@dataclass
class Part:
    """The rows of one section that land on one sheet."""

    section: Section
    continued: bool
    rows: list[SheetRow] = field(default_factory=list)


@dataclass
class Sheet:
    budget: int
    parts: list[Part] = field(default_factory=list)
    used: int = 0
    number: int = 1
    of: int = 1


@dataclass
class Summary:
    order: Order
    barcode: str
    sheets: list[Sheet]


def _text_cost(text: str, per_line: int = CHARS_PER_LINE) -> int:
    """How many lines a text takes on paper, roughly (long names wrap)."""
    return 1 + len(text) // per_line + text.count("\n")


def sections_of(order: Order) -> list[Section]:
    """What goes on the paper, in the order the packer works: the notes first, at the top
    of the first sheet, read before anything is packed."""
    sections = []
    if order.notes:
        title = "Note for the packer" if len(order.notes) == 1 else "Notes for the packer"
        rows = [SheetRow("note", {"text": n.note}, _text_cost(n.note)) for n in order.notes]
        sections.append(Section("notes", title, rows))
    sections.append(Section("pack", "To pack", _to_pack(order)))
    device_rows = _device_rows(order)
    if device_rows:
        sections.append(Section("devices", "Devices", device_rows))
    if order.has_return_lines:
        label = (
            "The return label is emailed to the recipient: do not put one in the box."
            if order.email_label
            else "Put a prepaid return label in the box."
        )
        sections.append(Section("returns", "Coming back", _coming_back(order), note=label))
    return sections


def _to_pack(order: Order) -> list[SheetRow]:
    """The lines going out: each item, and each kit with what it holds."""
    to_pack = []
    for line in order.items:
        to_pack.append(
            SheetRow(
                "item",
                {
                    "count": line.count,
                    "name": line.item.name,
                    "sku": line.item.sku,
                    "device": identifiers.LABELS.get(line.item.device_identifier_type or ""),
                },
                _text_cost(line.item.name + " (record serial number)", 62),
            )
        )
    for line in order.kits:
        to_pack.append(SheetRow("kit", {"count": line.count, "name": line.kit.name}))
        for ki in line.kit.kit_items:
            to_pack.append(
                SheetRow(
                    "kit-item",
                    {
                        "per_kit": ki.count,
                        "kits": line.count,
                        "count": ki.count * line.count,
                        "name": ki.item.name,
                        "sku": ki.item.sku,
                    },
                    _text_cost(ki.item.name + " (1 per kit × 1)", 62),
                )
            )
    return to_pack


def _device_rows(order: Order) -> list[SheetRow]:
    """One row for each device the order needs: its identifiers once recorded."""
    device_rows = []
    for slot in packing.packing_plan(order).slots:
        kind = slot.item.device_identifier_type
        if slot.filled is not None:
            values = [(identifiers.LABELS[i.type], i.value) for i in slot.filled.device.identifiers]
        else:
            values = [(identifiers.LABELS[kind], None)]
        cost = 1 + len(slot.label) // 48  # a long label wraps onto a second line
        device_rows.append(SheetRow("device", {"label": slot.label, "values": values}, cost))
    return device_rows


def _coming_back(order: Order) -> list[SheetRow]:
    """The return lines: items, devices (by their identifiers) and packed kits."""
    back = [
        SheetRow("return", {"count": r.count, "name": r.item.name, "sku": r.item.sku})
        for r in order.return_items
    ]
    back += [
        SheetRow(
            "return",
            {
                "count": 1,
                # The identifier tells the unit that comes back from any other.
                "name": r.device.item.name
                + "".join(
                    f", {identifiers.LABELS.get(i.type, i.type)} {i.value}"
                    for i in r.device.identifiers
                ),
                "sku": r.device.item.sku,
            },
        )
        for r in order.return_devices
    ]
    back += [
        SheetRow(
            "return",
            {
                "count": 1,
                "name": f"{r.packed_kit.kit.name} (packed kit {r.packed_kit.id}, "
                f"sent on order {r.packed_kit.order_id})",
                "sku": "",
            },
        )
        for r in order.return_packed_kits
    ]
    return back


def lay_out(order: Order) -> list[Sheet]:
    """Splits the sections over sheets; a section that goes on repeats its heading."""
    sheets = [Sheet(FIRST_SHEET_UNITS)]
    for section in sections_of(order):
        heading_cost = HEADING_UNITS + (1 if section.note else 0)
        part = None
        for row in section.rows:
            sheet = sheets[-1]
            needs_heading = part is None or part not in sheet.parts
            cost = row.cost + (heading_cost if needs_heading else 0)
            if sheet.used and sheet.used + cost > sheet.budget:
                sheet = Sheet(SHEET_UNITS)
                sheets.append(sheet)
                needs_heading = True
            if needs_heading:
                part = Part(section, continued=part is not None)
                sheet.parts.append(part)
                sheet.used += heading_cost
            part.rows.append(row)
            sheet.used += row.cost
    if sheets[-1].used + SIGN_OFF_UNITS > sheets[-1].budget:
        sheets.append(Sheet(SHEET_UNITS))
    for number, sheet in enumerate(sheets, start=1):
        sheet.number, sheet.of = number, len(sheets)
    return sheets


def summaries_of(orders: list[Order]) -> list[Summary]:
    return [
        Summary(
            order,
            code128_svg(str(order.id), label=f"Order number {order.id} as a barcode"),
            lay_out(order),
        )
        for order in orders
    ]


def _orders(ids: list[int]) -> list[Order]:
    """Whole orders in one go, as plain copies: a fixed number of queries for 1 or 500 orders."""
    return read_model.load(ids, history=False)


def _render(orders: list[Order], title: str):
    note_patient_access("packingSummary", VIEWED, [(o.patient_id, o.id) for o in orders])
    return render_template(
        "orders/packing_summary.html",
        summaries=summaries_of(orders),
        title=title,
        order_ids=[o.id for o in orders],
        status_label=statuses.label,
    )


@bp.get("/<int:order_id>/packing-summary")
@role_required("coordinator", "fulfillment")
def packing_summary(order_id: int):
    orders = _orders([order_id])
    if not orders:
        abort(404)
    return _render(orders, f"Packing summary, order {order_id}")


def requested_ids() -> list[int]:
    """The orders asked for, in the order asked (the list's order), each once (the pick
    list's too)."""
    raw = request.values.getlist("order")[: MAX_BATCH + 1]
    return list(dict.fromkeys(n for n in map(parse_int, raw) if n))


def back_to_list(status: str) -> str:
    """The list as it was (tab, filters, page), rebuilt from its own parameters only."""
    if request.args.get("back") is not None:
        query = OrderQuery.from_args(
            MultiDict(parse_qsl(request.args["back"][:2000])), zone=current_user.zone
        )
        args = query.url_args(after=query.after, before=query.before)
    else:
        args = {"status": status} if status else {}
    return url_for("orders.list_orders", **args)


@bp.get("/packing-summaries")
@role_required("coordinator", "fulfillment")
def packing_summaries():
    """Several summaries as one document: the orders ticked on the list, or every order in
    a status (``?status=processing``, and ``&location=<id>``: at one stock location), oldest
    first, at most MAX_BATCH."""
    status = request.args.get("status", "")
    if status in statuses.ALL:
        stmt = select(Order.id).where(Order.current_status == status)
        location_id = parse_int(request.args.get("location", ""))
        if location_id:
            stmt = stmt.where(Order.fulfillment_location_id == location_id)
        ids = list(db.session.scalars(stmt.order_by(Order.id).limit(MAX_BATCH + 1)))
        title = f"Packing summaries: {statuses.label(status)}"
    else:
        ids = requested_ids()
        title = "Packing summaries"
    if len(ids) > MAX_BATCH:
        flash(
            f"Only the first {MAX_BATCH} orders are in this document; print the rest separately.",
            "info",
        )
        ids = ids[:MAX_BATCH]
    if not ids:
        flash("No orders were selected: tick the orders to print first.", "error")
        return redirect(back_to_list(status), code=303)
    return _render(_orders(ids), title)


@bp.post("/packing-summaries/printed")
@role_required("coordinator", "fulfillment")
def record_printed():
    """Records that these orders' summaries were printed (the page's script calls this after
    printing; without JavaScript, the Print button posts here)."""
    ids = requested_ids()[:MAX_BATCH]
    existing = list(db.session.scalars(select(Order.id).where(Order.id.in_(ids)))) if ids else []
    if existing:
        packing.record_printed(existing, signed_in_actor())
    if request.headers.get("X-Requested-With") == "fetch" or request.htmx:
        return "", 204
    flash("Recorded as printed. Use your browser's Print command (Ctrl+P) to print.", "info")
    return redirect(back_from_form(), code=303)


def back_from_form() -> str:
    """Where a print button sent without JavaScript goes back to: the page it was on, when
    that is one of the orders' pages (never off the site), else the list."""
    back = request.form.get("back", "")
    if not back.startswith("/orders/") or "//" in back:
        back = url_for("orders.list_orders")
    return back
