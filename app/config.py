"""Configuration from the environment, with safe defaults for local use.

A setting that cannot be read stops the app with one line naming the variable and what it
expects (``SettingError``): `flask` commands print it as their error, gunicorn's config and
``dev.py serve`` check the settings before anything starts.
"""

from __future__ import annotations

import os
import secrets
from datetime import date, time
from pathlib import Path

import click
from limits import parse as parse_limit
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.formats import DEFAULT_WAREHOUSE_TIME_ZONE, is_time_zone

# Throttling storages Orderly can be pointed at (the `limits` library's schemes).
LIMIT_STORAGE_SCHEMES = (
    "memory",
    "redis",
    "rediss",
    "redis+unix",
    "redis+cluster",
    "redis+sentinel",
    "memcached",
    "mongodb",
    "mongodb+srv",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


class SettingError(click.ClickException):
    """A setting from the environment that cannot be used. A ClickException, so that a
    `flask` command shows it as one line ("Error: ...") and exits 1."""

    def __init__(self, name: str, expected: str, value: str | None = None):
        shown = f"{name}={value!r}" if value is not None else name
        super().__init__(f"the setting {shown} is not valid: {expected}.")
        self.name = name


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once per instance folder.

    A key kept under instance/ survives restarts (sessions stay valid) without a
    default secret ever being written in the source.
    """
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise SettingError(name, "expected true or false (also 1/0, yes/no, on/off)", value)


def _int(name: str, default: int, unit: str, minimum: int = 1) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise SettingError(name, f"expected a whole number of {unit}, at least {minimum}", value)
    return number


def _float(name: str, default: float, unit: str) -> float:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = float(value.strip())
    except ValueError:
        number = None
    if number is None or not 0 < number < float("inf"):
        raise SettingError(name, f"expected a number of {unit} above 0 (such as 1.5)", value)
    return number


def _seconds_list(name: str, default: str) -> tuple[float, ...]:
    """Seconds separated by commas; empty for none."""
    value = os.environ.get(name, default)
    try:
        seconds = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        seconds = None
    if seconds is None or not all(0 <= s < float("inf") for s in seconds):
        raise SettingError(name, "expected seconds separated by commas, such as 900,1800", value)
    return seconds


def _time_of_day(name: str, default: str) -> time:
    value = os.environ.get(name, default)
    try:
        hours, minutes = (int(part) for part in value.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise SettingError(name, "expected a time of day as HH:MM, such as 14:00", value) from None


def _dates(name: str) -> tuple[date, ...]:
    """Dates separated by commas (YYYY-MM-DD); empty for none."""
    value = os.environ.get(name, "")
    try:
        return tuple(date.fromisoformat(part.strip()) for part in value.split(",") if part.strip())
    except ValueError:
        raise SettingError(
            name, "expected dates separated by commas, such as 2026-12-25,2027-01-01", value
        ) from None


# Throttling limits, in the `limits` library's notation ("10/minute", "100 per hour;1000/day").
DEFAULT_LIMITS = {
    "SIGN_IN_LIMIT_PER_ADDRESS": "20/minute",
    "SIGN_IN_LIMIT_PER_ACCOUNT": "10/minute",
    "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT": "100/hour",
    "API_LIMIT_PER_KEY": "600/minute",
    "API_FAILED_KEYS_PER_ADDRESS": "20/minute",
}


def _limit(name: str) -> str:
    value = os.environ.get(name, DEFAULT_LIMITS[name])
    try:
        parse_limit(value)
    except ValueError:
        raise SettingError(name, "expected a rate such as 20/minute or 600/hour", value) from None
    return value


def _shared_throttle_storage() -> bool:
    return not _limit_storage().startswith("memory")


def throttling_summary(workers: int) -> list[str]:
    """What the limits really are on a server of ``workers`` processes, said when it starts:
    sign-ins are counted in the database, API calls in each worker apart unless a shared
    storage (Redis) is set."""
    sign_in = (
        f"Sign-in attempts: {_limit('SIGN_IN_LIMIT_PER_ACCOUNT')} per account and client, "
        f"{_limit('SIGN_IN_LIMIT_PER_ADDRESS')} per address, and "
        f"{_limit('SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT')} failures per account from "
        "browsers new to it; counted in the database, for the whole server"
    )
    api = (
        f"API calls: {_limit('API_LIMIT_PER_KEY')} per key and route, and "
        f"{_limit('API_FAILED_KEYS_PER_ADDRESS')} refused keys per address"
    )
    if _shared_throttle_storage():
        api += "; counted in RATELIMIT_STORAGE_URI, for the whole server"
    elif workers > 1:
        api += (
            f"; counted in each of {workers} workers apart (so up to {workers} times that "
            "in all): set RATELIMIT_STORAGE_URI to a Redis to share one count"
        )
    return [sign_in, api]


def _log_level() -> str:
    value = os.environ.get("LOG_LEVEL", "INFO")
    if value.strip().upper() not in LOG_LEVELS:
        raise SettingError("LOG_LEVEL", f"expected one of {', '.join(LOG_LEVELS)}", value)
    return value.strip().upper()


def _limit_storage() -> str:
    value = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    if value.split("://", 1)[0] not in LIMIT_STORAGE_SCHEMES or "://" not in value:
        # The value is not shown: a storage URI may carry a password.
        raise SettingError(
            "RATELIMIT_STORAGE_URI", "expected memory:// or a Redis URL (redis://host:6379/0)"
        )
    return value


def _database_url(instance_path: Path) -> str:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'orderly.db'}"
    # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants psycopg 3 spelled out.
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in ("sqlite", "postgresql"):
        # The value is not shown: a database URL may carry a password.
        raise SettingError(
            "DATABASE_URL",
            "expected sqlite:///path/to/file.db or postgresql+psycopg://user:pass@host/db",
        )
    return database_url


def max_content_length() -> int:
    """The largest request body, in bytes (gunicorn's hooks read it too)."""
    return _int("MAX_CONTENT_LENGTH", 1024 * 1024, "bytes")


def _time_zone(name: str, default: str) -> str:
    value = os.environ.get(name)
    if value is None:
        return default
    if not is_time_zone(value.strip()):
        raise SettingError(name, "expected an IANA time zone such as America/New_York", value)
    return value.strip()


def from_environment(instance_path: Path) -> dict:
    return {"SECRET_KEY": _secret_key(instance_path), **settings(instance_path)}


def settings(instance_path: Path) -> dict:
    """Every setting but the secret key, read without side effects (SettingError if one is
    not valid): gunicorn's config calls it to check them before starting anything."""
    return {
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        # hide_parameters: database errors in the logs never carry the values (patient data).
        # Connections are renewed after POOL_RECYCLE_SECONDS rather than pinged before every
        # checkout (a round trip per request); one the server dropped sooner fails that
        # request, and the pool then replaces all its connections.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_recycle": _int("POOL_RECYCLE_SECONDS", 1800, "seconds"),
            "hide_parameters": True,
        },
        # A request body above this is refused with 413 before it is parsed.
        "MAX_CONTENT_LENGTH": max_content_length(),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "PERMANENT_SESSION_LIFETIME": _int("SESSION_LIFETIME_SECONDS", 12 * 3600, "seconds"),
        # A sign-in unused this long ends (checked on the server, whatever the cookie says).
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30, "minutes"),
        # CSRF tokens live as long as the session: coordinators keep one tab open all day.
        "WTF_CSRF_TIME_LIMIT": None,
        "LOG_LEVEL": _log_level(),
        # Set by gunicorn.conf.py: this process serves web requests only (no flask db).
        "WEB_WORKER": _bool("ORDERLY_WEB_WORKER", False),
        # How long the PHI access log keeps its entries (six years, HIPAA's span for
        # documentation); `flask phi-access prune` removes older ones (run it daily).
        "PHI_ACCESS_RETENTION_DAYS": _int("PHI_ACCESS_RETENTION_DAYS", 6 * 366, "days"),
        # The API's throttle (app/api/throttle.py). Memory counts in each worker apart; to
        # share one count, point them all at one Redis: RATELIMIT_STORAGE_URI=redis://...
        "RATELIMIT_STORAGE_URI": _limit_storage(),
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "orderly"),
        # Off only to measure what the throttle costs (tests/benchmarks/cpu_per_request.py).
        # A storage that cannot be reached is counted in memory for a while, not failed.
        "RATELIMIT_ENABLED": True,
        # Sign-in attempts, counted in the database (app/auth/throttle.py): per account and
        # client (its device cookie, else its address); per address, and failures per account
        # from all addresses together, for browsers without that account's device cookie.
        "SIGN_IN_LIMIT_PER_ADDRESS": _limit("SIGN_IN_LIMIT_PER_ADDRESS"),
        "SIGN_IN_LIMIT_PER_ACCOUNT": _limit("SIGN_IN_LIMIT_PER_ACCOUNT"),
        "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT": _limit("SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT"),
        "API_LIMIT_PER_KEY": _limit("API_LIMIT_PER_KEY"),
        "API_FAILED_KEYS_PER_ADDRESS": _limit("API_FAILED_KEYS_PER_ADDRESS"),
        # How often an open order page asks whether someone else changed the order.
        "ORDER_POLL_SECONDS": max(2, _int("ORDER_POLL_SECONDS", 10, "seconds")),
        # A return not back this many days after its label was sent is overdue (order list).
        "RETURN_OVERDUE_DAYS": _int("RETURN_OVERDUE_DAYS", 21, "days"),
        # Webhooks: seconds between a failed attempt and the next (then the event is failed).
        "WEBHOOK_RETRY_SCHEDULE": _seconds_list("WEBHOOK_RETRY_SCHEDULE", "900,1800,3600"),
        "WEBHOOK_TIMEOUT_SECONDS": _float("WEBHOOK_TIMEOUT_SECONDS", 10, "seconds"),
        # How long a worker may hold an attempt before another worker takes it over.
        "WEBHOOK_LEASE_SECONDS": _float("WEBHOOK_LEASE_SECONDS", 60, "seconds"),
        "WEBHOOK_POLL_SECONDS": _float("WEBHOOK_POLL_SECONDS", 1, "seconds"),
        # Events failed in a row before a subscription is disabled.
        "WEBHOOK_DISABLE_AFTER": _int("WEBHOOK_DISABLE_AFTER", 20, "events"),
        "WEBHOOK_DENY_PRIVATE": _bool("WEBHOOK_DENY_PRIVATE", False),
        # Attempts one worker sends at once (to different subscriptions): a slow receiver
        # holds one of them.
        "WEBHOOK_CONCURRENCY": _int("WEBHOOK_CONCURRENCY", 4, "deliveries at once"),
        # The warehouse's days and hours: its time zone (ship-by dates, app/orders/ship_by.py;
        # the dashboard's days begin at its midnight, so changing it needs `flask
        # check-dashboard-counts --fix`), its cut-off for overnight orders, the business days
        # standard orders have, and its days off.
        "WAREHOUSE_TIME_ZONE": _time_zone("WAREHOUSE_TIME_ZONE", DEFAULT_WAREHOUSE_TIME_ZONE),
        "OVERNIGHT_CUTOFF": _time_of_day("OVERNIGHT_CUTOFF", "14:00"),
        "STANDARD_SHIP_DAYS": _int("STANDARD_SHIP_DAYS", 2, "business days", minimum=0),
        "WAREHOUSE_HOLIDAYS": _dates("WAREHOUSE_HOLIDAYS"),
        # A packer's claim on an order (app/orders/claims.py) lapses after this long unused.
        "PACKING_CLAIM_IDLE_MINUTES": _int("PACKING_CLAIM_IDLE_MINUTES", 20, "minutes"),
        # The dashboard's suggested reorder: enough units for this many days at the last 30
        # days' rate of use.
        "STOCK_COVER_DAYS": _int("STOCK_COVER_DAYS", 30, "days"),
    }
