from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.db.types import UTCDateTime, utcnow
from app.extensions import db
from app.formats import MAX_TIME_ZONE_LENGTH, zone_named

ROLES = ("coordinator", "fulfillment", "admin")
API_KEY_PREFIX = "ok_"


class User(UserMixin, db.Model):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The IANA time zone ("America/New_York") dates are shown and filtered in; None until
    # the browser tells it (static/js/app.js) or the user chooses one: then UTC.
    time_zone: Mapped[str | None] = mapped_column(String(MAX_TIME_ZONE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.time_zone)

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    # The sign-in this request came with (set by the session loader), and the plain token
    # of a sign-in being made (set by sign_in): the cookie carries the token only.
    sign_in_record = None
    new_sign_in_token = None
    # The device token of the browser that just signed in (set by sign_in), for its cookie.
    new_device_token = None

    def get_id(self) -> str:
        return self.new_sign_in_token or ""

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserSignIn(db.Model):
    """One sign-in: a session kept on the server. The browser's cookie holds only a random
    token whose hash is here, so that signing out (here or everywhere) really ends it."""

    __tablename__ = "user_sign_in"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "signedOut", "signedOutEverywhere", "idle", "passwordReset", "deactivated"
    end_reason: Mapped[str | None] = mapped_column(String(30))

    user: Mapped[User] = relationship()

    @classmethod
    def start(cls, user: User) -> tuple[UserSignIn, str]:
        token = secrets.token_urlsafe(32)
        return cls(user=user, token_hash=hash_token(token)), token


class SignInAttempt(db.Model):
    """One password check on the sign-in page, counted by the sign-in throttle
    (app/auth/throttle.py) in the database, so that every worker and server shares the counts.
    Accounts, clients and addresses are kept as keyed hashes: no email address, device token
    or client address is stored. Rows older than the longest limit's window are removed."""

    __tablename__ = "sign_in_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The email as typed (whether or not an account has it), the client (the browser's
    # device cookie when it is valid for that account, else the address), the address.
    account: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    # The browser had signed in to this account before (a valid device cookie).
    trusted: Mapped[bool] = mapped_column(Boolean)
    # None while the password is being checked (it counts as a failure until then).
    succeeded: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_sign_in_attempt_account_client", "account", "client", "at"),
        Index("ix_sign_in_attempt_address", "address", "at"),
    )


class SignInClient(db.Model):
    """One client's record with one account: its failed sign-ins in a row, and the wait they
    earned. A wait holds back that client only, never the account's other clients."""

    __tablename__ = "sign_in_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Waits in a row (each one twice as long as the last, up to a limit); reset by a success.
    waits: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("account", "client"),)


def hash_api_key(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hash_token(key)


class ApiKey(db.Model):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, kept so that people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the key may do (app/auth/scopes.py), separated by spaces as in OAuth.
    scopes: Mapped[str] = mapped_column(String(500), default="", server_default="")

    created_by: Mapped[User | None] = relationship()

    @classmethod
    def issue(
        cls,
        name: str,
        scopes: list[str] | tuple[str, ...],
        created_by: User | None = None,
        key: str | None = None,
    ):
        """A new key and its plain text, which is shown once and never stored."""
        plain = key or API_KEY_PREFIX + secrets.token_urlsafe(32)
        return cls(
            name=name,
            key_hash=hash_api_key(plain),
            prefix=plain[:10],
            created_by=created_by,
            scopes=" ".join(scopes),
        ), plain

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def full_name(first_name: str, last_name: str) -> str:
    """A person's name as pages and events show it: a user's, a patient's (people.models)."""
    return f"{first_name} {last_name}"
