"""Extensions, created once here and bound to the app in create_app()."""

from __future__ import annotations

import time
from functools import partial

import flask_limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from limits.storage import MemoryStorage
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so that migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
htmx = Htmx()


class SweptMemoryStorage(MemoryStorage):
    """The limiter's in-process storage (``memory://``), without the library's cleaning thread.

    The library starts a new ``threading.Timer`` every 10 ms while requests come, to drop
    expired counts: about 0.4 ms of CPU each, more than the rest of the limiter's work for a
    request. Here the first request a second after the last sweep sweeps instead.
    """

    STORAGE_SCHEME = ["memory"]  # takes the scheme over from the library's class
    SWEEP_SECONDS = 1.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.next_sweep = 0.0

    # Replaces the library's private method that starts the timer.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + self.SWEEP_SECONDS
            self._MemoryStorage__expire_events()


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter, where a request that a request filter exempts (every API call: the API
    counts its calls itself, in app.api.throttle) skips the extension's per-request hooks
    altogether, not only its limits: the check before the request, the headers and
    deductions after it, its context at teardown. For an exempted request they resolved no
    limit and cost about 4% of an order read's CPU."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._exempting: list = []

    def request_filter(self, fn):
        self._exempting.append(fn)
        return super().request_filter(fn)

    def exempted(self) -> bool:
        return any(fn() for fn in self._exempting)

    def init_app(self, app) -> None:
        super().init_app(app)

        def ours(hook) -> bool:
            bound_to = hook.args[0] if isinstance(hook, partial) and hook.args else None
            return self in (getattr(hook, "__self__", None), bound_to)

        def before(hook):
            return lambda: None if self.exempted() else hook()

        def after(hook):
            return lambda response: response if self.exempted() else hook(response)

        def teardown(hook):
            return lambda error: None if self.exempted() else hook(error)

        for hooks, wrap in (
            (app.before_request_funcs, before),
            (app.after_request_funcs, after),
            (app.teardown_request_funcs, teardown),
        ):
            hooks[None] = [wrap(hook) if ours(hook) else hook for hook in hooks.get(None, [])]


# Limits are set per route (sign-in; the API counts its own); storage from
# RATELIMIT_STORAGE_URI.
limiter = Limiter(key_func=get_remote_address)
