"""``app.db.reading.reading_connection``: an API read runs on one connection of the request's own,
with no ORM session; once the session begins (a change, an ORM read) it does the reading;
the request gives its own back before then, never holding two connections for reading, and
returns it when it ends at the latest."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db.reading import end_own_reading, end_reading, reading_connection
from app.db.transactions import write_transaction
from app.extensions import db
from tests.helpers.orders import patient_order


@contextmanager
def watching(app):
    """Counts ORM session transactions begun, and the most connections checked out of the
    pool at once, while the block runs."""
    with app.app_context():
        pool = db.engine.pool
    seen = {"sessions": 0, "out": 0, "most_out": 0, "checkouts": 0}

    def began(*_args):
        seen["sessions"] += 1

    def checkout(*_args):
        seen["checkouts"] += 1
        seen["out"] += 1
        seen["most_out"] = max(seen["most_out"], seen["out"])

    def checkin(*_args):
        seen["out"] -= 1

    event.listen(Session, "after_begin", began)
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(Session, "after_begin", began)
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)


@pytest.fixture
def order_id(api, catalog) -> int:
    placed = api.post("/api/v3/order", json=patient_order(catalog))
    assert placed.status_code == 201
    return placed.json["id"]


def test_an_api_order_read_builds_no_orm_session_and_holds_one_connection(app, api, order_id):
    with watching(app) as seen:
        read = api.get(f"/api/v3/order/{order_id}")
    assert read.status_code == 200 and read.json["id"] == order_id
    assert seen["sessions"] == 0
    # One connection in all: the access-log row is written on it once the read has ended.
    assert seen["checkouts"] == 1
    assert seen["out"] == 0


@pytest.mark.parametrize(
    "path", ["/api/v3/order", "/api/v3/site", "/api/v3/order/999999", "/api/v3/nowhere"]
)
def test_requests_that_read_through_the_orm_or_fail_hold_one_connection_and_return_it(
    app, api, order_id, path
):
    with watching(app) as seen:
        answer = api.get(path)
    assert answer.status_code in (200, 404)
    assert seen["most_out"] == (0 if path.endswith("nowhere") else 1)
    assert seen["out"] == 0


def test_placing_an_order_after_the_key_check_holds_one_connection(app, api, catalog):
    with watching(app) as seen:
        placed = api.post("/api/v3/order", json=patient_order(catalog))
    assert placed.status_code == 201
    assert seen["most_out"] == 1
    assert seen["out"] == 0


def test_inside_a_change_or_outside_a_request_it_is_the_sessions_connection(app, catalog):
    with app.test_request_context("/api/v3/order/1"):
        own = reading_connection()
        assert own is reading_connection()  # the same for the whole request
        with write_transaction() as session:
            # The change's transaction does the reading: it sees what the change wrote.
            assert reading_connection() is session.connection()
            assert own.closed
        end_reading()
    with app.app_context():
        assert reading_connection() is db.session.connection()
        db.session.remove()


def test_the_requests_own_reading_ends_when_it_is_given_back(app, catalog):
    """Nothing ends it behind the code's back: the ORM session beginning takes a connection
    of its own, and ``end_own_reading`` (or the request's end) gives this one back."""
    with app.test_request_context("/api/v3/order/1"):
        own = reading_connection()
        db.session.connection()
        assert not own.closed
        assert reading_connection() is db.session.connection()
        end_own_reading()
        assert own.closed
        db.session.remove()
