"""Demo data and the setup that serves it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.auth.models import ApiKey, User
from app.catalog.identifiers import fits_serial_pattern
from app.catalog.models import Device, Item, Kit
from app.demo import catalog as demo
from app.orders.models import Order
from app.people import staff
from app.people.models import Patient, Site
from tests.conftest import app_context


def test_seed_demo_loads_a_realistic_catalog_once(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Loaded demo data" in first.output
    assert demo.API_KEY in first.output
    for email, password, *_ in demo.USERS:
        assert email in first.output and password in first.output

    with app_context(app) as session:

        def count(model, *where):
            return session.scalar(select(func.count()).select_from(model).where(*where))

        assert 12 <= count(Item) <= 20
        assert count(Item, Item.device_identifier_type.is_not(None)) >= 6
        assert count(Item, Item.orderable.is_(False)) >= 1
        assert {s for s in session.scalars(select(Item.size)) if s} >= {
            "small",
            "large",
            "extraLarge",
        }
        assert 4 <= count(Kit) <= 7
        assert count(Kit, Kit.archived.is_(True)) >= 1
        assert 3 <= count(Site) <= 4
        assert count(Site, Site.active.is_(False)) == 1
        assert 35 <= count(Patient) <= 45
        assert count(Patient, Patient.archived.is_(True)) >= 2
        assert sorted(session.scalars(select(User.role))) == ["admin", "coordinator", "fulfillment"]
        assert count(ApiKey) == 1
        # The demo coordinator's dashboard shows two active sites' figures.
        coordinator = session.scalar(select(User.id).where(User.role == "coordinator"))
        assert [s.active for s in staff.sites_of(coordinator)] == [True, True]
        assert count(Device) > 0
        orders_before = count(Order)
        assert orders_before > 0

    second = runner.invoke(args=["seed-demo"])
    assert "left as it is" in second.output
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == orders_before

    # The demo monitor has a serial pattern, and every demo serial of it fits.
    with app_context(app) as session:
        monitor = session.scalar(select(Item).where(Item.sku == "BPM-7450"))
        assert monitor.serial_pattern
        serials = [
            i.value
            for d in session.scalars(select(Device).where(Device.item_id == monitor.id))
            for i in d.identifiers
        ]
        assert serials and all(fits_serial_pattern(monitor.serial_pattern, s) for s in serials)

    # The printed key is a working key.
    assert client.get("/api/v3/order", headers={"Impilo-API-Key": demo.API_KEY}).status_code == 200


def test_health_check_needs_no_sign_in(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_database_url_accepts_plain_postgresql_scheme(monkeypatch, tmp_path):
    from app import config

    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/d")
    assert (
        config.from_environment(tmp_path)["SQLALCHEMY_DATABASE_URI"]
        == "postgresql+psycopg://u@h:5432/d"
    )
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings = config.from_environment(tmp_path)
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'orderly.db'}"
    # A secret key is made once and kept, never a default written in the source.
    assert settings["SECRET_KEY"] == config.from_environment(tmp_path)["SECRET_KEY"]
    assert len(settings["SECRET_KEY"]) == 64


def test_database_errors_never_log_the_values(app):
    """An error from the database names the statement, never the (patient) data in it."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.conftest import app_context

    with app_context(app) as session:
        with pytest.raises(IntegrityError) as error:
            session.execute(
                text(
                    "INSERT INTO address (id, line_one, city, state, zip_code, country)"
                    " VALUES (:i, :l, 'c', 'OH', '1', 'US')"
                ),
                [{"i": 1, "l": "Secret Patient Street"}, {"i": 1, "l": "Secret Patient Street"}],
            )
        session.rollback()
    assert "Secret Patient Street" not in str(error.value)


def test_demo_stock_has_low_and_out_of_stock_items_and_devices_to_scan(app):
    from app.catalog.identifiers import classify, fits_serial_pattern
    from app.inventory import queries
    from app.inventory.ledger import balance_mismatches

    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app_context(app) as session:
        rows = queries.stock_rows(limit=100)
        assert {r.location.name for r in rows} == {"Main warehouse"}
        assert sum(r.low and not r.out for r in rows) >= 2
        assert [r.item.sku for r in rows if r.out] == ["SIM-IOT"]
        assert balance_mismatches() == []
        on_shelf = session.scalars(select(Device).where(Device.current_status == "inStock")).all()
        kinds = {d.identifiers[0].type for d in on_shelf}
        assert kinds >= {"serial", "imei", "iccid", "macAddress"}
        for device in on_shelf:
            identifier = device.identifiers[0]
            assert classify(identifier.value).valid, identifier.value
            if identifier.type == "serial":
                assert fits_serial_pattern(device.item.serial_pattern, identifier.value)


def test_the_screenshots_ship_a_demo_order_with_devices_from_the_shelf(app):
    """`python3 dev.py screenshots` moves demo orders along before photographing them: the
    first is packed with devices in stock at its location, and shipped."""
    import importlib.util

    from app.orders import statuses
    from app.orders.lookups import get_order

    path = Path(__file__).resolve().parent.parent / "tools" / "screenshots.py"
    spec = importlib.util.spec_from_file_location("screenshots", path)
    screenshots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshots)

    ids = screenshots.prepare(app)

    with app_context(app):
        shipped, packing = get_order(ids["shipped"]), get_order(ids["packing"])
        assert shipped.current_status == statuses.SHIPPED
        assert shipped.devices and all(
            od.device.current_status == "shipped" for od in shipped.devices
        )
        assert packing.current_status == statuses.PROCESSING


ROOT = Path(__file__).resolve().parent.parent


def _serve(tmp_path, **env):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "dev.py", "serve"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_on_a_busy_port_says_so_in_one_line_before_starting_anything(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = _serve(tmp_path, PORT=str(port))
    assert served.returncode != 0
    assert served.stderr.splitlines() == [
        f"Cannot serve on 127.0.0.1:{port} (Address already in use): is Orderly already running"
        " there? Stop it, or choose another port: PORT=8001 python3 dev.py serve"
    ]
    assert "Migrating" not in served.stdout and "webhooks worker" not in served.stdout
    assert not (tmp_path / "serve.db").exists()  # nothing migrated


def test_a_bad_setting_stops_serve_flask_and_gunicorn_with_one_line_naming_it(tmp_path):
    import os
    import subprocess

    expected = (
        "Error: the setting PHI_ACCESS_RETENTION_DAYS='abc' is not valid: "
        "expected a whole number of days, at least 1."
    )
    bad = {"PHI_ACCESS_RETENTION_DAYS": "abc"}
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bad.db'}", **bad}
    bin_ = ROOT / ".venv" / "bin"
    commands = {
        "flask": [bin_ / "flask", "--app", "app", "seed-demo"],
        "flask db": [bin_ / "flask", "--app", "app", "db", "upgrade"],
        "gunicorn": [bin_ / "gunicorn", "--bind", "127.0.0.1:0", "app:create_app()"],
    }
    for name, command in commands.items():
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, name
        assert (done.stdout + done.stderr).splitlines() == [expected], name
    served = _serve(tmp_path, PORT=str(_free_port()), **bad)
    assert served.returncode == 1
    assert served.stderr.splitlines() == [expected]
    assert "Traceback" not in served.stdout


BAD_SETTINGS = {
    "DATABASE_URL": "mysql://u:secret@h/d",
    "POOL_RECYCLE_SECONDS": "soon",
    "MAX_CONTENT_LENGTH": "1MB",
    "SESSION_COOKIE_SECURE": "maybe",
    "SESSION_LIFETIME_SECONDS": "-5",
    "SESSION_IDLE_MINUTES": "half an hour",
    "LOG_LEVEL": "LOUD",
    "ORDERLY_WEB_WORKER": "2",
    "PHI_ACCESS_RETENTION_DAYS": "abc",
    "RATELIMIT_STORAGE_URI": "localhost:6379",
    "SIGN_IN_LIMIT_PER_ADDRESS": "twenty",
    "SIGN_IN_LIMIT_PER_ACCOUNT": "10 per minute please",
    "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT": "lots",
    "API_LIMIT_PER_KEY": "600",
    "API_FAILED_KEYS_PER_ADDRESS": "/minute",
    "ORDER_POLL_SECONDS": "0",
    "RETURN_OVERDUE_DAYS": "three weeks",
    "WEBHOOK_RETRY_SCHEDULE": "900,later",
    "WEBHOOK_TIMEOUT_SECONDS": "ten",
    "WEBHOOK_LEASE_SECONDS": "0",
    "WEBHOOK_POLL_SECONDS": "nan",
    "WEBHOOK_DISABLE_AFTER": "1.5",
    "WEBHOOK_DENY_PRIVATE": "yes please",
    "WEBHOOK_CONCURRENCY": "0",
    "WAREHOUSE_TIME_ZONE": "EST5EDT-ish",
    "OVERNIGHT_CUTOFF": "2pm",
    "STANDARD_SHIP_DAYS": "-1",
    "WAREHOUSE_HOLIDAYS": "2026-12-25,Boxing Day",
    "PACKING_CLAIM_IDLE_MINUTES": "0",
    "STOCK_COVER_DAYS": "a month",
}


@pytest.mark.parametrize("name", BAD_SETTINGS)
def test_a_setting_that_cannot_be_read_is_named_with_what_it_expects(name, monkeypatch, tmp_path):
    from app import config

    monkeypatch.setenv(name, BAD_SETTINGS[name])
    with pytest.raises(config.SettingError) as refused:
        config.from_environment(tmp_path)
    message = refused.value.format_message()
    assert message.startswith(f"the setting {name}") and "expected" in message
    assert "\n" not in message and "secret" not in message  # one line, and no password shown


def test_the_warehouse_days_begin_in_the_same_zone_inside_the_app_and_outside_it(app, monkeypatch):
    """Migrations recount the dashboard's days outside the app: they must cut the days where
    the app does, by default as when WAREHOUSE_TIME_ZONE is set."""
    from app.formats import warehouse_zone

    monkeypatch.delenv("WAREHOUSE_TIME_ZONE", raising=False)
    with app.app_context():
        inside = warehouse_zone()
    assert str(inside) == str(warehouse_zone()) == "America/New_York"
    monkeypatch.setenv("WAREHOUSE_TIME_ZONE", "Europe/Berlin")
    assert str(warehouse_zone()) == "Europe/Berlin"


def test_every_setting_read_from_the_environment_is_checked():
    """BAD_SETTINGS above names every variable app/config.py reads (but the secret key and
    the throttling key prefix, which take any text)."""
    import re

    source = (ROOT / "app" / "config.py").read_text()
    read = set(re.findall(r'(?:environ\.get|_\w+)\(\s*"([A-Z_]+)"', source))
    assert read - {"SECRET_KEY", "RATELIMIT_KEY_PREFIX"} == set(BAD_SETTINGS)
