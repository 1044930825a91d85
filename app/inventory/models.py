from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import ApiKey, User
from app.catalog.models import Device, Item
from app.db.types import UTCDateTime, utcnow
from app.extensions import db
from app.validation import MAX_REASON_LENGTH

MAX_REFERENCE_LENGTH = 100
MAX_LOCATION_NAME_LENGTH = 200
# A bin label as shelves carry it ("A-03-2", "Cold room shelf 4").
MAX_BIN_LENGTH = 40

# What a ledger row records, and how it moves the two figures.
RECEIPT = "receipt"
RESERVATION = "reservation"
RELEASE = "release"
SHIPMENT = "shipment"
RETURN = "return"
ADJUSTMENT = "adjustment"
COUNT = "count"
MOVEMENT_KINDS = (RECEIPT, RESERVATION, RELEASE, SHIPMENT, RETURN, ADJUSTMENT, COUNT)
MOVEMENT_LABELS = {
    RECEIPT: "Receipt",
    RESERVATION: "Reservation",
    RELEASE: "Release",
    SHIPMENT: "Shipment",
    RETURN: "Return",
    ADJUSTMENT: "Adjustment",
    COUNT: "Count",
}


class StockLocation(db.Model):
    """A warehouse that holds stock and fulfils orders."""

    __tablename__ = "stock_location"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_LOCATION_NAME_LENGTH), unique=True)
    # Exactly one location is the default: orders that name none are fulfilled from it.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ItemBin(db.Model):
    """Where an item sits at a location: the bin (aisle, shelf, bin) a picker goes to.

    Apart from the balance, whose row is what reservations lock and which never changes
    without a ledger row. A row with no bin is an item whose bin was cleared."""

    __tablename__ = "item_bin"
    __table_args__ = (UniqueConstraint("location_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    bin: Mapped[str | None] = mapped_column(String(MAX_BIN_LENGTH))


class StockBalance(db.Model):
    """The figures of one item at one location, kept equal to its ledger's sums.

    Never changed without a ledger row in the same transaction. The row is also what a
    reservation locks, so two orders for the last units queue on it.
    """

    __tablename__ = "stock_balance"
    __table_args__ = (
        UniqueConstraint("location_id", "item_id"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        Index("ix_stock_balance_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)

    location: Mapped[StockLocation] = relationship()
    item: Mapped[Item] = relationship()

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockReceipt(db.Model):
    """One delivery into a location: counted lines and devices, under one reference."""

    __tablename__ = "stock_receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    reference: Mapped[str | None] = mapped_column(String(MAX_REFERENCE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    location: Mapped[StockLocation] = relationship()


class StockMovement(db.Model):
    """One append-only row of the stock ledger.

    ``on_hand_change`` and ``reserved_change`` are what the row does to the two figures:
    a receipt adds on hand, a reservation adds reserved, a shipment takes both. The
    balances are these columns summed per item and location.
    """

    __tablename__ = "stock_movement"
    __table_args__ = (
        Index("ix_stock_movement_item_id_id", "item_id", "id"),
        Index("ix_stock_movement_location_id", "location_id", "id"),
        Index("ix_stock_movement_kind_id", "kind", "id"),
        Index("ix_stock_movement_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    on_hand_change: Mapped[int] = mapped_column(Integer, default=0)
    reserved_change: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(MAX_REASON_LENGTH))
    # The order is named by id only: inventory stands below orders and never imports it.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order_.id"))
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("stock_receipt.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    item: Mapped[Item] = relationship()
    location: Mapped[StockLocation] = relationship()
    actor_user: Mapped[User | None] = relationship()
    actor_api_key: Mapped[ApiKey | None] = relationship()

    @property
    def quantity(self) -> int:
        """The change in the figure this kind of row is about."""
        return self.reserved_change if self.kind in (RESERVATION, RELEASE) else self.on_hand_change


class DeviceEvent(db.Model):
    """One step of a device's history: received, allocated, shipped, returned, inspected."""

    __tablename__ = "device_event"
    __table_args__ = (
        Index("ix_device_event_device_id_id", "device_id", "id"),
        # The device finder's "devices of this order".
        Index("ix_device_event_order_id", "order_id", "device_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_location.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order_.id"))
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("stock_receipt.id"))
    note: Mapped[str | None] = mapped_column(String(MAX_REASON_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    device: Mapped[Device] = relationship()
    location: Mapped[StockLocation | None] = relationship()
    actor_user: Mapped[User | None] = relationship()
    actor_api_key: Mapped[ApiKey | None] = relationship()


class StockUseCount(db.Model):
    """Units of each item shipped from each location on each day (the warehouse's time
    zone): the rate of use behind the dashboard's stock cover.

    Written with the shipment's ledger rows, in the same statement batch
    (``app.inventory.usage``); ``flask check-dashboard-counts`` recounts it from the ledger.
    """

    __tablename__ = "stock_use_count"

    used_day: Mapped[date] = mapped_column(Date, primary_key=True)
    location_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)
