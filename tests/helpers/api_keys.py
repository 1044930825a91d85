"""API keys for tests, issued as the admin page and the command line issue them."""

from __future__ import annotations

from app.auth.models import ApiKey
from app.db.transactions import write_transaction


def key_with(app, granted) -> str:
    with app.app_context(), write_transaction() as session:
        key, plain = ApiKey.issue("Scoped", granted)
        session.add(key)
    return plain
