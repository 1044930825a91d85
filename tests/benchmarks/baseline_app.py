"""The bare baseline the throughput benchmark compares Orderly with: Flask, no ORM.

It does the same honest work as Orderly's ``POST /api/v3/order`` and
``GET /api/v3/order/<id>``: checks the API key, looks up the recipient, the items and the
kits, refuses what Orderly refuses for those lines, writes the same rows (order, external
ids, lines, first event, webhook outbox entry, status counter, stock reservation with its
ledger rows) in one transaction, and answers the same JSON document. Plain
DB-API statements on one connection per thread, nothing more.

    gunicorn 'tests.benchmarks.baseline_app:create_app()'   # DATABASE_URL as for Orderly
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, request

MAX_LINE_COUNT = 999


WAREHOUSE = ZoneInfo("America/New_York")


def _ship_by(shipping: str | None, placed: datetime) -> date:
    """Orderly's ship-by rule (app/orders/ship_by.py) with its default settings: overnight
    before 14:00 that business day, else the next; standard 2 business days on."""
    local = placed.astimezone(WAREHOUSE)
    day, count = local.date(), 2
    if shipping == "overnight":
        count = 0 if local.time() < time(14) else 1
    while day.weekday() >= 5:
        day += timedelta(days=1)
    for _ in range(count):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


def _timestamp(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps naive UTC text
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Database:
    """One DB-API connection per thread, with Orderly's SQLite settings."""

    def __init__(self, url: str):
        self.url = url
        self.local = threading.local()
        self.sqlite = url.startswith("sqlite")
        self.mark = "?" if self.sqlite else "%s"

    def connection(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.sqlite:
                conn = sqlite3.connect(
                    self.url.split(":///", 1)[1], isolation_level=None, check_same_thread=False
                )
                for pragma in (
                    "journal_mode=WAL",
                    "busy_timeout=10000",
                    "foreign_keys=ON",
                    "synchronous=NORMAL",
                ):
                    conn.execute(f"PRAGMA {pragma}")
            else:
                import psycopg

                conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self.local.conn = conn
        return conn

    def sql(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def rows(self, statement: str, params=()) -> list[tuple]:
        cursor = self.connection().cursor()
        cursor.execute(self.sql(statement), params)
        return cursor.fetchall()

    def end(self) -> None:
        """Rolls back whatever transaction a request left open (reads, refusals)."""
        conn = self.connection()
        if self.sqlite:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        else:
            conn.rollback()

    def ids_in(self, ids: list[int]) -> str:
        return ", ".join(self.mark for _ in ids) or "NULL"


def _error(status: int, code: str, message: str):
    response = jsonify({"status": status, "error": code, "message": message})
    response.status_code = status
    return response


def create_app(url: str | None = None) -> Flask:
    app = Flask(__name__)
    database = Database(url or os.environ.get("DATABASE_URL") or "sqlite:///orderly.db")

    def api_key_id() -> int | None:
        key = request.headers.get("Impilo-API-Key", "")
        if not key:
            return None
        found = database.rows(
            "SELECT id FROM api_key WHERE key_hash = ? AND revoked_at IS NULL",
            (hashlib.sha256(key.encode()).hexdigest(),),
        )
        return found[0][0] if found else None

    def address(row) -> dict:
        keys = ("lineOne", "lineTwo", "lineThree", "city", "state", "zipCode", "country", "note")
        return dict(zip(keys, row, strict=True))

    site_columns = (
        "s.id, s.name, s.active, s.phone_number, a.line_one, a.line_two, a.line_three, a.city, "
        "a.state, a.zip_code, a.country, a.note"
    )

    def site(row) -> dict:
        return {
            "id": row[0],
            "name": row[1],
            "active": bool(row[2]),
            "phoneNumber": row[3],
            "address": address(row[4:12]),
        }

    def patient(patient_id: int) -> dict | None:
        found = database.rows(
            "SELECT p.id, p.external_identifier, p.first_name, p.last_name, p.date_of_birth, "
            "p.email, p.phone_number, p.sex, p.archived, p.enrolled, a.line_one, a.line_two, "
            "a.line_three, a.city, a.state, a.zip_code, a.country, a.note, s.id, s.name, "
            "s.active, s.phone_number, sa.line_one, sa.line_two, sa.line_three, sa.city, "
            "sa.state, sa.zip_code, sa.country, sa.note FROM patient p "
            "JOIN address a ON a.id = p.address_id LEFT JOIN site s ON s.id = p.site_id "
            "LEFT JOIN address sa ON sa.id = s.address_id WHERE p.id = ?",
            (patient_id,),
        )
        if not found:
            return None
        r = found[0]
        born = r[4]
        return {
            "id": r[0],
            "externalIdentifier": r[1],
            "firstName": r[2],
            "lastName": r[3],
            "dateOfBirth": born if isinstance(born, str) or born is None else born.isoformat(),
            "email": r[5],
            "phoneNumber": r[6],
            "sex": r[7],
            "archived": bool(r[8]),
            "enrolled": bool(r[9]),
            "address": address(r[10:18]),
            "site": site(r[18:30]) if r[18] is not None else None,
            "_site_id": r[18],
        }

    def one_site(site_id: int) -> dict | None:
        found = database.rows(
            f"SELECT {site_columns} FROM site s JOIN address a ON a.id = s.address_id "
            "WHERE s.id = ?",
            (site_id,),
        )
        return site(found[0]) if found else None

    item_columns = (
        "i.id, i.name, i.sku, i.model, m.id, m.name, i.orderable, i.device_identifier_type, "
        "i.serial_pattern, i.size"
    )

    def item(r) -> dict:
        return {
            "id": r[0],
            "name": r[1],
            "sku": r[2],
            "model": r[3],
            "manufacturer": {"id": r[4], "name": r[5]} if r[4] is not None else None,
            "orderable": bool(r[6]),
            "deviceIdentifierType": r[7],
            "serialPattern": r[8],
            "size": r[9],
        }

    def items(ids: list[int]) -> dict[int, dict]:
        rows = database.rows(
            f"SELECT {item_columns} FROM item i LEFT JOIN manufacturer m "
            f"ON m.id = i.manufacturer_id WHERE i.id IN ({database.ids_in(ids)})",
            tuple(ids),
        )
        return {r[0]: item(r) for r in rows}

    def kits(ids: list[int]) -> dict[int, dict]:
        rows = database.rows(
            f"SELECT k.id, k.name, k.archived, ki.count, {item_columns} FROM kit k "
            "LEFT JOIN kit_item ki ON ki.kit_id = k.id LEFT JOIN item i ON i.id = ki.item_id "
            "LEFT JOIN manufacturer m ON m.id = i.manufacturer_id "
            f"WHERE k.id IN ({database.ids_in(ids)}) ORDER BY k.id, ki.id",
            tuple(ids),
        )
        found: dict[int, dict] = {}
        for r in rows:
            kit = found.setdefault(
                r[0], {"id": r[0], "name": r[1], "archived": bool(r[2]), "kitItems": []}
            )
            if r[3] is not None:
                kit["kitItems"].append({"item": item(r[4:]), "count": r[3]})
        return found

    def lines(body: dict, key: str, noun: str) -> list[tuple[int, int]] | None:
        found = []
        for line in body.get(key) or []:
            ref, count = (line.get(noun) or {}).get("id"), line.get("count")
            if not (isinstance(ref, int) and isinstance(count, int)):
                return None
            if not 1 <= count <= MAX_LINE_COUNT:
                return None
            found.append((ref, count))
        return found

    def order_document(order_id: int) -> dict | None:
        found = database.rows(
            "SELECT o.id, o.patient_id, o.site_id, o.current_status, o.shipping_option, "
            "o.email_label, o.created_at, o.updated_at, l.id, l.name, o.ship_by "
            "FROM order_ o JOIN stock_location l ON l.id = o.fulfillment_location_id "
            "WHERE o.id = ?",
            (order_id,),
        )
        if not found:
            return None
        o = found[0]
        the_patient = patient(o[1]) if o[1] else None
        if the_patient:
            the_patient.pop("_site_id")
        external = [
            r[0]
            for r in database.rows(
                "SELECT value FROM order_external_id WHERE order_id = ? ORDER BY id", (order_id,)
            )
        ]
        item_lines = database.rows(
            "SELECT item_id, count FROM order_item WHERE order_id = ? ORDER BY id", (order_id,)
        )
        kit_lines = database.rows(
            "SELECT kit_id, count FROM order_kit WHERE order_id = ? ORDER BY id", (order_id,)
        )
        item_rows = items([i for i, _ in item_lines])
        kit_rows = kits([k for k, _ in kit_lines])
        events = database.rows(
            "SELECT e.name, e.event_timestamp, e.note, u.first_name, u.last_name, k.name "
            "FROM order_event e LEFT JOIN user_account u ON u.id = e.actor_user_id "
            "LEFT JOIN api_key k ON k.id = e.actor_api_key_id WHERE e.order_id = ? "
            "ORDER BY e.id",
            (order_id,),
        )
        tracking = database.rows(
            "SELECT carrier, value FROM tracking_number WHERE order_id = ? ORDER BY id",
            (order_id,),
        )
        notes = database.rows(
            "SELECT n.note, n.created_at, u.id, u.first_name, u.last_name, u.email "
            "FROM order_note n LEFT JOIN user_account u ON u.id = n.created_by_id "
            "WHERE n.order_id = ? ORDER BY n.id",
            (order_id,),
        )
        devices = database.rows(
            "SELECT od.packed_kit_id, d.id, d.item_id, d.current_status, d.external_identifier, "
            "di.type, di.value FROM order_device od JOIN device d ON d.id = od.device_id "
            "LEFT JOIN device_identifier di ON di.device_id = d.id WHERE od.order_id = ? "
            "ORDER BY od.id, di.id",
            (order_id,),
        )
        packed = database.rows(
            "SELECT pk.id, k.id, k.name, k.archived FROM packed_kit pk JOIN kit k "
            "ON k.id = pk.kit_id WHERE pk.order_id = ? ORDER BY pk.id",
            (order_id,),
        )
        device_items = items(sorted({r[2] for r in devices}))
        by_device: dict[int, dict] = {}
        in_kit: dict[int | None, list[dict]] = {}
        for r in devices:
            if r[1] not in by_device:
                by_device[r[1]] = {
                    "id": r[1],
                    "item": device_items[r[2]],
                    "currentStatus": r[3],
                    "deviceIdentifiers": [],
                    "externalIdentifier": r[4],
                }
                in_kit.setdefault(r[0], []).append(by_device[r[1]])
            if r[5] is not None:
                by_device[r[1]]["deviceIdentifiers"].append({"type": r[5], "value": r[6]})
        returns = database.rows(
            "SELECT (SELECT count(*) FROM return_item WHERE order_id = ?), "
            "(SELECT count(*) FROM return_device WHERE order_id = ?), "
            "(SELECT count(*) FROM return_packed_kit WHERE order_id = ?)",
            (order_id, order_id, order_id),
        )[0]
        if any(returns):
            raise NotImplementedError("the benchmark's orders have no return lines")

        def actor(r) -> str:
            if r[3] is not None:
                return f"{r[3]} {r[4]}"
            return f"API key “{r[5]}”" if r[5] is not None else "System"

        return {
            "id": o[0],
            "externalOrderIds": external,
            "patient": the_patient,
            "site": one_site(o[2]) if o[2] else None,
            "currentStatus": o[3],
            "orderItems": [{"item": item_rows[i], "count": c} for i, c in item_lines],
            "orderKits": [{"kit": kit_rows[k], "count": c} for k, c in kit_lines],
            "orderEvents": [
                {"name": r[0], "eventTimestamp": _timestamp(r[1]), "note": r[2], "actor": actor(r)}
                for r in events
            ],
            "trackingNumbers": [{"carrier": c, "value": v} for c, v in tracking],
            "devices": in_kit.get(None, []),
            "packedKits": [
                {
                    "id": r[0],
                    "kit": {"id": r[1], "name": r[2], "archived": bool(r[3])},
                    "devices": in_kit.get(r[0], []),
                }
                for r in packed
            ],
            "orderNotes": [
                {
                    "note": r[0],
                    "createdAt": _timestamp(r[1]),
                    "createdBy": (
                        {"id": r[2], "firstName": r[3], "lastName": r[4], "email": r[5]}
                        if r[2] is not None
                        else None
                    ),
                }
                for r in notes
            ],
            "shippingOption": o[4],
            "shipBy": str(o[10]),
            "returnItems": [],
            "returnDevices": [],
            "returnPackedKits": [],
            "unexpectedArrivals": [],
            "emailLabel": bool(o[5]),
            "fulfillmentLocation": {"id": o[8], "name": o[9]},
            "createdAt": _timestamp(o[6]),
            "updatedAt": _timestamp(o[7]),
        }

    @app.get("/api/v3/order/<int:order_id>")
    def get_order(order_id: int):
        try:
            if api_key_id() is None:
                return _error(401, "unauthorized", "This API key is not valid.")
            document = order_document(order_id)
        finally:
            database.end()
        if document is None:
            return _error(404, "order_not_found", f"There is no order with id {order_id}.")
        return jsonify(document)

    def reserve(cursor, order_id, location_id, item_lines, kit_lines, key_id, stamp):
        """Orderly's reservation: every outbound unit (kits multiplied out) at the order's
        location, balance rows locked in id order, a ledger row per item and the balances
        moved by as much. Answers the id of an item short of stock (nothing written then)."""
        units: dict[int, int] = {}
        for item_id, count in item_lines:
            units[item_id] = units.get(item_id, 0) + count
        kit_counts = dict(kit_lines)
        if kit_counts:
            for kit_id, item_id, count in database.rows(
                f"SELECT kit_id, item_id, count FROM kit_item "
                f"WHERE kit_id IN ({database.ids_in(list(kit_counts))})",
                list(kit_counts),
            ):
                units[item_id] = units.get(item_id, 0) + count * kit_counts[kit_id]
        wanted = sorted(units)
        scanned = {
            r[0]
            for r in database.rows(
                f"SELECT id FROM item WHERE id IN ({database.ids_in(wanted)}) "
                "AND accept_unreceived_devices",
                wanted,
            )
        }
        wanted = [i for i in wanted if i not in scanned]
        if not wanted:
            return None
        lock = "" if database.sqlite else " FOR UPDATE"
        balances = {
            item_id: (balance_id, on_hand - reserved)
            for balance_id, item_id, on_hand, reserved in database.rows(
                "SELECT id, item_id, on_hand, reserved FROM stock_balance "
                f"WHERE location_id = ? AND item_id IN ({database.ids_in(wanted)}) "
                f"ORDER BY id{lock}",
                [location_id, *wanted],
            )
        }
        for item_id in wanted:
            if units[item_id] > balances.get(item_id, (0, 0))[1]:
                return item_id
        cursor.executemany(
            database.sql(
                "INSERT INTO stock_movement (kind, item_id, location_id, on_hand_change, "
                "reserved_change, order_id, created_at, actor_api_key_id) "
                "VALUES ('reservation', ?, ?, 0, ?, ?, ?, ?)"
            ),
            [(i, location_id, units[i], order_id, stamp, key_id) for i in wanted],
        )
        cursor.executemany(
            database.sql("UPDATE stock_balance SET reserved = reserved + ? WHERE id = ?"),
            [(units[i], balances[i][0]) for i in wanted],
        )
        return None

    @app.post("/api/v3/order")
    def place_order():
        conn = database.connection()
        if database.sqlite:
            conn.execute("BEGIN IMMEDIATE")  # Orderly's write lock, taken the same way
        try:
            key_id = api_key_id()
            if key_id is None:
                return _error(401, "unauthorized", "This API key is not valid.")
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return _error(400, "invalid_json", "The request body is not valid JSON.")
            patient_id = (body.get("patient") or {}).get("id")
            site_id = (body.get("site") or {}).get("id")
            item_lines, kit_lines = (
                lines(body, "orderItems", "item"),
                lines(body, "orderKits", "kit"),
            )
            if item_lines is None or kit_lines is None or not (item_lines or kit_lines):
                return _error(400, "invalid_lines", "Order lines are not valid.")
            if (patient_id is None) == (site_id is None):
                return _error(400, "recipient_required", "Give a patient or a site.")
            recipient = patient(patient_id) if patient_id else one_site(site_id)
            if recipient is None or recipient.get("archived") or not recipient.get("active", True):
                return _error(400, "invalid_recipient", "The recipient cannot receive orders.")
            found_items = items([i for i, _ in item_lines])
            found_kits = kits([k for k, _ in kit_lines])
            if any(not found_items.get(i, {}).get("orderable") for i, _ in item_lines) or any(
                found_kits.get(k, {"archived": True})["archived"] for k, _ in kit_lines
            ):
                return _error(400, "invalid_lines", "An item or kit cannot be ordered.")
            external = [str(v) for v in body.get("externalOrderIds") or []]
            shipping = body.get("shippingOption", "standard")
            now = datetime.now(UTC)
            ship_by = _ship_by(shipping, now)
            stamp = now.replace(tzinfo=None).isoformat(sep=" ") if database.sqlite else now
            responsible = recipient.pop("_site_id", None) if patient_id else site_id
            location_id, location_name = database.rows(
                "SELECT id, name FROM stock_location WHERE is_default", ()
            )[0]
            cursor = conn.cursor()
            cursor.execute(
                database.sql(
                    "INSERT INTO order_ (patient_id, site_id, responsible_site_id, "
                    "current_status, shipping_option, email_label, ship_by, created_at, "
                    "updated_at, placed_by_api_key_id, fulfillment_location_id, version) "
                    "VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id"
                ),
                (
                    patient_id,
                    site_id,
                    responsible,
                    shipping,
                    False,
                    ship_by,
                    stamp,
                    stamp,
                    key_id,
                    location_id,
                ),
            )
            order_id = cursor.fetchone()[0]
            cursor.execute(
                database.sql(
                    "INSERT INTO order_event (order_id, name, event_timestamp, actor_api_key_id) "
                    "VALUES (?, 'created', ?, ?) RETURNING id"
                ),
                (order_id, stamp, key_id),
            )
            event_id = cursor.fetchone()[0]
            for table, rows, columns in (
                ("order_external_id", [(order_id, v) for v in external], "order_id, value"),
                (
                    "order_item",
                    [(order_id, i, c) for i, c in item_lines],
                    "order_id, item_id, count",
                ),
                ("order_kit", [(order_id, k, c) for k, c in kit_lines], "order_id, kit_id, count"),
                # The webhook outbox entry and the status counter, as Orderly writes them.
                (
                    "order_outbox",
                    [(order_id, event_id, stamp)],
                    "order_id, order_event_id, created_at",
                ),
            ):
                if rows:
                    marks = ", ".join(database.mark for _ in rows[0])
                    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            cursor.execute(
                database.sql(
                    "INSERT INTO order_status_count "
                    "(current_status, site_key, shipping_key, kind_key, location_key, count) "
                    "VALUES ('created', ?, ?, ?, ?, 1) "
                    "ON CONFLICT (current_status, site_key, shipping_key, kind_key, location_key) "
                    "DO UPDATE SET count = order_status_count.count + excluded.count"
                ),
                (responsible or 0, shipping, "patient" if patient_id else "site", location_id),
            )
            short = reserve(cursor, order_id, location_id, item_lines, kit_lines, key_id, stamp)
            if short:
                return _error(400, "insufficient_inventory", f"Not enough stock of item {short}.")
            key_name = database.rows("SELECT name FROM api_key WHERE id = ?", (key_id,))[0][0]
            if database.sqlite:
                conn.execute("COMMIT")
            else:
                conn.commit()
        finally:
            database.end()
        # The answer is built from what was written, as Orderly answers a placed order.
        document = {
            "id": order_id,
            "externalOrderIds": external,
            "patient": recipient if patient_id else None,
            "site": recipient if site_id else None,
            "currentStatus": "created",
            "orderItems": [{"item": found_items[i], "count": c} for i, c in item_lines],
            "orderKits": [{"kit": found_kits[k], "count": c} for k, c in kit_lines],
            "orderEvents": [
                {
                    "name": "created",
                    "eventTimestamp": _timestamp(now),
                    "note": None,
                    "actor": f"API key “{key_name}”",
                }
            ],
            "trackingNumbers": [],
            "devices": [],
            "packedKits": [],
            "orderNotes": [],
            "shippingOption": shipping,
            "shipBy": ship_by.isoformat(),
            "returnItems": [],
            "returnDevices": [],
            "returnPackedKits": [],
            "unexpectedArrivals": [],
            "emailLabel": False,
            "fulfillmentLocation": {"id": location_id, "name": location_name},
            "createdAt": _timestamp(now),
            "updatedAt": _timestamp(now),
        }
        response = jsonify(document)
        response.status_code = 201
        response.headers["Location"] = f"/api/v3/order/{order_id}"
        return response

    return app
