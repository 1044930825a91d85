"""Demo data and the setup that serves it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from app.auth.models import ApiKey, User
from app.catalog.identifiers import fits_serial_pattern
from app.catalog.models import Device, Item, Kit
from app.demo import catalog as demo
from app.orders.models import Order
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
    from app.inventory.service import balance_mismatches

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
    from app.orders.queries import get_order

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
