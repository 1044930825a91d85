"""``flask generate-orders N``: fills a database with N realistic orders and their histories.

For load and speed checks: a million orders in a few minutes. Rows are made as plain tuples
and written in bulk (COPY on PostgreSQL, large ``executemany`` batches on SQLite), not
through the order service, which would take hours for a million orders; the histories follow
the same status machine the service enforces, so every generated order is one the service
could have produced. Ids continue from the largest in each table and device identifiers are
made from the device's id, so a second run, with the same seed or another, adds orders beside
the first run's.

On PostgreSQL the whole run is one transaction. Checking each row's foreign keys as it is
copied would take most of the time (one trigger query per reference), so the written tables'
foreign keys are dropped when the transaction starts and added back before it commits, which
checks every row in one pass per key. Nobody ever sees the tables without them; the tables
are locked until the run commits, so a server using the database waits for it.
"""

from __future__ import annotations

import itertools
import random
import time
from bisect import bisect
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import click
from sqlalchemy import func, select, text

from app.auth.models import User
from app.catalog.identifiers import luhn_check_digit, search_key
from app.catalog.models import Device, DeviceIdentifier, Item, Kit
from app.demo import catalog as demo
from app.extensions import db
from app.inventory import models as stock
from app.inventory import usage
from app.inventory.devices import ALLOCATED, DELIVERED, QUARANTINED, SHIPPED
from app.inventory.locations import ensure_default_location
from app.orders import carriers, daily_counts, ship_by, status_counters
from app.orders.models import (
    Order,
    OrderDevice,
    OrderEvent,
    OrderExternalId,
    OrderItem,
    OrderKit,
    OrderNote,
    PackedKit,
    TrackingNumber,
)
from app.people.models import Address, Patient, Site, name_key

# Orders whose rows are written together, and (SQLite) orders per commit: its write-ahead
# log holds every page a transaction writes, so a long one would grow it by gigabytes.
ORDERS_PER_WRITE = 5_000
ORDERS_PER_COMMIT = 50_000
PROGRESS_STEP = 1000
SQLITE_LOAD_CACHE = -256 * 1024  # KiB: 256 MB
# The tables written, parents before children, so that foreign keys hold at every step.
WRITTEN = [
    Address,
    Patient,
    Device,
    DeviceIdentifier,
    Order,
    stock.StockReceipt,
    stock.StockMovement,
    OrderExternalId,
    OrderItem,
    OrderKit,
    PackedKit,
    OrderDevice,
    OrderEvent,
    TrackingNumber,
    OrderNote,
]
# Also written: the status counters, recounted at the end (see status_counters.rebuild),
# and the default location's stock balances. No webhook messages: generated history is not
# news to any subscriber.
# Orders that still hold stock reserved, as the order service leaves them.
HOLDING_STOCK = {"created", "processing", "packed", "availableForPickup", "onHold"}
# Where orders are now, by age: most old orders were delivered long ago.
PATHS = {
    "created": [],
    "processing": ["processing"],
    "packed": ["processing", "packed"],
    "availableForPickup": ["processing", "packed", "availableForPickup"],
    "onHold": ["processing", "onHold"],
    "shipped": ["processing", "packed", "shipped"],
    "deliveryException": ["processing", "packed", "shipped", "deliveryException"],
    "delivered": ["processing", "packed", "shipped", "delivered"],
    "cancelled": ["cancelled"],
    "returned": ["processing", "packed", "shipped", "delivered", "returned"],
}
RECENT_MIX = [
    ("created", 30),
    ("processing", 20),
    ("packed", 10),
    ("availableForPickup", 3),
    ("onHold", 5),
    ("shipped", 25),
    ("cancelled", 5),
    ("deliveryException", 2),
]
OLD_MIX = [("delivered", 90), ("cancelled", 6), ("returned", 3), ("deliveryException", 1)]
HOLD_REASONS = ["Patient in hospital", "Address to be confirmed", "Awaiting insurance approval"]
CANCEL_REASONS = ["Duplicate order", "Patient withdrew from the program", "Ordered in error"]
DIGITS = "0123456789"
UPS_CHARACTERS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


class Mix:
    """A weighted choice made with one random number (``random.choices`` costs more)."""

    def __init__(self, mix):
        self.names = [name for name, _ in mix]
        self.bounds = list(itertools.accumulate(weight for _, weight in mix))
        self.total = self.bounds[-1]

    def pick(self, rng: random.Random) -> str:
        return self.names[bisect(self.bounds, rng.random() * self.total)]


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def _ids(model) -> Iterator[int]:
    return itertools.count(_next_id(model)).__next__


class Writer:
    """Rows per table, as tuples in the order of the columns the generator names, written in
    large batches in the session's transaction.

    PostgreSQL takes them with COPY, SQLite with one ``executemany`` per batch. Values are
    given as each database stores them: timestamps as text made by ``stamp`` (UTC), dates as
    ISO text. A column the generator leaves out takes the model's default, as an ORM insert
    would (computed once).
    """

    def __init__(self):
        self.session = db.session
        self.postgres = self.session.get_bind().dialect.name == "postgresql"
        # SQLite holds naive UTC, in SQLAlchemy's own format (microseconds always written).
        self.zone = "+00" if self.postgres else ""
        self.tables: list[tuple[str, str, int, tuple, list]] = []
        self.written = 0

    def stamp(self, moment: datetime) -> str:
        """A naive UTC datetime as the database takes it."""
        return moment.isoformat(" ", "microseconds") + self.zone

    def table(self, model, columns: str) -> list[tuple]:
        """The list to append ``model``'s rows to, each a tuple of ``columns``' values."""
        names = columns.split()
        table = model.__table__
        unknown = set(names) - set(table.columns.keys())
        missing = [
            c.name
            for c in table.columns
            if c.name not in names and c.default is None and c.server_default is None
            if not c.nullable and c is not table.autoincrement_column
        ]
        if unknown or missing:
            raise ValueError(f"{table.name}: unknown {sorted(unknown)}, missing {missing}")
        defaulted = [c for c in table.columns if c.name not in names and c.default is not None]
        extra = tuple(self._plain(_default(c)) for c in defaulted)
        quoted = ", ".join(f'"{n}"' for n in [*names, *(c.name for c in defaulted)])
        rows: list[tuple] = []
        self.tables.append((table.name, quoted, len(names) + len(extra), extra, rows))
        return rows

    def _plain(self, value):
        if isinstance(value, datetime):
            return self.stamp(value.astimezone(UTC).replace(tzinfo=None))
        if isinstance(value, date):
            return value.isoformat()
        return value

    def flush(self) -> None:
        """Writes every table's rows, parents first (the order ``table`` was asked in)."""
        # The session's own connection, inside its transaction (asked each time: a commit
        # may hand the session another pooled connection).
        driver = self.session.connection().connection.driver_connection
        for name, quoted, width, extra, rows in self.tables:
            if not rows:
                continue
            if extra:
                rows[:] = [row + extra for row in rows]
            if self.postgres:
                with (
                    driver.cursor() as cursor,
                    cursor.copy(f'COPY "{name}" ({quoted}) FROM STDIN') as copy,
                ):
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
            else:
                marks = ", ".join("?" * width)
                driver.executemany(f'INSERT INTO "{name}" ({quoted}) VALUES ({marks})', rows)
            self.written += len(rows)
            rows.clear()


class _ShipByDates:
    """Ship-by dates of generated orders, by ``ship_by``'s rule, as the database takes them."""

    def __init__(self):
        self.rules = ship_by.rules()

    def __call__(self, option: str, created: datetime) -> str:
        """For a naive UTC ``created``."""
        placed = created.replace(tzinfo=UTC)
        return ship_by.ship_by_date(option, placed, self.rules).isoformat()


def _default(column):
    default = column.default
    if default.is_scalar:
        return default.arg
    return default.arg(None)  # utcnow: SQLAlchemy wraps it to take a context


@contextmanager
def _foreign_keys_checked_at_the_end(writer: Writer, tell) -> Iterator[None]:
    """PostgreSQL: the written tables' foreign keys are dropped, and added back as they were
    (``pg_get_constraintdef``) when the rows are in, in the same transaction. Adding a key
    checks every row in one query, which costs a fraction of a trigger query per row."""
    if not writer.postgres:
        yield
        return
    session = writer.session
    keys = session.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = ANY(CAST(:tables AS regclass[])) ORDER BY conrelid, conname"
        ),
        {"tables": [m.__tablename__ for m in WRITTEN]},
    ).all()
    run = session.connection().exec_driver_sql
    for table, name, _ in keys:
        run(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    tell(0, f"adding {len(keys)} foreign keys back, each checking every row")
    for table, group in itertools.groupby(keys, key=lambda key: key[0]):
        adds = ", ".join(f'ADD CONSTRAINT "{name}" {definition}' for _, name, definition in group)
        run(f"ALTER TABLE {table} {adds}")


@contextmanager
def _sqlite_bulk_settings(writer: Writer) -> Iterator[None]:
    """SQLite, for the load only: a page cache large enough for the growing indexes (the
    default 2 MB makes every index insert a read from the file). Put back after, as the
    app's connections use it. (``synchronous`` stays: in WAL mode it syncs only at
    checkpoints, and it cannot change inside a transaction.)"""
    if writer.postgres:
        yield
        return
    driver = writer.session.connection().connection.driver_connection
    before = driver.execute("PRAGMA cache_size").fetchone()[0]
    driver.execute(f"PRAGMA cache_size={SQLITE_LOAD_CACHE}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size={before}")


def generate(n_orders: int, seed: int = 1, progress=None) -> dict:
    """Adds ``n_orders`` orders. ``progress(n, note=None)`` is told as each n more are made,
    and what the run does after the last one (the ``update`` of ``progress.Progress``)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    tell = progress or (lambda n, note=None: None)
    catalog = _Catalog.load()
    writer = Writer()
    with _foreign_keys_checked_at_the_end(writer, tell), _sqlite_bulk_settings(writer):
        patients = _patients(writer, rng, seed, n_orders, catalog)
        _orders(writer, rng, seed, n_orders, tell, patients, catalog)
        _reset_sequences()
        tell(0, "recounting the status counters")
        status_counters.rebuild()
        tell(0, "recounting the dashboard's daily counts")
        daily_counts.rebuild()
        usage.rebuild()
    db.session.commit()
    tell(0, "VACUUM (ANALYZE)" if writer.postgres else "ANALYZE")
    _vacuum_analyze()
    return {
        "orders": n_orders,
        "patients": len(patients),
        "rows": writer.written,
        "seconds": round(time.perf_counter() - started, 1),
    }


@dataclass
class _Catalog:
    """What generated orders are made of, read once: plain ids, no ORM objects in the loop."""

    site_ids: list[int]
    consumable_ids: list[int]
    kit_ids: list[int]
    # Per kit: its contents (item id, count), and one (item id, identifier type, serial
    # prefix) per device it holds, in the order they are packed.
    kit_contents: dict[int, list[tuple[int, int]]]
    kit_devices: dict[int, list[tuple[int, str, str | None]]]
    coordinator: int | None
    fulfillment: int | None
    location_id: int
    # Items whose devices are received when scanned hold nothing back (reservations.reserve).
    received_on_scan: set[int]

    @classmethod
    def load(cls) -> _Catalog:
        session = db.session
        sites = session.scalars(select(Site.id).where(Site.active).order_by(Site.id)).all()
        items = session.scalars(select(Item).where(Item.orderable).order_by(Item.id)).all()
        kits = session.scalars(select(Kit).where(Kit.archived.is_(False)).order_by(Kit.id)).all()
        users = {u.role: u.id for u in session.scalars(select(User))}
        if not (sites and items and kits and users):
            raise click.ClickException("Load the demo catalog first: flask seed-demo")
        parts = [(kit.id, part.item, part.count) for kit in kits for part in kit.kit_items]
        kit_contents = {kit.id: [] for kit in kits}
        kit_devices = {kit.id: [] for kit in kits}
        for kit_id, item, count in parts:
            kit_contents[kit_id].append((item.id, count))
            if item.is_device:
                prefix = demo.SERIAL_PATTERNS.get(item.sku, (None, None))[1]
                kit_devices[kit_id] += [(item.id, item.device_identifier_type, prefix)] * count
        return cls(
            site_ids=list(sites),
            consumable_ids=[i.id for i in items if not i.is_device],
            kit_ids=[k.id for k in kits],
            kit_contents=kit_contents,
            kit_devices=kit_devices,
            coordinator=users.get("coordinator"),
            fulfillment=users.get("fulfillment"),
            # Open orders hold their units reserved at the default location, as placed ones
            # do; the same run receives exactly those units, so stock stays consistent
            # (flask stock-check). Closed orders are history from before the ledger: they
            # move no stock.
            location_id=ensure_default_location().id,
            received_on_scan={
                i.id
                for i in [*items, *(item for _, item, _ in parts)]
                if i.accept_unreceived_devices
            },
        )


def _patients(writer: Writer, rng: random.Random, seed: int, n_orders: int, catalog: _Catalog):
    """About one patient per hundred orders, at least a few hundred: (id, site id) each."""
    n_patients = max(300, n_orders // 100)
    addresses = writer.table(Address, "id line_one city state zip_code country")
    patients = writer.table(
        Patient,
        "id external_identifier first_name last_name date_of_birth phone_number sex "
        "archived enrolled address_id site_id first_name_key last_name_key",
    )
    address_id, patient_id = _next_id(Address), _next_id(Patient)
    made = []
    for _ in range(n_patients):
        city, state, zip_code, area = rng.choice(demo.CITIES)
        site_id = rng.choice(catalog.site_ids)
        street = f"{rng.randrange(10, 9999)} {rng.choice(demo.STREETS)}"
        addresses.append((address_id, street, city, state, zip_code, "US"))
        born = date(1935 + rng.randrange(60), rng.randrange(1, 13), rng.randrange(1, 29))
        first, last = rng.choice(demo.FIRST_NAMES), rng.choice(demo.LAST_NAMES)
        patients.append(
            (
                patient_id,
                f"GEN-{seed}-{patient_id}",
                first,
                last,
                born.isoformat(),
                f"+1{area}555{rng.randrange(10000):04d}",
                rng.choice(["female", "male"]),
                rng.random() < 0.05,
                True,
                address_id,
                site_id,
                name_key(first),
                name_key(last),
            )
        )
        made.append((patient_id, site_id))
        address_id += 1
        patient_id += 1
    writer.flush()
    return made


def _orders(writer: Writer, rng, seed: int, n_orders: int, tell, patients, catalog) -> None:
    """The orders, their lines, packed kits and devices, events, tracking numbers, notes and
    stock reservations; written every ``ORDERS_PER_WRITE`` orders.

    The hot loop of a million-order run: rows are tuples, ids come from counters, and random
    picks are made from one ``rng.random()`` each where ``random``'s helpers cost more.
    """
    session = writer.session
    sites, consumables, kit_ids = catalog.site_ids, catalog.consumable_ids, catalog.kit_ids
    contents, kit_devices = catalog.kit_contents, catalog.kit_devices
    coordinator, fulfillment = catalog.coordinator, catalog.fulfillment
    location_id, received_on_scan = catalog.location_id, catalog.received_on_scan

    orders = writer.table(
        Order,
        "id patient_id site_id responsible_site_id current_status held_from_status "
        "shipping_option email_label ship_by created_at updated_at placed_by_user_id "
        "fulfillment_location_id version",
    )
    devices = writer.table(Device, "id item_id current_status location_id created_at")
    device_identifiers = writer.table(DeviceIdentifier, "id device_id type value search_key")
    receipts = writer.table(stock.StockReceipt, "id location_id reference created_at actor_user_id")
    movements = writer.table(
        stock.StockMovement,
        "id kind item_id location_id on_hand_change reserved_change order_id receipt_id "
        "created_at actor_user_id",
    )
    external_ids = writer.table(OrderExternalId, "id order_id value")
    order_items = writer.table(OrderItem, "id order_id item_id count")
    order_kits = writer.table(OrderKit, "id order_id kit_id count")
    packed_kits = writer.table(PackedKit, "id order_id order_kit_id kit_id packed_at packed_by_id")
    order_devices = writer.table(OrderDevice, "id order_id device_id packed_kit_id created_at")
    events = writer.table(OrderEvent, "id order_id name event_timestamp note actor_user_id")
    tracking_numbers = writer.table(TrackingNumber, "id order_id carrier value created_at")
    notes = writer.table(OrderNote, "id order_id created_at note created_by_id")

    next_order, next_device = _ids(Order), _ids(Device)
    next_identifier, next_receipt = _ids(DeviceIdentifier), _ids(stock.StockReceipt)
    next_movement, next_external = _ids(stock.StockMovement), _ids(OrderExternalId)
    next_item, next_kit, next_packed = _ids(OrderItem), _ids(OrderKit), _ids(PackedKit)
    next_order_device, next_event = _ids(OrderDevice), _ids(OrderEvent)
    next_tracking, next_note = _ids(TrackingNumber), _ids(OrderNote)

    rand, stamp = rng.random, writer.stamp
    recent_mix, old_mix = Mix(RECENT_MIX), Mix(OLD_MIX)
    whereabouts = {status: _device_whereabouts(status, location_id) for status in PATHS}
    to_receive: dict[int, int] = defaultdict(int)
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    now_stamp = stamp(now)
    span = timedelta(days=730)
    # Spread over two years, in id order (ids grow with time, as in real life).
    first, step = now - span, span / (n_orders + 1)
    recent_from = now - timedelta(days=14)
    # Orders shipped since then take their units off the shelf (the ledger's shipments).
    used_from = now - timedelta(days=45)
    to_ship: dict[int, int] = defaultdict(int)
    n_consumables, n_kits, n_patients, n_sites = (
        len(consumables),
        len(kit_ids),
        len(patients),
        len(sites),
    )
    ship_by_of = _ShipByDates()
    reported = 0
    for n in range(n_orders):
        created = first + step * (n + 1)
        status = (recent_mix if created > recent_from else old_mix).pick(rng)
        path = PATHS[status]
        if rand() < 0.12:
            patient_id, site_id = None, sites[int(rand() * n_sites)]
            responsible = site_id
        else:
            patient_id, responsible = patients[int(rand() * n_patients)]
            site_id = None
        order_id = next_order()
        option = "overnight" if rand() < 0.15 else "standard"
        times = [created]
        at = created
        for _ in path:
            at += timedelta(hours=1 + 39 * rand())
            times.append(at)
        stamps = [stamp(t) for t in times]
        orders.append(
            (
                order_id,
                patient_id,
                site_id,
                responsible,
                status,
                "processing" if status == "onHold" else None,
                option,
                False,
                ship_by_of(option, created),
                stamps[0],
                stamps[-1],
                coordinator,
                location_id,
                len(path) + 1,
            )
        )
        external_ids.append((next_external(), order_id, f"EHR-{order_id}-0"))
        if rand() >= 0.8:
            external_ids.append((next_external(), order_id, f"EHR-{order_id}-1"))
        # One or two different consumables, 1 to 4 of each.
        line = int(rand() * n_consumables)
        lines = [(consumables[line], 1 + int(rand() * 4))]
        if rand() < 0.5:
            other = int(rand() * (n_consumables - 1))
            lines.append((consumables[other + (other >= line)], 1 + int(rand() * 4)))
        for item_id, count in lines:
            order_items.append((next_item(), order_id, item_id, count))
        kit_id = kit_ids[int(rand() * n_kits)] if rand() < 0.7 else None
        if kit_id is not None:
            order_kit_id = next_kit()
            order_kits.append((order_kit_id, order_id, kit_id, 1))
            if "processing" in path and status != "cancelled":
                packed_kit_id = next_packed()
                packed_kits.append(
                    (packed_kit_id, order_id, order_kit_id, kit_id, stamps[1], fulfillment)
                )
                if "packed" in path:
                    device_status, device_location = whereabouts[status]
                    for item_id, kind, prefix in kit_devices[kit_id]:
                        device_id = next_device()
                        devices.append(
                            (device_id, item_id, device_status, device_location, stamps[1])
                        )
                        value = _identifier(kind, device_id, seed, prefix)
                        device_identifiers.append(
                            (next_identifier(), device_id, kind, value, search_key(value))
                        )
                        order_devices.append(
                            (next_order_device(), order_id, device_id, packed_kit_id, stamps[1])
                        )
        events.append((next_event(), order_id, "created", stamps[0], None, coordinator))
        for i, name in enumerate(path, 1):
            note = None
            if name == "onHold":
                note = HOLD_REASONS[int(rand() * len(HOLD_REASONS))]
            elif name == "cancelled":
                note = CANCEL_REASONS[int(rand() * len(CANCEL_REASONS))]
            elif name == "shipped":
                carrier, value = _tracking(rng)
                tracking_numbers.append((next_tracking(), order_id, carrier, value, stamps[i]))
            actor = coordinator if name == "cancelled" else fulfillment
            events.append((next_event(), order_id, name, stamps[i], note, actor))
        if rand() < 0.1:
            notes.append(
                (
                    next_note(),
                    order_id,
                    stamps[-1],
                    "Patient asked for a morning delivery.",
                    coordinator,
                )
            )
        units: dict[int, int] = defaultdict(int)
        for item_id, count in lines:
            units[item_id] += count
        if kit_id is not None:
            for item_id, count in contents[kit_id]:
                units[item_id] += count
        shipped_at = times[path.index("shipped") + 1] if "shipped" in path else None
        if shipped_at is not None and shipped_at > used_from:
            # Shipped lately: its units leave the shelf (received in this batch's receipt
            # first), so that the dashboard's stock cover has a rate of use.
            for item_id, count in sorted(units.items()):
                if item_id in received_on_scan:
                    continue
                to_ship[item_id] += count
                movements.append(
                    (
                        next_movement(),
                        stock.SHIPMENT,
                        item_id,
                        location_id,
                        -count,
                        0,
                        order_id,
                        None,
                        stamp(shipped_at),
                        fulfillment,
                    )
                )
        if status in HOLDING_STOCK:
            for item_id, count in sorted(units.items()):
                if item_id in received_on_scan:
                    continue
                to_receive[item_id] += count
                movements.append(
                    (
                        next_movement(),
                        stock.RESERVATION,
                        item_id,
                        location_id,
                        0,
                        count,
                        order_id,
                        None,
                        stamps[0],
                        coordinator,
                    )
                )
        done = n + 1
        if done % ORDERS_PER_WRITE == 0 or done == n_orders:
            if done % ORDERS_PER_COMMIT == 0 or done == n_orders:
                _receive(
                    writer,
                    receipts,
                    movements,
                    next_receipt,
                    next_movement,
                    location_id,
                    to_receive,
                    fulfillment,
                    now_stamp,
                    to_ship,
                )
                to_receive.clear()
                to_ship.clear()
                writer.flush()
                if not writer.postgres:
                    session.commit()
            else:
                writer.flush()
        if done % PROGRESS_STEP == 0 or done == n_orders:
            tell(done - reported)
            reported = done


def _device_whereabouts(order_status: str, location_id: int) -> tuple[str, int | None]:
    """A packed device's status and place, as the order's steps would have left it."""
    if order_status == "returned":
        # Returned devices wait in quarantine at the warehouse until inspected.
        return QUARANTINED, location_id
    if order_status == "delivered":
        return DELIVERED, None
    if order_status in ("shipped", "deliveryException"):
        return SHIPPED, None
    return ALLOCATED, location_id


def _receive(
    writer, receipts, movements, next_receipt, next_movement, location_id, units, actor, at, shipped
) -> None:
    """Receives the units just reserved and those just shipped (one receipt) and moves the
    balances with the ledger rows, in the batch's transaction: what was shipped came in and
    went out again."""
    received = {i: units.get(i, 0) + shipped.get(i, 0) for i in units.keys() | shipped.keys()}
    if not received:
        return
    receipt_id = next_receipt()
    receipts.append((receipt_id, location_id, "Stock for generated orders", at, actor))
    for item_id, count in sorted(received.items()):
        movements.append(
            (
                next_movement(),
                stock.RECEIPT,
                item_id,
                location_id,
                count,
                0,
                None,
                receipt_id,
                at,
                actor,
            )
        )
    session = writer.session
    balances = {
        b.item_id: b
        for b in session.scalars(
            select(stock.StockBalance)
            .where(
                stock.StockBalance.location_id == location_id,
                stock.StockBalance.item_id.in_(received),
            )
            .with_for_update()
        )
    }
    for item_id in received:
        count = units.get(item_id, 0)
        balance = balances.get(item_id)
        if balance is None:
            balance = stock.StockBalance(
                location_id=location_id, item_id=item_id, on_hand=0, reserved=0
            )
            session.add(balance)
        # Received and reserved alike: what was available before stays available.
        balance.on_hand += count
        balance.reserved += count
    session.flush()


def _base36(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while True:
        n, rest = divmod(n, 36)
        text = digits[rest] + text
        if not n:
            return text


def _identifier(kind: str, n: int, seed: int, serial_prefix: str | None = None) -> str:
    if kind == "imei":
        body = f"35{seed % 100:02d}{n:010d}"
        return body + luhn_check_digit(body)
    if kind in ("iccid", "simCardNumber"):
        body = f"8901{seed % 100:02d}{n:012d}"
        return body + luhn_check_digit(body)
    if kind == "macAddress":
        return ":".join(
            f"{b:02X}"
            for b in (
                (seed % 256),
                (n >> 32) & 255,
                (n >> 24) & 255,
                (n >> 16) & 255,
                (n >> 8) & 255,
                n & 255,
            )
        )
    if serial_prefix:
        # The item's serial pattern takes 4 to 8 letters or digits after the prefix.
        return f"{serial_prefix}{seed % 100:02d}{_base36(n):0>6}"
    return f"GS{seed % 100:02d}{n:09d}"


def _tracking(rng: random.Random) -> tuple[str, str]:
    carrier = CARRIER_NAMES[int(rng.random() * len(CARRIER_NAMES))]
    # Valid numbers, check digits and all (carriers.problem): as fulfillment would enter them.
    if carrier == "UPS":
        body = "".join(rng.choices(UPS_CHARACTERS, k=15))
        value = f"1Z{body}{carriers.ups_check_digit(body)}"
    elif carrier == "FedEx":
        body = f"{rng.randrange(10**11):011d}"
        value = f"{body}{carriers.fedex12_check_digit(body)}"
    elif carrier == "USPS":
        body = f"9400{rng.randrange(10**17):017d}"
        value = f"{body}{carriers.mod10_check_digit(body)}"
    else:
        value = f"{rng.randrange(10**10):010d}"
    return carrier, value


CARRIER_NAMES = list(carriers.CARRIERS)


def _reset_sequences() -> None:
    """PostgreSQL's id sequences must move past the ids written here."""
    if db.engine.dialect.name != "postgresql":
        return
    for model in WRITTEN:
        table = model.__tablename__
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )
        )


def _vacuum_analyze() -> None:
    """Fresh statistics after a bulk load: without them the planner still thinks the tables
    are small and picks slow plans. PostgreSQL also sets the visibility map, so that
    index-only scans need not visit the rows; SQLite only needs ANALYZE after inserts."""
    tables = ", ".join(f'"{m.__tablename__}"' for m in WRITTEN)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM (ANALYZE) {tables}"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()
