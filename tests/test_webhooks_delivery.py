"""Webhook delivery end to end: a real receiver on a free port and the worker as a real
process, with the default (fast) test settings; test_webhooks.py starts workers with others."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select
from standardwebhooks import Webhook

from app.extensions import db
from app.orders.models import Order, OrderOutboxEntry
from app.webhooks import service
from app.webhooks.models import MAX_RESPONSE_BYTES, WebhookMessage, WebhookSubscription
from tests.conftest import app_context
from tests.helpers.orders import actor, patient_order, place
from tests.helpers.webhooks import Receiver, Worker, body_of, deliveries, subscribe, wait_until


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def delivering(app):
    """A worker with the fast test settings, stopped before the test's database is emptied
    (a worker left running would hold locks that TRUNCATE deadlocks with)."""
    worker = Worker(app).start()
    yield worker
    worker.stop()


def test_signed_messages_of_both_shapes(app, api, catalog, receiver, delivering):
    created = subscribe(api, receiver.url, ["order.status", "order.statusFull"])
    assert created["secret"].startswith("whsec_")
    order = api.post("/api/v3/order", json=patient_order(catalog)).get_json()

    hits = wait_until(lambda: len(receiver.hits()) == 2 and receiver.hits(), what="2 messages")
    for hit in hits:
        verified = Webhook(created["secret"]).verify(hit.body, hit.headers)
        assert verified["id"] == hit.headers["webhook-id"]
        assert hit.headers["content-type"] == "application/json"
    by_type = {body_of(h)["type"]: body_of(h) for h in hits}
    status = by_type["order.status"]
    assert set(status) == {"id", "type", "payload"}
    assert status["payload"] == {
        "orderId": order["id"],
        "event": {"name": "created", "eventTimestamp": order["orderEvents"][0]["eventTimestamp"]},
    }
    full = by_type["order.statusFull"]["payload"]
    assert full == {"order": api.get(f"/api/v3/order/{order['id']}").get_json()}

    def both_delivered():
        delivered = [d for d in deliveries(api, created["id"]) if d["status"] == "delivered"]
        return delivered if len(delivered) == 2 else None

    logged = wait_until(both_delivered, what="both messages logged as delivered")
    assert {d["eventId"] for d in logged} == {h.headers["webhook-id"] for h in hits}
    assert all(d["responseStatus"] == 200 and d["attempt"] == 1 for d in logged)


def test_a_rotated_secret_signs_beside_the_old_one(app, api, catalog, receiver, delivering):
    created = subscribe(api, receiver.url)
    with app_context(app):
        rotated = service.rotate_secret(created["id"], actor("admin"))
        new_secret = rotated.secret
    assert new_secret != created["secret"]
    place(app, catalog, items={"strips": 1})
    hit = wait_until(receiver.hits, what="a message")[0]
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(hit.body, hit.headers)
    Webhook(new_secret).verify(hit.body, hit.headers)


def test_a_failing_receiver_is_retried_on_schedule_then_failed(
    app, api, catalog, receiver, delivering
):
    receiver.status = 500
    receiver.body = b"x" * (MAX_RESPONSE_BYTES * 3)
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})

    def finished():
        log = deliveries(api, subscription["id"])
        return log if log and all(d["status"] == "failed" for d in log) and len(log) == 4 else None

    log = wait_until(finished, what="4 failed attempts")
    assert len(receiver.hits()) == 4
    assert len({h.headers["webhook-id"] for h in receiver.hits()}) == 1
    log.sort(key=lambda d: d["attempt"])
    assert [d["attempt"] for d in log] == [1, 2, 3, 4]
    assert all(d["responseStatus"] == 500 and d["error"] == "HTTP 500" for d in log)
    assert all(d["nextAttemptAt"] for d in log[:3]) and log[3]["nextAttemptAt"] is None
    with app_context(app):
        message = db.session.scalar(select(WebhookMessage))
        assert message.status == "failed"
        assert all(len(a.response_body) == MAX_RESPONSE_BYTES for a in message.attempts)
        assert db.session.get(WebhookSubscription, subscription["id"]).consecutive_failures == 1


def test_redelivery_sends_the_same_message_again(app, api, catalog, receiver, delivering):
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    wait_until(
        lambda: any(d["status"] == "delivered" for d in deliveries(api, subscription["id"])),
        what="the first delivery",
    )
    with app_context(app):
        message = db.session.scalar(select(WebhookMessage))
        service.redeliver(subscription["id"], message.id, actor("admin"))
    hits = wait_until(lambda: len(receiver.hits()) == 2 and receiver.hits(), what="redelivery")
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    assert hits[0].body == hits[1].body
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["attempt"] == 2],
        what="the second attempt logged",
    )
    assert log[0]["status"] in ("pending", "delivered")


def test_an_order_rolled_back_sends_nothing(app, api, catalog, receiver, delivering):
    subscribe(api, receiver.url)

    def fail_after_writing(conn, _cursor, statement, _parameters, _context, _executemany):
        # The order, its event and its outbox entry have reached the database (the reservation
        # comes after them): now it fails.
        if statement.lstrip().upper().startswith("INSERT INTO STOCK_MOVEMENT "):
            raise RuntimeError("the disk is full")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", fail_after_writing)
    try:
        with pytest.raises(RuntimeError):
            place(app, catalog, items={"strips": 1})
    finally:
        event.remove(engine, "before_cursor_execute", fail_after_writing)
    with app_context(app):
        assert db.session.scalar(select(func.count(Order.id))) == 0
        assert db.session.scalar(select(func.count(OrderOutboxEntry.id))) == 0
    kept = place(app, catalog, items={"strips": 1})
    hits = wait_until(receiver.hits, what="the kept order's event")
    assert [body_of(h)["payload"]["orderId"] for h in hits] == [kept]
