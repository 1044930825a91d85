"""Orders with return lines for tests, built through the real services."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.catalog.models import Device, DeviceIdentifier
from app.extensions import db
from app.inventory.models import DeviceEvent
from app.orders import returns_station, service
from app.orders.models import Order, OrderDevice
from app.validation import Rejected
from tests.conftest import app_context
from tests.helpers.orders import actor, delivered_kit, delivered_order, move


def return_only(app, catalog, *, kits=(), devices=(), items=None) -> int:
    """A return-only order (its label emailed), placed by the coordinator."""
    with app.app_context():
        placed = service.place_order(
            service.OrderDraft(
                patient_id=catalog.patient,
                return_packed_kit_ids=list(kits),
                return_device_ids=list(devices),
                return_items=[
                    service.LineRequest(catalog.items[n], c) for n, c in (items or {}).items()
                ],
                email_label=True,
            ),
            actor("coordinator"),
        )
        order_id = placed.order.id
        db.session.remove()
    return order_id


def values_of(app, device_id: int) -> str:
    with app_context(app) as session:
        return session.scalars(
            select(DeviceIdentifier.value).where(DeviceIdentifier.device_id == device_id)
        ).first()


def status_of(app, device_id: int) -> str:
    with app_context(app) as session:
        return session.get(Device, device_id).current_status


def order_status(app, order_id: int) -> str:
    with app_context(app) as session:
        return session.get(Order, order_id).current_status


def history(app, device_id: int) -> list[tuple]:
    with app_context(app) as session:
        return [
            (e.status, e.order_id)
            for e in session.scalars(
                select(DeviceEvent)
                .where(DeviceEvent.device_id == device_id)
                .order_by(DeviceEvent.id)
            )
        ]


def kit_devices(app, packed_kit_id: int) -> list[int]:
    with app_context(app) as session:
        return session.scalars(
            select(OrderDevice.device_id)
            .where(OrderDevice.packed_kit_id == packed_kit_id)
            .order_by(OrderDevice.id)
        ).all()


def delivered_glucometer(app, catalog) -> int:
    """A diabetes kit delivered to the patient: its glucometer's id."""
    order_id = delivered_order(app, catalog, kits={"diabetes": 1})
    with app_context(app) as session:
        return session.get(Order, order_id).devices[0].device_id


def a_kit_and_a_device_asked_back(app, catalog) -> tuple[int, list[int]]:
    """A glucometer and a hypertension kit (monitor, gateway) delivered, asked back by a
    return-only order whose label is sent: (the return, its three devices: named first, then
    the kit's)."""
    _, _, packed_kit = delivered_kit(app, catalog)
    glucometer = delivered_glucometer(app, catalog)
    order_id = return_only(app, catalog, kits=[packed_kit], devices=[glucometer])
    move(app, order_id, "awaitingReturn", role="coordinator")
    return order_id, [glucometer, *kit_devices(app, packed_kit)]


def check_in(app, order_id: int, value, role: str = "fulfillment"):
    """Checks a device in at the returns station as someone of ``role``."""
    with app.app_context():
        try:
            return returns_station.check_in_device(order_id, value, actor(role))
        finally:
            db.session.remove()


def refused(app, call) -> Rejected:
    """The refusal ``call`` raises (it must raise one), the session ended after it."""
    with app.app_context(), pytest.raises(Rejected) as error:
        call()
    with app.app_context():
        db.session.remove()
    return error.value
