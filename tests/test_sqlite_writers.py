"""SQLite's writers take turns (app/database.py QueuedWriterConnection): a writer waits for
the one before it to end, then starts at once; a turn is given back however a transaction
ends; writers in other processes queue on the lock file."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

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
