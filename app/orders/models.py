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
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.actor import actor_name
from app.auth.models import ApiKey, User
from app.catalog.models import Device, Item, Kit
from app.db.types import UTCDateTime, utcnow
from app.extensions import db
from app.inventory.models import StockLocation
from app.orders import statuses
from app.orders.carriers import tracking_url
from app.people.models import Patient, Site

MAX_LINE_COUNT = 999
# statuses.RETURN_OUT as SQL literals: a partial index serves a query only when the query
# names the same values, not parameters (owed.returns_out_condition).
RETURNS_OUT_SQL = ", ".join(f"'{s}'" for s in statuses.RETURN_OUT)


def _count_in_range(name: str = "count_in_range"):
    return CheckConstraint(f"count >= 1 AND count <= {MAX_LINE_COUNT}", name=name)


class Order(db.Model):
    __tablename__ = "order_"  # "order" is an SQL keyword
    __table_args__ = (
        CheckConstraint("(patient_id IS NULL) <> (site_id IS NULL)", name="exactly_one_recipient"),
        # The order list: newest first, optionally within one status.
        Index("ix_order__status_id", "current_status", "id"),
        Index("ix_order__patient_id_id", "patient_id", "id"),
        Index("ix_order__site_id_id", "site_id", "id"),
        Index("ix_order__created_at", "created_at"),
        Index("ix_order__responsible_site_id_id", "responsible_site_id", "id"),
        # A status tab within one site: counted and listed without scanning the site.
        Index("ix_order__status_site_id", "current_status", "responsible_site_id", "id"),
        Index("ix_order__updated_at_id", "updated_at", "id"),
        # The list's location filter, newest first.
        Index("ix_order__location_id", "fulfillment_location_id", "id"),
        # One site's orders by shipping option and status, newest first: the list's site and
        # shipping filters, with or without a status tab, walk this index alone.
        Index(
            "ix_order__site_shipping_status_id",
            "responsible_site_id",
            "shipping_option",
            "current_status",
            "id",
        ),
        # The list sorted by ship-by (soonest first), whole or within a status tab; "Late" and
        # "Due today" read the open statuses' dates from the second.
        Index("ix_order__ship_by_id", "ship_by", "id"),
        Index("ix_order__status_ship_by_id", "current_status", "ship_by", "id"),
        # A packer's claim, found when they take the next order (one claim each). Only the
        # claimed orders are in it: placing an order, unclaimed, writes nothing here.
        Index(
            "ix_order__claimed_by_id",
            "claimed_by_id",
            sqlite_where=text("claimed_by_id IS NOT NULL"),
            postgresql_where=text("claimed_by_id IS NOT NULL"),
        ),
        # Returns out with their recipients (app/orders/owed.py): the few orders that ask
        # something back and are in statuses.RETURN_OUT. The dashboard and the order list's
        # overdue filter read them here, whatever the number of orders.
        Index(
            "ix_order__returns_out",
            "responsible_site_id",
            "current_status",
            sqlite_where=text(f"has_returns = 1 AND current_status IN ({RETURNS_OUT_SQL})"),
            postgresql_where=text(f"has_returns AND current_status IN ({RETURNS_OUT_SQL})"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    # The site responsible for the order when it was placed: the site itself, or the
    # patient's site. Kept so that a site's orders are found with one index.
    responsible_site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    current_status: Mapped[str] = mapped_column(String(24))
    # The status an order on hold goes back to when it resumes.
    held_from_status: Mapped[str | None] = mapped_column(String(24))
    shipping_option: Mapped[str | None] = mapped_column(String(10))
    email_label: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether the order asks anything back (has return lines, which never change once it
    # is placed): what the partial index of returns out keys on.
    has_returns: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The day the order must leave the warehouse (app/orders/ship_by.py), set when placed.
    ship_by: Mapped[date] = mapped_column(Date)
    # The packer working on the order, and since when (app/orders/claims.py).
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    placed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    placed_by_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    # The warehouse that reserves, packs and ships the order.
    fulfillment_location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id"))
    # Bumped by every change: two changes made from the same state cannot both land.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    patient: Mapped[Patient | None] = relationship()
    site: Mapped[Site | None] = relationship(foreign_keys=[site_id])
    responsible_site: Mapped[Site | None] = relationship(foreign_keys=[responsible_site_id])
    placed_by_user: Mapped[User | None] = relationship(foreign_keys=[placed_by_user_id])
    placed_by_api_key: Mapped[ApiKey | None] = relationship()
    fulfillment_location: Mapped[StockLocation] = relationship(lazy="joined")
    external_ids: Mapped[list[OrderExternalId]] = relationship(
        cascade="all, delete-orphan", order_by="OrderExternalId.id"
    )
    items: Mapped[list[OrderItem]] = relationship(
        cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    kits: Mapped[list[OrderKit]] = relationship(
        cascade="all, delete-orphan", order_by="OrderKit.id"
    )
    return_items: Mapped[list[ReturnItem]] = relationship(
        cascade="all, delete-orphan", order_by="ReturnItem.id"
    )
    return_devices: Mapped[list[ReturnDevice]] = relationship(
        cascade="all, delete-orphan", order_by="ReturnDevice.id"
    )
    return_packed_kits: Mapped[list[ReturnPackedKit]] = relationship(
        cascade="all, delete-orphan",
        order_by="ReturnPackedKit.id",
        foreign_keys="ReturnPackedKit.order_id",
    )
    events: Mapped[list[OrderEvent]] = relationship(
        cascade="all, delete-orphan", order_by="OrderEvent.id"
    )
    tracking_numbers: Mapped[list[TrackingNumber]] = relationship(
        cascade="all, delete-orphan", order_by="TrackingNumber.id"
    )
    packed_kits: Mapped[list[PackedKit]] = relationship(
        cascade="all, delete-orphan",
        order_by="PackedKit.id",
        foreign_keys="PackedKit.order_id",
        back_populates="order",
    )
    devices: Mapped[list[OrderDevice]] = relationship(
        cascade="all, delete-orphan", order_by="OrderDevice.id", overlaps="devices"
    )
    notes: Mapped[list[OrderNote]] = relationship(
        cascade="all, delete-orphan", order_by="OrderNote.id"
    )
    check_ins: Mapped[list[ReturnCheckIn]] = relationship(
        cascade="all, delete-orphan", order_by="ReturnCheckIn.id"
    )

    @property
    def recipient(self) -> Patient | Site:
        return recipient(self)

    @property
    def recipient_kind(self) -> str:
        return recipient_kind(self.patient_id)

    @property
    def has_return_lines(self) -> bool:
        return has_return_lines(self)


class OrderExternalId(db.Model):
    """One of the client's own ids for an order."""

    __tablename__ = "order_external_id"
    __table_args__ = (UniqueConstraint("order_id", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(64), index=True)


class OrderItem(db.Model):
    __tablename__ = "order_item"
    __table_args__ = (UniqueConstraint("order_id", "item_id"), _count_in_range())

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)

    item: Mapped[Item] = relationship()


class OrderKit(db.Model):
    __tablename__ = "order_kit"
    __table_args__ = (UniqueConstraint("order_id", "kit_id"), _count_in_range())

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    kit_id: Mapped[int] = mapped_column(ForeignKey("kit.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)

    kit: Mapped[Kit] = relationship()


class ReturnItem(db.Model):
    """Units of an item expected back from the recipient."""

    __tablename__ = "return_item"
    __table_args__ = (UniqueConstraint("order_id", "item_id"), _count_in_range())

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)
    # How many have been checked in at the returns station (app/orders/returns_station.py).
    arrived_count: Mapped[int] = mapped_column(Integer, server_default="0")

    item: Mapped[Item] = relationship()


class ReturnDevice(db.Model):
    """A particular device expected back from the recipient."""

    __tablename__ = "return_device"
    __table_args__ = (UniqueConstraint("order_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)

    device: Mapped[Device] = relationship()


class ReturnPackedKit(db.Model):
    """A kit packed on an earlier order, expected back whole."""

    __tablename__ = "return_packed_kit"
    __table_args__ = (UniqueConstraint("order_id", "packed_kit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    packed_kit_id: Mapped[int] = mapped_column(ForeignKey("packed_kit.id"), index=True)

    packed_kit: Mapped[PackedKit] = relationship(foreign_keys=[packed_kit_id])


class PackedKit(db.Model):
    """One physical kit put together for an order's kit line."""

    __tablename__ = "packed_kit"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"), index=True)
    order_kit_id: Mapped[int] = mapped_column(ForeignKey("order_kit.id"), index=True)
    kit_id: Mapped[int] = mapped_column(ForeignKey("kit.id"))
    packed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    packed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    order: Mapped[Order] = relationship(back_populates="packed_kits", foreign_keys=[order_id])
    kit: Mapped[Kit] = relationship()
    devices: Mapped[list[OrderDevice]] = relationship(
        back_populates="packed_kit", order_by="OrderDevice.id", overlaps="devices"
    )


class OrderDevice(db.Model):
    """A device shipped on an order: in a packed kit, or for a device-tracked item line."""

    __tablename__ = "order_device"
    __table_args__ = (UniqueConstraint("order_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    order_item_id: Mapped[int | None] = mapped_column(ForeignKey("order_item.id"), index=True)
    packed_kit_id: Mapped[int | None] = mapped_column(
        ForeignKey("packed_kit.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    device: Mapped[Device] = relationship()
    packed_kit: Mapped[PackedKit | None] = relationship(
        back_populates="devices", overlaps="devices"
    )


# What became of a device at the returns station (``ReturnCheckIn.outcome``).
ARRIVED = "arrived"  # expected on the order, and checked in
UNEXPECTED = "unexpected"  # not expected on the order: recorded with a reason
LOST = "lost"  # expected, not back when the return was closed (with a reason)
CHECK_IN_OUTCOMES = (ARRIVED, UNEXPECTED, LOST)


class ReturnCheckIn(db.Model):
    """One device checked in (or closed as not back) at an order's returns station.

    A device is checked in once per order (the unique key): a second scan is refused.
    Counted return items are counted on their line (``ReturnItem.arrived_count``).
    """

    __tablename__ = "return_check_in"
    __table_args__ = (
        UniqueConstraint("order_id", "device_id"),
        CheckConstraint(
            "outcome IN ('arrived', 'unexpected', 'lost')", name="check_in_outcome_known"
        ),
        Index("ix_return_check_in_device_id", "device_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    outcome: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    device: Mapped[Device] = relationship()


class TrackingNumber(db.Model):
    __tablename__ = "tracking_number"
    __table_args__ = (UniqueConstraint("order_id", "carrier", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def url(self) -> str | None:
        return tracking_url(self.carrier, self.value)


class OrderEvent(db.Model):
    """Something that happened to an order. Appended, never edited or removed."""

    __tablename__ = "order_event"
    __table_args__ = (Index("ix_order_event_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    event_timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    note: Mapped[str | None] = mapped_column(Text)

    actor_user: Mapped[User | None] = relationship()
    actor_api_key: Mapped[ApiKey | None] = relationship()

    @property
    def actor_name(self) -> str:
        return actor_name(
            self.actor_user.full_name if self.actor_user is not None else None,
            self.actor_api_key.name if self.actor_api_key is not None else None,
        )


# The rules of an order that its model and its views (app/orders/views.py) both answer.


def recipient(order):
    """Who the order (a model or a view) ships to: its patient, else its site."""
    return order.patient or order.site


def recipient_kind(patient_id: int | None) -> str:
    """ "patient" or "site": what an order with this patient id ships to."""
    return "patient" if patient_id is not None else "site"


def has_return_lines(order) -> bool:
    """Whether the order (a model or a view) asks for anything back."""
    return bool(order.return_items or order.return_devices or order.return_packed_kits)


class OrderOutboxEntry(db.Model):
    """A status event waiting to be handed to the webhooks, written in the event's transaction.

    The webhooks worker turns each entry into deliveries and deletes it in one transaction,
    so an event is neither lost (a crash before that leaves the entry) nor sent when the
    change was rolled back (the entry rolls back with it).
    """

    __tablename__ = "order_outbox"
    __table_args__ = (
        Index("ix_order_outbox_order_id_order_event_id", "order_id", "order_event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    order_event_id: Mapped[int] = mapped_column(ForeignKey("order_event.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship()
    event: Mapped[OrderEvent] = relationship()


class OrderNote(db.Model):
    __tablename__ = "order_note"
    __table_args__ = (Index("ix_order_note_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    created_by: Mapped[User | None] = relationship()
    created_by_api_key: Mapped[ApiKey | None] = relationship()


class SubmissionKey(db.Model):
    """A one-time key that makes placing an order safe to repeat.

    The API's Idempotency-Key header and the order form's hidden token both land here:
    a second submission with the same key finds the first order instead of making one.
    """

    __tablename__ = "submission_key"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Whose key it is ("api-key:3", "user:7"): two clients may pick the same key.
    scope: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderStatusCount(db.Model):
    """How many orders are in each status, per responsible site, shipping option and
    recipient kind.

    Kept in the same transaction as every status change (see ``status_counters``), so
    that the list's tabs are read from a few dozen rows, not counted over every order.
    No site and no shipping option are stored as 0 and "" so that the key is never null.
    """

    __tablename__ = "order_status_count"

    current_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    site_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    shipping_key: Mapped[str] = mapped_column(String(10), primary_key=True)
    # "patient" or "site": the list's recipient filter.
    kind_key: Mapped[str] = mapped_column(String(7), primary_key=True)
    # The order's fulfillment location: the list's location filter.
    location_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class OrderDayCount(db.Model):
    """How many orders placed on each day (in the warehouse's time zone) are now in each
    status, per responsible site: the dashboard's orders placed per day (all statuses) and
    open orders by age (the open statuses).

    Kept in the same transaction as placing and every status change
    (``app.orders.daily_counts``); ``flask check-dashboard-counts`` recounts it.
    """

    __tablename__ = "order_day_count"
    __table_args__ = (
        # Open orders by age read only the rows still counting something.
        Index(
            "ix_order_day_count_live",
            "current_status",
            "placed_day",
            sqlite_where=text("count <> 0"),
            postgresql_where=text("count <> 0"),
        ),
    )

    placed_day: Mapped[date] = mapped_column(Date, primary_key=True)
    site_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    current_status: Mapped[str] = mapped_column(String(24), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class OrderShippedCount(db.Model):
    """Orders shipped on each day (the warehouse's), per responsible site, by how long they
    took from placed to shipped (a bucket of hours, ``daily_counts.HOURS_BUCKETS``) and
    whether they left by their ship-by date: the dashboard's shipped per day, its weekly
    median and 90th percentile, and its weekly share shipped on time."""

    __tablename__ = "order_shipped_count"

    shipped_day: Mapped[date] = mapped_column(Date, primary_key=True)
    site_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The bucket's upper bound in hours (durations up to it and above the one before).
    hours_bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Shipped on or before the order's ship-by date (``ship_by.shipped_on_time``).
    on_time: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
