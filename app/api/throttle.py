"""The API's throttle: every call counts against its key; a refused key (401) counts against
the address it came from, and an address over that limit is refused whatever key it sends
(so that guessing keys is slow, and one busy integration does not block its neighbours).
Each route counts apart, as Flask-Limiter counted them. Over a limit answers 429 with
Retry-After; every answer carries the key's X-RateLimit-Limit, -Remaining and -Reset (a 429,
those of the limit that refused it). The limits are read from the configuration (API_LIMIT_PER_KEY,
API_FAILED_KEYS_PER_ADDRESS) when a call is checked; keys and addresses are counted under a
hash of the key, in Flask-Limiter's storage (Redis when several instances run).

Every API call runs this, so it calls the ``limits`` library (what Flask-Limiter runs on)
directly: Flask-Limiter's machinery around it (resolving the routes' limits, exemptions,
request contexts) cost about a tenth of an order read's CPU.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, MovingWindowRateLimiter

from app.api.errors import ApiError
from app.auth.throttle import hashed
from app.extensions import limiter

API_KEY_SCOPE, FAILED_KEYS_SCOPE = "api-key", "api-failed-keys"


def _api_key() -> str:
    return hashed(request.headers.get("Impilo-API-Key", ""))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> RateLimitItem:
    return parse(text)


# Counts kept in this process while the shared storage (Redis) does not answer, and until when.
_fallback: list = [None, 0.0]
# How long the fallback is used before the shared storage is tried again.
FALLBACK_SECONDS = 30


@functools.lru_cache(maxsize=8)
def _shared(storage, strategy: str):
    """The strategy on the limiter's own storage (not ``limiter.limiter``, which answers
    Flask-Limiter's in-memory fallback for as long as a sign-in found the storage down, and
    only Flask-Limiter's own checks, which skip the API, would bring it back)."""
    return STRATEGIES[strategy](storage)


def _counted(action):
    """``action(strategy)`` on the shared storage; in this process while it cannot be reached
    (a throttle that fails open for a while, as RATELIMIT_SWALLOW_ERRORS asks)."""
    if _fallback[0] is None or time.monotonic() >= _fallback[1]:
        try:
            return action(_shared(limiter.storage, current_app.config["RATELIMIT_STRATEGY"]))
        except Exception:  # the storage's own errors: Redis down, a timeout...
            current_app.logger.warning(
                "Throttling storage unreachable: counting API calls in this process for %s s",
                FALLBACK_SECONDS,
            )
            if _fallback[0] is None:
                _fallback[0] = MovingWindowRateLimiter(MemoryStorage())
            _fallback[1] = time.monotonic() + FALLBACK_SECONDS
    return action(_fallback[0])


@dataclass
class _ApiCall:
    key: tuple[str, ...]
    address: tuple[str, ...]
    per_key: RateLimitItem
    failed_keys: RateLimitItem


def _figures(limit: RateLimitItem, window) -> dict:
    return {
        "X-RateLimit-Limit": str(limit.amount),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(int(window.reset_time)),
    }


def _too_many(strategy, limit: RateLimitItem, key: tuple[str, ...]) -> ApiError:
    window = strategy.get_window_stats(limit, *key)
    retry_after = max(int(window.reset_time - time.time()), 1)
    return ApiError(
        429,
        "too_many_requests",
        f"Too many requests: at most {limit}. Try again in {retry_after} s.",
        headers={"Retry-After": str(retry_after), **_figures(limit, window)},
    )


def check_api_call() -> None:
    """Counts this API call, or refuses it with 429 and Retry-After. The per-key figures go
    on the answer (``api_call_answered``)."""
    if not limiter.enabled:
        return
    config, prefix = current_app.config, current_app.config["RATELIMIT_KEY_PREFIX"]
    # Counted per route, as Flask-Limiter counted a blueprint's limits: a key may make
    # API_LIMIT_PER_KEY calls a minute to each route.
    route = request.endpoint or ""
    call = g.api_call = _ApiCall(
        key=(prefix, API_KEY_SCOPE, route, _api_key()),
        address=(prefix, FAILED_KEYS_SCOPE, route, get_remote_address() or ""),
        per_key=_parsed(config["API_LIMIT_PER_KEY"]),
        failed_keys=_parsed(config["API_FAILED_KEYS_PER_ADDRESS"]),
    )

    def check(strategy):
        if not strategy.test(call.failed_keys, *call.address):
            return _too_many(strategy, call.failed_keys, call.address)
        if not strategy.hit(call.per_key, *call.key):
            return _too_many(strategy, call.per_key, call.key)
        return None

    refused = _counted(check)
    if refused is not None:
        g.api_call = None
        raise refused


def api_call_answered(response):
    """A refused key counts against its address; the key's figures go on the answer."""
    call = g.get("api_call")
    if call is None:
        return response

    def count(strategy):
        if response.status_code == 401:
            strategy.hit(call.failed_keys, *call.address)
        return strategy.get_window_stats(call.per_key, *call.key)

    response.headers.update(_figures(call.per_key, _counted(count)))
    return response
