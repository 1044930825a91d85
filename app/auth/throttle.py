"""The sign-in throttle: attempts are counted in the database, so that every worker and every
server shares one count, and they are counted per account AND client (OWASP's "slow down
online guessing attacks with device cookies"), so that a stranger failing elsewhere never
holds back the real user.

The client of an attempt is the browser's device cookie when it is valid for that account
(it is set at each successful sign-in, signed, and names the user), else the address the
attempt came from (an IPv6 address: its /64 network). Then:

- a client that fails ``MAX_FAILED_SIGN_INS`` times in a row for an account waits
  ``FIRST_WAIT_SECONDS`` before its next attempt for it, twice as long after each further
  wait in a row, up to ``LONGEST_WAIT_SECONDS``; a success ends it. The wait holds back that
  client only: the user's own browser, or the user from another address, signs in meanwhile;
- each client of an account makes at most SIGN_IN_LIMIT_PER_ACCOUNT attempts for it;
- clients without a device cookie for the account are also counted per address
  (SIGN_IN_LIMIT_PER_ADDRESS, whatever the email) and, against guessing from many addresses,
  per account from all addresses together (SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT failures;
  over it, only browsers that have signed in to the account before may try).

An attempt counts as a failure from the moment its password starts being checked until it
is found right, so that parallel attempts cannot check more passwords than a wait allows.
The same rules apply to an email no account has: a refusal tells nothing about which
accounts exist. Emails, device ids and addresses are stored as keyed hashes.

The time comes from ``SIGN_IN_CLOCK`` in the configuration when set (tests use a clock they
move on), else the real one.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from limits import RateLimitItem, parse_many
from sqlalchemy import delete, or_, select, text, update

from app.auth.models import SignInAttempt, SignInClient
from app.db.types import is_postgresql, utcnow
from app.extensions import db
from app.validation import Problem, Rejected

MAX_FAILED_SIGN_INS = 5
FIRST_WAIT_SECONDS = 60
LONGEST_WAIT_SECONDS = 15 * 60
# A client's failures and waits are forgotten after this long without an attempt.
FORGET_CLIENTS_AFTER = timedelta(days=1)
DEVICE_SALT = "orderly-sign-in-device"


@dataclass(frozen=True)
class Origin:
    """Where a sign-in attempt comes from: the client's address, and the device cookie the
    browser sent (None without one)."""

    address: str
    device_token: str | None = None


@dataclass(frozen=True)
class Attempt:
    """An attempt counted by ``start``, for ``finish``; ``device_token`` is what the browser's
    device cookie is to hold if it succeeds (None for an email no account has)."""

    id: int
    account: str
    client: str
    device_token: str | None


class TooManyAttempts(Rejected):
    """Refused before the password was checked; ``retry_after`` in whole seconds."""

    def __init__(self, wait: timedelta):
        self.retry_after = max(1, math.ceil(wait.total_seconds()))
        super().__init__(
            [
                Problem(
                    "too_many_attempts",
                    f"Too many sign-in attempts. Try again in {_duration(self.retry_after)}.",
                )
            ]
        )


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    return f"{math.ceil(seconds / 60)} minutes"


def now() -> datetime:
    return (current_app.config.get("SIGN_IN_CLOCK") or utcnow)()


def wait_after(waits_in_a_row: int) -> timedelta:
    """How long a client waits after its n-th wait in a row."""
    seconds = FIRST_WAIT_SECONDS * 2 ** min(waits_in_a_row - 1, 16)
    return timedelta(seconds=min(seconds, LONGEST_WAIT_SECONDS))


def _keyed(kind: str, value: str) -> str:
    """A hash no one can recompute without the app's secret key (an email's plain SHA-256 is
    found again by hashing a list of emails)."""
    message = f"{kind}:{value}".encode()
    return hmac.new(current_app.secret_key.encode(), message, hashlib.sha256).hexdigest()


def account_key(email: str) -> str:
    return _keyed("account", email.strip().lower())


def _network_of(address: str) -> str:
    """The address counted: an IPv6 client is counted by its /64 network, which one
    subscriber is commonly given whole (one address each would make the counts per address
    worthless); an IPv4 address written as IPv6 is that IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _devices() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=DEVICE_SALT)


def _device_of(token: str | None, user_id: int | None) -> str | None:
    """The device id of a genuine device cookie that names this user, else None."""
    if not token or user_id is None:
        return None
    try:
        named, device = _devices().loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    return device if named == user_id and isinstance(device, str) else None


@functools.lru_cache(maxsize=32)
def _limits(spelled: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spelled))


def _configured(name: str) -> tuple[RateLimitItem, ...]:
    return _limits(current_app.config[name])


LIMITS = (
    "SIGN_IN_LIMIT_PER_ACCOUNT",
    "SIGN_IN_LIMIT_PER_ADDRESS",
    "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT",
)


def _waits_over(limits, at: datetime, *where) -> list[timedelta]:
    """For each limit the attempts matching ``where`` have reached: how long until the
    oldest of them leaves its window (a moving window)."""
    waits = []
    for limit in limits:
        window = timedelta(seconds=limit.get_expiry())
        oldest_counted = db.session.scalar(
            select(SignInAttempt.at)
            .where(*where, SignInAttempt.at > at - window)
            .order_by(SignInAttempt.at.desc())
            .offset(limit.amount - 1)
            .limit(1)
        )
        if oldest_counted is not None:
            waits.append(oldest_counted + window - at)
    return waits


def _one_at_a_time() -> None:
    """Attempts are counted one at a time on the whole server, so that none is missed by a
    parallel one: SQLite's write transaction already is; on PostgreSQL a table lock (plain
    reads go on)."""
    if is_postgresql():
        db.session.execute(text("LOCK TABLE sign_in_attempt IN EXCLUSIVE MODE"))


def _forget_old(at: datetime) -> None:
    longest = max(limit.get_expiry() for name in LIMITS for limit in _configured(name))
    db.session.execute(
        delete(SignInAttempt).where(SignInAttempt.at < at - timedelta(seconds=longest))
    )
    db.session.execute(
        delete(SignInClient).where(
            SignInClient.last_attempt_at < at - FORGET_CLIENTS_AFTER,
            or_(SignInClient.locked_until.is_(None), SignInClient.locked_until < at),
        )
    )


def start(email: str, user_id: int | None, origin: Origin) -> Attempt:
    """Counts an attempt whose password is about to be checked, in the caller's transaction,
    or refuses it with ``TooManyAttempts`` (nothing counted). ``user_id``: the account with
    this email, if one has it."""
    _one_at_a_time()
    at = now()  # once it is this attempt's turn: the attempts are counted in their order
    _forget_old(at)
    device = _device_of(origin.device_token, user_id)
    trusted = device is not None
    account = account_key(email)
    address = _keyed("address", _network_of(origin.address))
    client = _keyed("device", device) if trusted else address
    record = db.session.scalar(
        select(SignInClient).where(SignInClient.account == account, SignInClient.client == client)
    )
    if record is None:
        record = SignInClient(
            account=account, client=client, failures=0, waits=0, last_attempt_at=at
        )
        db.session.add(record)
    waits = []
    if record.locked_until is not None and record.locked_until > at:
        waits.append(record.locked_until - at)
    waits += _waits_over(
        _configured("SIGN_IN_LIMIT_PER_ACCOUNT"),
        at,
        SignInAttempt.account == account,
        SignInAttempt.client == client,
    )
    if not trusted:
        waits += _waits_over(
            _configured("SIGN_IN_LIMIT_PER_ADDRESS"),
            at,
            SignInAttempt.address == address,
            SignInAttempt.trusted.is_(False),
        )
        waits += _waits_over(
            _configured("SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT"),
            at,
            SignInAttempt.account == account,
            SignInAttempt.trusted.is_(False),
            SignInAttempt.succeeded.is_not(True),
        )
    if waits:
        raise TooManyAttempts(max(waits))
    # A failure until the password is found right (finish).
    record.last_attempt_at = at
    record.failures += 1
    if record.failures >= MAX_FAILED_SIGN_INS:
        record.failures = 0
        record.waits += 1
        record.locked_until = at + wait_after(record.waits)
    attempt = SignInAttempt(
        at=at, account=account, client=client, address=address, trusted=trusted, succeeded=None
    )
    db.session.add(attempt)
    db.session.flush()
    if trusted:
        token = origin.device_token
    elif user_id is not None:
        token = _devices().dumps([user_id, secrets.token_urlsafe(16)])
    else:
        token = None
    return Attempt(attempt.id, account, client, token)


def finish(attempt: Attempt, succeeded: bool) -> None:
    """Records the attempt's outcome, in the caller's transaction: a success ends the
    client's failures and waits for the account."""
    _one_at_a_time()
    db.session.execute(
        update(SignInAttempt).where(SignInAttempt.id == attempt.id).values(succeeded=succeeded)
    )
    if succeeded:
        db.session.execute(
            update(SignInClient)
            .where(SignInClient.account == attempt.account, SignInClient.client == attempt.client)
            .values(failures=0, waits=0, locked_until=None)
        )


def forget_waits(email: str) -> None:
    """Every client's failures and waits for the account with this email (a new password)."""
    db.session.execute(delete(SignInClient).where(SignInClient.account == account_key(email)))


def hashed(text: str) -> str:
    """A plain short hash, for the API throttle's keys in its storage (app.api.throttle)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
