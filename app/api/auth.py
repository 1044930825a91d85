"""API requests authenticate with the Impilo-API-Key header, never with a session."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from flask import g, request
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import make_transient_to_detached

from app.api import bp
from app.api.errors import ApiError, error_response
from app.auth.actor import Actor
from app.auth.models import ApiKey, hash_api_key
from app.auth.scopes import InsufficientScope
from app.db.fast_path import DirectStatement
from app.db.reading import end_reading, reading_connection
from app.db.transactions import commit_separately
from app.db.types import utcnow
from app.extensions import db

HEADER = "Impilo-API-Key"
# A key's last use is written at most this often, so that reading the API stays read-only
# almost always.
LAST_USED_PRECISION = timedelta(minutes=1)
# Built once, and run on the fast path: every API request reads it.
ACTIVE_KEY = DirectStatement(
    select(*ApiKey.__table__.columns).where(
        ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
    )
)
KEY_COLUMNS = tuple(ApiKey.__table__.columns.keys())

# The request's key as read (``g.api_key``): every column of ``ApiKey`` and its
# ``scope_list``, borrowed so that the rule keeps one home. Reading a key through the ORM
# cost a fifth of a read's CPU, for an object that only a change needs (``api_actor``).
KeyInUse = type("KeyInUse", (SimpleNamespace,), {"scope_list": vars(ApiKey)["scope_list"]})


def authenticate() -> None:
    """Puts the request's key on ``g.api_key`` (a ``KeyInUse``), or refuses with 401."""
    key = request.headers.get(HEADER, "")
    if not key:
        raise ApiError(401, "unauthorized", f"Send your API key in the {HEADER} header.")
    # One statement: no transaction of its own (a route that reads through the ORM session
    # then begins only the session's).
    row = ACTIVE_KEY.first(
        reading_connection(snapshot=False), {"key_hash": hash_api_key(key)}, alone=True
    )
    if row is None:
        raise ApiError(401, "unauthorized", "This API key is not valid.")
    g.api_key = KeyInUse(**dict(zip(KEY_COLUMNS, row, strict=True)))
    _record_use(g.api_key)


def api_actor() -> Actor:
    """The request's key as the actor of a change: an ``ApiKey`` of the request's session,
    made from what ``authenticate`` read (no query), as if the ORM had loaded it, so that
    the services can set it on relationships."""
    api_key = ApiKey(**vars(g.api_key))
    make_transient_to_detached(api_key)
    db.session.add(api_key)
    return Actor(api_key=api_key)


def _record_use(api_key: KeyInUse) -> None:
    now = utcnow()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_PRECISION:
        return
    # On a connection of its own, committed at once: the request's own transaction may be
    # rolled back (a refused order), and the session's objects stay as they are. The WHERE
    # makes parallel requests write it once. The read of the key is ended first, as no
    # writer should wait for its turn while it holds a read (see commit_separately).
    end_reading()
    with commit_separately() as conn:
        conn.execute(
            update(ApiKey)
            .where(
                ApiKey.id == api_key.id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < now - LAST_USED_PRECISION,
                ),
            )
            .values(last_used_at=now)
        )


@bp.errorhandler(InsufficientScope)
def insufficient_scope(error: InsufficientScope):
    return error_response(
        403,
        "insufficient_scope",
        f"This API key does not have the scope {error.scope}; an admin can make a key that has.",
    )
