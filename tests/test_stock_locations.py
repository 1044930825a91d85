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
        location, problems = resolve_location(east.id, "fulfillmentLocation")
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


# --- The rules, through the locations service ------------------------------------------


def admin_actor():
    from app.auth.actor import Actor
    from app.auth.models import User

    return Actor(user=db.session.scalar(select(User).where(User.role == "admin")))


def changes_of(app, location_id: int) -> list[tuple]:
    with app.app_context():
        return [
            (change.action, change.changes)
            for change in db.session.scalars(
                select(RecordChange)
                .where(
                    RecordChange.record_type == "stock_location",
                    RecordChange.record_id == location_id,
                )
                .order_by(RecordChange.id)
            )
        ]


def call(app, change, *args):
    """Runs a locations service change as an admin; answers the location's id."""
    with app.app_context():
        try:
            return change(*args, admin_actor()).id
        finally:
            db.session.remove()


def refusal(app, change, *args) -> list[tuple]:
    from app.validation import Rejected

    with pytest.raises(Rejected) as error:
        call(app, change, *args)
    return [(p.code, p.message) for p in error.value.problems]


def test_the_first_location_ever_made_is_the_default_and_the_next_are_not(app):
    from app.inventory import locations

    first = call(app, locations.create_location, "  North  ")
    second = call(app, locations.create_location, "South")
    with app.app_context():
        assert db.session.get(StockLocation, first).is_default
        assert db.session.get(StockLocation, first).name == "North"
        assert not db.session.get(StockLocation, second).is_default
        assert locations.ensure_default_location().id == first
    assert changes_of(app, first) == [("created", {"name": "North"})]


def test_without_any_location_the_default_is_made_as_the_main_warehouse(app):
    from app.inventory import locations

    with app.app_context():
        location, problems = locations.resolve_location(None, "fulfillmentLocation")
        assert location is None
        assert [(p.code, p.message, p.field) for p in problems] == [
            ("location_required", "There is no stock location.", "fulfillmentLocation")
        ]
        made = locations.ensure_default_location()
        assert (made.name, made.is_default) == ("Main warehouse", True)
        assert locations.ensure_default_location().id == made.id
        assert locations.location_name(made.id) == "Main warehouse"
        assert locations.location_name(None) == "no location"
        assert locations.location_name(999_999) == "no location"


@pytest.mark.parametrize(
    ("ref", "named"), [(999_999, "with id 999999"), (2**40, f"with id {2**40}")]
)
def test_an_order_naming_an_unknown_location_is_told_which(app, catalog, ref, named):
    from app.inventory.locations import resolve_location

    with app.app_context():
        location, problems = resolve_location(ref, "fulfillmentLocation", lock=True)
    assert location is None
    assert [(p.code, p.message, p.field) for p in problems] == [
        (
            "location_not_found",
            f"That is not a valid location: there is no active stock location {named}.",
            "fulfillmentLocation",
        )
    ]


def test_a_location_named_by_something_not_an_id_is_quoted(app, catalog):
    from app.inventory.locations import resolve_location

    with app.app_context():
        _, problems = resolve_location("east", "location.id")
    assert problems[0].message == (
        "That is not a valid location: there is no active stock location “east”."
    )


def test_a_location_is_found_by_id_locked_or_not(app, catalog):
    from app.inventory.locations import resolve_location

    with app.app_context():
        for lock in (False, True):
            location, problems = resolve_location(catalog.location, "x", lock=lock)
            assert problems == []
            assert (location.id, location.name, location.active, location.is_default) == (
                catalog.location,
                "Main warehouse",
                True,
                True,
            )
            default, _ = resolve_location(None, "x", lock=lock)
            assert default == location


def test_names_are_unique_whatever_their_case_but_a_location_keeps_its_own(app, catalog):
    from app.inventory import locations

    east = call(app, locations.create_location, "East")
    assert refusal(app, locations.create_location, "EAST") == [
        ("location_name_taken", "There is a location called “EAST” already.")
    ]
    assert refusal(app, locations.rename_location, east, "main warehouse") == [
        ("location_name_taken", "There is a location called “main warehouse” already.")
    ]
    call(app, locations.rename_location, east, "EAST")
    assert changes_of(app, east)[-1] == ("updated", {"name": ["East", "EAST"]})
    call(app, locations.rename_location, east, "EAST")  # unchanged: nothing recorded
    assert len(changes_of(app, east)) == 2
    assert location_named(app, "EAST").id == east


def test_making_a_location_the_default_unmakes_the_other_and_is_recorded_once(app, catalog):
    from app.inventory import locations

    east = call(app, locations.create_location, "East")
    call(app, locations.make_default_location, east)
    call(app, locations.make_default_location, east)
    with app.app_context():
        assert not db.session.get(StockLocation, catalog.location).is_default
        assert [loc.name for loc in locations.list_locations()] == ["East", "Main warehouse"]
    assert [action for action, _ in changes_of(app, east)] == ["created", "madeDefault"]


def test_a_location_that_holds_units_names_them_when_it_cannot_go_inactive(app, catalog):
    from app.inventory import locations

    place(app, catalog, items={"strips": 2})
    east = call(app, locations.create_location, "East")
    call(app, locations.make_default_location, east)
    with app.app_context():
        on_hand = locations.location_totals()[catalog.location][0]
    assert refusal(app, locations.set_location_active, catalog.location, False) == [
        (
            "location_not_empty",
            f"Main warehouse still holds {on_hand} on hand and 2 reserved by open orders: "
            "ship, move or count them out first.",
        )
    ]
    assert refusal(app, locations.set_location_active, east, False) == [
        (
            "location_is_default",
            "East is the default location: make another one the default first.",
        )
    ]
    with app.app_context():
        assert locations.location_totals() == {catalog.location: (on_hand, 2)}
        assert db.session.get(StockLocation, catalog.location).active


def test_going_inactive_and_back_is_recorded_and_orders_the_full_list(app, catalog):
    from app.inventory import locations

    west = call(app, locations.create_location, "West")
    east = call(app, locations.create_location, "East")
    call(app, locations.set_location_active, west, False)
    call(app, locations.set_location_active, west, False)  # already inactive: nothing
    with app.app_context():
        assert [loc.name for loc in locations.all_locations()] == [
            "Main warehouse",
            "East",
            "West",
        ]
        assert [loc.name for loc in locations.list_locations()] == ["Main warehouse", "East"]
    assert refusal(app, locations.make_default_location, west) == [
        ("location_inactive", "West is inactive: reactivate it before making it the default.")
    ]
    call(app, locations.set_location_active, west, True)
    assert [action for action, _ in changes_of(app, west)] == [
        "created",
        "deactivated",
        "activated",
    ]
    assert [action for action, _ in changes_of(app, east)] == ["created"]


@pytest.mark.parametrize("location_id", [0, 999_999, 2**40, 10**30])
def test_changing_a_location_that_does_not_exist_is_refused(app, catalog, location_id):
    from app.inventory import locations

    for change, args in [
        (locations.set_location_active, (location_id, False)),
        (locations.make_default_location, (location_id,)),
        (locations.rename_location, (location_id, "Nowhere")),
    ]:
        assert refusal(app, change, *args) == [
            (
                "stock_location_not_found",
                f"There is no stock location with id {location_id}.",
            )
        ]


def test_active_locations_are_listed_the_default_first_then_by_name(app, catalog):
    from app.inventory import locations

    call(app, locations.create_location, "West")
    call(app, locations.create_location, "East")
    with app.app_context():
        assert [loc.name for loc in locations.list_locations()] == [
            "Main warehouse",
            "East",
            "West",
        ]


def receive_units(app, location_id: int, item_id: int, count: int) -> None:
    from app.inventory import receipts
    from tests.helpers.orders import actor

    with app.app_context():
        try:
            receipts.receive(
                receipts.ReceiptDraft(
                    location_ref=location_id,
                    reference="Delivery 7",
                    lines=[receipts.ReceiptLine(item_id, count)],
                ),
                actor("fulfillment"),
            )
        finally:
            db.session.remove()


def test_every_location_is_listed_active_ones_first_the_default_at_the_top_then_by_name(
    app, catalog
):
    from app.inventory import locations

    west = call(app, locations.create_location, "West")
    call(app, locations.create_location, "East")
    alpha = call(app, locations.create_location, "Alpha")
    call(app, locations.make_default_location, west)
    call(app, locations.set_location_active, alpha, False)
    with app.app_context():
        assert [loc.name for loc in locations.all_locations()] == [
            "West",
            "East",
            "Main warehouse",
            "Alpha",
        ]
        assert [loc.name for loc in locations.list_locations()] == [
            "West",
            "East",
            "Main warehouse",
        ]


def test_each_location_totals_its_own_units_on_hand_and_reserved(app, catalog):
    from app.inventory import locations

    with app.app_context():
        before = locations.location_totals()
    east = call(app, locations.create_location, "East")
    receive_units(app, east, catalog.items["strips"], 5)
    place(app, catalog, items={"strips": 2})
    with app.app_context():
        totals = locations.location_totals()
    main_on_hand, main_reserved = before[catalog.location]
    assert totals == {catalog.location: (main_on_hand, main_reserved + 2), east: (5, 0)}


def test_a_location_with_units_on_hand_and_none_reserved_cannot_go_inactive(app, catalog):
    from app.inventory import locations

    east = call(app, locations.create_location, "East")
    receive_units(app, east, catalog.items["strips"], 3)
    assert refusal(app, locations.set_location_active, east, False) == [
        (
            "location_not_empty",
            "East still holds 3 on hand and 0 reserved by open orders: "
            "ship, move or count them out first.",
        )
    ]
    with app.app_context():
        assert db.session.get(StockLocation, east).active
    assert [action for action, _ in changes_of(app, east)] == ["created"]
