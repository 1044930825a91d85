"""/api/v3/inventory and /api/v3/device: stock figures, receipts, and devices by identifier."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, parse
from app.api.auth import api_actor
from app.api.errors import problems_response
from app.auth import scopes
from app.auth.scopes import scope_required
from app.inventory import queries, receipts
from app.orders import serialize
from app.validation import Rejected

MAX_IDENTIFIER_LENGTH = 64


@bp.get("/inventory")
@scope_required(scopes.INVENTORY_READ)
def list_inventory():
    parse.only_args("page", "size", "itemId", "locationId")
    page, size = parse.page_args()
    item_id = parse.positive_int_arg("itemId")
    location_id = parse.positive_int_arg("locationId")
    total = queries.count_stock_rows(location_id=location_id, item_id=item_id)
    rows = queries.stock_rows(
        location_id=location_id, item_id=item_id, limit=size, offset=(page - 1) * size
    )
    return jsonify(
        serialize.plain(
            serialize.page_of(
                serialize.StockPageJson, [serialize.stock_row(r) for r in rows], page, size, total
            )
        )
    )


def _receipt_draft(body) -> receipts.ReceiptDraft:
    body = parse.object_at(body, "The request body", required=True)
    location = parse.object_at(body.get("location"), "location")
    lines = []
    for i, line in enumerate(parse.list_at(body, "lines")):
        line = parse.object_at(line, f"lines[{i}]", required=True)
        lines.append(
            receipts.ReceiptLine(
                parse.ref_id(line.get("item"), f"lines[{i}].item"), line.get("count")
            )
        )
    devices = []
    for i, group in enumerate(parse.list_at(body, "devices")):
        where = f"devices[{i}]"
        group = parse.object_at(group, where, required=True)
        found = []
        for j, ident in enumerate(parse.list_at(group, "deviceIdentifiers", where)):
            ident = parse.object_at(ident, f"{where}.deviceIdentifiers[{j}]", required=True)
            found.append((ident.get("type"), ident.get("value")))
        devices.append(
            receipts.ReceiptDevices(parse.ref_id(group.get("item"), f"{where}.item"), found)
        )
    return receipts.ReceiptDraft(
        location_ref=None if location is None else parse.ref_id(location, "location"),
        reference=body.get("reference"),
        lines=lines,
        devices=devices,
    )


@bp.post("/inventory/receipts")
@scope_required(scopes.INVENTORY_WRITE)
def create_receipt():
    parse.only_args()
    draft = _receipt_draft(parse.json_body())
    try:
        receipt = receipts.receive(draft, api_actor())
    except Rejected as rejected:
        response = problems_response(rejected.problems)
        if any(p.code == "device_already_known" for p in rejected.problems):
            response.status_code = 409
        return response
    contents = queries.receipt_contents(receipt.id)
    response = jsonify(serialize.plain(serialize.receipt(receipt, contents)))
    response.status_code = 201
    return response


@bp.get("/device")
@scope_required(scopes.INVENTORY_READ)
def find_device():
    parse.only_args("identifier", "page", "size")
    identifier = parse.text_arg("identifier", MAX_IDENTIFIER_LENGTH, required=True)
    page, size = parse.page_args()
    found = queries.find_devices(identifier)
    shown = found[(page - 1) * size : page * size]
    locations = queries.device_locations(shown)
    orders = queries.device_order_ids(shown)
    devices = [serialize.stock_device(d, locations.get(d.location_id), orders[d.id]) for d in shown]
    return jsonify(
        serialize.plain(
            serialize.page_of(serialize.DevicePageJson, devices, page, size, len(found))
        )
    )
