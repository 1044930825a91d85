"""API requests authenticate with the Impilo-API-Key header, never with a session."""

from __future__ import annotations

from flask import g, request
from sqlalchemy import select

from app.api.errors import ApiError
from app.auth.models import ApiKey, hash_api_key
from app.extensions import db

HEADER = "Impilo-API-Key"


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
