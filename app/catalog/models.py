from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.identifiers import MAX_SERIAL_PATTERN_LENGTH, search_key
from app.db.types import UTCDateTime, utcnow
from app.extensions import db

DEVICE_IDENTIFIER_TYPES = ("serial", "imei", "macAddress", "iccid", "simCardNumber")
SIZES = ("small", "medium", "standard", "large", "extraLarge")
# Each size as pages say it (the API and the database keep the codes above).
SIZE_LABELS = {s: "Extra large" if s == "extraLarge" else s.capitalize() for s in SIZES}


def is_device(device_identifier_type: str | None) -> bool:
    """Whether an item is a device, tracked one by one (a model's or a view's item)."""
    return device_identifier_type is not None


class Manufacturer(db.Model):
    __tablename__ = "manufacturer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Item(db.Model):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str | None] = mapped_column(String(100))
    manufacturer_id: Mapped[int | None] = mapped_column(ForeignKey("manufacturer.id"))
    orderable: Mapped[bool] = mapped_column(Boolean, default=True)
    # How each unit is told apart when packed; None for consumables (strips, lancets).
    device_identifier_type: Mapped[str | None] = mapped_column(String(20))
    # For serial-numbered items: a regular expression every serial must match in full
    # (see app/catalog/identifiers.py); None takes any serial.
    serial_pattern: Mapped[str | None] = mapped_column(String(MAX_SERIAL_PATTERN_LENGTH))
    size: Mapped[str | None] = mapped_column(String(20))
    # Programmes that receive and ship in one step: a scan of a device never received
    # receives it on the spot. Off: a packer can only pick devices on the shelf.
    accept_unreceived_devices: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Stock at or below this many available units is shown as low.
    reorder_point: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    manufacturer: Mapped[Manufacturer | None] = relationship(lazy="joined")

    @property
    def is_device(self) -> bool:
        return is_device(self.device_identifier_type)


class Kit(db.Model):
    __tablename__ = "kit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    kit_items: Mapped[list[KitItem]] = relationship(
        back_populates="kit", cascade="all, delete-orphan", order_by="KitItem.id"
    )


class KitItem(db.Model):
    __tablename__ = "kit_item"
    __table_args__ = (
        UniqueConstraint("kit_id", "item_id"),
        CheckConstraint("count >= 1", name="count_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kit_id: Mapped[int] = mapped_column(ForeignKey("kit.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)

    kit: Mapped[Kit] = relationship(back_populates="kit_items")
    item: Mapped[Item] = relationship()


class Device(db.Model):
    """One physical unit of a device-tracked item, told apart by its identifiers."""

    __tablename__ = "device"
    __table_args__ = (
        # The stock page's "on the shelf here, newest first" (and any lookup by location).
        Index("ix_device_location_status", "location_id", "current_status", "id"),
        # The same for one item: the packing station's and the stock page's shelf per item,
        # and the device finder filtered by item, status and location.
        Index("ix_device_location_status_item", "location_id", "current_status", "item_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    # A device's statuses are inventory's (app.inventory.devices, a floor above): a new one
    # is in stock (devices.IN_STOCK).
    current_status: Mapped[str] = mapped_column(String(20), default="inStock")
    # Where the device is while the warehouse holds it (None once shipped). Named by table,
    # not imported: locations belong to inventory, a floor above.
    location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_location.id"))
    external_identifier: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[Item] = relationship()
    identifiers: Mapped[list[DeviceIdentifier]] = relationship(
        back_populates="device", cascade="all, delete-orphan", order_by="DeviceIdentifier.id"
    )


def _search_key_of_value(context) -> str:
    return search_key(context.get_current_parameters()["value"])


class DeviceIdentifier(db.Model):
    __tablename__ = "device_identifier"
    __table_args__ = (
        # An identifier names one device in the whole catalog: scanning it finds that device.
        UniqueConstraint("type", "value"),
        # The device finder's "any part of an identifier": on PostgreSQL a trigram index,
        # which answers search_key LIKE '%0131%' (and =) without reading every row; on
        # SQLite a plain one (equality; a part is matched by walking this narrow index).
        Index(
            "ix_device_identifier_search_key",
            "search_key",
            postgresql_using="gin",
            postgresql_ops={"search_key": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(64))
    # identifiers.search_key(value), written with every row (bulk writers name it themselves;
    # nothing changes a value once written).
    search_key: Mapped[str] = mapped_column(String(64), default=_search_key_of_value)

    device: Mapped[Device] = relationship(back_populates="identifiers")
