"""Subscriptions, the messages made for them, and every attempt to deliver a message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import ApiKey, User
from app.db.types import UTCDateTime, utcnow
from app.extensions import db

ORDER_STATUS = "order.status"
ORDER_STATUS_FULL = "order.statusFull"
# What came back at a returns station: the order id and the event (its note says what).
ORDER_RETURN_RECEIVED = "order.returnReceived"
PING = "webhook.ping"
TYPES = (ORDER_STATUS, ORDER_STATUS_FULL, ORDER_RETURN_RECEIVED)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ATTEMPT_STATUSES = (PENDING, DELIVERED, FAILED)

MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 500
MAX_ERROR_LENGTH = 500
# Response bodies are read up to this many bytes, and stored so.
MAX_RESPONSE_BYTES = 4096


class WebhookSubscription(db.Model):
    """An endpoint that receives some types of events, signed with its secret.

    The signing scheme (HMAC) needs the secret itself, so it cannot be hashed: it is stored
    encrypted with a key derived from SECRET_KEY (see ``signing``).
    """

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    # Comma-separated, in the order of TYPES.
    types: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(MAX_DESCRIPTION_LENGTH))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # After a rotation the old secret still signs, beside the new one, until it expires.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Events in a row that ended failed; a delivered one resets it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    # Deleted subscriptions are kept (their delivery log too) but receive nothing.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by_user: Mapped[User | None] = relationship()
    created_by_api_key: Mapped[ApiKey | None] = relationship()

    @property
    def type_list(self) -> list[str]:
        return [t for t in self.types.split(",") if t]


class WebhookMessage(db.Model):
    """One event of one type for one subscription: the body is fixed when it is made, and its
    ``message_id`` (the ``webhook-id`` header) stays the same on every attempt."""

    __tablename__ = "webhook_message"
    __table_args__ = (
        # "Is an earlier event of this order still pending for this subscription?"
        Index(
            "ix_webhook_message_subscription_id_order_id",
            "subscription_id",
            "order_id",
            "order_event_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"))
    type: Mapped[str] = mapped_column(String(40))
    # Null for a test ping.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order_.id", ondelete="CASCADE"))
    order_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_event.id", ondelete="CASCADE")
    )
    body: Mapped[str] = mapped_column(Text)
    # The patient whose details the body carries (order.statusFull of a patient's order, for
    # a subscriber that may read patients), else null: every attempt that sends it is
    # recorded in the PHI access log. No foreign key: like the log, it only names.
    patient_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscription: Mapped[WebhookSubscription] = relationship()
    attempts: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="message", order_by="WebhookAttempt.attempt"
    )


class WebhookAttempt(db.Model):
    """One try at delivering a message; a pending one is due at ``next_attempt_at``.

    A finished attempt that failed and will be retried carries the retry's due time in
    ``next_attempt_at``. A worker that takes a pending attempt leases it until
    ``leased_until``; if the worker dies, the lease runs out and another worker takes it.
    """

    __tablename__ = "webhook_attempt"
    __table_args__ = (
        Index("ix_webhook_attempt_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_attempt_message_id_attempt", "message_id", "attempt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_message.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    # Redeliveries and pings are tried once; automatic attempts follow the retry schedule.
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(40))
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    message: Mapped[WebhookMessage] = relationship(back_populates="attempts")
