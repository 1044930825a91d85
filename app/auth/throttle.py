"""Throttling of sign-ins (Flask-Limiter): attempts are slowed, per client address and per
account, so that guessing is slow and nobody can lock a known user out at will. Over a limit
answers 429 with Retry-After. The API's throttle is ``app.api.throttle``, on the same storage.

The limits are read from the configuration (SIGN_IN_LIMIT_PER_ADDRESS, ...) when a request
is checked. Keys name accounts and API keys by a hash, so the limiter's storage (Redis when
several instances run) holds no email address and no key.
"""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_limiter.util import get_remote_address

from app.extensions import limiter


def hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _account() -> str:
    return "account:" + hashed((request.form.get("email") or "").strip().lower())


def _config(name: str):
    return lambda: current_app.config[name]


# On the sign-in view: only submissions count, not showing the form.
sign_in_per_address = limiter.limit(
    _config("SIGN_IN_LIMIT_PER_ADDRESS"), key_func=get_remote_address, methods=["POST"]
)
sign_in_per_account = limiter.limit(
    _config("SIGN_IN_LIMIT_PER_ACCOUNT"), key_func=_account, methods=["POST"]
)
