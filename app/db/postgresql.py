"""PostgreSQL: every connection's settings."""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _connection_settings(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        postgresql_settings(dbapi_connection)


def postgresql_settings(dbapi_connection) -> None:
    """psycopg prepares a statement on the server after its fifth run, and PostgreSQL may
    then plan it once for any parameters. A prefix search (``lower(name) LIKE :p``) planned
    without knowing its prefix cannot use the prefix index and reads every patient. Plan
    each run with its parameters instead: the values stay bound, so database errors in
    the logs still never carry them (``hide_parameters``)."""
    if not hasattr(dbapi_connection, "execute") or not hasattr(dbapi_connection, "commit"):
        return
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()  # a SET in a transaction rolled back would be undone
