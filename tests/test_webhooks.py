"""Webhooks end to end: a real receiver on a free port, the worker as a real process."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from standardwebhooks import Webhook

from app.database import utcnow
from app.extensions import db
from app.orders import statuses
from app.orders.models import Order, OrderOutboxEntry
from app.webhooks import service, signing
from app.webhooks.destinations import refusal
from app.webhooks.models import MAX_RESPONSE_BYTES, WebhookMessage, WebhookSubscription
from tests.conftest import app_context
from tests.helpers.orders import actor, move, place
from tests.helpers.webhooks import Receiver, Worker, wait_until
from tests.test_api_orders import patient_order


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def workers(app):
    started: list[Worker] = []

    def start(**settings) -> Worker:
        worker = Worker(app, **settings).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def subscribe(api, url, types=("order.status",)) -> dict:
    response = api.post("/api/v3/webhook", json={"url": url, "types": list(types)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries(api, subscription_id, **params) -> list[dict]:
    response = api.get(f"/api/v3/webhook/{subscription_id}/deliveries", query_string=params)
    assert response.status_code == 200
    return response.get_json()["content"]


def body_of(hit) -> dict:
    return json.loads(hit.body)


def names(hits) -> list[str]:
    return [body_of(h)["payload"]["event"]["name"] for h in hits]


def test_signed_messages_of_both_shapes(app, api, catalog, receiver, workers):
    created = subscribe(api, receiver.url, ["order.status", "order.statusFull"])
    assert created["secret"].startswith("whsec_")
    workers()
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
    logged = wait_until(
        lambda: [d for d in deliveries(api, created["id"]) if d["status"] == "delivered"],
        what="the log",
    )
    assert {d["eventId"] for d in logged} == {h.headers["webhook-id"] for h in hits}
    assert all(d["responseStatus"] == 200 and d["attempt"] == 1 for d in logged)


def test_a_rotated_secret_signs_beside_the_old_one(app, api, catalog, receiver, workers):
    created = subscribe(api, receiver.url)
    with app_context(app):
        rotated = service.rotate_secret(created["id"], actor("admin"))
        new_secret = rotated.secret
    assert new_secret != created["secret"]
    workers()
    place(app, catalog, items={"strips": 1})
    hit = wait_until(receiver.hits, what="a message")[0]
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(hit.body, hit.headers)
    Webhook(new_secret).verify(hit.body, hit.headers)


def test_events_of_an_order_arrive_in_order(app, api, catalog, receiver, workers):
    subscription = subscribe(api, receiver.url)
    receiver.statuses = [500]  # the first event fails once: the later ones must wait for it
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, statuses.PROCESSING)
    move(app, order_id, statuses.ON_HOLD, reason="Address check")
    move(app, order_id, statuses.PROCESSING)
    move(app, order_id, statuses.CANCELLED, role="admin", reason="Patient moved")
    workers()
    hits = wait_until(lambda: len(receiver.hits()) >= 6 and receiver.hits(), what="6 hits")
    assert names(hits) == [
        "created",  # answered 500
        "created",
        "processing",
        "onHold",
        "processing",
        "cancelled",
    ]
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    wait_until(
        lambda: (
            sum(1 for d in deliveries(api, subscription["id"]) if d["status"] == "delivered") == 5
        ),
        what="5 delivered events logged",
    )


def test_a_failing_receiver_is_retried_on_schedule_then_failed(
    app, api, catalog, receiver, workers
):
    receiver.status = 500
    receiver.body = b"x" * (MAX_RESPONSE_BYTES * 3)
    subscription = subscribe(api, receiver.url)
    workers()
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


def test_redirects_are_not_followed(app, api, catalog, receiver, workers):
    receiver.status = 302
    receiver.extra_headers = {"Location": receiver.url + "/elsewhere"}
    subscription = subscribe(api, receiver.url)
    workers(WEBHOOK_RETRY_SCHEDULE="")
    place(app, catalog, items={"strips": 1})
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] == "failed"],
        what="a failed attempt",
    )
    assert log[0]["responseStatus"] == 302
    assert "not followed" in log[0]["error"]
    assert [h.path for h in receiver.hits()] == ["/hooks"]


def test_a_run_of_failed_events_disables_the_subscription(app, api, catalog, receiver, workers):
    receiver.status = 503
    subscription = subscribe(api, receiver.url)
    workers(WEBHOOK_RETRY_SCHEDULE="", WEBHOOK_DISABLE_AFTER="2")
    for _ in range(3):
        place(app, catalog, items={"strips": 1})

    def disabled():
        found = api.get(f"/api/v3/webhook/{subscription['id']}").get_json()
        return found if not found["enabled"] else None

    found = wait_until(disabled, what="the subscription disabled")
    assert "2 events in a row failed" in found["disabledReason"]
    assert "HTTP 503" in found["disabledReason"]
    # The third event waits for the subscription to be enabled again; nothing is lost.
    assert len(receiver.hits()) == 2
    with app_context(app):
        service.set_enabled(subscription["id"], True, actor("admin"))
    receiver.status = 200
    wait_until(lambda: len(receiver.hits()) == 3, what="the third event")


def test_redelivery_sends_the_same_message_again(app, api, catalog, receiver, workers):
    subscription = subscribe(api, receiver.url)
    workers()
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


def test_a_worker_killed_mid_delivery_leaves_it_to_the_next(app, api, catalog, receiver, workers):
    receiver.hold = threading.Event()
    subscription = subscribe(api, receiver.url)
    first = workers(WEBHOOK_LEASE_SECONDS="4", WEBHOOK_TIMEOUT_SECONDS="3")
    place(app, catalog, items={"strips": 1})
    wait_until(receiver.hits, what="the first request")
    first.kill()
    receiver.hold.set()
    workers(WEBHOOK_LEASE_SECONDS="2", WEBHOOK_TIMEOUT_SECONDS="1")
    hits = wait_until(lambda: len(receiver.hits()) == 2 and receiver.hits(), what="a second try")
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] == "delivered"],
        what="delivered",
    )
    # The killed worker recorded nothing: the same attempt was taken over and delivered.
    assert [d["attempt"] for d in log] == [1]


def test_two_workers_deliver_each_attempt_once(app, api, catalog, receiver, workers):
    with app_context(app):
        if db.engine.dialect.name != "postgresql":
            pytest.skip("several workers need PostgreSQL (SQLite runs a single worker)")
    subscribe(api, receiver.url)
    order_ids = [place(app, catalog, items={"strips": 1}) for _ in range(20)]
    workers()
    workers()
    hits = wait_until(lambda: len(receiver.hits()) >= 20 and receiver.hits(), what="20 hits")
    time.sleep(1)  # time for a duplicate to arrive, were there one
    hits = receiver.hits()
    ids = [h.headers["webhook-id"] for h in hits]
    assert len(ids) == len(set(ids)) == 20
    assert sorted(body_of(h)["payload"]["orderId"] for h in hits) == sorted(order_ids)


def test_an_order_rolled_back_sends_nothing(app, api, catalog, receiver, workers):
    subscribe(api, receiver.url)

    def fail_after_writing(session, _flush_context):
        # The order, its event and its outbox entry have reached the database: now it fails.
        if any(isinstance(o, OrderOutboxEntry) for o in session.new):
            raise RuntimeError("the disk is full")

    event.listen(db.session, "after_flush", fail_after_writing)
    try:
        with pytest.raises(RuntimeError):
            place(app, catalog, items={"strips": 1})
    finally:
        event.remove(db.session, "after_flush", fail_after_writing)
    with app_context(app):
        assert db.session.scalar(select(func.count(Order.id))) == 0
        assert db.session.scalar(select(func.count(OrderOutboxEntry.id))) == 0
    workers()
    kept = place(app, catalog, items={"strips": 1})
    hits = wait_until(receiver.hits, what="the kept order's event")
    assert [body_of(h)["payload"]["orderId"] for h in hits] == [kept]


def test_refused_at_delivery_after_resolution(app, api, catalog, receiver, workers):
    subscription = subscribe(api, receiver.url)
    # Saved while private addresses were allowed; the worker now refuses them.
    workers(WEBHOOK_DENY_PRIVATE="true", WEBHOOK_RETRY_SCHEDULE="")
    place(app, catalog, items={"strips": 1})
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] == "failed"],
        what="a refused attempt",
    )
    assert "127.0.0.1 is a private or loopback address" in log[0]["error"]
    assert log[0]["responseStatus"] is None
    assert receiver.hits() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "https://[::ffff:169.254.169.254]/",
        "http://169.254.1.1:8080/hook",
        "ftp://example.org/hook",
        "http://user:pass@127.0.0.1/hook",
        "not a url",
    ],
)
def test_metadata_and_odd_destinations_are_refused_when_saved(api, url):
    response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_url"
    assert response.get_json()["error"]["field"] == "url"
    assert api.get("/api/v3/webhook").get_json()["total"] == 0


def test_the_deny_rules():
    assert refusal("169.254.169.254", deny_private=False)
    assert refusal("fd00:ec2::254", deny_private=False)
    assert refusal("fe80::1", deny_private=False)
    assert refusal("::ffff:169.254.169.254", deny_private=False)
    assert refusal("10.0.0.5", deny_private=False) is None
    assert refusal("127.0.0.1", deny_private=False) is None
    assert refusal("10.0.0.5", deny_private=True)
    assert refusal("::1", deny_private=True)
    assert refusal("93.184.216.34", deny_private=True) is None


def test_the_readme_receiver_verifies_our_signature(app):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = next(
        block.removeprefix("python\n")
        for block in readme.split("```")
        if block.startswith("python\n") and "standardwebhooks" in block
    )
    with app_context(app):
        secret = signing.new_secret()
        body = service.message_body("msg_readme", "webhook.ping", {"message": "hi"})
        now = utcnow()
        signature = signing.signature_header([secret], "msg_readme", now, body)
    namespace: dict = {"__name__": "readme_receiver"}
    exec(example.replace('"whsec_..."', repr(secret)), namespace)  # noqa: S102
    receiver = namespace["app"].test_client()
    headers = {
        "webhook-id": "msg_readme",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    assert receiver.post("/orderly-hooks", data=body, headers=headers).status_code == 204
    forged = {**headers, "webhook-signature": signature[:-4] + "AAA="}
    assert receiver.post("/orderly-hooks", data=body, headers=forged).status_code == 400
