"""SQLite's writers take turns (app/db/sqlite.py QueuedWriterConnection): a writer waits for
the one before it to end, then starts at once; a turn is given back however a transaction
ends; writers in other processes queue on the lock file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import fast_path, sqlite, transactions
from app.db.transactions import commit_separately
from app.extensions import db

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture(autouse=True)
def _sqlite_only(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's writers only: PostgreSQL writes in parallel")


def write_transaction(app):
    conn = db.engine.connect().execution_options(write=True)
    conn.begin()
    return conn


def test_a_writer_waits_for_the_one_before_it_and_then_goes_on(app):
    began = {}

    def second():
        with app.app_context():
            conn = write_transaction(app)
            began["second"] = time.monotonic()
            conn.rollback()
            conn.close()

    with app.app_context():
        first = write_transaction(app)
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.3)
        assert "second" not in began, "the second writer began while the first held its turn"
        ended = time.monotonic()
        first.commit()
        first.close()
        waiting.join(timeout=5)
    assert began["second"] >= ended
    # At once, give or take a busy machine's scheduling (SQLite's busy handler would sleep on).
    assert began["second"] - ended < 1, "the second writer slept long after its turn came"


def test_a_turn_is_given_back_after_a_rollback_or_a_failed_statement(app):
    with app.app_context():
        for end in ("rollback", "error"):
            conn = write_transaction(app)
            if end == "error":
                with pytest.raises(OperationalError):
                    conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
            conn.rollback()
            conn.close()
        # Were a turn kept, this would wait for the busy timeout (10 s).
        started = time.monotonic()
        conn = write_transaction(app)
        conn.rollback()
        conn.close()
        assert time.monotonic() - started < 1


def test_a_writer_in_another_process_waits_on_the_lock_file(app):
    with app.app_context():
        path = db.engine.url.database
        first = write_transaction(app)
        other = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys, time\n"
                "fd = os.open(sys.argv[1] + '-writers', os.O_RDWR)\n"
                "print('ready', flush=True)\n"
                "start = time.monotonic()\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "print(time.monotonic() - start, flush=True)\n",
                path,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        first.commit()
        first.close()
        waited = float(other.communicate(timeout=10)[0])
    assert waited >= 0.4, "the other process took the lock file while a writer held its turn"


def _wal_bytes(path: str) -> int:
    wal = Path(path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _write_makers(first: int, count: int) -> None:
    for n in range(first, first + count):
        with commit_separately() as conn:
            conn.execute(
                text("INSERT INTO manufacturer (name) VALUES (:name)"),
                {"name": f"Maker {n} " + "x" * 150},
            )


def test_a_long_write_ahead_log_is_emptied_once_no_reader_holds_it(app, monkeypatch):
    """SQLite starts its log again only when no reader is in it: under steady overlapping
    reads it never would, and the log grew without end. The writer that finds it past the
    limit empties it; while a reader holds it, that writer gives up at once (and its commit
    stands) and a later one empties it."""
    monkeypatch.setattr(sqlite, "SQLITE_WAL_LIMIT_BYTES", 64 * 1024)
    monkeypatch.setattr(sqlite, "SQLITE_CHECKPOINT_RETRY_SECONDS", 0.0)
    monkeypatch.setattr(sqlite, "_next_checkpoint", [0.0])
    with app.app_context():
        path = db.engine.url.database
        _write_makers(0, 5)
        reader = sqlite3.connect(path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM manufacturer").fetchone()[0] == 5
            started = time.monotonic()
            _write_makers(5, 60)
            took = time.monotonic() - started
            held = _wal_bytes(path)
            assert held > 64 * 1024, "the reader should have kept the log from being emptied"
            # Each writer that found the log too long waited SQLITE_CHECKPOINT_WAIT_MS at most.
            assert took < 60 * 0.5
            # The reader still sees what it saw: nothing was taken from under it.
            assert reader.execute("SELECT count(*) FROM manufacturer").fetchone()[0] == 5
        finally:
            reader.execute("ROLLBACK")
            reader.close()
        _write_makers(65, 1)
        assert _wal_bytes(path) == 0, "the next writer should have emptied the log"
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM manufacturer")).scalar() == 66


def test_sqlites_own_checkpoint_is_only_a_backstop(app):
    """The app empties the log itself at SQLITE_WAL_LIMIT_BYTES; SQLite's automatic
    checkpoint comes only at four times that, for when the app's cannot run."""
    with app.app_context(), db.engine.connect() as conn:
        page_size = conn.exec_driver_sql("PRAGMA page_size").scalar()
        pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages * page_size == sqlite.SQLITE_AUTOCHECKPOINT_BYTES
    assert sqlite.SQLITE_AUTOCHECKPOINT_BYTES > sqlite.SQLITE_WAL_LIMIT_BYTES


def _waits_its_turn_behind_a_writer(app, commit_separately_from_it) -> None:
    """``commit_separately_from_it()`` (which writes the maker 'Apart') runs in a thread while
    another writer holds its turn: it must wait for that writer, and then be committed."""
    done = {}

    def apart():
        with app.app_context():
            commit_separately_from_it()
            done["at"] = time.monotonic()

    with app.app_context():
        first = write_transaction(app)
        first.execute(text("INSERT INTO manufacturer (name) VALUES ('First')"))
        waiting = threading.Thread(target=apart)
        waiting.start()
        time.sleep(0.3)
        assert "at" not in done, "the write apart began while another writer held its turn"
        first.commit()
        first.close()
        waiting.join(timeout=5)
        assert "at" in done
        # Seen from another connection at once: it was committed.
        with db.engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM manufacturer ORDER BY id")).scalars()
            assert list(names) == ["First", "Apart"]


def test_a_separate_commit_takes_its_turn_like_any_writer(app):
    """A write on a connection of its own (the PHI access log, a key's last use) queues for
    its turn and the write lock (BEGIN IMMEDIATE) instead of failing at its first write."""

    def apart():
        with commit_separately() as conn:
            conn.execute(text("INSERT INTO manufacturer (name) VALUES ('Apart')"))

    _waits_its_turn_behind_a_writer(app, apart)


def test_one_statement_apart_takes_its_turn_and_is_written_at_once(app):
    """An order read's access-log row (``commit_statement_separately``): one statement in
    autocommit, still in its turn among the writers, and committed when it returns."""
    insert = fast_path.DirectStatement(text("INSERT INTO manufacturer (name) VALUES (:name)"))
    _waits_its_turn_behind_a_writer(
        app, lambda: transactions.commit_statement_separately(insert, {"name": "Apart"})
    )
    # Its turn was given back.
    assert sqlite._write_turn.acquire(timeout=1)
    sqlite._write_turn.release()
