"""The suite runs on the database DATABASE_URL names (as `python3 dev.py test` and .ci/run
run it): under pytest-xdist each worker has its own database beside it, and PostgreSQL's are
dropped when the workers end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent

# Two tests that need the database, one per worker (most often).
TWO_TESTS = [
    "tests/test_demo_and_setup.py::test_health_check_needs_no_sign_in",
    "tests/test_demo_and_setup.py::test_database_errors_never_log_the_values",
]


def _suite(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_suite_runs_on_a_sqlite_database_url_with_a_file_per_worker(tmp_path):
    done = _suite(f"sqlite:///{tmp_path / 'scratch.db'}", "-n", "2", *TWO_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    made = {p.name for p in tmp_path.iterdir()}
    assert made & {"scratch_gw0.db", "scratch_gw1.db"}
    assert "scratch.db" not in made  # the workers' files are beside it


def test_the_suite_refuses_an_in_memory_sqlite_database_in_one_line():
    done = _suite("sqlite://", *TWO_TESTS)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert [line for line in done.stderr.splitlines() if line] == [
        "ERROR: DATABASE_URL: an in-memory SQLite database cannot serve the tests (each "
        "connection would see its own); name a file (sqlite:///scratch.db) or leave "
        "DATABASE_URL unset."
    ]


def test_the_suite_leaves_no_worker_database_behind_on_postgresql(app):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL's own databases (the suite runs on SQLite)")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    scratch = f"{url.database}_suite"

    def worker_databases() -> list[str]:
        with admin.connect() as conn:
            return conn.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{scratch}_gw%"},
            ).all()

    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    try:
        done = _suite(url.set(database=scratch).render_as_string(False), "-n", "2", *TWO_TESTS)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout
        assert worker_databases() == []
    finally:
        with admin.connect() as conn:
            for name in [*worker_databases(), scratch]:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
