"""Database plumbing shared by every area: UTC timestamps and SQLite settings."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, any_, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
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
        return None if value is None else json.dumps(list(value))


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


@event.listens_for(Engine, "connect")
def _connection_settings(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        _postgresql_settings(dbapi_connection)
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Let SQLAlchemy, not the driver, say when a transaction begins (see _sqlite_begin).
    dbapi_connection.isolation_level = None


def _postgresql_settings(dbapi_connection) -> None:
    """psycopg prepares a statement on the server after its fifth run, and PostgreSQL may
    then plan it once for any parameters. A prefix search (``lower(name) LIKE :p``) planned
    without knowing its prefix cannot use the prefix index and reads every patient. Plan
    each run with its parameters instead: the values stay bound, so database errors in
    the logs still never carry them (``hide_parameters``)."""
    if not hasattr(dbapi_connection, "execute") or not hasattr(dbapi_connection, "commit"):
        return
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()  # a SET in a transaction rolled back would be undone


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    # A write transaction takes SQLite's write lock when it starts, so two writers
    # queue on the busy timeout instead of one failing when it upgrades a read lock.
    if conn.get_execution_options().get("write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


@contextmanager
def write_transaction(keep_written: bool = False):
    """One transaction for a change: committed if the block succeeds, rolled back if not.

    Whatever the request read before is rolled back and expired first, so the change starts
    from fresh data (and, on SQLite, with the write lock held).

    With ``keep_written`` the objects keep what was written when it commits, instead of
    being expired: the caller can answer from them without reading them back.
    """
    session = db.session()
    session.rollback()
    session.expire_all()
    session.connection(execution_options={"write": True})
    expire_on_commit = session.expire_on_commit
    try:
        yield session
        session.expire_on_commit = expire_on_commit and not keep_written
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.expire_on_commit = expire_on_commit
