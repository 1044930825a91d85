"""``flask generate-orders N``: fills a database with N realistic orders and their histories.

For load and speed checks. Rows are written in bulk (COPY on PostgreSQL, large
``executemany`` batches on SQLite), not through the order service, which would take hours
for a million orders; the histories follow the same status machine the service enforces,
so every generated order is one the service could have produced. Ids continue from the
largest in each table and device identifiers are made from the device's id, so a second
run, with the same seed or another, adds orders beside the first run's.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import func, select, text

from app.auth.models import User
from app.catalog.identifiers import luhn_check_digit
from app.catalog.models import Device, DeviceIdentifier, Item, Kit
from app.database import UTCDateTime
from app.demo import catalog as demo
from app.extensions import db
from app.inventory import models as stock
from app.inventory.service import (
    ALLOCATED,
    DELIVERED,
    QUARANTINED,
    SHIPPED,
    ensure_default_location,
)
from app.orders import carriers, status_counters
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
from app.people.models import Address, Patient, Site

# Rows buffered per table before they are written, and orders per commit.
BATCH = 20_000
ORDERS_PER_COMMIT = 50_000
PROGRESS_STEP = 1000
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


def _pick(rng: random.Random, mix) -> str:
    return rng.choices([s for s, _ in mix], weights=[w for _, w in mix])[0]


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


class Writer:
    """Buffers rows per table and writes them in large batches, in the same transaction.

    PostgreSQL takes them with COPY (psycopg dumps the Python values itself); SQLite with
    one ``executemany`` per batch, the values converted as SQLAlchemy would bind them.
    """

    def __init__(self):
        self.rows: dict = {}
        self.written = 0
        self.dialect = db.session.connection().dialect
        self.columns = {m: [c for c in m.__table__.columns] for m in WRITTEN}

    def add(self, model, row: dict) -> None:
        bucket = self.rows.setdefault(model, [])
        bucket.append(row)
        if len(bucket) >= BATCH:
            self.flush(model)

    def flush(self, model=None) -> None:
        for m in WRITTEN if model is None else WRITTEN[: WRITTEN.index(model) + 1]:
            rows = self.rows.get(m)
            if rows:
                self._write(m, rows)
                self.written += len(rows)
                self.rows[m] = []

    def _write(self, model, rows: list[dict]) -> None:
        columns = self.columns[model]
        names = [c.name for c in columns]
        # A column a row leaves out takes the model's default, as an ORM insert would.
        defaults = [_default(c) for c in columns]
        values = [tuple(map(row.get, names, defaults)) for row in rows]
        table = model.__tablename__
        # The session's own connection, inside its transaction (asked each time: a commit
        # may hand the session another pooled connection).
        driver = db.session.connection().connection.driver_connection
        quoted = ", ".join(f'"{n}"' for n in names)
        if self.dialect.name == "postgresql":
            with driver.cursor() as cursor:
                with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                    for value in values:
                        copy.write_row(value)
            return
        processors = [_sqlite_value(c, self.dialect) for c in columns]
        if any(processors):
            values = [
                tuple(
                    v if p is None or v is None else p(v)
                    for p, v in zip(processors, value, strict=True)
                )
                for value in values
            ]
        marks = ", ".join("?" for _ in names)
        driver.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', values)


def _sqlite_value(column, dialect):
    """How a value is stored on SQLite: what SQLAlchemy would bind, the common case fast."""
    if isinstance(column.type, UTCDateTime):
        # Every timestamp here is made in UTC; stored naive, in SQLAlchemy's own format.
        return lambda v: v.replace(tzinfo=None).isoformat(" ", "microseconds")
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _default(column):
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    return default.arg(None)  # utcnow: SQLAlchemy wraps it to take a context


def generate(n_orders: int, seed: int = 1, progress=None) -> dict:
    """Adds ``n_orders`` orders; ``progress(n)`` is called as each n more are written."""
    rng = random.Random(seed)
    started = time.perf_counter()
    sites = db.session.scalars(select(Site).where(Site.active)).all()
    items = db.session.scalars(select(Item).where(Item.orderable)).all()
    kits = db.session.scalars(select(Kit).where(Kit.archived.is_(False))).all()
    kit_items = {k.id: [(ki.item, ki.count) for ki in k.kit_items] for k in kits}
    users = {u.role: u.id for u in db.session.scalars(select(User))}
    if not (sites and items and kits and users):
        raise click.ClickException("Load the demo catalog first: flask seed-demo")
    consumables = [i for i in items if not i.is_device]
    # Open orders hold their units reserved at the default location, as placed ones do; the
    # same run receives exactly those units, so stock stays consistent (flask stock-check).
    # Closed orders are history from before the ledger: they move no stock.
    location = ensure_default_location()
    # Items whose devices are received when scanned hold nothing back (inventory.reserve).
    received_on_scan = {
        i.id
        for i in [*items, *(item for parts in kit_items.values() for item, _ in parts)]
        if i.accept_unreceived_devices
    }
    to_receive: dict[int, int] = defaultdict(int)
    writer = Writer()

    # Patients: about one per hundred orders, at least a few hundred.
    n_patients = max(300, n_orders // 100)
    address_id, patient_id = _next_id(Address), _next_id(Patient)
    patient_ids, patient_site = [], {}
    for _ in range(n_patients):
        first, last = rng.choice(demo.FIRST_NAMES), rng.choice(demo.LAST_NAMES)
        city, state, zip_code, area = rng.choice(demo.CITIES)
        site = rng.choice(sites)
        writer.add(
            Address,
            {
                "id": address_id,
                "line_one": f"{rng.randrange(10, 9999)} {rng.choice(demo.STREETS)}",
                "city": city,
                "state": state,
                "zip_code": zip_code,
                "country": "US",
            },
        )
        writer.add(
            Patient,
            {
                "id": patient_id,
                "external_identifier": f"GEN-{seed}-{patient_id}",
                "first_name": first,
                "last_name": last,
                "date_of_birth": datetime(
                    1935 + rng.randrange(60), rng.randrange(1, 13), rng.randrange(1, 29)
                ).date(),
                "phone_number": f"+1{area}555{rng.randrange(10000):04d}",
                "sex": rng.choice(["female", "male"]),
                "archived": rng.random() < 0.05,
                "enrolled": True,
                "address_id": address_id,
                "site_id": site.id,
                "created_at": datetime.now(UTC),
            },
        )
        patient_ids.append(patient_id)
        patient_site[patient_id] = site.id
        address_id += 1
        patient_id += 1
    writer.flush()

    ids = {m: _next_id(m) for m in WRITTEN if m not in (Address, Patient)}
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=730)

    reported = 0

    def take(model) -> int:
        value = ids[model]
        ids[model] += 1
        return value

    for n in range(n_orders):
        # Spread over two years, in id order (ids grow with time, as in real life).
        created = now - span + span * (n + 1) / (n_orders + 1)
        recent = now - created < timedelta(days=14)
        status = _pick(rng, RECENT_MIX if recent else OLD_MIX)
        path = PATHS[status]
        to_site = rng.random() < 0.12
        pid = None if to_site else rng.choice(patient_ids)
        site_id = rng.choice(sites).id if to_site else None
        order_id = take(Order)
        times = [created]
        for _ in path:
            times.append(times[-1] + timedelta(hours=rng.uniform(1, 40)))
        held_from = "processing" if status == "onHold" else None
        writer.add(
            Order,
            {
                "id": order_id,
                "patient_id": pid,
                "site_id": site_id,
                "responsible_site_id": site_id or patient_site[pid],
                "current_status": status,
                "held_from_status": held_from,
                "shipping_option": "overnight" if rng.random() < 0.15 else "standard",
                "email_label": False,
                "created_at": created,
                "updated_at": times[-1],
                "placed_by_user_id": users.get("coordinator"),
                "fulfillment_location_id": location.id,
                "version": len(path) + 1,
            },
        )
        for k in range(1 if rng.random() < 0.8 else 2):
            writer.add(
                OrderExternalId,
                {"id": take(OrderExternalId), "order_id": order_id, "value": f"EHR-{order_id}-{k}"},
            )
        line_items = rng.sample(consumables, rng.randrange(1, 3))
        line_items_counts = []
        for item in line_items:
            count = rng.randrange(1, 5)
            line_items_counts.append((item.id, count))
            writer.add(
                OrderItem,
                {
                    "id": take(OrderItem),
                    "order_id": order_id,
                    "item_id": item.id,
                    "count": count,
                },
            )
        order_kits = rng.sample(kits, 1) if rng.random() < 0.7 else []
        for kit in order_kits:
            order_kit_id = take(OrderKit)
            writer.add(
                OrderKit, {"id": order_kit_id, "order_id": order_id, "kit_id": kit.id, "count": 1}
            )
            if "processing" in path and status != "cancelled":
                packed_kit_id = take(PackedKit)
                writer.add(
                    PackedKit,
                    {
                        "id": packed_kit_id,
                        "order_id": order_id,
                        "order_kit_id": order_kit_id,
                        "kit_id": kit.id,
                        "packed_at": times[1],
                        "packed_by_id": users.get("fulfillment"),
                    },
                )
                if "packed" in path:
                    for item, count in kit_items[kit.id]:
                        if not item.is_device:
                            continue
                        for _ in range(count):
                            device_id = take(Device)
                            writer.add(
                                Device,
                                {
                                    "id": device_id,
                                    "item_id": item.id,
                                    "created_at": times[1],
                                    **_device_whereabouts(status, location.id),
                                },
                            )
                            writer.add(
                                DeviceIdentifier,
                                {
                                    "id": take(DeviceIdentifier),
                                    "device_id": device_id,
                                    "type": item.device_identifier_type,
                                    "value": _identifier(
                                        item.device_identifier_type,
                                        device_id,
                                        seed,
                                        demo.SERIAL_PATTERNS.get(item.sku, (None, None))[1],
                                    ),
                                },
                            )
                            writer.add(
                                OrderDevice,
                                {
                                    "id": take(OrderDevice),
                                    "order_id": order_id,
                                    "device_id": device_id,
                                    "packed_kit_id": packed_kit_id,
                                    "created_at": times[1],
                                },
                            )
        actor = users.get("coordinator")
        writer.add(
            OrderEvent,
            {
                "id": take(OrderEvent),
                "order_id": order_id,
                "name": "created",
                "event_timestamp": created,
                "actor_user_id": actor,
            },
        )
        for step, at in zip(path, times[1:], strict=True):
            note = None
            if step == "onHold":
                note = rng.choice(HOLD_REASONS)
            elif step == "cancelled":
                note = rng.choice(CANCEL_REASONS)
            if step == "shipped":
                carrier, value = _tracking(rng)
                writer.add(
                    TrackingNumber,
                    {
                        "id": take(TrackingNumber),
                        "order_id": order_id,
                        "carrier": carrier,
                        "value": value,
                        "created_at": at,
                    },
                )
            writer.add(
                OrderEvent,
                {
                    "id": take(OrderEvent),
                    "order_id": order_id,
                    "name": step,
                    "event_timestamp": at,
                    "note": note,
                    "actor_user_id": users.get(
                        "coordinator" if step == "cancelled" else "fulfillment"
                    ),
                },
            )
        if rng.random() < 0.1:
            writer.add(
                OrderNote,
                {
                    "id": take(OrderNote),
                    "order_id": order_id,
                    "created_at": times[-1],
                    "note": "Patient asked for a morning delivery.",
                    "created_by_id": users.get("coordinator"),
                },
            )
        if status in HOLDING_STOCK:
            units: dict[int, int] = defaultdict(int)
            for line in line_items_counts:
                units[line[0]] += line[1]
            for kit in order_kits:
                for item, count in kit_items[kit.id]:
                    units[item.id] += count
            for item_id, count in sorted(units.items()):
                if item_id in received_on_scan:
                    continue
                to_receive[item_id] += count
                writer.add(
                    stock.StockMovement,
                    {
                        "id": take(stock.StockMovement),
                        "kind": stock.RESERVATION,
                        "item_id": item_id,
                        "location_id": location.id,
                        "on_hand_change": 0,
                        "reserved_change": count,
                        "order_id": order_id,
                        "created_at": created,
                        "actor_user_id": actor,
                    },
                )
        done = n + 1
        if done % ORDERS_PER_COMMIT == 0 or done == n_orders:
            _receive(writer, take, location.id, to_receive, users.get("fulfillment"), now)
            to_receive.clear()
            writer.flush()
            db.session.commit()
        if progress is not None and (done % PROGRESS_STEP == 0 or done == n_orders):
            progress(done - reported)
            reported = done
    _reset_sequences()
    # The list's status counters, counted again with the new orders in.
    status_counters.rebuild()
    db.session.commit()
    _vacuum_analyze()
    return {
        "orders": n_orders,
        "patients": n_patients,
        "rows": writer.written,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _device_whereabouts(order_status: str, location_id: int) -> dict:
    """A packed device's status and place, as the order's steps would have left it."""
    if order_status == "returned":
        # Returned devices wait in quarantine at the warehouse until inspected.
        return {"current_status": QUARANTINED, "location_id": location_id}
    if order_status == "delivered":
        return {"current_status": DELIVERED, "location_id": None}
    if order_status in ("shipped", "deliveryException"):
        return {"current_status": SHIPPED, "location_id": None}
    return {"current_status": ALLOCATED, "location_id": location_id}


def _receive(writer, take, location_id: int, units: dict[int, int], actor, at) -> None:
    """Receives the units just reserved (one receipt) and moves the balances with the
    ledger rows, in the batch's transaction."""
    if not units:
        return
    receipt_id = take(stock.StockReceipt)
    writer.add(
        stock.StockReceipt,
        {
            "id": receipt_id,
            "location_id": location_id,
            "reference": "Stock for generated orders",
            "created_at": at,
            "actor_user_id": actor,
        },
    )
    for item_id, count in sorted(units.items()):
        writer.add(
            stock.StockMovement,
            {
                "id": take(stock.StockMovement),
                "kind": stock.RECEIPT,
                "item_id": item_id,
                "location_id": location_id,
                "on_hand_change": count,
                "reserved_change": 0,
                "receipt_id": receipt_id,
                "created_at": at,
                "actor_user_id": actor,
            },
        )
    balances = {
        b.item_id: b
        for b in db.session.scalars(
            select(stock.StockBalance)
            .where(
                stock.StockBalance.location_id == location_id,
                stock.StockBalance.item_id.in_(units),
            )
            .with_for_update()
        )
    }
    for item_id, count in units.items():
        balance = balances.get(item_id)
        if balance is None:
            balance = stock.StockBalance(
                location_id=location_id, item_id=item_id, on_hand=0, reserved=0
            )
            db.session.add(balance)
        # Received and reserved alike: what was available before stays available.
        balance.on_hand += count
        balance.reserved += count


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
    carrier = rng.choice(list(carriers.CARRIERS))
    if carrier == "UPS":
        value = "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
    elif carrier == "FedEx":
        value = "".join(rng.choice("0123456789") for _ in range(12))
    elif carrier == "USPS":
        value = "9400" + "".join(rng.choice("0123456789") for _ in range(18))
    else:
        value = "".join(rng.choice("0123456789") for _ in range(10))
    return carrier, value


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


def register(app) -> None:
    @app.cli.command("generate-orders")
    @click.argument("count", type=click.IntRange(1, 5_000_000))
    @click.option("--seed", default=1, show_default=True, help="Same seed, same orders.")
    def generate_orders(count: int, seed: int):
        """Add COUNT realistic orders with their histories (for load and speed checks)."""
        started = time.perf_counter()

        def rate(_item):
            done = bar.pos
            elapsed = time.perf_counter() - started
            return f"{done / elapsed:,.0f} orders/s" if done and elapsed else ""

        with click.progressbar(
            length=count,
            label="Generating orders",
            show_eta=True,
            show_pos=True,
            item_show_func=rate,
        ) as bar:
            result = generate(count, seed, progress=bar.update)
        click.echo(
            f"Added {result['orders']:,} orders for {result['patients']:,} new patients "
            f"({result['rows']:,} rows) in {result['seconds']} s."
        )
