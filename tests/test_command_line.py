"""The `flask` commands people run: creating a user or an API key follows the same rules as
the web and writes history, a password can be piped in, and no command talks of alembic."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.auth.models import ApiKey, User
from app.history.models import RecordChange
from tests.conftest import app_context


def test_cli_user_create_follows_the_rules(app, catalog):
    runner = app.test_cli_runner()
    short = runner.invoke(
        args=[
            "user",
            "create",
            "new@example.org",
            "--role",
            "coordinator",
            "--first-name",
            "N",
            "--last-name",
            "U",
            "--password",
            "short",
        ]
    )
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    assert "Traceback" not in short.output
    taken = runner.invoke(
        args=[
            "user",
            "create",
            "coordinator@example.org",
            "--role",
            "coordinator",
            "--first-name",
            "N",
            "--last-name",
            "U",
            "--password",
            "a long enough password",
        ]
    )
    assert taken.exit_code != 0 and "Another user signs in with this email" in taken.output
    assert (
        "Traceback" not in taken.output
        and taken.exception is None
        or isinstance(taken.exception, SystemExit)
    )
    made = runner.invoke(
        args=[
            "user",
            "create",
            "New@example.org",
            "--role",
            "coordinator",
            "--first-name",
            "N",
            "--last-name",
            "U",
            "--password",
            "a long enough password",
        ]
    )
    assert made.exit_code == 0, made.output
    with app_context(app) as session:
        user = session.scalar(select(User).where(User.email == "new@example.org"))
        assert (
            session.scalar(
                select(RecordChange.action).where(
                    RecordChange.record_type == "user", RecordChange.record_id == user.id
                )
            )
            == "created"
        )


def test_cli_api_key_create_writes_history(app):
    result = app.test_cli_runner().invoke(args=["api-key", "create", "EHR"])
    assert result.exit_code == 0, result.output
    with app_context(app) as session:
        key = session.scalar(select(ApiKey))
        assert (
            session.scalar(
                select(RecordChange.action).where(
                    RecordChange.record_type == "apiKey", RecordChange.record_id == key.id
                )
            )
            == "created"
        )


def _flask(app, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """A real `flask` command on the test database, as a person runs it."""
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [root / ".venv" / "bin" / "flask", "--app", "app", *args],
        cwd=root,
        env={**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flask_commands_say_nothing_of_alembic_plugins(app):
    done = _flask(app, "stock-check")
    assert done.returncode == 0, done.stderr
    assert "alembic" not in done.stderr + done.stdout


def test_cli_user_create_reads_a_piped_password_with_password_stdin(app):
    done = _flask(
        app,
        *("user", "create", "piped@example.org", "--role", "fulfillment"),
        *("--first-name", "Pia", "--last-name", "Ped", "--password-stdin"),
        stdin="a piped password long enough\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Created fulfillment piped@example.org.\n"
    assert done.stderr == ""  # no GetPassWarning, no prompt
    with app_context(app) as session:
        user = session.scalar(select(User).where(User.email == "piped@example.org"))
        assert check_password_hash(user.password_hash, "a piped password long enough")


def test_cli_user_create_takes_one_way_of_giving_the_password(app):
    done = _flask(
        app,
        *("user", "create", "both@example.org", "--role", "fulfillment"),
        *("--first-name", "B", "--last-name", "O", "--password", "x" * 12, "--password-stdin"),
        stdin="another password entirely\n",
    )
    assert done.returncode == 2 and "not both" in done.stderr
    with app_context(app) as session:
        assert session.scalar(select(User).where(User.email == "both@example.org")) is None
