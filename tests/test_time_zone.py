"""Each user's time zone: set from the browser once or chosen, used by the order list's
placed-from/to days and by the dates on pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.auth import service
from app.auth.models import User
from app.db.transactions import write_transaction
from app.orders.models import Order
from app.validation import Problem, Rejected
from tests.conftest import app_context
from tests.helpers.orders import place
from tests.helpers.web import Browserless


@pytest.fixture
def coordinator(client, catalog) -> Browserless:
    person = Browserless(client)
    assert person.sign_in("coordinator").status_code == 303
    return person


def zone_of(app, catalog) -> str | None:
    with app_context(app) as session:
        return session.get(User, catalog.users["coordinator"]).time_zone


def evening_order(app, catalog) -> int:
    """An order placed at 8 pm in Ohio on 26 November: already the 27th in UTC."""
    order_id = place(app, catalog, items={"strips": 1})
    with app.app_context(), write_transaction() as session:
        session.get(Order, order_id).created_at = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    return order_id


def listed(person, day: str) -> bool:
    html = person.get("/orders/", query_string={"from": day, "to": day}).text
    return 'href="/orders/1"' in html


def test_the_browsers_zone_is_taken_once_and_never_overrides_a_chosen_one(
    app, coordinator, catalog
):
    assert 'id="browser-time-zone"' in coordinator.get("/orders/").text
    answer = coordinator.post(
        "/account/time-zone", {"time_zone": "America/Chicago", "browser": "1"}
    )
    assert answer.status_code == 204
    assert zone_of(app, catalog) == "America/Chicago"
    assert 'id="browser-time-zone"' not in coordinator.get("/orders/").text

    chosen = coordinator.post("/account/time-zone", {"time_zone": "America/New_York"})
    assert chosen.status_code == 303
    coordinator.post("/account/time-zone", {"time_zone": "Europe/Paris", "browser": "1"})
    assert zone_of(app, catalog) == "America/New_York"


def test_an_unknown_zone_is_refused_at_its_field(app, coordinator, catalog):
    answer = coordinator.post("/account/time-zone", {"time_zone": "Mars/Olympus_Mons"})
    assert answer.status_code == 422
    assert "Choose a time zone from the list." in answer.text
    assert zone_of(app, catalog) is None


def test_placed_from_to_are_days_in_the_users_zone(app, coordinator, catalog):
    order_id = evening_order(app, catalog)
    assert order_id == 1
    # In UTC the order is on the 27th.
    assert listed(coordinator, "2026-11-27") and not listed(coordinator, "2026-11-26")
    coordinator.post("/account/time-zone", {"time_zone": "America/New_York"})
    # In Ohio it was placed on the 26th, after 7 pm.
    assert listed(coordinator, "2026-11-26") and not listed(coordinator, "2026-11-27")


def test_dates_on_pages_and_summaries_are_in_the_users_zone(app, coordinator, catalog):
    order_id = evening_order(app, catalog)
    assert "2026-11-27 01:00 UTC" in coordinator.get(f"/orders/{order_id}").text
    coordinator.post("/account/time-zone", {"time_zone": "America/New_York"})
    assert "2026-11-26 20:00 EST" in coordinator.get(f"/orders/{order_id}").text
    assert "2026-11-26 20:00 EST" in coordinator.get(f"/orders/{order_id}/packing-summary").text
    # The list reads the zone once for all its rows.
    assert ">2026-11-26 20:00 EST</time>" in coordinator.get("/orders/").text


def test_a_zone_is_refused_by_its_code_and_field_and_nothing_is_stored(app, catalog):
    user_id = catalog.users["coordinator"]
    for name in ("Mars/Olympus_Mons", None, 5):
        with app.app_context(), pytest.raises(Rejected) as refused:
            service.set_time_zone(user_id, name)
        assert refused.value.problems == [
            Problem("invalid_time_zone", "Choose a time zone from the list.", "time_zone")
        ]
    assert zone_of(app, catalog) is None


def test_a_zone_chosen_replaces_the_one_the_user_had(app, catalog):
    user_id = catalog.users["coordinator"]
    with app.app_context():
        service.set_time_zone(user_id, "America/Chicago")
        service.set_time_zone(user_id, "America/New_York")
    assert zone_of(app, catalog) == "America/New_York"


def test_the_zone_of_a_user_there_is_not_is_refused_by_name(app, catalog):
    with app.app_context(), pytest.raises(Rejected) as refused:
        service.set_time_zone(999999, "America/Chicago")
    assert refused.value.problems == [Problem("user_not_found", "There is no user with id 999999.")]
