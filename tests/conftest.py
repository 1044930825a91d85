"""Shared fixtures: a real database (SQLite file, or PostgreSQL from DATABASE_URL), migrated
to head once per run and emptied after every test; clients; and a small real catalog."""

from __future__ import annotations

import functools
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from werkzeug.security import generate_password_hash

os.environ.setdefault("SECRET_KEY", "tests-only-secret")

from app import create_app  # noqa: E402
from app.api.throttle import throttle_of  # noqa: E402
from app.auth.actor import Actor  # noqa: E402
from app.auth.models import ApiKey, User  # noqa: E402
from app.auth.scopes import ALL_SCOPES  # noqa: E402
from app.catalog.models import Item, Kit, KitItem, Manufacturer  # noqa: E402
from app.db.transactions import write_transaction  # noqa: E402
from app.extensions import db  # noqa: E402
from app.inventory import locations, receipts  # noqa: E402
from app.inventory.locations import ensure_default_location  # noqa: E402
from app.orders.models import MAX_LINE_COUNT  # noqa: E402
from app.people.models import Address, Patient, Site  # noqa: E402

pytest_plugins = ["tests.helpers.server", "tests.helpers.browser", "tests.helpers.mutation"]

PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    """A cheap hash for test users: the app's scrypt is slow on purpose (its check costs about
    a second), and the tests sign in hundreds of times. The check itself is the app's own:
    check_password_hash reads the method from the hash."""
    return generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


ROOT = Path(__file__).resolve().parent.parent


def _database_url(tmp_path_factory, worker: str) -> str:
    """The database a test process uses: without DATABASE_URL, a SQLite file per run (and per
    xdist worker). With it, that database; under pytest-xdist, one per worker beside it:
    SQLite ``scratch.db`` gives ``scratch_gw0.db``, ... (a relative path is under instance/,
    as the app reads it), PostgreSQL ``name`` gives ``name_gw0``, ... (made on first use,
    dropped when the worker ends: ``_drop_worker_database``)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'orderly-test.db'}"
    base = make_url(url)
    if base.get_backend_name() == "sqlite":
        path = Path(base.database)
        path = path if path.is_absolute() else ROOT / "instance" / path
        if worker != "master":
            path = path.with_name(f"{path.stem}_{worker}{path.suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return base.set(database=str(path)).render_as_string(hide_password=False)
    if worker == "master":
        return url
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_worker_database(worker: str) -> None:
    """A PostgreSQL worker's own database goes when the worker ends (from the database it was
    made beside); anything still connected to it is disconnected."""
    url = os.environ.get("DATABASE_URL")
    if not url or worker == "master" or make_url(url).get_backend_name() != "postgresql":
        return
    base = make_url(url)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{base.database}_{worker}" WITH (FORCE)'))
    engine.dispose()


def pytest_configure(config):
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("sqlite") and make_url(url).database in (None, "", ":memory:"):
        raise pytest.UsageError(
            "DATABASE_URL: an in-memory SQLite database cannot serve the tests (each connection "
            "would see its own); name a file (sqlite:///scratch.db) or leave DATABASE_URL unset."
        )


def _reset_schema() -> None:
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.drop_all()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _migrate() -> None:
    _reset_schema()
    upgrade()  # the migrations, not create_all: tests run on what production runs


@pytest.fixture(scope="session")
def app(tmp_path_factory, worker_id):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path_factory, worker_id),
        }
    )
    # A plugin (pytest_plugins above): imported here, once pytest has registered it.
    from tests.helpers.mutation import migrate_once

    with app.app_context():
        migrate_once(db.engine, _migrate)
        # The migrations add the default location: the first test starts empty as the rest.
        _empty_tables()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()
    _drop_worker_database(worker_id)


EMPTYING_ATTEMPTS = 3


@pytest.fixture(autouse=True)
def _empty_database(request):
    """Every test starts from an empty database (tests without the app skip this)."""
    yield
    # The placing path's location statements are built at first use: built again for each
    # test, so that a mutant of them switched on for a test (mutmut) is the one it runs.
    locations._placed_at_statement_for.cache_clear()
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    throttle_of(app).reset()  # each test starts with no API call counted
    with app.app_context():
        db.session.remove()
        _empty_tables()


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    # A browser test's server may still be answering a last request (an htmx fragment asked
    # for as the page closed): PostgreSQL may then end the TRUNCATE as a deadlock with it.
    # The request ends soon after; empty the tables again then.
    for attempt in range(1, EMPTYING_ATTEMPTS + 1):
        try:
            with db.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                else:
                    for table in tables:
                        conn.execute(text(f"DELETE FROM {table}"))
            return
        except OperationalError:
            if attempt == EMPTYING_ATTEMPTS:
                raise
            time.sleep(0.5)


@pytest.fixture
def client(app):
    return app.test_client()


@contextmanager
def app_context(app):
    """A short-lived app context for arranging or checking data; never hold one across a
    request, or the request would share its session."""
    with app.app_context():
        try:
            yield db.session
        finally:
            db.session.remove()


# Bookkeeping written at most once a minute per sign-in or API key, whatever the page (when
# a slow test crosses the minute, it would otherwise add one statement to one request).
BOOKKEEPING = ("UPDATE USER_SIGN_IN SET LAST_SEEN_AT", "UPDATE API_KEY SET LAST_USED_AT")


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        head = " ".join(statement.split()).upper()
        if not head.startswith(("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE", *BOOKKEEPING)):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """``with count_queries() as counter:`` counts the SQL statements run inside the block."""

    @contextmanager
    def counting():
        counter = QueryCounter()
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", counter)

    return counting


@dataclass
class Catalog:
    """Ids of a small real catalog: the rows a test refers to by name."""

    patient: int = 0
    archived_patient: int = 0
    site: int = 0
    inactive_site: int = 0
    items: dict[str, int] = field(default_factory=dict)
    kits: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    location: int = 0


# The catalog fixture's stock at the default location: every order a test places reserves
# real stock, as in production, so each item starts with enough for any test's orders.
STOCK_PER_COUNTED_ITEM = 2 * MAX_LINE_COUNT  # the largest line fits, twice
STOCK_PER_DEVICE_ITEM = 12


def stock_identifier(kind: str, n: int) -> str:
    """A valid identifier of the fixture's received devices (distinct from tests' own)."""
    from app.catalog.identifiers import luhn_check_digit

    if kind == "imei":
        body = f"86{n:012d}"
    elif kind == "iccid":
        body = f"8944{n:014d}"
    else:
        return f"STOCK-{n:05d}"
    return body + luhn_check_digit(body)


def _address(n: int) -> Address:
    return Address(line_one=f"{n} Main St", city="Columbus", state="OH", zip_code="43215")


@pytest.fixture
def catalog(app) -> Catalog:
    ids = Catalog()
    with app.app_context(), write_transaction() as session:
        maker = Manufacturer(name="Omron")
        items = {
            "monitor": Item(
                name="BP monitor", sku="BPM", manufacturer=maker, device_identifier_type="serial"
            ),
            "cuff": Item(name="BP cuff, large", sku="CUF-L", manufacturer=maker, size="large"),
            "strips": Item(name="Test strips", sku="STR"),
            "gateway": Item(name="Gateway", sku="GWY", device_identifier_type="iccid"),
            "glucometer": Item(name="Glucometer", sku="GLU", device_identifier_type="imei"),
            "retired": Item(name="Old monitor", sku="OLD", orderable=False),
        }
        kits = {
            "hypertension": Kit(
                name="Hypertension kit",
                kit_items=[
                    KitItem(item=items["monitor"], count=1),
                    KitItem(item=items["cuff"], count=1),
                    KitItem(item=items["gateway"], count=1),
                ],
            ),
            "diabetes": Kit(
                name="Diabetes kit",
                kit_items=[
                    KitItem(item=items["glucometer"], count=1),
                    KitItem(item=items["strips"], count=2),
                ],
            ),
            "archived": Kit(
                name="Old kit", archived=True, kit_items=[KitItem(item=items["cuff"], count=1)]
            ),
        }
        site = Site(name="Riverside Clinic", phone_number="+16145550100", address=_address(1))
        inactive = Site(name="Closed Clinic", active=False, address=_address(2))
        patient = Patient(
            external_identifier="MRN-1",
            first_name="Ada",
            last_name="Lovelace",
            date_of_birth=date(1950, 12, 10),
            phone_number="+16145550101",
            address=_address(3),
            site=site,
        )
        archived = Patient(
            external_identifier="MRN-2",
            first_name="Old",
            last_name="Patient",
            archived=True,
            address=_address(4),
        )
        users = {}
        # The packing tests scan identifiers of their own: their devices are received when
        # scanned. Tests of picking from stock turn this off (see tests/test_inventory.py).
        for item in items.values():
            if item.device_identifier_type:
                item.accept_unreceived_devices = True
        for role in ("coordinator", "fulfillment", "admin"):
            user = User(
                email=f"{role}@example.org",
                role=role,
                first_name=role.title(),
                last_name="Tester",
                password_hash=password_hash(),
            )
            users[role] = user
        session.add_all(
            [*items.values(), *kits.values(), site, inactive, patient, archived, *users.values()]
        )
        session.flush()
        ids.patient, ids.archived_patient = patient.id, archived.id
        ids.site, ids.inactive_site = site.id, inactive.id
        ids.items = {name: item.id for name, item in items.items()}
        ids.kits = {name: kit.id for name, kit in kits.items()}
        ids.users = {role: user.id for role, user in users.items()}
        ids.location = ensure_default_location().id
        stocked = [(item.id, item.device_identifier_type) for item in items.values()]
    with app.app_context():
        admin = db.session.get(User, ids.users["admin"])
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=ids.location,
                reference="Opening stock",
                lines=[
                    receipts.ReceiptLine(item_id, STOCK_PER_COUNTED_ITEM)
                    for item_id, kind in stocked
                    if kind is None
                ],
                devices=[
                    receipts.ReceiptDevices(
                        item_id,
                        [
                            (kind, stock_identifier(kind, item_id * 1000 + n))
                            for n in range(STOCK_PER_DEVICE_ITEM)
                        ],
                    )
                    for item_id, kind in stocked
                    if kind is not None
                ],
            ),
            Actor(user=admin),
        )
        db.session.remove()
    return ids


@pytest.fixture
def api_key(app) -> str:
    with app.app_context(), write_transaction() as session:
        key, plain = ApiKey.issue("Tests", ALL_SCOPES)
        session.add(key)
    return plain


class ApiClient:
    """The test client with the API key header on every request."""

    def __init__(self, client, key: str):
        self.client = client
        self.key = key

    def _headers(self, headers):
        return {"Impilo-API-Key": self.key, **(headers or {})}

    def get(self, url, headers=None, **kwargs):
        return self.client.get(url, headers=self._headers(headers), **kwargs)

    def post(self, url, json=None, headers=None, **kwargs):
        return self.client.post(url, json=json, headers=self._headers(headers), **kwargs)

    def delete(self, url, headers=None, **kwargs):
        return self.client.delete(url, headers=self._headers(headers), **kwargs)


@pytest.fixture
def api(client, api_key) -> ApiClient:
    return ApiClient(client, api_key)


@pytest.fixture
def spec(client):
    """The OpenAPI document the app serves (tests/helpers/openapi.py checks answers against it)."""
    response = client.get("/api/v3/openapi.json")
    assert response.status_code == 200
    return response.get_json()
