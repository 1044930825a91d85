"""Configuration from the environment, with safe defaults for local use."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


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
    return value.strip().lower() in {"1", "true", "yes", "on"}


def max_content_length() -> int:
    """The largest request body, in bytes (gunicorn's hooks read it too)."""
    return int(os.environ.get("MAX_CONTENT_LENGTH", 1024 * 1024))


def _seconds_list(name: str, default: str) -> tuple[float, ...]:
    return tuple(float(part) for part in os.environ.get(name, default).split(",") if part.strip())


# Throttling limits, in the `limits` library's notation ("10/minute", "100 per hour;1000/day").
DEFAULT_LIMITS = {
    "SIGN_IN_LIMIT_PER_ADDRESS": "20/minute",
    "SIGN_IN_LIMIT_PER_ACCOUNT": "10/minute",
    "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT": "100/hour",
    "API_LIMIT_PER_KEY": "600/minute",
    "API_FAILED_KEYS_PER_ADDRESS": "20/minute",
}


def _limit(name: str) -> str:
    return os.environ.get(name, DEFAULT_LIMITS[name])


def _shared_throttle_storage() -> bool:
    return not os.environ.get("RATELIMIT_STORAGE_URI", "memory://").startswith("memory")


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


def from_environment(instance_path: Path) -> dict:
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'orderly.db'}"
    # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants psycopg 3 spelled out.
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # hide_parameters: database errors in the logs never carry the values (patient data).
        # Connections are renewed after POOL_RECYCLE_SECONDS rather than pinged before every
        # checkout (a round trip per request); one the server dropped sooner fails that
        # request, and the pool then replaces all its connections.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_recycle": int(os.environ.get("POOL_RECYCLE_SECONDS", 1800)),
            "hide_parameters": True,
        },
        # A request body above this is refused with 413 before it is parsed.
        "MAX_CONTENT_LENGTH": max_content_length(),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "PERMANENT_SESSION_LIFETIME": int(os.environ.get("SESSION_LIFETIME_SECONDS", 12 * 3600)),
        # A sign-in unused this long ends (checked on the server, whatever the cookie says).
        "SESSION_IDLE_MINUTES": int(os.environ.get("SESSION_IDLE_MINUTES", 30)),
        # CSRF tokens live as long as the session: coordinators keep one tab open all day.
        "WTF_CSRF_TIME_LIMIT": None,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # Set by gunicorn.conf.py: this process serves web requests only (no flask db).
        "WEB_WORKER": _bool("ORDERLY_WEB_WORKER", False),
        # How long the PHI access log keeps its entries (six years, HIPAA's span for
        # documentation); `flask phi-access prune` removes older ones (run it daily).
        "PHI_ACCESS_RETENTION_DAYS": int(os.environ.get("PHI_ACCESS_RETENTION_DAYS", 6 * 366)),
        # The API's throttle (app/api/throttle.py, on Flask-Limiter's storage). Memory counts
        # in each worker apart; to share one count, point them all at one Redis:
        # RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "orderly"),
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_HEADERS_ENABLED": True,
        # A storage that cannot be reached throttles in memory rather than failing requests.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Sign-in attempts, counted in the database (app/auth/throttle.py): per account and
        # client (its device cookie, else its address); per address, and failures per account
        # from all addresses together, for browsers without that account's device cookie.
        "SIGN_IN_LIMIT_PER_ADDRESS": _limit("SIGN_IN_LIMIT_PER_ADDRESS"),
        "SIGN_IN_LIMIT_PER_ACCOUNT": _limit("SIGN_IN_LIMIT_PER_ACCOUNT"),
        "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT": _limit("SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT"),
        "API_LIMIT_PER_KEY": _limit("API_LIMIT_PER_KEY"),
        "API_FAILED_KEYS_PER_ADDRESS": _limit("API_FAILED_KEYS_PER_ADDRESS"),
        # How often an open order page asks whether someone else changed the order.
        "ORDER_POLL_SECONDS": max(2, int(os.environ.get("ORDER_POLL_SECONDS", 10))),
        # Webhooks: seconds between a failed attempt and the next (then the event is failed).
        "WEBHOOK_RETRY_SCHEDULE": _seconds_list("WEBHOOK_RETRY_SCHEDULE", "900,1800,3600"),
        "WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", 10)),
        # How long a worker may hold an attempt before another worker takes it over.
        "WEBHOOK_LEASE_SECONDS": float(os.environ.get("WEBHOOK_LEASE_SECONDS", 60)),
        "WEBHOOK_POLL_SECONDS": float(os.environ.get("WEBHOOK_POLL_SECONDS", 1)),
        # Events failed in a row before a subscription is disabled.
        "WEBHOOK_DISABLE_AFTER": int(os.environ.get("WEBHOOK_DISABLE_AFTER", 20)),
        "WEBHOOK_DENY_PRIVATE": _bool("WEBHOOK_DENY_PRIVATE", False),
        # Attempts one worker sends at once (to different subscriptions): a slow receiver
        # holds one of them.
        "WEBHOOK_CONCURRENCY": max(1, int(os.environ.get("WEBHOOK_CONCURRENCY", 4))),
    }
