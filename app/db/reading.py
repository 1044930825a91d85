"""The request's own reading connection: what a request reads with plain statements
(the API's key check, the order loader) before, or without, an ORM session."""

from __future__ import annotations

from flask import g, has_app_context, has_request_context
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

# Where the request keeps its own reading connection (on ``g``).
_READING = "orderly_reading_connection"


def reading_connection(snapshot: bool = True) -> Connection:
    """The connection a request reads on with plain statements (the key check, the order
    loader). Once the request's ORM session has a transaction (a change under way, anything
    read through the ORM, a signed-in user), it is the session's, so that all the request
    reads and writes stays one transaction. Before that, it is a connection of the request's
    own, until ``end_own_reading`` gives it back: the request's code does so before it goes
    on to read through the ORM session (the API's door after the key check, for every call
    but the order read; ``write_transaction`` before a change), so that a request holds one
    connection at a time; and the request's end does so in any case.

    With ``snapshot`` (several statements that must read the same data, the loader) that
    connection is in a transaction; without it (one statement by itself, the key check) it
    begins none.

    An order read through the API then never builds an ORM session: its sessions, session
    transactions and their closing cost a tenth of the read's CPU through gunicorn (order
    reads a second 959 -> 1,020 on SQLite). Outside a request (commands, the webhooks
    worker) it is always the session's."""
    session = db.session
    if not has_request_context() or (
        session.registry.has() and session.registry().in_transaction()
    ):
        return session.connection()
    connection = g.get(_READING)
    if connection is None:
        connection = db.engine.connect()
        setattr(g, _READING, connection)
    if snapshot and not connection.in_transaction():
        connection.begin()
    return connection


def end_own_reading() -> None:
    """Gives back the request's own reading connection, if it has one (the pool rolls it
    back); the ORM session is left as it is. A connection the database has dropped is given
    back all the same: the pool discards it. The one way it ends (``take_reading_connection``
    hands it on instead)."""
    if not has_request_context():
        return
    connection = g.pop(_READING, None)
    if connection is not None:
        try:
            connection.close()
        except SQLAlchemyError:
            pass  # invalidated: the pool has dropped it


def end_reading() -> None:
    """Ends what the request has read so far, so that it holds no snapshot: its own reading
    connection and the ORM session (closed: its objects stay as they were read). Run it
    before a write committed separately (``commit_separately``)."""
    end_own_reading()
    if has_app_context() and db.session.registry.has():
        db.session.close()


def take_reading_connection() -> Connection | None:
    """The request's own reading connection, taken from the request with its read ended
    (rolled back), for one last use by the caller, who closes it; None if it has none. On
    PostgreSQL the key check alone (no transaction of SQLAlchemy's) has still begun one in
    the driver: that is ended too."""
    if not has_request_context():
        return None
    connection = g.pop(_READING, None)
    if connection is not None:
        try:
            if connection.in_transaction():
                connection.rollback()
            else:
                connection.connection.rollback()
        except BaseException:
            connection.close()
            raise
    return connection


def register(app) -> None:
    app.teardown_request(lambda _error: end_own_reading())
