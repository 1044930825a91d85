"""Managing webhook subscriptions: the one service both the admin page and the API use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, exists, func, select, true
from sqlalchemy.orm import aliased, contains_eager, joinedload

from app.auth import scopes
from app.auth.actor import Actor
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.history.changes import record_change
from app.orders.models import OrderOutboxEntry
from app.validation import MAX_DB_ID, Problem, Rejected
from app.webhooks import signing
from app.webhooks.destinations import DestinationRefused, check_destination
from app.webhooks.models import (
    DELIVERED,
    FAILED,
    MAX_DESCRIPTION_LENGTH,
    MAX_URL_LENGTH,
    ORDER_STATUS_FULL,
    PENDING,
    PING,
    TYPES,
    WebhookAttempt,
    WebhookMessage,
    WebhookSubscription,
)

# After a rotation the old secret keeps signing, beside the new one, this long.
OLD_SECRET_GRACE = timedelta(hours=24)
DELIVERIES_PAGE_SIZE = 25
MAX_DELIVERIES_PAGE_SIZE = 100


@dataclass
class SubscriptionDraft:
    url: Any = None
    types: Any = None
    description: Any = None


@dataclass
class NewSecret:
    """A subscription and its secret in clear, shown this once."""

    subscription: WebhookSubscription
    secret: str


@dataclass(frozen=True)
class Reach:
    """What a subscription's events may carry: what the one who made it may read now.

    Subscriptions made on the Webhooks page belong to the admins (any admin manages them)
    and carry what an admin reads: everything. One made through the API carries what its
    key may read: ``order.statusFull`` needs ``orders:read``, the patient's details in it
    ``patients:read`` (else the order's ``patient`` is ``{"id"}`` only); a revoked key's
    subscriptions receive nothing.
    """

    refused: str | None = None  # why it may receive nothing at all now
    orders: bool = True
    patients: bool = True


def reach(subscription: WebhookSubscription) -> Reach:
    key = subscription.created_by_api_key
    if key is None:
        return Reach()
    if key.revoked_at is not None:
        return Reach(f"The API key “{key.name}” that made it was revoked.", False, False)
    granted = key.scope_list
    if scopes.WEBHOOKS_MANAGE not in granted:
        return Reach(
            f"The API key “{key.name}” that made it no longer has {scopes.WEBHOOKS_MANAGE}.",
            False,
            False,
        )
    return Reach(None, scopes.ORDERS_READ in granted, scopes.PATIENTS_READ in granted)


def refusal(subscription: WebhookSubscription, type_: str, carries_patient: bool) -> str | None:
    """Why a message of ``type_`` may not be sent to the subscription now, or None."""
    can = reach(subscription)
    if can.refused:
        return can.refused
    if type_ == ORDER_STATUS_FULL and not can.orders:
        needs = f"{ORDER_STATUS_FULL} needs {scopes.ORDERS_READ}"
    elif carries_patient and not can.patients:
        needs = f"The patient's details need {scopes.PATIENTS_READ}"
    else:
        return None
    return f"{needs}, which the API key “{subscription.created_by_api_key.name}” has not."


def _check(draft: SubscriptionDraft, actor: Actor) -> tuple[str, list[str], str | None]:
    problems: list[Problem] = []
    url = draft.url.strip() if isinstance(draft.url, str) else draft.url
    if not isinstance(url, str) or not url:
        problems.append(Problem("url_required", "Give the URL that receives the events.", "url"))
    elif len(url) > MAX_URL_LENGTH:
        problems.append(
            Problem("invalid_url", f"The URL is at most {MAX_URL_LENGTH} characters.", "url")
        )
    else:
        try:
            check_destination(url, current_app.config["WEBHOOK_DENY_PRIVATE"])
        except DestinationRefused as refused:
            problems.append(Problem("invalid_url", str(refused), "url"))
    types = draft.types
    if not isinstance(types, list) or not types:
        problems.append(
            Problem(
                "types_required", "Choose at least one type: " + ", ".join(TYPES) + ".", "types"
            )
        )
        types = []
    elif any(t not in TYPES for t in types):
        problems.append(Problem("invalid_type", "Types are " + ", ".join(TYPES) + ".", "types"))
    elif (
        ORDER_STATUS_FULL in types
        and actor.api_key is not None
        and scopes.ORDERS_READ not in actor.api_key.scope_list
    ):
        problems.append(
            Problem(
                "insufficient_scope",
                f"{ORDER_STATUS_FULL} carries the whole order: it needs an API key with "
                f"{scopes.ORDERS_READ}.",
                "types",
            )
        )
    description = draft.description
    if description is not None and not isinstance(description, str):
        problems.append(Problem("invalid_description", "The description is text.", "description"))
        description = None
    description = (description or "").strip() or None
    if description and len(description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            Problem(
                "invalid_description",
                f"The description is at most {MAX_DESCRIPTION_LENGTH} characters.",
                "description",
            )
        )
    if problems:
        raise Rejected(problems)
    return url, [t for t in TYPES if t in types], description


def create_subscription(draft: SubscriptionDraft, actor: Actor) -> NewSecret:
    url, types, description = _check(draft, actor)
    secret = signing.new_secret()
    with write_transaction() as session:
        subscription = WebhookSubscription(
            url=url,
            types=",".join(types),
            description=description,
            secret_encrypted=signing.encrypt(secret),
            enabled=True,
            consecutive_failures=0,
            created_at=utcnow(),
            created_by_user=actor.user,
            created_by_api_key=actor.api_key,
        )
        session.add(subscription)
        session.flush()
        record_change("webhook", subscription.id, "created", actor, {"url": [None, url]})
    return NewSecret(subscription, secret)


def _managed_by(actor: Actor):
    """An API key manages the subscriptions it made; admins (and the system) manage all."""
    if actor.api_key_id is not None:
        return WebhookSubscription.created_by_api_key_id == actor.api_key_id
    return true()


def subscriptions(actor: Actor) -> list[WebhookSubscription]:
    """Every subscription the actor manages, with who made it."""
    return list(
        db.session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.deleted_at.is_(None), _managed_by(actor))
            .options(
                joinedload(WebhookSubscription.created_by_user),
                joinedload(WebhookSubscription.created_by_api_key),
            )
            .order_by(WebhookSubscription.id)
        )
    )


@dataclass
class SubscriptionPage:
    subscriptions: list[WebhookSubscription]
    page: int
    size: int
    total: int

    @property
    def first(self) -> bool:
        return self.page == 1

    @property
    def last(self) -> bool:
        return self.page * self.size >= self.total


def page_of_subscriptions(actor: Actor, page: int, size: int) -> SubscriptionPage:
    """One page of the subscriptions the actor manages, oldest first; ``size`` is the page
    size asked for, as on every list."""
    where = (WebhookSubscription.deleted_at.is_(None), _managed_by(actor))
    total = db.session.scalar(select(func.count(WebhookSubscription.id)).where(*where))
    found = db.session.scalars(
        select(WebhookSubscription)
        .where(*where)
        .order_by(WebhookSubscription.id)
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    return SubscriptionPage(list(found), page, size, total or 0)


def subscription(subscription_id: int, actor: Actor) -> WebhookSubscription | None:
    """The subscription, if it exists and the actor manages it."""
    if not 1 <= subscription_id <= MAX_DB_ID:
        return None
    return db.session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.deleted_at.is_(None),
            _managed_by(actor),
        )
    )


def _changing(session, subscription_id: int, actor: Actor) -> WebhookSubscription:
    found = (
        session.scalar(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.id == subscription_id,
                WebhookSubscription.deleted_at.is_(None),
                _managed_by(actor),
            )
            .with_for_update()
        )
        if 1 <= subscription_id <= MAX_DB_ID
        else None
    )
    if found is None:
        raise Rejected([Problem("webhook_not_found", f"There is no webhook {subscription_id}.")])
    return found


def delete_subscription(subscription_id: int, actor: Actor) -> None:
    """Stops every delivery to it; its delivery log is kept."""
    with write_transaction() as session:
        found = _changing(session, subscription_id, actor)
        found.deleted_at = utcnow()
        found.enabled = False
        _fail_pending(session, found.id, "The webhook was deleted.")
        record_change("webhook", found.id, "deleted", actor)


def _fail_pending(session, subscription_id: int, reason: str) -> None:
    pending = session.scalars(
        select(WebhookAttempt)
        .join(WebhookMessage)
        .where(WebhookMessage.subscription_id == subscription_id, WebhookAttempt.status == PENDING)
    ).all()
    for attempt in pending:
        attempt.status = FAILED
        attempt.error = reason
        attempt.next_attempt_at = None
        attempt.message.status = FAILED


def set_enabled(subscription_id: int, enabled: bool, actor: Actor) -> WebhookSubscription:
    """Disabled, it receives nothing (new events are not queued for it); events already
    queued wait and go on when it is enabled again."""
    with write_transaction() as session:
        found = _changing(session, subscription_id, actor)
        if enabled and reach(found).refused:
            raise Rejected([Problem("cannot_receive", reach(found).refused + " Delete it.")])
        found.enabled = enabled
        if enabled:
            found.disabled_reason = None
            found.consecutive_failures = 0
        else:
            found.disabled_reason = f"Disabled by {actor.name}."
        record_change("webhook", found.id, "enabled" if enabled else "disabled", actor)
    return found


def rotate_secret(subscription_id: int, actor: Actor) -> NewSecret:
    """A new secret; the old one signs too for OLD_SECRET_GRACE, so receivers can switch."""
    secret = signing.new_secret()
    with write_transaction() as session:
        found = _changing(session, subscription_id, actor)
        found.previous_secret_encrypted = found.secret_encrypted
        found.previous_secret_expires_at = utcnow() + OLD_SECRET_GRACE
        found.secret_encrypted = signing.encrypt(secret)
        record_change("webhook", found.id, "secretRotated", actor)
    return NewSecret(found, secret)


def signing_secrets(found: WebhookSubscription) -> list[str]:
    """The secrets every message is signed with now: the current one, and the previous one
    until it expires."""
    in_use = [signing.decrypt(found.secret_encrypted)]
    if found.previous_secret_encrypted and found.previous_secret_expires_at > utcnow():
        in_use.append(signing.decrypt(found.previous_secret_encrypted))
    return in_use


def message_body(message_id: str, type_: str, payload: dict) -> str:
    return json.dumps({"id": message_id, "type": type_, "payload": payload}, separators=(",", ":"))


def send_ping(subscription_id: int, actor: Actor) -> WebhookMessage:
    """Queues a test message for the worker; its result shows in the delivery log."""
    with write_transaction() as session:
        found = _changing(session, subscription_id, actor)
        message_id = signing.new_message_id()
        payload = {"webhookId": found.id, "message": "Test ping from Orderly."}
        message = WebhookMessage(
            message_id=message_id,
            subscription=found,
            type=PING,
            body=message_body(message_id, PING, payload),
            status=PENDING,
            created_at=utcnow(),
        )
        message.attempts.append(
            WebhookAttempt(attempt=1, manual=True, status=PENDING, next_attempt_at=utcnow())
        )
        session.add(message)
    return message


def redeliver(subscription_id: int, message_id: int, actor: Actor) -> WebhookAttempt:
    """Sends a message again, once, with the same webhook-id."""
    with write_transaction() as session:
        found = _changing(session, subscription_id, actor)
        message = session.scalar(
            select(WebhookMessage).where(
                WebhookMessage.id == message_id, WebhookMessage.subscription_id == found.id
            )
            if 1 <= message_id <= MAX_DB_ID
            else select(WebhookMessage).where(False)
        )
        if message is None:
            raise Rejected([Problem("event_not_found", "There is no such event for this webhook.")])
        if message.status == PENDING:
            raise Rejected(
                [Problem("already_pending", "This event is already waiting to be delivered.")]
            )
        last = session.scalar(
            select(func.max(WebhookAttempt.attempt)).where(WebhookAttempt.message_id == message.id)
        )
        attempt = WebhookAttempt(
            attempt=(last or 0) + 1, manual=True, status=PENDING, next_attempt_at=utcnow()
        )
        message.attempts.append(attempt)
        message.status = PENDING
    return attempt


def waiting_behind_an_earlier_event():
    """The condition that a message (``WebhookMessage``, correlated) waits for an earlier
    event of the same order: still pending for the same subscription, or not yet handed out
    by ``worker.fan_out``. Events of one order are delivered in order: the worker claims no
    attempt of such a message, and the delivery log says it waits."""
    earlier = aliased(WebhookMessage)
    earlier_attempt = aliased(WebhookAttempt)
    earlier_pending = exists().where(
        earlier_attempt.message_id == earlier.id,
        earlier_attempt.status == PENDING,
        earlier.subscription_id == WebhookMessage.subscription_id,
        earlier.order_id == WebhookMessage.order_id,
        earlier.order_event_id < WebhookMessage.order_event_id,
    )
    earlier_in_outbox = exists().where(
        OrderOutboxEntry.order_id == WebhookMessage.order_id,
        OrderOutboxEntry.order_event_id < WebhookMessage.order_event_id,
    )
    return and_(WebhookMessage.order_id.is_not(None), earlier_pending | earlier_in_outbox)


def retry_now(subscription_id: int, message_id: int, actor: Actor) -> None:
    """A failed event tried again now: its retry, when one is scheduled, comes forward (it
    keeps its place in the schedule's count); an event that failed after every retry is
    sent once more by hand (``redeliver``)."""
    with write_transaction() as session:
        found = _changing(session, subscription_id, actor)
        waiting = session.scalar(
            select(WebhookAttempt)
            .join(WebhookAttempt.message)
            .where(
                WebhookMessage.id == message_id,
                WebhookMessage.subscription_id == found.id,
                WebhookAttempt.status == PENDING,
                WebhookAttempt.leased_until.is_(None),
            )
            .with_for_update(of=WebhookAttempt)
            if 1 <= message_id <= MAX_DB_ID
            else select(WebhookAttempt).where(False)
        )
        if waiting is not None:
            now = utcnow()
            waiting.next_attempt_at = now
            previous = session.scalar(
                select(WebhookAttempt).where(
                    WebhookAttempt.message_id == message_id,
                    WebhookAttempt.attempt == waiting.attempt - 1,
                )
            )
            if previous is not None:
                previous.next_attempt_at = now
            return
    redeliver(subscription_id, message_id, actor)


def failing_in_a_row(subscription_id: int) -> int:
    """The events whose last try failed since the subscription's last delivery (those
    retrying included): what a person reading the log counts as failing in a row."""
    of_subscription = WebhookMessage.subscription_id == subscription_id
    last_delivered = (
        select(func.max(WebhookAttempt.id))
        .join(WebhookAttempt.message)
        .where(of_subscription, WebhookAttempt.status == DELIVERED)
        .scalar_subquery()
    )
    return (
        db.session.scalar(
            select(func.count(func.distinct(WebhookAttempt.message_id)))
            .join(WebhookAttempt.message)
            .where(
                of_subscription,
                WebhookAttempt.status == FAILED,
                WebhookAttempt.id > func.coalesce(last_delivered, 0),
            )
        )
        or 0
    )


@dataclass
class DeliveryPage:
    attempts: list[WebhookAttempt]
    page: int
    size: int
    total: int
    # The pending attempts (ids) that wait for an earlier event of the same order.
    waiting: set[int] = field(default_factory=set)

    @property
    def first(self) -> bool:
        return self.page == 1

    @property
    def last(self) -> bool:
        return self.page * self.size >= self.total


def deliveries(subscription_id: int, page: int = 1, size: int = DELIVERIES_PAGE_SIZE):
    """Every attempt for the subscription, newest first, with its message, in two queries."""
    where = WebhookMessage.subscription_id == subscription_id
    total = db.session.scalar(
        select(func.count(WebhookAttempt.id)).join(WebhookAttempt.message).where(where)
    )
    waiting = and_(WebhookAttempt.status == PENDING, waiting_behind_an_earlier_event())
    rows = db.session.execute(
        select(WebhookAttempt, waiting.label("waiting"))
        .join(WebhookAttempt.message)
        .where(where)
        .options(contains_eager(WebhookAttempt.message))
        .order_by(WebhookAttempt.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    return DeliveryPage(
        [attempt for attempt, _ in rows],
        page,
        size,
        total or 0,
        {attempt.id for attempt, is_waiting in rows if is_waiting},
    )
