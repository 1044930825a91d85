"""Orders and their parts in the shapes of the public v3 API (camelCase, nested objects)."""

from __future__ import annotations

import msgspec
from flask import Response, current_app

from app.auth.models import User
from app.catalog.models import Device, Item, Kit
from app.formats import timestamp
from app.inventory.models import StockLocation, StockReceipt
from app.inventory.queries import StockRow
from app.orders.models import Order, OrderDevice, PackedKit
from app.people.models import Address, Patient, Site

_encoder = msgspec.json.Encoder()


def json_response(document) -> Response:
    """The answer for a document of plain JSON values, as ``jsonify`` would give it; msgspec
    encodes a list of 250 orders in about 2 ms where the standard library takes 45."""
    return current_app.response_class(
        _encoder.encode(document) + b"\n", mimetype=current_app.json.mimetype
    )


def address(a: Address | None) -> dict | None:
    if a is None:
        return None
    return {
        "lineOne": a.line_one,
        "lineTwo": a.line_two,
        "lineThree": a.line_three,
        "city": a.city,
        "state": a.state,
        "zipCode": a.zip_code,
        "country": a.country,
        "note": a.note,
    }


def site(s: Site | None) -> dict | None:
    if s is None:
        return None
    return {
        "id": s.id,
        "name": s.name,
        "active": s.active,
        "phoneNumber": s.phone_number,
        "address": address(s.address),
    }


def patient(p: Patient | None) -> dict | None:
    if p is None:
        return None
    return {
        "id": p.id,
        "externalIdentifier": p.external_identifier,
        "firstName": p.first_name,
        "lastName": p.last_name,
        "dateOfBirth": p.date_of_birth.isoformat() if p.date_of_birth else None,
        "email": p.email,
        "phoneNumber": p.phone_number,
        "sex": p.sex,
        "archived": p.archived,
        "enrolled": p.enrolled,
        "address": address(p.address),
        "site": site(p.site),
    }


def item(i: Item) -> dict:
    return {
        "id": i.id,
        "name": i.name,
        "sku": i.sku,
        "model": i.model,
        "manufacturer": (
            {"id": i.manufacturer.id, "name": i.manufacturer.name} if i.manufacturer else None
        ),
        "orderable": i.orderable,
        "deviceIdentifierType": i.device_identifier_type,
        "serialPattern": i.serial_pattern,
        "size": i.size,
    }


def kit(k: Kit) -> dict:
    return {
        "id": k.id,
        "name": k.name,
        "archived": k.archived,
        "kitItems": [{"item": item(ki.item), "count": ki.count} for ki in k.kit_items],
    }


def device(d: Device) -> dict:
    return {
        "id": d.id,
        "item": item(d.item),
        "currentStatus": d.current_status,
        "deviceIdentifiers": [{"type": i.type, "value": i.value} for i in d.identifiers],
        "externalIdentifier": d.external_identifier,
    }


def packed_kit(pk: PackedKit) -> dict:
    return {
        "id": pk.id,
        "kit": {"id": pk.kit.id, "name": pk.kit.name, "archived": pk.kit.archived},
        "devices": [device(od.device) for od in pk.devices],
    }


def user(u: User | None) -> dict | None:
    if u is None:
        return None
    return {"id": u.id, "firstName": u.first_name, "lastName": u.last_name, "email": u.email}


def _loose_devices(order: Order) -> list[OrderDevice]:
    """Devices shipped on item lines; those in packed kits appear under packedKits."""
    return [od for od in order.devices if od.packed_kit_id is None]


def order(o: Order) -> dict:
    return {
        "id": o.id,
        "externalOrderIds": [e.value for e in o.external_ids],
        "patient": patient(o.patient),
        "site": site(o.site),
        "currentStatus": o.current_status,
        "orderItems": [{"item": item(line.item), "count": line.count} for line in o.items],
        "orderKits": [{"kit": kit(line.kit), "count": line.count} for line in o.kits],
        "orderEvents": [
            {
                "name": e.name,
                "eventTimestamp": timestamp(e.event_timestamp),
                "note": e.note,
                "actor": e.actor_name,
            }
            for e in o.events
        ],
        "trackingNumbers": [{"carrier": t.carrier, "value": t.value} for t in o.tracking_numbers],
        "devices": [device(od.device) for od in _loose_devices(o)],
        "packedKits": [packed_kit(pk) for pk in o.packed_kits],
        "orderNotes": [
            {
                "note": n.note,
                "createdAt": timestamp(n.created_at),
                "createdBy": user(n.created_by),
            }
            for n in o.notes
        ],
        "shippingOption": o.shipping_option,
        "returnItems": [{"item": item(line.item), "count": line.count} for line in o.return_items],
        "returnDevices": [device(line.device) for line in o.return_devices],
        "returnPackedKits": [packed_kit(line.packed_kit) for line in o.return_packed_kits],
        "emailLabel": o.email_label,
        "fulfillmentLocation": location(o.fulfillment_location),
        "createdAt": timestamp(o.created_at),
        "updatedAt": timestamp(o.updated_at),
    }


def location(loc: StockLocation | None) -> dict | None:
    return None if loc is None else {"id": loc.id, "name": loc.name}


def stock_row(row: StockRow) -> dict:
    return {
        "item": item(row.item),
        "location": location(row.location),
        "onHand": row.on_hand,
        "reserved": row.reserved,
        "available": row.available,
    }


def receipt(r: StockReceipt) -> dict:
    return {
        "id": r.id,
        "location": {"id": r.location_id},
        "reference": r.reference,
        "createdAt": timestamp(r.created_at),
    }


def stock_device(d: Device, loc: StockLocation | None, order_ids: list[int]) -> dict:
    """A device as inventory knows it: where it is and which orders it has been on."""
    return {
        **device(d),
        "location": location(loc),
        "orders": [{"id": order_id} for order_id in order_ids],
    }
