"""An order is written whole or not at all, and retries never make two."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.orders import service
from app.orders.models import Order, OrderEvent, OrderExternalId, OrderItem, OrderKit, SubmissionKey
from tests.conftest import app_context
from tests.helpers.orders import patient_order


def counts(app) -> dict[str, int]:
    with app_context(app) as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Order, OrderItem, OrderKit, OrderEvent, OrderExternalId, SubmissionKey)
        }


def draft_for(catalog) -> service.OrderDraft:
    return service.OrderDraft(
        patient_id=catalog.patient,
        items=[service.LineRequest(ref=catalog.items["strips"], count=2)],
        kits=[service.LineRequest(ref=catalog.kits["diabetes"], count=1)],
        external_order_ids=["EXT-1"],
    )


@pytest.mark.parametrize("table", ["order_event", "order_kit", "stock_movement"])
def test_failure_while_writing_stores_nothing(app, catalog, table):
    """The database refuses a row partway through the write (the first event, a line, the
    reservation's ledger rows, which come last): no order, no lines, no event."""

    def fail_on(conn, cursor, statement, parameters, context, executemany):
        # Anywhere in the statement: on PostgreSQL the first event is written in the order's
        # own statement (a CTE).
        if f"INSERT INTO {table.upper()} " in statement.upper():
            raise RuntimeError("disk full")

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", fail_on)
        try:
            with pytest.raises(RuntimeError):
                service.place_order(draft_for(catalog), service.Actor())
        finally:
            event.remove(db.engine, "before_cursor_execute", fail_on)
            db.session.remove()
    assert set(counts(app).values()) == {0}


def test_placed_order_has_lines_external_ids_and_first_event(app, catalog):
    with app.app_context():
        placed = service.place_order(draft_for(catalog), service.Actor())
        assert not placed.replayed
        db.session.remove()
    assert counts(app) == {
        "Order": 1,
        "OrderItem": 1,
        "OrderKit": 1,
        "OrderEvent": 1,
        "OrderExternalId": 1,
        "SubmissionKey": 0,
    }


def test_rejected_draft_raises_with_every_problem_and_stores_nothing(app, catalog):
    draft = draft_for(catalog)
    draft.items[0].count = 0
    draft.shipping_option = "rocket"
    with app.app_context():
        with pytest.raises(service.OrderRejected) as rejected:
            service.place_order(draft, service.Actor())
        db.session.remove()
    assert {p.code for p in rejected.value.problems} == {"invalid_count", "invalid_shipping_option"}
    assert set(counts(app).values()) == {0}


def _post(url: str, key: str, body: dict, idempotency_key: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Impilo-API-Key": key}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_parallel_retries_with_one_idempotency_key_make_one_order(
    app, live_server, api_key, catalog
):
    body = patient_order(catalog)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda _: _post(f"{live_server.url}/api/v3/order", api_key, body, "same-key"),
                range(8),
            )
        )
    assert {status for status, _ in results} == {201}
    assert len({answer["id"] for _, answer in results}) == 1
    assert counts(app)["Order"] == 1


def test_parallel_orders_without_a_key_are_all_placed(app, live_server, api_key, catalog):
    body = patient_order(catalog)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(
            pool.map(
                lambda _: _post(f"{live_server.url}/api/v3/order", api_key, body, None), range(6)
            )
        )
    assert [status for status, _ in results] == [201] * 6
    assert counts(app)["Order"] == 6
