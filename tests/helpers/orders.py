"""Building orders for tests through the real services, never by hand-written SQL."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from app.auth.models import User
from app.catalog import service as catalog_service
from app.catalog.identifiers import luhn_check_digit
from app.catalog.models import Item
from app.extensions import db
from app.orders import lifecycle, packing, service
from app.orders.lookups import get_order
from app.orders.models import Order
from tests.conftest import app_context

# The serial pattern tests give the blood-pressure monitor (the hypertension kit's device).
MONITOR_PATTERN = r"BP7450-[0-9A-Z]{4,8}"


def imei(n: int) -> str:
    body = f"35{n:012d}"
    return body + luhn_check_digit(body)


def iccid(n: int) -> str:
    body = f"8901260{n:011d}"
    return body + luhn_check_digit(body)


def patient_order(catalog, **overrides):
    """The body of a patient's order in the public API's shape: strips and a hypertension kit."""
    body = {
        "externalOrderIds": ["xyz_123_0", "xyz_123_1"],
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 10}],
        "orderKits": [{"kit": {"id": catalog.kits["hypertension"]}, "count": 1}],
        "shippingOption": "standard",
    }
    body.update(overrides)
    return body


def actor(role: str) -> service.Actor:
    user = db.session.scalar(db.select(User).where(User.role == role))
    return service.Actor(user=user)


def place(app, catalog, *, items=None, kits=None, patient=True, **draft) -> int:
    """Places an order as the coordinator, for the patient or else for a site (the catalog's
    unless ``site_id`` says which); answers its id."""
    site_id = None if patient else draft.pop("site_id", catalog.site)
    with app.app_context():
        placed = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient if patient else None,
                site_id=site_id,
                items=[service.LineRequest(catalog.items[n], c) for n, c in (items or {}).items()],
                kits=[service.LineRequest(catalog.kits[n], c) for n, c in (kits or {}).items()],
                **draft,
            ),
            actor("coordinator"),
        )
        order_id = placed.order.id
        db.session.remove()
    return order_id


def move(app, order_id: int, *path: str, role: str = "fulfillment", **kwargs) -> None:
    with app.app_context():
        for to_status in path:
            lifecycle.change_status(order_id, to_status, actor(role), **kwargs)
        db.session.remove()


def pack_everything(app, order_id: int, start: int = 1) -> None:
    """Records a valid new device for every empty slot of a processing order."""
    with app.app_context():
        order = get_order(order_id)
        slots = [s for s in packing.packing_plan(order).slots if s.filled is None]
        db.session.remove()
        for n, slot in enumerate(slots, start=start):
            kind = slot.item.device_identifier_type
            value = {
                "imei": imei(n),
                "iccid": iccid(n),
                "simCardNumber": iccid(n),
                "macAddress": f"00:1C:05:00:{n // 256:02X}:{n % 256:02X}",
            }.get(kind, f"SN{n:06d}")
            packing.record_device(order_id, value, actor("fulfillment"), slot_key=slot.key)
        db.session.remove()


def record_and_release(app, catalog, identifier: str) -> None:
    """Makes ``identifier`` a known device back in stock: packed on an order then cancelled."""
    order_id = place(app, catalog, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with app.app_context():
        packing.record_device(order_id, identifier, actor("fulfillment"))
        db.session.remove()
    move(app, order_id, "cancelled", role="admin", reason="test")


def receive_stock(app, units: dict[int, int], start: int = 500_000) -> None:
    """Receives ``units`` more of each item id at the default location, through the real
    receipt: counted units, or that many new devices with valid identifiers."""
    from app.catalog.models import Item
    from app.inventory import receipts
    from tests.conftest import stock_identifier

    with app.app_context():
        kinds = {i: db.session.get(Item, i).device_identifier_type for i in units}
        receipts.receive(
            receipts.ReceiptDraft(
                reference="More stock for this test",
                lines=[receipts.ReceiptLine(i, n) for i, n in units.items() if not kinds[i]],
                devices=[
                    receipts.ReceiptDevices(
                        i,
                        [
                            (kinds[i], stock_identifier(kinds[i], start + i * 1000 + k))
                            for k in range(n)
                        ],
                    )
                    for i, n in units.items()
                    if kinds[i]
                ],
            ),
            actor("admin"),
        )
        db.session.remove()


def delivered_order(app, catalog, **lines) -> int:
    """An order placed, packed with new devices, shipped and delivered; answers its id."""
    order_id = place(app, catalog, **lines)
    move(app, order_id, "processing")
    pack_everything(app, order_id, start=order_id * 100)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("UPS", "1Z999AA10123456784"))
    move(app, order_id, "delivered")
    return order_id


def delivered_kit(app, catalog) -> tuple[int, int, int]:
    """A hypertension kit delivered to the patient: (its order, its monitor, the packed kit)."""
    from app.catalog.models import Device
    from tests.conftest import app_context

    order_id = delivered_order(app, catalog, kits={"hypertension": 1})
    with app_context(app) as session:
        order = session.get(Order, order_id)
        [packed_kit] = order.packed_kits
        monitor = next(
            od.device_id
            for od in packed_kit.devices
            if session.get(Device, od.device_id).item_id == catalog.items["monitor"]
        )
        return order_id, monitor, packed_kit.id


def orders_returning(app, device_id: int) -> list[int]:
    """The orders (not cancelled) that expect the device back, either way it is named."""
    from app.orders.models import OrderDevice, ReturnDevice, ReturnPackedKit
    from tests.conftest import app_context

    with app_context(app) as session:
        named = session.scalars(
            select(ReturnDevice.order_id).where(ReturnDevice.device_id == device_id)
        ).all()
        in_kits = session.scalars(
            select(ReturnPackedKit.order_id)
            .join(OrderDevice, OrderDevice.packed_kit_id == ReturnPackedKit.packed_kit_id)
            .where(OrderDevice.device_id == device_id)
        ).all()
        return sorted(
            order_id
            for order_id in {*named, *in_kits}
            if session.get(Order, order_id).current_status != "cancelled"
        )


def set_monitor_pattern(app, catalog, pattern=MONITOR_PATTERN):
    """Gives the monitor item a serial pattern, through the catalog service as an admin."""
    give_serial_pattern(app, catalog.items["monitor"], pattern)


def give_serial_pattern(app, item_id: int, pattern: str) -> None:
    """Gives a serial-numbered item a serial pattern, through the catalog service as an admin."""
    with app.app_context():
        item = db.session.get(Item, item_id)
        catalog_service.update_item(
            item.id,
            catalog_service.ItemDraft(
                name=item.name,
                sku=item.sku,
                device_identifier_type="serial",
                serial_pattern=pattern,
                accept_unreceived_devices=item.accept_unreceived_devices,
            ),
            actor("admin"),
        )
        db.session.remove()


def units_ordered(app, order_ids) -> Counter:
    """What the orders take, by SKU, counted from their lines the long way: each item line,
    and each kit line's contents times the kits ordered."""
    units: Counter = Counter()
    with app_context(app) as session:
        for order in session.scalars(select(Order).where(Order.id.in_(order_ids))):
            for line in order.items:
                units[line.item.sku] += line.count
            for line in order.kits:
                for content in line.kit.kit_items:
                    units[content.item.sku] += content.count * line.count
    return units
