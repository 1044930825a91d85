"""Transactions: one for each change (``write_transaction``), and the few writes committed
separately from the request's own transaction (``commit_separately``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from app.db.fast_path import DirectStatement
from app.db.reading import end_own_reading, end_reading, take_reading_connection
from app.db.sqlite import run_alone_in_turn
from app.extensions import db


@contextmanager
def commit_separately(engine: Engine | None = None):
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


def commit_statement_separately(
    statement: DirectStatement, parameters: dict, engine: Engine | None = None
):
    """``commit_separately`` for a single statement (an order read's access-log row), once the
    request's reading has ended (it ends it: ``end_reading``).

    When the request read on a connection of its own (``reading_connection``), the statement
    runs on that same connection, its read ended, instead of on another one taken from the
    pool: an order read through the API then takes one connection in all.

    On SQLite it runs on its own, as SQLite's own transaction (autocommit), in its turn
    among the writers, without ``BEGIN IMMEDIATE`` and ``COMMIT`` around it, nor a
    transaction of SQLAlchemy's (``app.db.sqlite.run_alone_in_turn``). Through gunicorn that
    gave about 4% more order reads a second: SQLite's work for the row is the same, but each
    statement releases and takes back the interpreter's lock, and the turn is held for less;
    in-process, 20 us less CPU than in a transaction of SQLAlchemy's. One statement is atomic
    by itself, so nothing changes but the cost."""
    engine = engine or db.engine
    connection = take_reading_connection()
    try:
        end_reading()
    except BaseException:
        if connection is not None:
            connection.close()
        raise
    with connection or engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            run_alone_in_turn(conn, statement, parameters)
            return
        conn.execution_options(write=True)
        with conn.begin():
            statement.run(conn, parameters)


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
    5. the dashboard's units used per day, in key order (shipping, with its balances);
    6. the order list's status counters, in key order (placing and every status change);
    7. the dashboard's order counts per day, in key order (placing and every status
       change), always last.

    Rows written for the first time (events, ledger rows, notes) lock nothing anyone
    waits for. SQLite takes its one write lock at ``BEGIN IMMEDIATE``, so there changes
    simply queue. ``tests/test_inventory_races.py`` runs cancels and placements of one
    item in parallel on both databases.

    A change that only adds to shared rows (4 to 7) hands those writes to ``last``: they
    run when the block ends, after the ORM has written the change's own rows, so that
    the shared rows are held for their own statements and the commit only.
    """
    end_own_reading()
    session = db.session()
    session.rollback()
    session.expire_all()
    session.info.pop(_LAST, None)
    session.connection(execution_options={"write": True})
    expire_on_commit = session.expire_on_commit
    try:
        yield session
        _write_last(session)
        session.expire_on_commit = expire_on_commit and not keep_written
        session.commit()
    except BaseException:
        session.info.pop(_LAST, None)
        session.rollback()
        raise
    finally:
        session.expire_on_commit = expire_on_commit


# The places of the shared rows in the lock order (``write_transaction``): stock balances
# (with the units used per day they move), the status counters, the orders per day.
BALANCES, STATUS_COUNTERS, DAY_COUNTS = 4, 6, 7
_LAST = "orderly.write_last"


def last(place: int, write: Callable[[], None]) -> None:
    """Runs ``write`` (statements on shared rows that no rule of the change reads back) at
    the end of the current ``write_transaction``: after the ORM's pending changes are
    flushed, just before the commit, in the lock order by ``place`` (``BALANCES``,
    ``STATUS_COUNTERS``, ``DAY_COUNTS``; writes of one place in the order they came). A
    change that fails before its end drops them with everything else.

    Those rows (a day's, a site's, an item's) are shared by every placer and packer: taken
    last, they are locked for a few statements and the commit, not for the change's whole
    ORM flush."""
    db.session().info.setdefault(_LAST, []).append((place, write))


def _write_last(session) -> None:
    pending = session.info.pop(_LAST, None)
    if not pending:
        return
    session.flush()
    for _place, write in sorted(pending, key=lambda pair: pair[0]):
        write()
