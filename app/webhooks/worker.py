"""The delivery worker: ``flask webhooks work``. Run one or many, on one database.

Each round it
1. hands new outbox entries to the subscriptions (one message per subscription and type),
   each carrying only what the subscription's maker may read (``service.reach``),
2. claims due attempts while it has threads free (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
   workers never take the same one; SQLite: one worker, ``BEGIN IMMEDIATE``), at most one
   per subscription, and leases them,
3. sends each on a thread of its own, outside any transaction, then records the outcome (and
   schedules a retry).

So a slow receiver (up to WEBHOOK_TIMEOUT_SECONDS each) holds one of WEBHOOK_CONCURRENCY
threads, never the other subscriptions' deliveries; and whatever goes wrong in sending one
attempt (a URL stored before the rules were strict, a receiver's odd answer) is recorded as
that attempt's failure, never ends the round. An attempt whose worker dies mid-delivery is
taken again when its lease runs out, with the same webhook-id. Events of one order go to one
subscription in order: an attempt is not claimed while an earlier event of the same order is
still pending for that subscription.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import joinedload

from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.formats import plural, timestamp
from app.history.models import PatientDataAccess
from app.history.patient_access import EXPORTED
from app.orders import events, read_model, serialize
from app.orders.models import OrderOutboxEntry
from app.webhooks import sender, signing
from app.webhooks.models import (
    DELIVERED,
    FAILED,
    ORDER_RETURN_RECEIVED,
    ORDER_STATUS,
    ORDER_STATUS_FULL,
    PENDING,
    WebhookAttempt,
    WebhookMessage,
    WebhookSubscription,
)
from app.webhooks.service import (
    message_body,
    reach,
    refusal,
    signing_secrets,
    waiting_behind_an_earlier_event,
)

log = logging.getLogger(__name__)
OUTBOX_BATCH = 100
# What the PHI access log calls a delivery that carried a patient's details.
PHI_SOURCE = "webhook"


def fan_out() -> int:
    """Turns outbox entries into messages for the subscriptions enabled when the event
    happened; the entries go in the same transaction. Answers how many entries.

    Each message carries what the subscription's maker may read now: a subscription whose
    maker may no longer receive its types is disabled, saying why, and gets nothing."""
    with write_transaction() as session:
        entries = session.scalars(
            select(OrderOutboxEntry)
            .order_by(OrderOutboxEntry.id)
            .limit(OUTBOX_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        if not entries:
            return 0
        listening = session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.enabled.is_(True), WebhookSubscription.deleted_at.is_(None))
            .options(joinedload(WebhookSubscription.created_by_api_key))
        ).all()
        now = utcnow()
        receiving = []
        for subscription in listening:
            types = subscription.type_list
            widest = ORDER_STATUS_FULL if ORDER_STATUS_FULL in types else ORDER_STATUS
            why = refusal(subscription, widest, carries_patient=False)
            if why:
                _disable(subscription, why)
            else:
                receiving.append((subscription, reach(subscription).patients))
        orders: dict[tuple[int, bool], dict] = {}
        for entry in entries:
            event = entry.event
            for subscription, patients in receiving:
                if subscription.created_at > entry.created_at:
                    continue
                for type_ in subscription.type_list:
                    if (type_ == ORDER_RETURN_RECEIVED) != (event.name == events.RETURN_RECEIVED):
                        continue  # status types get status events; returns, what came back
                    patient_id = None
                    if type_ == ORDER_STATUS_FULL:
                        if (entry.order_id, patients) not in orders:
                            orders[entry.order_id, patients] = serialize.plain(
                                serialize.order(read_model.load_one(entry.order_id), patients)
                            )
                        payload = {"order": orders[entry.order_id, patients]}
                        patient = payload["order"]["patient"]
                        if patients and patient is not None:
                            patient_id = patient["id"]
                    else:
                        payload = {
                            "orderId": entry.order_id,
                            "event": {
                                "name": event.name,
                                "eventTimestamp": timestamp(event.event_timestamp),
                            },
                        }
                        if type_ == ORDER_RETURN_RECEIVED:
                            # Items and identifiers only: no patient's details.
                            payload["event"]["note"] = event.note
                    message_id = signing.new_message_id()
                    message = WebhookMessage(
                        message_id=message_id,
                        subscription_id=subscription.id,
                        type=type_,
                        order_id=entry.order_id,
                        order_event_id=entry.order_event_id,
                        body=message_body(message_id, type_, payload),
                        patient_id=patient_id,
                        status=PENDING,
                        created_at=now,
                    )
                    message.attempts.append(
                        WebhookAttempt(attempt=1, status=PENDING, next_attempt_at=now)
                    )
                    session.add(message)
        session.execute(
            delete(OrderOutboxEntry).where(OrderOutboxEntry.id.in_([e.id for e in entries]))
        )
        return len(entries)


def _disable(subscription: WebhookSubscription, why: str) -> None:
    if subscription.enabled:
        subscription.enabled = False
        subscription.disabled_reason = f"Disabled automatically: {why}"


def _due_attempt_query(now, busy: set[int]):
    return (
        select(WebhookAttempt)
        .join(WebhookAttempt.message)
        .join(WebhookMessage.subscription)
        .where(
            WebhookAttempt.status == PENDING,
            WebhookAttempt.next_attempt_at <= now,
            or_(WebhookAttempt.leased_until.is_(None), WebhookAttempt.leased_until < now),
            WebhookSubscription.enabled.is_(True),
            WebhookSubscription.deleted_at.is_(None),
            WebhookSubscription.id.not_in(busy),
            ~waiting_behind_an_earlier_event(),
        )
        .order_by(WebhookAttempt.next_attempt_at, WebhookAttempt.id)
        .limit(1)
        .with_for_update(of=WebhookAttempt, skip_locked=True)
    )


class Claimed:
    """What a worker needs to send one attempt, read while the lease was taken."""

    def __init__(self, attempt: WebhookAttempt, token: str, secrets_in_use: list[str]):
        message = attempt.message
        subscription = message.subscription
        self.attempt_id = attempt.id
        self.token = token
        self.subscription_id = message.subscription_id
        self.url = subscription.url
        self.message_id = message.message_id
        self.body = message.body
        self.secrets = secrets_in_use
        # For the PHI access log: whose patient it carries, and who receives it.
        self.patient_id = message.patient_id
        self.order_id = message.order_id
        self.user_id = subscription.created_by_user_id
        self.api_key_id = subscription.created_by_api_key_id


def claim(busy: set[int] | frozenset[int] = frozenset()) -> Claimed | None:
    """Leases the next due attempt of a subscription not in ``busy`` (those this worker is
    sending to now). An attempt the subscription may not receive now is failed instead."""
    config = current_app.config
    with write_transaction() as session:
        now = utcnow()
        attempt = session.scalar(_due_attempt_query(now, set(busy)))
        if attempt is None:
            return None
        message = attempt.message
        why = refusal(message.subscription, message.type, message.patient_id is not None)
        if why:
            _disable(message.subscription, why)
            _finish(session, attempt, sender.Outcome(None, None, f"Not sent: {why}", 0), now)
            return None
        token = secrets.token_hex(16)
        attempt.leased_until = now + timedelta(seconds=config["WEBHOOK_LEASE_SECONDS"])
        attempt.lease_token = token
        try:
            secrets_in_use = signing_secrets(message.subscription)
        except signing.SecretUnreadable as unreadable:
            _finish(session, attempt, sender.Outcome(None, None, str(unreadable), 0), now)
            return None
        return Claimed(attempt, token, secrets_in_use)


def deliver(claimed: Claimed) -> sender.Outcome:
    """Sends the attempt; whatever goes wrong is its outcome, never an exception."""
    try:
        at = utcnow()
        headers = {
            "webhook-id": claimed.message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signing.signature_header(
                claimed.secrets, claimed.message_id, at, claimed.body
            ),
        }
        config = current_app.config
        return sender.send(
            claimed.url,
            claimed.body,
            headers,
            timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
            deny_private=config["WEBHOOK_DENY_PRIVATE"],
        )
    except Exception as failure:
        log.exception("webhook attempt %s: could not be sent", claimed.attempt_id)
        return sender.Outcome(None, None, f"Not sent: {type(failure).__name__}", 0)


def record(claimed: Claimed, outcome: sender.Outcome) -> None:
    with write_transaction() as session:
        now = utcnow()
        if outcome.sent and claimed.patient_id is not None:
            # Sent, whatever the answer: the receiver may have the patient's details now.
            session.add(
                PatientDataAccess(
                    at=now,
                    patient_id=claimed.patient_id,
                    order_id=claimed.order_id,
                    action=EXPORTED,
                    source=PHI_SOURCE,
                    user_id=claimed.user_id,
                    api_key_id=claimed.api_key_id,
                )
            )
        # The subscription first (its failure count changes), then the attempt: the order in
        # which deleting a subscription locks them too, so the two never deadlock.
        session.scalar(
            select(WebhookSubscription.id)
            .where(WebhookSubscription.id == claimed.subscription_id)
            .with_for_update()
        )
        attempt = session.scalar(
            select(WebhookAttempt).where(WebhookAttempt.id == claimed.attempt_id).with_for_update()
        )
        if attempt is None or attempt.lease_token != claimed.token or attempt.status != PENDING:
            # Our lease ran out and another worker took the attempt over: its outcome counts.
            log.warning("webhook attempt %s: lease lost, outcome not recorded", claimed.attempt_id)
            return
        _finish(session, attempt, outcome, now)


def deliver_and_record(claimed: Claimed) -> None:
    """One attempt, start to end. Should its outcome not be storable, the attempt is
    recorded as failed with what is known; its lease covers a database that is away."""
    outcome = deliver(claimed)
    try:
        record(claimed, outcome)
    except Exception as failure:
        log.exception("webhook attempt %s: outcome not recorded", claimed.attempt_id)
        db.session.rollback()
        record(
            claimed,
            sender.Outcome(
                None,
                None,
                f"The outcome could not be stored ({type(failure).__name__}).",
                outcome.duration_ms,
                outcome.sent,
            ),
        )


def _finish(session, attempt: WebhookAttempt, outcome: sender.Outcome, now) -> None:
    message = attempt.message
    subscription = message.subscription
    attempt.attempted_at = now
    attempt.response_status = outcome.response_status
    attempt.response_body = outcome.response_body
    attempt.error = outcome.error
    attempt.duration_ms = outcome.duration_ms
    attempt.leased_until = None
    attempt.lease_token = None
    attempt.next_attempt_at = None
    if outcome.delivered:
        attempt.status = message.status = DELIVERED
        subscription.consecutive_failures = 0
        return
    attempt.status = FAILED
    schedule = current_app.config["WEBHOOK_RETRY_SCHEDULE"]
    if not attempt.manual and attempt.attempt <= len(schedule):
        retry_at = now + timedelta(seconds=schedule[attempt.attempt - 1])
        attempt.next_attempt_at = retry_at
        message.attempts.append(
            WebhookAttempt(attempt=attempt.attempt + 1, status=PENDING, next_attempt_at=retry_at)
        )
        return
    message.status = FAILED
    if attempt.manual:
        return
    subscription.consecutive_failures += 1
    limit = current_app.config["WEBHOOK_DISABLE_AFTER"]
    if subscription.enabled and subscription.consecutive_failures >= limit:
        subscription.enabled = False
        subscription.disabled_reason = (
            f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: {plural(limit, 'event')} in a "
            f"row failed after every retry. The last error: {outcome.error or 'none'}"
        )


class Dispatcher:
    """Sends up to WEBHOOK_CONCURRENCY attempts at once, each on a thread of its own, and at
    most one per subscription: a slow receiver holds one thread, not the others' events."""

    def __init__(self, app: Flask):
        self.app = app
        self.threads = app.config["WEBHOOK_CONCURRENCY"]
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook")
        self.sending: dict[Future, int] = {}  # each sending's subscription

    def work(self) -> bool:
        """Hands out new events, and starts sending due attempts while threads are free;
        answers whether to look again at once (it found work, and a thread is free)."""
        self.sending = {f: s for f, s in self.sending.items() if not f.done()}
        found = fan_out() > 0
        while len(self.sending) < self.threads:
            claimed = claim(set(self.sending.values()))
            if claimed is None:
                break
            found = True
            self.sending[self.pool.submit(self._send, claimed)] = claimed.subscription_id
        return found and len(self.sending) < self.threads

    def wait(self, seconds: float) -> None:
        """Until a sending ends (a thread is free again), or ``seconds`` have passed."""
        if self.sending:
            wait(list(self.sending), timeout=seconds, return_when=FIRST_COMPLETED)
        else:
            time.sleep(seconds)

    def _send(self, claimed: Claimed) -> None:
        with self.app.app_context():
            try:
                deliver_and_record(claimed)
            except Exception:
                log.exception("webhook attempt %s: failed", claimed.attempt_id)
            finally:
                db.session.remove()

    def close(self) -> None:
        """Lets the sendings under way finish."""
        self.pool.shutdown(wait=True)


def run(app: Flask, exit_with_parent: bool = False) -> None:
    stopping = []
    parent = os.getppid()

    def stop(signum, _frame):
        log.info("webhooks worker: stopping after the current deliveries")
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # httpx logs each request's URL, and receivers' URLs often carry a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = app.config
    poll = config["WEBHOOK_POLL_SECONDS"]
    if config["WEBHOOK_LEASE_SECONDS"] <= config["WEBHOOK_TIMEOUT_SECONDS"]:
        log.warning(
            "WEBHOOK_LEASE_SECONDS is not above WEBHOOK_TIMEOUT_SECONDS: a slow receiver may "
            "get a message twice, from two workers"
        )
    log.info("webhooks worker: started")
    dispatcher = Dispatcher(app)
    try:
        while not stopping:
            if exit_with_parent and os.getppid() != parent:
                log.info("webhooks worker: the web server is gone; stopping")
                break
            try:
                more = dispatcher.work()
            except Exception:
                # A database hiccup must not end the worker; the attempts' leases cover it.
                log.exception("webhooks worker: round failed")
                db.session.rollback()
                more = False
            finally:
                db.session.remove()
            if not more:
                dispatcher.wait(poll)
    finally:
        dispatcher.close()
