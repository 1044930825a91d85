"""Database plumbing shared by every area: UTC timestamps and SQLite settings."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import g, has_app_context, has_request_context
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    any_,
    bindparam,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from app.extensions import db

# How long a SQLite writer waits for the write lock before it fails ("database is locked").
SQLITE_BUSY_TIMEOUT_MS = 10_000
# A write-ahead log grown past this is checkpointed and emptied by the writer that finds it
# so (see QueuedWriterConnection.keep_log_short).
SQLITE_WAL_LIMIT_BYTES = 8 * 1024 * 1024
# How long that checkpoint waits for the readers still in the log, and how long a process
# then leaves it before trying again (a long read, such as a CSV export, holds the log).
SQLITE_CHECKPOINT_WAIT_MS = 100
SQLITE_CHECKPOINT_RETRY_SECONDS = 1.0
# SQLite's own checkpoint (copying the log back every N pages, 1,000 by default: about 4 MB)
# only as a backstop, when ours cannot run: each copied back the same few pages again and
# again, in the committing writer's turn (with it at 4 MB, 5% fewer order reads a second
# and 11% fewer orders placed, through gunicorn).
SQLITE_AUTOCHECKPOINT_BYTES = 4 * SQLITE_WAL_LIMIT_BYTES


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


class DirectStatement:
    """A Core statement run straight on the driver's cursor, compiled once per dialect.

    SQLAlchemy's execution of a small statement (compiled-cache lookup, execution context,
    result set-up) costs two to three times what the driver's own ``execute`` does: for the
    order loader's statements, 40-70 us where the cursor takes 13-28 (SQLite). The hot
    paths (reading and placing an order, the key check, the access log) run their statements
    this way; everything else goes through ``Connection.execute``.

    What is kept: the statement is built with the models' columns like any other; the
    types' bind and result processing (``rows`` answers the values ``Connection.execute``
    answers: tests/test_direct_statements.py compares them); the engine's
    ``before_cursor_execute`` listeners (statement counts, the tests' injected failures); and
    SQLAlchemy's exceptions, disconnect handling and ``hide_parameters``, through the
    connection's own error handler. Rows are plain tuples, read by position.

    What needs SQLAlchemy's execution context is refused when the statement is first
    compiled (``TypeError``): Python-side column defaults (give every value), lists expanded
    into ``IN`` (use ``id_among``)."""

    def __init__(self, statement):
        self.statement = statement
        # By dialect (one per engine: a few in a process).
        self._compiled: dict = {}

    def _for(self, dialect) -> _CompiledDirect:
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = _CompiledDirect(self.statement, dialect)
        return found

    def _run(self, connection, parameters, many: bool = False):
        compiled = self._for(connection.dialect)
        if many:
            parameters = [compiled.parameters(p) for p in parameters]
        else:
            parameters = compiled.parameters(parameters)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            listeners = connection.dispatch.before_cursor_execute
            if listeners:
                listeners(connection, cursor, compiled.sql, parameters, None, many)
            if many:
                cursor.executemany(compiled.sql, parameters)
            else:
                cursor.execute(compiled.sql, parameters)
        except BaseException as error:
            self._failed(connection, error, compiled, parameters, cursor)
        return compiled, cursor

    @staticmethod
    def _failed(connection, error, compiled, parameters, cursor):
        """The driver's errors (and interruptions) go through the connection's own handler,
        as SQLAlchemy's execution sends them: wrapped (``IntegrityError``...), parameters
        hidden, a lost connection invalidated. Others (a listener's, a value the driver
        refuses with ``OverflowError``) are raised as they are, as SQLAlchemy raises them."""
        if isinstance(error, connection.dialect.loaded_dbapi.Error) or not isinstance(
            error, Exception
        ):
            connection._handle_dbapi_exception(error, compiled.sql, parameters, cursor, None)
        cursor.close()
        raise error

    def rows(self, connection, parameters: dict | None = None) -> list[tuple]:
        compiled, cursor = self._run(connection, parameters or {})
        try:
            found = cursor.fetchall()
        except BaseException as error:
            self._failed(connection, error, compiled, parameters, cursor)
        cursor.close()
        return compiled.processed(found)

    def first(self, connection, parameters: dict | None = None) -> tuple | None:
        found = self.rows(connection, parameters)
        return found[0] if found else None

    def scalar(self, connection, parameters: dict | None = None):
        found = self.first(connection, parameters)
        return None if found is None else found[0]

    def run(self, connection, parameters: dict | None = None) -> int:
        """Runs a statement that answers no rows; answers how many rows it changed."""
        _, cursor = self._run(connection, parameters or {})
        changed = cursor.rowcount
        cursor.close()
        return changed

    def run_many(self, connection, parameters: list[dict]) -> None:
        """Runs it once for each set of parameters (``executemany``; one set is run as such)."""
        if len(parameters) == 1:
            self.run(connection, parameters[0])
            return
        _, cursor = self._run(connection, parameters, many=True)
        cursor.close()


class _CompiledDirect:
    """What ``DirectStatement`` needs of a compiled statement, worked out once."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError(
                "a DirectStatement cannot fill Python-side column defaults: give every value"
            )
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise TypeError("a DirectStatement cannot expand lists: use id_among")
        self.sql = compiled.string
        self.defaults = compiled.construct_params(_check=False)
        # The parameters that have no value of their own: each must be given.
        self.required = frozenset(
            name for bind, name in compiled.bind_names.items() if bind.required
        )
        self.bind = list(compiled._bind_processors.items())
        self.order = list(compiled.positiontup) if dialect.positional else None
        self.results = [
            (at, process)
            for at, column in enumerate(compiled._result_columns)
            if (process := column[3]._cached_result_processor(dialect, None)) is not None
        ]

    def parameters(self, given: dict):
        """The driver's parameters for the given ones: a parameter the statement does not
        have, or one it needs and is not given, is an error (not a value left out, or NULL)."""
        if not given.keys() <= self.defaults.keys():
            unknown = ", ".join(sorted(given.keys() - self.defaults.keys()))
            raise TypeError(f"the statement has no parameter {unknown}")
        if not self.required <= given.keys():
            missing = ", ".join(sorted(self.required - given.keys()))
            raise TypeError(f"the statement needs the parameter {missing}")
        values = {**self.defaults, **given}
        for name, process in self.bind:
            values[name] = process(values[name])
        return values if self.order is None else [values[name] for name in self.order]

    def processed(self, rows: list) -> list[tuple]:
        if not self.results:
            return rows
        done = []
        for row in rows:
            row = list(row)
            for at, process in self.results:
                row[at] = process(row[at])
            done.append(tuple(row))
        return done


@event.listens_for(Engine, "connect")
def _connection_settings(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        _postgresql_settings(dbapi_connection)
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_BYTES // page_size}")
    path = cursor.execute("PRAGMA database_list").fetchone()[2]
    cursor.close()
    if isinstance(dbapi_connection, QueuedWriterConnection) and path:
        # Each connection opens the lock file itself: a lock is held by an open file, so
        # one shared by a process's connections, or inherited over a fork, would not
        # keep them apart.
        dbapi_connection.turn_file = os.open(path + "-writers", os.O_RDWR | os.O_CREAT, 0o600)
        dbapi_connection.log_path = path + "-wal"
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


# One write transaction at a time per process: see QueuedWriterConnection.
_write_turn = threading.Lock()
# When this process may next try to empty the write-ahead log (time.monotonic()).
_next_checkpoint = [0.0]
# How often a writer looks again whether another process's writer has finished.
_TURN_POLL_SECONDS = (0.0001, 0.001)


class QueuedWriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns with the app's others.

    SQLite lets one transaction write at a time. A writer that finds the lock taken waits in
    SQLite's busy handler, which sleeps and tries again after 1, 2, 5, 10... up to 100 ms:
    under load the lock then sits free while the waiters sleep (placing orders with 8
    connections: p99 1.6 s). So the app's writers queue before ``BEGIN IMMEDIATE``: the
    threads of a process on a Python lock, which wakes the next one when a transaction ends,
    and the processes (gunicorn's workers, the webhooks worker, commands) on an exclusive
    ``flock`` of a file beside the database, looked at every 0.1 to 1 ms. The turn is given
    back once the transaction has committed or rolled back. A writer still waiting after the
    busy timeout goes on regardless, and SQLite decides; writers of other programs (the
    sqlite3 shell) meet the busy handler as before.

    A writer that has committed also keeps the write-ahead log short (``keep_log_short``)
    before it gives its turn back."""

    holds_turn = False
    holds_file = False
    turn_file: int | None = None
    log_path: str | None = None

    def take_turn(self) -> None:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        self.holds_turn = _write_turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        if not self.holds_turn or self.turn_file is None:
            return
        pause, longest = _TURN_POLL_SECONDS
        while True:
            try:
                fcntl.flock(self.turn_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.holds_file = True
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(pause)
                pause = min(pause * 2, longest)

    def end_turn(self) -> None:
        if self.holds_file:
            self.holds_file = False
            fcntl.flock(self.turn_file, fcntl.LOCK_UN)
        if self.holds_turn:
            self.holds_turn = False
            _write_turn.release()

    def commit(self) -> None:
        try:
            super().commit()
            self.keep_log_short()
        finally:
            self.end_turn()

    def keep_log_short(self) -> None:
        """Empties the write-ahead log once it has grown past SQLITE_WAL_LIMIT_BYTES.

        SQLite copies the log back into the database every 1,000 pages, but starts the log
        again from its beginning only when no reader is still reading from it. Under a
        steady flow of overlapping reads that moment never comes, and the log grows without
        end (every order read writes its access-log row: 300 MB in 24 s of reading with 8
        connections), and reads slow down as it grows. A TRUNCATE checkpoint waits
        for the readers still in the log (new ones read the database file), which takes a
        few ms. It runs while this writer still holds its turn, so no writer of the app
        waits on SQLite's busy handler meanwhile; if a long read keeps it waiting more
        than SQLITE_CHECKPOINT_WAIT_MS, it gives up and the process tries again later."""
        if not self.holds_file or self.log_path is None:
            return
        now = time.monotonic()
        if now < _next_checkpoint[0]:
            return
        try:
            if os.stat(self.log_path).st_size < SQLITE_WAL_LIMIT_BYTES:
                return
        except OSError:
            return
        _next_checkpoint[0] = now + SQLITE_CHECKPOINT_RETRY_SECONDS
        try:
            self.execute(f"PRAGMA busy_timeout={SQLITE_CHECKPOINT_WAIT_MS}")
            self.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass  # committed all the same: the log is emptied by a later writer
        finally:
            self.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()
            if self.turn_file is not None:
                os.close(self.turn_file)
                self.turn_file = None


def sqlite_engine_options(options: dict) -> dict:
    """The engine options for a SQLite database: its connections queue their writers."""
    connect_args = {**options.get("connect_args", {}), "factory": QueuedWriterConnection}
    return {**options, "connect_args": connect_args}


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    # A write transaction takes SQLite's write lock when it starts, so two writers
    # queue instead of one failing when it upgrades a read lock.
    if not conn.get_execution_options().get("write"):
        _BEGIN.run(conn)
        return
    dbapi_connection = conn.connection.dbapi_connection
    queued = isinstance(dbapi_connection, QueuedWriterConnection)
    if queued:
        dbapi_connection.take_turn()
    try:
        _BEGIN_IMMEDIATE.run(conn)
    except BaseException:
        if queued:
            dbapi_connection.end_turn()
        raise


def direct_insert(table, names, returning=None) -> DirectStatement:
    """An INSERT of exactly these columns (each given by name when it runs), run on the
    driver's cursor; ``returning`` a column, for ``scalar``."""
    statement = insert(table).values({name: bindparam(name) for name in names})
    return DirectStatement(statement if returning is None else statement.returning(returning))


# Every SQLite transaction runs one: on the cursor, as the hot paths' statements are.
_BEGIN = DirectStatement(text("BEGIN"))
_BEGIN_IMMEDIATE = DirectStatement(text("BEGIN IMMEDIATE"))


def reading_connection(snapshot: bool = True) -> Connection:
    """The connection a request reads on with plain statements (the key check, the order
    loader). Once the request's ORM session has a transaction (a change under way, anything
    read through the ORM, a signed-in user), it is the session's, so that all the request
    reads and writes stays one transaction. Before that, it is a connection of the request's
    own, ended by ``end_reading``, by the ORM session beginning, or when the request ends:
    whichever comes first, the request holds one connection.

    With ``snapshot`` (several statements that must read the same data, the loader) that
    connection is in a transaction; without it (one statement by itself, the key check) it
    begins none, so that a request that then reads through the ORM session begins only the
    session's.

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


def end_reading() -> None:
    """Ends what the request has read so far, so that it holds no snapshot: the ORM session
    (closed: its objects stay as they were read) and its own reading connection. Run it
    before a write of its own (``write_apart``) and once the answer is made."""
    end_own_reading()
    if has_app_context() and db.session.registry.has():
        db.session.close()


_READING = "_orderly_reading_connection"


def end_own_reading() -> None:
    """Gives back the request's own reading connection, if it has one (the pool rolls it
    back); the ORM session is left as it is. A connection the database has dropped is given
    back all the same: the pool discards it."""
    if not has_request_context():
        return
    connection = g.pop(_READING, None)
    if connection is not None:
        try:
            connection.close()
        except SQLAlchemyError:
            pass  # invalidated: the pool has dropped it


def _own_reading_ended() -> Connection | None:
    """The request's own reading connection, taken from the request with its read ended
    (rolled back), for one last use; None if it has none. On PostgreSQL the key check alone
    (no transaction of SQLAlchemy's) has still begun one in the driver: that is ended too."""
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


@event.listens_for(Session, "after_transaction_create")
def _session_begins(_session, transaction) -> None:
    """The request's ORM session begins: it does the request's reading from now on. The
    request's own connection is given back first, before the session takes one."""
    if transaction.parent is None:
        end_own_reading()


def register(app) -> None:
    app.teardown_request(lambda _error: end_own_reading())


@contextmanager
def write_apart(engine: Engine | None = None):
    """A transaction on a connection of its own, committed at once when the block ends: for
    what must be written whether or not the request's own transaction is (the PHI access
    log, a key's or a sign-in's last use). On SQLite it is a writer like any other: it takes
    its turn and the write lock when it begins (``BEGIN IMMEDIATE``), where a plain
    ``engine.begin()`` would ask for the lock only at its first write, and could be refused
    at once ("database is locked") while a checkpoint empties the log. ``engine`` is the
    app's, or one taken from it earlier (for a write after the app context has ended).

    End the request's reading first where it can end (``end_reading``): on SQLite
    a reader holds the write-ahead log, and a checkpoint emptying it waits for that reader
    while the writer waits for its turn behind the checkpoint."""
    with (engine or db.engine).connect() as conn:
        conn.execution_options(write=True)
        with conn.begin():
            yield conn


def write_one_apart(statement: DirectStatement, parameters: dict, engine: Engine | None = None):
    """``write_apart`` for a single statement (an order read's access-log row), once the
    request's reading has ended (it ends it: ``end_reading``).

    When the request read on a connection of its own (``reading_connection``), the statement
    runs on that same connection, its read ended, instead of on another one taken from the
    pool: an order read through the API then takes one connection in all.

    On SQLite it runs on its own, as SQLite's own transaction (autocommit), in its turn
    among the writers, without ``BEGIN IMMEDIATE`` and ``COMMIT`` around it. Through
    gunicorn that gave about 4% more order reads a second: SQLite's work for the row is the
    same, but each statement releases and takes back the interpreter's lock, and the turn is
    held for less. One statement is atomic by itself, so nothing changes but the cost."""
    engine = engine or db.engine
    connection = _own_reading_ended()
    try:
        end_reading()
    except BaseException:
        if connection is not None:
            connection.close()
        raise
    with connection or engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            with conn.begin():
                statement.run(conn, parameters)
            return
        # The statement runs on the driver's cursor: SQLAlchemy begins nothing, and the
        # driver (isolation_level None) runs it in autocommit.
        dbapi_connection = conn.connection.dbapi_connection
        queued = isinstance(dbapi_connection, QueuedWriterConnection)
        if queued:
            dbapi_connection.take_turn()
        try:
            statement.run(conn, parameters)
            if queued:
                dbapi_connection.keep_log_short()
        finally:
            if queued:
                dbapi_connection.end_turn()


@contextmanager
def write_transaction(keep_written: bool = False):
    """One transaction for a change: committed if the block succeeds, rolled back if not.

    Whatever the request read before is rolled back and expired first, so the change starts
    from fresh data (and, on SQLite, with the write lock held).

    With ``keep_written`` the objects keep what was written when it commits, instead of
    being expired: the caller can answer from them without reading them back.

    **The lock order.** On PostgreSQL a change locks rows as it goes and holds them until it
    commits; two changes that take the same two rows in opposite orders wait for each other
    for ever (``DeadlockDetected``, answered 503). So every change takes what it locks in
    this one order, skipping what it does not need:

    1. the stock location (``FOR SHARE`` by whoever puts stock there or reserves it:
       placing, receiving, adjusting; ``FOR NO KEY UPDATE`` by deactivating it, so that
       neither decides on a location the other is changing);
    2. the order row (``FOR UPDATE``: every change of an existing order; a new order's row
       is nobody else's until it commits);
    3. devices, in id order (scanning, returning, inspecting; a status change that moves an
       order's devices locks them before any balance);
    4. stock balances, one statement per location ordered by id, locations in id order
       (reserving, releasing, shipping, returns, receipts, adjustments, counts,
       deactivation's totals);
    5. the order list's status counters, in key order (placing and every status change),
       always last.

    Rows written for the first time (events, ledger rows, notes) lock nothing anyone
    waits for. SQLite takes its one write lock at ``BEGIN IMMEDIATE``, so there changes
    simply queue. ``tests/test_inventory_races.py`` runs cancels and placements of one
    item in parallel on both databases.
    """
    end_own_reading()
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
