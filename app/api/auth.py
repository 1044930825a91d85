"""API requests authenticate with the Impilo-API-Key header, never with a session."""

from __future__ import annotations

from datetime import timedelta

from flask import g, request
from sqlalchemy import or_, select, update

from app.api import bp
from app.api.errors import ApiError, error_response
from app.auth.models import ApiKey, hash_api_key
from app.auth.scopes import InsufficientScope
from app.database import utcnow
from app.extensions import db

HEADER = "Impilo-API-Key"
# A key's last use is written at most this often, so that reading the API stays read-only
# almost always.
LAST_USED_PRECISION = timedelta(minutes=1)


def authenticate() -> None:
    key = request.headers.get(HEADER, "")
    if not key:
        raise ApiError(401, "unauthorized", f"Send your API key in the {HEADER} header.")
    api_key = db.session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
    )
    if api_key is None:
        raise ApiError(401, "unauthorized", "This API key is not valid.")
    g.api_key = api_key
    _record_use(api_key)


def _record_use(api_key: ApiKey) -> None:
    now = utcnow()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_PRECISION:
        return
    # On a connection of its own, committed at once: the request's own transaction may be
    # rolled back (a refused order), and the session's objects stay as they are. The WHERE
    # makes parallel requests write it once.
    with db.engine.begin() as conn:
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
