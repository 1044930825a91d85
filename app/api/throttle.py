"""The API's throttle: every call counts against its key; a refused key (401) counts against
the address it came from, and an address over that limit is refused whatever key it sends
(so that guessing keys is slow, and one busy integration does not block its neighbours).
Each route counts apart. Over a limit answers 429 with Retry-After; every answer carries the
key's X-RateLimit-Limit, -Remaining and -Reset (a 429, those of the limit that refused it).
The limits are read from the configuration (API_LIMIT_PER_KEY, API_FAILED_KEYS_PER_ADDRESS)
when a call is checked; keys and addresses are counted under a hash of the key, in
RATELIMIT_STORAGE_URI: this process's memory, or a Redis that several instances share.

It runs on the public API of the ``limits`` library: its moving-window strategy, on its
Redis storage (``storage_from_string``) or on ``InProcessStorage`` below, a storage of its
documented kind (``Storage`` with ``MovingWindowSupport``). The library's own memory storage
starts a thread every 10 ms while calls come, to drop expired counts: about 0.04 ms of CPU
per call at a thousand calls a second, four times what counting the call costs.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from limits import RateLimitItem, parse
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.api.errors import ApiError
from app.auth.throttle import hashed

API_KEY_SCOPE, FAILED_KEYS_SCOPE = "api-key", "api-failed-keys"
# How long the counts are kept in this process when the shared storage (Redis) does not
# answer, before it is tried again.
FALLBACK_SECONDS = 30
_EXTENSION = "orderly_api_throttle"


class InProcessStorage(Storage, MovingWindowSupport):
    """Moving-window counts in this process's memory (``memory://``). A key's calls are a
    queue of times, oldest first; the times gone out of its window are dropped when the key
    is next counted, and keys no call has touched for a whole window are dropped by the
    first call a second after the last sweep (no thread of its own)."""

    STORAGE_SCHEME = None  # made by ApiThrottle for memory://, not registered as a scheme
    SWEEP_SECONDS = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, tuple[float, deque[float]]] = {}
        self.lock = threading.Lock()
        self.next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _in_window(self, key: str, expiry: float, now: float, keep: bool = True) -> deque[float]:
        """The key's calls still in its window; a key not yet counted is kept only to count
        a call (a look at its figures leaves nothing behind)."""
        found = self.calls.get(key)
        if found is None:
            if not keep:
                return deque()
            found = self.calls[key] = (expiry, deque())
        times = found[1]
        while times and times[0] <= now - expiry:
            times.popleft()
        return times

    def _sweep(self, now: float) -> None:
        if now < self.next_sweep:
            return
        self.next_sweep = now + self.SWEEP_SECONDS
        for key, (expiry, times) in list(self.calls.items()):
            if not times or times[-1] <= now - expiry:
                del self.calls[key]

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        with self.lock:
            self._sweep(now)
            times = self._in_window(key, expiry, now)
            if len(times) + amount > limit:
                return False
            times.extend([now] * amount)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(when the oldest call still in the window was made, how many are in it)."""
        now = time.time()
        with self.lock:
            times = self._in_window(key, expiry, now, keep=False)
            return (times[0], len(times)) if times else (now, 0)

    def clear(self, key: str) -> None:
        with self.lock:
            self.calls.pop(key, None)

    def reset(self) -> int:
        with self.lock:
            count = len(self.calls)
            self.calls.clear()
            self.next_sweep = 0.0
            return count

    def check(self) -> bool:
        return True

    # Counters of the fixed-window strategies, which the API does not use.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("InProcessStorage keeps moving windows only")

    def get(self, key: str) -> int:
        raise NotImplementedError("InProcessStorage keeps moving windows only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("InProcessStorage keeps moving windows only")


class ApiThrottle:
    """The app's counts: the moving window on the configured storage, and the one in this
    process that counts meanwhile when that storage cannot be reached (a throttle that
    fails open for a while rather than failing the calls)."""

    def __init__(self, storage_uri: str) -> None:
        shared = InProcessStorage() if storage_uri == "memory://" else None
        self.shared = MovingWindowRateLimiter(shared or storage_from_string(storage_uri))
        self.fallback: MovingWindowRateLimiter | None = None
        self.fallback_until = 0.0

    def counted(self, action):
        """``action(strategy)`` on the shared storage; in this process while it cannot be
        reached."""
        if self.fallback is None or time.monotonic() >= self.fallback_until:
            try:
                return action(self.shared)
            except Exception:  # the storage's own errors: Redis down, a timeout...
                current_app.logger.warning(
                    "Throttling storage unreachable: counting API calls in this process for %s s",
                    FALLBACK_SECONDS,
                )
                if self.fallback is None:
                    self.fallback = MovingWindowRateLimiter(InProcessStorage())
                self.fallback_until = time.monotonic() + FALLBACK_SECONDS
        return action(self.fallback)

    def reset(self) -> None:
        """Forgets every count (each test starts with none)."""
        self.shared.storage.reset()
        self.fallback = None


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = ApiThrottle(app.config["RATELIMIT_STORAGE_URI"])


def throttle_of(app: Flask) -> ApiThrottle:
    return app.extensions[_EXTENSION]


def _api_key() -> str:
    return hashed(request.headers.get("Impilo-API-Key", ""))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> RateLimitItem:
    return parse(text)


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
    config = current_app.config
    if not config["RATELIMIT_ENABLED"]:
        return
    prefix = config["RATELIMIT_KEY_PREFIX"]
    # Counted per route: a key may make API_LIMIT_PER_KEY calls a minute to each route.
    route = request.endpoint or ""
    call = g.api_call = _ApiCall(
        key=(prefix, API_KEY_SCOPE, route, _api_key()),
        address=(prefix, FAILED_KEYS_SCOPE, route, request.remote_addr or "127.0.0.1"),
        per_key=_parsed(config["API_LIMIT_PER_KEY"]),
        failed_keys=_parsed(config["API_FAILED_KEYS_PER_ADDRESS"]),
    )

    def check(strategy):
        if not strategy.test(call.failed_keys, *call.address):
            return _too_many(strategy, call.failed_keys, call.address)
        if not strategy.hit(call.per_key, *call.key):
            return _too_many(strategy, call.per_key, call.key)
        return None

    refused = throttle_of(current_app).counted(check)
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

    response.headers.update(_figures(call.per_key, throttle_of(current_app).counted(count)))
    return response
