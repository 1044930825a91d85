"""Stock locations: admins add, rename, choose the default, deactivate and reactivate them;
everyone who sees stock sees the list, with what each location holds."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.history.models import RecordChange
from app.inventory.locations import list_locations, resolve_location
from app.inventory.models import StockLocation
from tests.helpers.orders import place
from tests.helpers.web import Browserless


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    assert person.sign_in("admin").status_code == 303
    return person


def location_named(app, name: str) -> StockLocation | None:
    with app.app_context():
        found = db.session.scalar(select(StockLocation).where(StockLocation.name == name))
        db.session.expunge_all()
        return found


def add(admin, name: str):
    return admin.post("/stock/locations/new", {"name": name})


def test_an_admin_adds_a_location_and_it_is_listed_empty(admin, app):
    response = add(admin, "  East warehouse ")
    assert response.status_code == 303
    added = location_named(app, "East warehouse")
    assert added is not None and added.active and not added.is_default
    listed = admin.get("/stock/locations").text
    assert "East warehouse" in listed and f'id="location-{added.id}"' in listed
    with app.app_context():
        (created,) = db.session.scalars(
            select(RecordChange).where(
                RecordChange.record_type == "stock_location", RecordChange.record_id == added.id
            )
        )
        assert created.action == "created" and created.actor_user.role == "admin"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Name is required."),
        ("main WAREHOUSE", "There is a location called “main WAREHOUSE” already."),
        ("x" * 201, "at most 200"),
    ],
)
def test_a_bad_name_is_refused_beside_the_field_and_nothing_is_stored(admin, app, name, message):
    with app.app_context():
        before = db.session.scalar(select(func.count(StockLocation.id)))
    response = add(admin, name)
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert 'aria-invalid="true"' in response.text  # on the name field
    with app.app_context():
        assert db.session.scalar(select(func.count(StockLocation.id))) == before


def test_renaming_keeps_the_location_and_records_the_change(admin, app):
    add(admin, "East warehouse")
    east = location_named(app, "East warehouse")
    assert admin.post(f"/stock/locations/{east.id}", {"name": "East depot"}).status_code == 303
    assert location_named(app, "East depot").id == east.id
    page = admin.get(f"/stock/locations/{east.id}").text
    assert "East warehouse" in page and "East depot" in page  # the history's before and after
    clash = admin.post(f"/stock/locations/{east.id}", {"name": "Main warehouse"})
    assert clash.status_code == 422
    assert location_named(app, "East depot") is not None


def test_making_another_location_the_default_moves_orders_without_a_location_there(admin, app):
    add(admin, "East warehouse")
    east = location_named(app, "East warehouse")
    response = admin.post(f"/stock/locations/{east.id}/default")
    assert response.status_code == 303
    with app.app_context():
        defaults = db.session.scalars(
            select(StockLocation.name).where(StockLocation.is_default.is_(True))
        ).all()
        assert defaults == ["East warehouse"]
        location, problems = resolve_location(None, "fulfillmentLocation")
        assert location.id == east.id and problems == []


def test_the_default_location_cannot_be_deactivated(admin, app, catalog):
    response = admin.post(f"/stock/locations/{catalog.location}/deactivate")
    assert response.status_code == 303
    page = admin.get("/stock/locations").text
    assert "is the default location: make another one the default first." in page
    with app.app_context():
        assert db.session.get(StockLocation, catalog.location).active


def test_a_location_holding_stock_cannot_be_deactivated(admin, app, catalog):
    place(app, catalog, items={"strips": 2})
    add(admin, "East warehouse")
    east = location_named(app, "East warehouse")
    admin.post(f"/stock/locations/{east.id}/default")
    response = admin.post(f"/stock/locations/{catalog.location}/deactivate")
    assert response.status_code == 303
    page = html.unescape(admin.get("/stock/locations").text)
    assert "reserved by open orders: ship, move or count them out first." in page
    with app.app_context():
        assert db.session.get(StockLocation, catalog.location).active


def test_an_empty_location_is_deactivated_then_refused_to_orders_and_reactivated(admin, app):
    add(admin, "East warehouse")
    east = location_named(app, "East warehouse")
    assert admin.post(f"/stock/locations/{east.id}/deactivate").status_code == 303
    with app.app_context():
        assert not db.session.get(StockLocation, east.id).active
        location, problems = resolve_location({"id": east.id}, "fulfillmentLocation")
        assert location is None and problems[0].code == "location_not_found"
        assert east.id not in [loc.id for loc in list_locations()]
    refused = admin.post(f"/stock/locations/{east.id}/default")
    assert refused.status_code == 303
    assert (
        "is inactive: reactivate it before making it the default."
        in admin.get("/stock/locations").text
    )
    assert admin.post(f"/stock/locations/{east.id}/activate").status_code == 303
    with app.app_context():
        assert db.session.get(StockLocation, east.id).active


@pytest.mark.parametrize("role", ["coordinator", "fulfillment"])
def test_staff_see_locations_but_only_admins_change_them(client, catalog, app, role):
    person = Browserless(client)
    person.sign_in(role)
    page = person.get("/stock/locations")
    assert page.status_code == 200 and "Main warehouse" in page.text
    assert "Add a location" not in page.text and "Deactivate" not in page.text
    assert person.get("/stock/locations/new").status_code == 403
    assert person.post("/stock/locations/new", {"name": "Sneaky"}).status_code == 403
    assert person.post(f"/stock/locations/{catalog.location}/deactivate").status_code == 403
    assert location_named(app, "Sneaky") is None


def test_a_change_without_its_csrf_token_is_refused(admin, app, catalog):
    response = admin.client.post(f"/stock/locations/{catalog.location}/deactivate", data={})
    assert response.status_code == 400
    assert admin.client.post("/stock/locations/new", data={"name": "Tokenless"}).status_code in (
        400,
        422,
    )
    assert location_named(app, "Tokenless") is None


def test_an_unknown_location_is_not_found(admin):
    assert admin.get("/stock/locations/999999").status_code == 404
    assert admin.post("/stock/locations/999999/default").status_code == 303
    assert "There is no stock location with id 999999." in admin.get("/stock/locations").text


def test_the_list_issues_a_fixed_number_of_statements(admin, count_queries):
    with count_queries() as few:
        assert admin.get("/stock/locations").status_code == 200
    for n in range(6):
        add(admin, f"Depot {n}")
    with count_queries() as many:
        assert admin.get("/stock/locations").status_code == 200
    assert many.count == few.count
