"""Column types and statement pieces that read the same on SQLite and PostgreSQL: UTC
timestamps, and a list of ids bound as one parameter."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator

from app.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always an aware UTC datetime in Python.

    PostgreSQL stores it as timestamptz; SQLite has no time zones, so it is stored
    as naive UTC and given its zone back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is expected")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _IdArray(TypeDecorator):
    """Ids given to SQLite as one JSON array, which ``json_each`` reads back as rows."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        # Written out by hand: an order read binds its ids to each of its statements, and
        # json.dumps took three times as long for the few ids of one order.
        return None if value is None else "[" + ",".join(map(str, map(int, value))) + "]"


def id_among(column, postgres: bool, ids: list[int] | None = None):
    """``column IN ids``, with the ids as ONE parameter: an array on PostgreSQL
    (``= ANY(:ids)``), a JSON array on SQLite (``IN (SELECT value FROM json_each(:ids))``).
    The statement's text is then the same for any number of ids, so the driver parses it
    once and the server plans it once, where 250 ids made 250 parameters and a new text for
    every page; and SQLAlchemy has no list to expand into it each time it runs (a sixth of
    the order loader's CPU for one order). Without ``ids`` they are given when the statement
    runs, as ``{"ids": [...]}``."""
    name = "ids" if ids is None else None
    if postgres:
        return column == any_(bindparam(name, ids, type_=ARRAY(Integer)))
    listed = func.json_each(bindparam(name, ids, type_=_IdArray())).table_valued("value")
    return column.in_(select(listed.c.value))


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"
