"""Reading and arranging stock for tests: figures, the ledger, device statuses, a second
location, a device recorded on an order; through the real services."""

from __future__ import annotations

from sqlalchemy import func, select

from app.catalog.models import Device, DeviceIdentifier
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import locations, receipts
from app.inventory.models import StockBalance, StockLocation, StockMovement
from app.orders import packing
from tests.conftest import app_context
from tests.helpers.orders import actor


def figures(app, item_id: int, location_id: int | None = None) -> tuple[int, int]:
    """(on hand, reserved) of an item at a location (the default one unless given)."""
    with app_context(app) as session:
        location_id = location_id or locations.default_location().id
        balance = session.scalar(
            select(StockBalance).where(
                StockBalance.item_id == item_id, StockBalance.location_id == location_id
            )
        )
        return (balance.on_hand, balance.reserved) if balance else (0, 0)


def ledger_count(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(StockMovement.id)))


def record(app, order_id, value, role="fulfillment"):
    with app.app_context():
        try:
            return packing.record_device(order_id, value, actor(role)).label
        finally:
            db.session.remove()


def statuses_of(app, *values: str) -> list[str]:
    with app_context(app) as session:
        return [
            session.scalar(
                select(Device.current_status)
                .join(DeviceIdentifier)
                .where(DeviceIdentifier.value == value)
            )
            for value in values
        ]


def second_location(app) -> int:
    with app.app_context(), write_transaction() as session:
        location = StockLocation(name="East depot")
        session.add(location)
        session.flush()
        location_id = location.id
    return location_id


# Serials of the demo monitor's pattern, for the device finder's tests.
SERIALS = ["BP7450-01317086", "BP7450-01317087", "BP7450-99999999"]


def receive(app, item_id: int, kind: str, values: list[str], location: int | None = None):
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=location,
                reference="For the finder",
                devices=[receipts.ReceiptDevices(item_id, [(kind, v) for v in values])],
            ),
            actor("admin"),
        )
        db.session.remove()
