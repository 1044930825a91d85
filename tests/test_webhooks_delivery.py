"""Webhook delivery end to end: a real receiver on a free port and the worker as a real
process, with the default (fast) test settings; test_webhooks.py starts workers with others.
Below, the worker's own steps, its dispatcher and its loop, run in this process."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select, text
from standardwebhooks import Webhook

from app.db.types import utcnow
from app.extensions import db
from app.history.models import PatientDataAccess
from app.orders.models import Order, OrderOutboxEntry
from app.webhooks import sender, service, signing, worker
from app.webhooks.models import (
    MAX_RESPONSE_BYTES,
    WebhookAttempt,
    WebhookMessage,
    WebhookSubscription,
)
from tests.conftest import app_context
from tests.helpers.orders import actor, patient_order, place
from tests.helpers.webhooks import (
    Receiver,
    Worker,
    body_of,
    deliver_everything,
    deliveries,
    subscribe,
    wait_until,
)


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


# --- The worker's own steps, in this process -------------------------------------------------
# What the worker process above does, called here one step at a time (``fan_out``, ``claim``,
# ``deliver``, ``record``), or as ``worker.Dispatcher`` and ``worker.run`` on threads of this
# process: so the rules hold to the minute and mutation testing sees the worker's code run.

SCHEDULE = (900.0, 1800.0, 3600.0)  # the app's default WEBHOOK_RETRY_SCHEDULE, in seconds


def attempt_rows(app) -> list[WebhookAttempt]:
    """Every attempt, oldest first, detached (read them after the session is gone)."""
    with app_context(app) as session:
        found = session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
        session.expunge_all()
        return list(found)


def stored_subscription(app, subscription_id: int) -> WebhookSubscription:
    with app_context(app) as session:
        found = session.get(WebhookSubscription, subscription_id)
        session.expunge(found)
        return found


def message_statuses(app) -> list[str]:
    with app_context(app) as session:
        return list(session.scalars(select(WebhookMessage.status).order_by(WebhookMessage.id)))


def test_a_failed_event_is_retried_after_each_wait_of_the_schedule_then_failed_once(
    app, api, catalog, receiver
):
    receiver.status = 500
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    for attempt in (1, 2, 3):
        deliver_everything(app)
        *_, failed, retry = attempt_rows(app)
        assert (failed.attempt, failed.status, failed.response_status, failed.error) == (
            attempt,
            "failed",
            500,
            "HTTP 500",
        )
        assert failed.response_body == "ok"
        assert failed.duration_ms >= 0 and failed.attempted_at is not None
        assert (failed.leased_until, failed.lease_token) == (None, None)
        wait = timedelta(seconds=SCHEDULE[attempt - 1])
        assert failed.next_attempt_at == failed.attempted_at + wait
        assert (retry.attempt, retry.status, retry.manual) == (attempt + 1, "pending", False)
        assert (retry.next_attempt_at, retry.attempted_at) == (failed.next_attempt_at, None)
        assert message_statuses(app) == ["pending"]
        assert stored_subscription(app, subscription["id"]).consecutive_failures == 0
        deliver_everything(app)  # not due yet: nothing is sent
        assert len(receiver.hits()) == attempt
        with app.app_context():
            service.retry_now(subscription["id"], failed.message_id, actor("admin"))
    deliver_everything(app)
    attempts = attempt_rows(app)
    assert [(a.attempt, a.status) for a in attempts] == [(n, "failed") for n in (1, 2, 3, 4)]
    assert attempts[-1].next_attempt_at is None
    assert message_statuses(app) == ["failed"]
    stored = stored_subscription(app, subscription["id"])
    assert (stored.consecutive_failures, stored.enabled, stored.disabled_reason) == (1, True, None)
    assert len({hit.headers["webhook-id"] for hit in receiver.hits()}) == 1


def test_a_subscription_is_disabled_when_its_limit_of_events_failed_in_a_row(
    app, api, catalog, receiver, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", ())
    monkeypatch.setitem(app.config, "WEBHOOK_DISABLE_AFTER", 3)
    receiver.status = 500
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert stored_subscription(app, subscription["id"]).consecutive_failures == 1
    receiver.status = 200  # a delivery ends the run of failures
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert stored_subscription(app, subscription["id"]).consecutive_failures == 0
    receiver.status = 503
    for failures in (1, 2):
        place(app, catalog, items={"strips": 1})
        deliver_everything(app)
        stored = stored_subscription(app, subscription["id"])
        assert (stored.consecutive_failures, stored.enabled) == (failures, True)
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    stored = stored_subscription(app, subscription["id"])
    last = attempt_rows(app)[-1]
    assert (stored.consecutive_failures, stored.enabled) == (3, False)
    assert stored.disabled_reason == (
        f"Disabled automatically on {last.attempted_at:%Y-%m-%d %H:%M} UTC: 3 events in a row "
        "failed after every retry. The last error: HTTP 503"
    )
    assert message_statuses(app) == ["failed", "delivered", "failed", "failed", "failed"]
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert len(receiver.hits()) == 5  # a disabled subscription gets nothing more


def test_a_redelivery_by_hand_that_fails_is_not_retried_nor_counted(
    app, api, catalog, receiver, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_DISABLE_AFTER", 1)
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert message_statuses(app) == ["delivered"]
    receiver.status = 500
    with app.app_context():
        message_id = db.session.scalar(select(WebhookMessage.id))
        service.redeliver(subscription["id"], message_id, actor("admin"))
    deliver_everything(app)
    assert [(a.attempt, a.manual, a.status, a.error) for a in attempt_rows(app)] == [
        (1, False, "delivered", None),
        (2, True, "failed", "HTTP 500"),
    ]
    assert attempt_rows(app)[-1].next_attempt_at is None
    assert message_statuses(app) == ["failed"]
    stored = stored_subscription(app, subscription["id"])
    assert (stored.consecutive_failures, stored.enabled) == (0, True)


def test_a_claim_leases_the_attempt_for_the_lease_time_and_skips_busy_subscriptions(
    app, api, catalog, receiver
):
    first = subscribe(api, receiver.url)
    second = subscribe(api, receiver.url + "/second")
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        assert worker.claim({first["id"], second["id"]}) is None
        claimed = worker.claim({first["id"]})
        assert worker.claim({first["id"]}) is None  # its one attempt is leased now
        db.session.remove()
    assert (claimed.subscription_id, claimed.url) == (second["id"], receiver.url + "/second")
    leased = next(a for a in attempt_rows(app) if a.id == claimed.attempt_id)
    assert leased.lease_token == claimed.token and len(claimed.token) == 32
    lease = timedelta(seconds=app.config["WEBHOOK_LEASE_SECONDS"])
    assert leased.next_attempt_at + lease <= leased.leased_until
    assert leased.leased_until <= utcnow() + lease
    with app_context(app) as session:
        message = session.get(WebhookMessage, leased.message_id)
        assert (claimed.message_id, claimed.body) == (message.message_id, message.body)
        assert (claimed.patient_id, claimed.order_id) == (None, message.order_id)
        assert (claimed.user_id, claimed.api_key_id) == (
            None,
            message.subscription.created_by_api_key_id,
        )
        assert claimed.api_key_id is not None
        assert claimed.secrets == service.signing_secrets(message.subscription)


def test_a_disabled_subscriptions_events_wait_unsent_until_it_is_enabled_again(
    app, api, catalog, receiver
):
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        db.session.remove()
    with app_context(app) as session:
        session.get(WebhookSubscription, subscription["id"]).enabled = False
        session.commit()
    with app.app_context():
        assert worker.claim() is None
        db.session.remove()
    [waiting] = attempt_rows(app)
    assert (waiting.status, waiting.leased_until, waiting.attempt) == ("pending", None, 1)
    with app_context(app) as session:
        session.get(WebhookSubscription, subscription["id"]).enabled = True
        session.commit()
    with app.app_context():
        claimed = worker.claim()
        db.session.remove()
    assert claimed.attempt_id == waiting.id


def test_an_attempt_whose_lease_ran_out_is_claimed_again_and_the_late_outcome_not_recorded(
    app, api, catalog, receiver, caplog
):
    subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        late = worker.claim()
        db.session.remove()
    with app_context(app) as session:  # the lease runs out: its worker died, or is slow
        session.get(WebhookAttempt, late.attempt_id).leased_until = utcnow() - timedelta(seconds=1)
        session.commit()
    receiver.status = 500
    with app.app_context():
        again = worker.claim()
        assert again.attempt_id == late.attempt_id and again.token != late.token
        worker.record(late, worker.deliver(late))  # while the attempt is taken over
        [attempt] = attempt_rows(app)
        assert (attempt.status, attempt.lease_token, attempt.error) == (
            "pending",
            again.token,
            None,
        )
        receiver.status = 200
        worker.record(again, worker.deliver(again))
        db.session.remove()
    [attempt] = attempt_rows(app)
    assert (attempt.status, attempt.response_status) == ("delivered", 200)
    assert len(receiver.hits()) == 2
    assert f"webhook attempt {late.attempt_id}: lease lost, outcome not recorded" in [
        r.getMessage() for r in caplog.records if r.name == "app.webhooks.worker"
    ]


def test_an_attempt_of_a_subscription_deleted_while_it_was_sent_stays_failed_as_deleted(
    app, api, catalog, receiver
):
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        claimed = worker.claim()
        outcome = worker.deliver(claimed)
        service.delete_subscription(subscription["id"], actor("admin"))
        worker.record(claimed, outcome)
        db.session.remove()
    [attempt] = attempt_rows(app)
    assert (attempt.status, attempt.error, attempt.response_status) == (
        "failed",
        "The webhook was deleted.",
        None,
    )
    assert message_statuses(app) == ["failed"]
    assert stored_subscription(app, subscription["id"]).consecutive_failures == 0


def failing_statements(app, starts: str, times: int | None = None):
    """From now on the database refuses statements starting with ``starts`` (``times`` of
    them, or all until ``.stop()``), as a database going away would: answers the listener's
    remover. Records when each such statement came (``.seen``)."""
    with app.app_context():
        engine = db.engine

    class Failing:
        seen: list[float] = []
        refused = 0

        @staticmethod
        def listener(_conn, _cursor, statement, _parameters, _context, _executemany):
            if " ".join(statement.split()).upper().startswith(starts):
                Failing.seen.append(time.monotonic())
                if times is None or Failing.refused < times:
                    Failing.refused += 1
                    raise RuntimeError("the database went away")

        @staticmethod
        def stop():
            event.remove(engine, "before_cursor_execute", Failing.listener)

    Failing.seen = []
    event.listen(engine, "before_cursor_execute", Failing.listener)
    return Failing


def worker_log(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.webhooks.worker"]


def test_an_outcome_that_cannot_be_stored_is_recorded_as_a_failure_that_says_so(
    app, api, catalog, receiver, caplog
):
    """Sent (so logged as a patient's details given out), then the database refused the
    outcome: the attempt fails, saying why, and is retried on the schedule."""
    subscribe(api, receiver.url, ["order.statusFull"])
    order_id = place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        claimed = worker.claim()
        failing = failing_statements(app, "UPDATE WEBHOOK_ATTEMPT SET STATUS", times=1)
        try:
            worker.deliver_and_record(claimed)
        finally:
            failing.stop()
        db.session.remove()
    assert failing.refused == 1
    first, retry = attempt_rows(app)
    assert (first.status, first.response_status, first.response_body, first.error) == (
        "failed",
        None,
        None,
        "The outcome could not be stored (RuntimeError).",
    )
    assert first.duration_ms is not None and first.duration_ms >= 0
    assert (retry.attempt, retry.status) == (2, "pending")
    assert len(receiver.hits()) == 1
    with app_context(app) as session:
        logged = session.execute(
            select(PatientDataAccess.patient_id, PatientDataAccess.order_id, PatientDataAccess.at)
        ).all()
    assert logged == [(catalog.patient, order_id, first.attempted_at)]  # as it was recorded
    assert worker_log(caplog) == [f"webhook attempt {claimed.attempt_id}: outcome not recorded"]


def test_a_database_away_for_a_whole_attempt_leaves_it_to_its_lease(
    app, api, catalog, receiver, caplog
):
    subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    dispatcher = worker.Dispatcher(app)
    failing = failing_statements(app, "UPDATE WEBHOOK_ATTEMPT SET STATUS")
    try:
        with app.app_context():
            assert dispatcher.work() is True
            db.session.remove()
        dispatcher.close()
    finally:
        failing.stop()
    [attempt] = attempt_rows(app)
    assert (attempt.status, attempt.attempted_at) == ("pending", None)
    assert attempt.leased_until is not None and attempt.lease_token is not None
    assert len(receiver.hits()) == 1
    assert worker_log(caplog) == [
        f"webhook attempt {attempt.id}: outcome not recorded",
        f"webhook attempt {attempt.id}: failed",
    ]
    threads = [r.threadName for r in caplog.records if r.name == "app.webhooks.worker"]
    assert all(name.startswith("webhook_") for name in threads), threads


def test_the_dispatcher_sends_one_attempt_per_subscription_at_a_time_and_says_when_to_look_again(
    app, api, catalog, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 30.0)
    slow = Receiver(hold=threading.Event()).start()
    fast = Receiver().start()
    dispatcher = worker.Dispatcher(app)
    try:
        subscribe(api, slow.url)  # first: its attempts come first
        subscribe(api, fast.url)
        orders = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
        with app.app_context():
            assert dispatcher.work() is True  # each subscription's first event: 2 threads of 4
            wait_until(lambda: len(slow.hits()) == 1, what="the slow receiver's request")
            started = time.monotonic()
            dispatcher.wait(20)  # until the first sending ends: the fast one
            assert time.monotonic() - started < 10
            assert len(fast.hits()) == 1
            assert dispatcher.work() is True  # the fast receiver's second event
            dispatcher.wait(20)
            assert len(fast.hits()) == 2
            assert dispatcher.work() is False  # the slow one's second waits for its first
            started = time.monotonic()
            dispatcher.wait(0.3)  # the slow one still held: back after 0.3 s
            assert 0.25 < time.monotonic() - started < 10
            assert len(slow.hits()) == 1
            slow.hold.set()
            dispatcher.wait(20)
            assert dispatcher.work() is True  # now its second
            db.session.remove()
        dispatcher.close()
    finally:
        dispatcher.close()
        slow.stop()
        fast.stop()
    for receiver in (slow, fast):
        assert [body_of(hit)["payload"]["orderId"] for hit in receiver.hits()] == orders
    assert message_statuses(app) == ["delivered"] * 4


def test_a_dispatcher_of_one_thread_sends_one_attempt_at_a_time(app, api, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_CONCURRENCY", 1)
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 30.0)
    slow = Receiver(hold=threading.Event()).start()
    dispatcher = worker.Dispatcher(app)
    try:
        subscribe(api, slow.url)
        subscribe(api, slow.url + "/other")
        place(app, catalog, items={"strips": 1})
        with app.app_context():
            assert dispatcher.work() is False  # found one, and no thread is free
            assert dispatcher.work() is False
            db.session.remove()
        wait_until(slow.hits, what="the first request")
        assert [a.leased_until is not None for a in attempt_rows(app)] == [True, False]
        started = time.monotonic()
        dispatcher.wait(0.3)
        assert 0.25 < time.monotonic() - started < 10
        slow.hold.set()
        dispatcher.wait(20)
        with app.app_context():
            assert dispatcher.work() is False
            db.session.remove()
        dispatcher.close()
    finally:
        dispatcher.close()
        slow.stop()
    assert [hit.path for hit in slow.hits()] == ["/hooks", "/hooks/other"]
    assert message_statuses(app) == ["delivered"] * 2


def test_a_dispatcher_with_nothing_to_send_waits_the_time_it_is_given(app):
    dispatcher = worker.Dispatcher(app)
    try:
        with app.app_context():
            assert dispatcher.work() is False
            db.session.remove()
        started = time.monotonic()
        dispatcher.wait(0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        dispatcher.close()


@pytest.fixture
def running(app):
    """``worker.run`` in this process until ``until()`` is true, then SIGTERM, as a stopping
    ``flask webhooks work`` gets it; answers the seconds it ran. The signal handlers and the
    httpx logger's level that ``run`` sets are put back after."""
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    httpx_level = logging.getLogger("httpx").level
    signal.signal(signal.SIGTERM, lambda *_: None)  # never the test process's end

    def run(until, timeout: float = 30, **kwargs) -> float:
        returned = threading.Event()

        def stop_when_done():
            deadline = time.monotonic() + timeout
            while not returned.is_set() and time.monotonic() < deadline and not until():
                time.sleep(0.05)
            while not returned.is_set():  # again, should it come before run's handler
                os.kill(os.getpid(), signal.SIGTERM)
                returned.wait(0.5)

        stopper = threading.Thread(target=stop_when_done)
        started = time.monotonic()
        stopper.start()
        try:
            with app.app_context():
                worker.run(app, **kwargs)
        finally:
            returned.set()
            stopper.join()
        return time.monotonic() - started

    yield run
    for number, handler in handlers.items():
        signal.signal(number, handler)
    logging.getLogger("httpx").setLevel(httpx_level)


def test_the_worker_delivers_until_it_is_stopped_and_never_logs_a_receivers_url(
    app, api, catalog, receiver, running, caplog, monkeypatch
):
    """URLs often carry a token: httpx's log of each request is kept quiet."""
    monkeypatch.setitem(app.config, "WEBHOOK_POLL_SECONDS", 0.1)
    caplog.set_level(logging.INFO)
    subscribe(api, receiver.url + "?token=s3cret-t0ken")
    place(app, catalog, items={"strips": 1})
    running(lambda: message_statuses(app) == ["delivered"], exit_with_parent=True)
    assert message_statuses(app) == ["delivered"]
    assert [hit.path for hit in receiver.hits()] == ["/hooks?token=s3cret-t0ken"]
    assert worker_log(caplog) == [
        "webhooks worker: started",
        "webhooks worker: stopping after the current deliveries",
    ]
    assert not [r for r in caplog.records if "s3cret-t0ken" in r.getMessage()]


def test_the_worker_warns_when_its_lease_is_not_longer_than_a_receivers_timeout(
    app, running, caplog, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 5.0)
    monkeypatch.setitem(app.config, "WEBHOOK_LEASE_SECONDS", 5.0)
    caplog.set_level(logging.WARNING, logger="app.webhooks.worker")
    running(lambda: True)
    assert worker_log(caplog) == [
        "WEBHOOK_LEASE_SECONDS is not above WEBHOOK_TIMEOUT_SECONDS: a slow receiver may "
        "get a message twice, from two workers"
    ]
    caplog.clear()
    monkeypatch.setitem(app.config, "WEBHOOK_LEASE_SECONDS", 5.5)
    running(lambda: True)
    assert worker_log(caplog) == []


def test_an_idle_worker_looks_for_work_once_each_poll(app, running, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_POLL_SECONDS", 0.25)
    rounds = failing_statements(app, "SELECT ORDER_OUTBOX.ID", times=0)
    try:
        started = time.monotonic()
        ran = running(lambda: time.monotonic() - started > 1)
    finally:
        rounds.stop()
    assert 2 <= len(rounds.seen) <= ran / 0.25 + 2, (len(rounds.seen), ran)


def test_a_failed_round_is_logged_and_the_next_comes_after_a_poll(
    app, api, catalog, receiver, running, caplog, monkeypatch
):
    """A database away must not end the worker, nor have it ask again at once."""
    monkeypatch.setitem(app.config, "WEBHOOK_POLL_SECONDS", 0.5)
    caplog.set_level(logging.WARNING, logger="app.webhooks.worker")
    subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    rounds = failing_statements(app, "SELECT ORDER_OUTBOX.ID", times=1)
    try:
        running(lambda: message_statuses(app) == ["delivered"])
    finally:
        rounds.stop()
    assert message_statuses(app) == ["delivered"]
    assert worker_log(caplog)[:1] == ["webhooks worker: round failed"]
    failed, retried, *_ = rounds.seen
    assert retried - failed >= 0.45


def test_a_round_hands_out_at_most_a_hundred_events_oldest_first(app, api, catalog, receiver):
    subscribe(api, receiver.url)
    orders = [place(app, catalog, items={"strips": 1}) for _ in range(101)]
    with app.app_context():
        assert worker.fan_out() == 100
        made = db.session.scalars(select(WebhookMessage.order_id).order_by(WebhookMessage.id))
        assert list(made) == orders[:100]
        assert worker.fan_out() == 1
        assert worker.fan_out() == 0
        assert db.session.scalar(select(func.count(OrderOutboxEntry.id))) == 0
        db.session.remove()
    assert [order_id for (order_id,) in messages_of(app)] == orders


def messages_of(app, *columns) -> list[tuple]:
    with app_context(app) as session:
        return session.execute(
            select(WebhookMessage.order_id, *columns).order_by(WebhookMessage.id)
        ).all()


def test_each_event_is_one_message_per_subscription_and_type_its_first_attempt_due_at_once(
    app, api, catalog, receiver
):
    both = subscribe(api, receiver.url, ["order.status", "order.statusFull"])
    subscribe(api, receiver.url + "/returns", ["order.returnReceived"])
    order_id = place(app, catalog, items={"strips": 1})
    [created] = api.get(f"/api/v3/order/{order_id}").get_json()["orderEvents"]
    with app.app_context():
        before = utcnow()
        assert worker.fan_out() == 1
        after = utcnow()
        db.session.remove()
    with app_context(app) as session:
        messages = session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)).all()
        assert [(m.subscription_id, m.type, m.order_id) for m in messages] == [
            (both["id"], "order.status", order_id),
            (both["id"], "order.statusFull", order_id),
        ]
        event_id = session.scalar(select(Order).where(Order.id == order_id)).events[0].id
        for message in messages:
            assert (message.order_event_id, message.status) == (event_id, "pending")
            assert before <= message.created_at <= after
            body = json.loads(message.body)
            assert (body["id"], body["type"]) == (message.message_id, message.type)
            [attempt] = message.attempts
            assert (attempt.attempt, attempt.status, attempt.manual) == (1, "pending", False)
            assert attempt.next_attempt_at == message.created_at
        status, full = messages
        assert json.loads(status.body)["payload"] == {
            "orderId": order_id,
            "event": {"name": "created", "eventTimestamp": created["eventTimestamp"]},
        }
        assert status.patient_id is None
        assert json.loads(full.body)["payload"]["order"]["patient"]["id"] == catalog.patient
        assert full.patient_id == catalog.patient
        assert session.scalar(select(func.count(OrderOutboxEntry.id))) == 0


def test_a_subscription_gets_no_event_from_before_it_was_made_nor_while_it_was_disabled(
    app, api, catalog, receiver
):
    place(app, catalog, items={"strips": 1})  # before the subscription
    subscription = subscribe(api, receiver.url)
    with app.app_context():
        service.set_enabled(subscription["id"], False, actor("admin"))
    place(app, catalog, items={"strips": 1})  # while it is disabled
    deliver_everything(app)
    with app.app_context():
        service.set_enabled(subscription["id"], True, actor("admin"))
    kept = place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert messages_of(app) == [(kept,)]
    assert [body_of(hit)["payload"]["orderId"] for hit in receiver.hits()] == [kept]


def test_a_dispatcher_that_handed_out_an_event_looks_again_at_once(app, catalog):
    """Even with no subscription to send it to: the next round may find more."""
    place(app, catalog, items={"strips": 1})
    dispatcher = worker.Dispatcher(app)
    try:
        with app.app_context():
            assert dispatcher.work() is True
            assert dispatcher.work() is False
            db.session.remove()
    finally:
        dispatcher.close()


@pytest.fixture
def clock(monkeypatch):
    """The worker's clock, stopped: it reads ``clock.now``, which the test moves."""
    clock = SimpleNamespace(now=utcnow())
    monkeypatch.setattr(worker, "utcnow", lambda: clock.now)
    return clock


def test_an_attempt_is_due_at_the_instant_it_names_and_leased_to_the_instant_its_lease_ends(
    app, api, catalog, receiver, clock
):
    subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    lease = timedelta(seconds=app.config["WEBHOOK_LEASE_SECONDS"])
    with app.app_context():
        worker.fan_out()  # its first attempt is due at once: now
        claimed = worker.claim()
        assert claimed is not None
        clock.now += lease
        assert worker.claim() is None  # the lease's last instant
        clock.now += timedelta(microseconds=1)
        again = worker.claim()
        db.session.remove()
    assert again.attempt_id == claimed.attempt_id and again.token != claimed.token
    [attempt] = attempt_rows(app)
    assert (attempt.lease_token, attempt.leased_until) == (again.token, clock.now + lease)


@pytest.mark.parametrize(
    ("brought_forward", "claimed_in_turn"),
    [(False, ("newer", "newest", "retry")), (True, ("retry", "newer", "newest"))],
    ids=["retry-due-after-them", "retry-brought-forward-to-their-instant"],
)
def test_due_attempts_are_claimed_in_the_order_they_fell_due_those_due_at_once_oldest_first(
    app, api, catalog, receiver, clock, monkeypatch, brought_forward, claimed_in_turn
):
    """A retry that falls due after two newer events' first attempts comes after them;
    brought forward by hand to their instant, it comes first, as the oldest."""
    monkeypatch.setattr(service, "utcnow", lambda: clock.now)
    receiver.status = 500
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)  # failed now: retried in 15 minutes
    clock.now += timedelta(minutes=10)
    place(app, catalog, items={"strips": 1})
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        db.session.remove()
    _, retry, newer, newest = attempt_rows(app)
    if brought_forward:
        with app.app_context():
            service.retry_now(subscription["id"], retry.message_id, actor("admin"))
    else:
        clock.now += timedelta(minutes=5)
    with app.app_context():
        claimed = [worker.claim() for _ in range(4)]
        db.session.remove()
    ids = {"retry": retry.id, "newer": newer.id, "newest": newest.id}
    assert [c and c.attempt_id for c in claimed] == [*(ids[n] for n in claimed_in_turn), None]


def deliver_one(app) -> tuple[worker.Claimed, sender.Outcome]:
    """The one event made: handed out, claimed, sent and recorded; answers its claim and its
    outcome."""
    with app.app_context():
        worker.fan_out()
        claimed = worker.claim()
        outcome = worker.deliver(claimed)
        worker.record(claimed, outcome)
        db.session.remove()
    return claimed, outcome


@pytest.mark.parametrize(
    ("settings", "error", "requests"),
    [
        (
            {"WEBHOOK_DENY_PRIVATE": True},
            "Refused: 127.0.0.1 resolves to an address not allowed: 127.0.0.1 is a private or "
            "loopback address "
            "(WEBHOOK_DENY_PRIVATE is on).",
            0,
        ),
        ({"WEBHOOK_TIMEOUT_SECONDS": 0.5}, "No answer within 0.5 s.", 1),
    ],
    ids=["private-address-denied-since-saved", "no-answer-in-time"],
)
def test_an_attempt_the_settings_refuse_or_cut_short_fails_saying_why(
    app, api, catalog, receiver, monkeypatch, settings, error, requests
):
    receiver.hold = threading.Event()  # answers only when the test ends
    subscribe(api, receiver.url)
    for name, value in settings.items():  # since the subscription was saved
        monkeypatch.setitem(app.config, name, value)
    place(app, catalog, items={"strips": 1})
    _, outcome = deliver_one(app)
    assert (outcome.response_status, outcome.error) == (None, error)
    assert len(receiver.hits()) == requests
    first, _retry = attempt_rows(app)
    assert (first.status, first.error) == ("failed", error)


def test_an_attempt_that_cannot_be_signed_fails_unsent_and_is_logged(
    app, api, catalog, receiver, caplog
):
    subscription = subscribe(api, receiver.url)
    with app_context(app) as session:  # an empty secret, stored by hand
        session.get(WebhookSubscription, subscription["id"]).secret_encrypted = signing.encrypt(
            signing.SECRET_PREFIX
        )
        session.commit()
    place(app, catalog, items={"strips": 1})
    claimed, outcome = deliver_one(app)
    assert outcome == sender.Outcome(None, None, "Not sent: EmptyWebhookSecretError", 0, False)
    assert receiver.hits() == []
    first, _retry = attempt_rows(app)
    assert (first.status, first.error, first.duration_ms) == (
        "failed",
        "Not sent: EmptyWebhookSecretError",
        0,
    )
    assert worker_log(caplog) == [f"webhook attempt {claimed.attempt_id}: could not be sent"]
    [logged] = [r for r in caplog.records if r.name == "app.webhooks.worker"]
    assert logged.exc_info[0].__name__ == "EmptyWebhookSecretError"


def test_a_subscription_gets_the_events_from_the_instant_it_was_made_in_whatever_order_saved(
    app, api, catalog, receiver
):
    """Two web processes saving at once may give the later time the smaller id: each
    subscription is judged by its own time."""
    later = subscribe(api, receiver.url + "/later")
    same = subscribe(api, receiver.url + "/same")
    order_id = place(app, catalog, items={"strips": 1})
    with app_context(app) as session:
        made = session.scalar(select(OrderOutboxEntry.created_at))
        session.get(WebhookSubscription, later["id"]).created_at = made + timedelta(microseconds=1)
        session.get(WebhookSubscription, same["id"]).created_at = made
        session.commit()
    with app.app_context():
        assert worker.fan_out() == 1
        db.session.remove()
    assert messages_of(app, WebhookMessage.subscription_id) == [(order_id, same["id"])]


def test_a_worker_started_by_the_web_server_stops_when_the_server_is_gone(
    app, running, caplog, monkeypatch
):
    caplog.set_level(logging.INFO, logger="app.webhooks.worker")
    parent = os.getppid()
    answers = iter([parent])  # then another: the orphan's new parent
    monkeypatch.setattr(os, "getppid", lambda: next(answers, parent + 1))
    assert running(lambda: False, timeout=20, exit_with_parent=True) < 10
    assert worker_log(caplog) == [
        "webhooks worker: started",
        "webhooks worker: the web server is gone; stopping",
    ]


# --- Two workers at once: PostgreSQL's row locks (SQLite runs one writer at a time) ----------


@pytest.fixture
def on_postgresql(app):
    with app_context(app):
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks are PostgreSQL's: SQLite runs one writer at a time")


def lock_waits(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


@contextmanager
def meanwhile(app, starts: str, step):
    """Once a statement starting with ``starts`` has run here, while its transaction is
    still open, ``step`` runs as another worker would (a thread and a connection of its
    own) until it ends or waits for a row lock. Yields what came of it: ``result``,
    ``failure``, and whether it ``waited``."""
    with app.app_context():
        engine = db.engine
    found = SimpleNamespace(result=None, failure=None, waited=None, thread=None)

    def other():
        with app.app_context():
            try:
                found.result = step()
            except Exception as failure:
                found.failure = failure
            finally:
                db.session.remove()

    def listener(_conn, _cursor, statement, _parameters, _context, _executemany):
        if found.thread or not " ".join(statement.split()).upper().startswith(starts):
            return
        found.thread = threading.Thread(target=other)
        found.thread.start()
        found.waited = "waited" == wait_until(
            lambda: "ended" if not found.thread.is_alive() else lock_waits(engine) and "waited",
            what="the other worker to end or wait",
        )

    event.listen(engine, "after_cursor_execute", listener)
    try:
        yield found
    finally:
        event.remove(engine, "after_cursor_execute", listener)
        if found.thread:
            found.thread.join(30)


def test_workers_claiming_at_once_take_the_next_due_attempts_without_waiting(
    app, api, catalog, receiver, on_postgresql
):
    """Three events of one subscription: while one worker holds the first, another takes
    the second, neither the first nor the third, and waits for nothing."""
    subscribe(api, receiver.url)
    for _ in range(3):
        place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        db.session.remove()
    with app.app_context(), meanwhile(app, "SELECT WEBHOOK_ATTEMPT.ID", worker.claim) as other:
        first = worker.claim()
        db.session.remove()
    assert (other.waited, other.failure) == (False, None)
    taken = [(a.id, a.lease_token) for a in attempt_rows(app)]
    first_id, second_id, third_id = (attempt_id for attempt_id, _ in taken)
    assert (first.attempt_id, other.result and other.result.attempt_id) == (first_id, second_id)
    assert taken[1:] == [(second_id, other.result.token), (third_id, None)]


def test_two_workers_recording_failures_of_one_subscription_at_once_count_both(
    app, api, catalog, receiver, monkeypatch, on_postgresql
):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", ())
    receiver.status = 500
    subscription = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()
        sent = [(claimed, worker.deliver(claimed)) for claimed in (worker.claim(), worker.claim())]
        db.session.remove()
    (first, failed), (second, also_failed) = sent
    with app.app_context(), meanwhile(app, "UPDATE", lambda: worker.record(second, also_failed)):
        worker.record(first, failed)  # the other records while this one writes
        db.session.remove()
    assert message_statuses(app) == ["failed", "failed"]
    assert stored_subscription(app, subscription["id"]).consecutive_failures == 2
