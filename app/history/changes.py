"""The history of changes to a record (patient, site, item, kit, user, key, location,
webhook): recorded in the transaction of the change, read newest first for its page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.auth.actor import Actor
from app.db.types import utcnow
from app.extensions import db
from app.history.models import RecordChange


def _shown(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(record, fields: list[str]) -> dict:
    return {f: _shown(getattr(record, f)) for f in fields}


def diff(before: dict, after: dict) -> dict:
    return {f: [before.get(f), after[f]] for f in after if before.get(f) != after[f]}


def record_change(
    record_type: str, record_id: int, action: str, actor: Actor, changes: dict | None = None
):
    """Adds a history entry to the current transaction (it commits with the change)."""
    db.session.add(
        RecordChange(
            record_type=record_type,
            record_id=record_id,
            action=action,
            changes=changes or {},
            at=utcnow(),
            actor_user=actor.user,
            actor_api_key=actor.api_key,
        )
    )


def history_of(record_type: str, record_id: int) -> list[RecordChange]:
    """Newest first, in one query."""
    return list(
        db.session.scalars(
            select(RecordChange)
            .where(RecordChange.record_type == record_type, RecordChange.record_id == record_id)
            .options(joinedload(RecordChange.actor_user), joinedload(RecordChange.actor_api_key))
            .order_by(RecordChange.id.desc())
        )
    )
