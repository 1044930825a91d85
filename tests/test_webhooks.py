"""Webhooks end to end: a real receiver on a free port, the worker as a real process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.database import utcnow
from app.extensions import db
from app.orders import statuses
from app.webhooks import service, signing
from app.webhooks.destinations import refusal
from tests.conftest import app_context
from tests.helpers.orders import actor, move, place
from tests.helpers.webhooks import Receiver, Worker, body_of, deliveries, subscribe, wait_until


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


def names(hits) -> list[str]:
    return [body_of(h)["payload"]["event"]["name"] for h in hits]


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
