"""SQLite: every connection's settings (write-ahead log, foreign keys, timeouts), and the
queue its writers wait in, one write transaction at a time (``QueuedWriterConnection``)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from app.db.fast_path import DirectStatement

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


@event.listens_for(Engine, "connect")
def _sqlite_settings(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return  # PostgreSQL's: app.db.postgresql
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
    """SQLAlchemy, not the driver, says when a transaction begins (the driver's isolation
    level is None): SQLAlchemy's documented recipe for SQLite, with the app's execution
    option ``write``: a write transaction takes its turn among the writers, then SQLite's
    write lock when it starts (``BEGIN IMMEDIATE``), so two writers queue instead of one
    failing when it upgrades a read lock. The ``BEGIN`` runs on the driver's cursor, as the
    fast path's statements do (app.db.fast_path: the statement listeners still see it)."""
    if conn.dialect.name != "sqlite":
        return
    if not conn.get_execution_options().get("write"):
        _BEGIN.run(conn, alone=True)
        return
    dbapi_connection = conn.connection.dbapi_connection
    queued = isinstance(dbapi_connection, QueuedWriterConnection)
    if queued:
        dbapi_connection.take_turn()
    try:
        _BEGIN_IMMEDIATE.run(conn, alone=True)
    except BaseException:
        if queued:
            dbapi_connection.end_turn()
        raise


def run_alone_in_turn(conn, statement: DirectStatement, parameters: dict) -> None:
    """Runs one statement as SQLite's own transaction (autocommit: no ``BEGIN IMMEDIATE``
    and ``COMMIT`` around it), in its turn among the app's writers, on a connection that
    has no transaction of SQLAlchemy's; keeps the write-ahead log short before the turn is
    given back, as a commit does."""
    dbapi_connection = conn.connection.dbapi_connection
    queued = isinstance(dbapi_connection, QueuedWriterConnection)
    if queued:
        dbapi_connection.take_turn()
    try:
        statement.run(conn, parameters, alone=True)
        if queued:
            dbapi_connection.keep_log_short()
    finally:
        if queued:
            dbapi_connection.end_turn()


# Every SQLite transaction runs one.
_BEGIN = DirectStatement(text("BEGIN"))
_BEGIN_IMMEDIATE = DirectStatement(text("BEGIN IMMEDIATE"))
