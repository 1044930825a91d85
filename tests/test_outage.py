"""A database outage answers 503 (JSON on the API and /health, a page of its own elsewhere)
with Retry-After, and the app recovers by itself when the database is back.

On PostgreSQL a scratch database of its own is blocked (ALLOW_CONNECTIONS false, its
backends ended) and restored; on SQLite the database file's folder is missing, then made.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.auth.models import ApiKey, User
from app.auth.scopes import ALL_SCOPES
from app.db.transactions import write_transaction
from app.extensions import db
from tests.conftest import PASSWORD, password_hash
from tests.helpers.web import Browserless, csrf_token


def _admin_engine(url):
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextmanager
def scratch_postgresql(base_url: str):
    url = make_url(base_url)
    name = f"{url.database}_outage"
    engine = _admin_engine(url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def block():
        with engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )

    def restore():
        with engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    try:
        yield url.set(database=name).render_as_string(hide_password=False), block, restore
    finally:
        restore()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _prepare(outage_app) -> str:
    with outage_app.app_context():
        upgrade()
        with write_transaction() as session:
            session.add(
                User(
                    email="coordinator@example.org",
                    role="coordinator",
                    first_name="C",
                    last_name="T",
                    password_hash=password_hash(),
                )
            )
            key, plain = ApiKey.issue("Outage", ALL_SCOPES)
            session.add(key)
        db.session.remove()
    return plain


def _assert_outage_answers(outage_app, person, key):
    client = person.client
    api = client.get("/api/v3/order", headers={"Impilo-API-Key": key})
    assert api.status_code == 503
    assert api.json["error"]["code"] == "database_unavailable"
    assert int(api.headers["Retry-After"]) > 0
    health = client.get("/health")
    assert health.status_code == 503 and health.json["error"]["code"] == "database_unavailable"
    page = client.get("/orders/")
    assert page.status_code == 503
    assert "cannot reach its database" in page.text and page.headers["Retry-After"]
    missing = client.get("/no-such-page")
    assert missing.status_code in (404, 503)
    # Static files need no database, even for a signed-in browser.
    style = client.get("/static/css/app.css")
    assert style.status_code == 200 and b"{" in style.data


@pytest.mark.skipif(
    "not __import__('os').environ.get('DATABASE_URL', '').startswith('postgresql')",
    reason="blocks a scratch PostgreSQL database; the SQLite run has its own outage test",
)
def test_postgresql_outage_answers_503_and_recovers(app):
    with scratch_postgresql(app.config["SQLALCHEMY_DATABASE_URI"]) as (url, block, restore):
        outage_app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        key = _prepare(outage_app)
        person = Browserless(outage_app.test_client())
        assert person.sign_in("coordinator", PASSWORD).status_code == 303
        block()
        try:
            _assert_outage_answers(outage_app, person, key)
        finally:
            restore()
        assert person.client.get("/orders/").status_code == 200
        assert person.client.get("/health").status_code == 200
        assert (
            person.client.get("/api/v3/order", headers={"Impilo-API-Key": key}).status_code == 200
        )
        with outage_app.app_context():
            db.engine.dispose()


def test_sqlite_outage_answers_503_and_recovers(tmp_path):
    folder = tmp_path / "gone"
    outage_app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'orderly.db'}"}
    )
    client = outage_app.test_client()
    api = client.get("/api/v3/order", headers={"Impilo-API-Key": "ok_anything"})
    assert api.status_code == 503 and api.json["error"]["code"] == "database_unavailable"
    assert api.headers["Retry-After"]
    health = client.get("/health")
    assert health.status_code == 503 and health.json["error"]["code"] == "database_unavailable"
    # The sign-in form itself needs no database; signing in does, and answers 503 (with the
    # CSRF token sent, so that it is the outage answering, not the CSRF refusal).
    page = client.get("/sign-in")
    assert page.status_code == 200
    sign_in = client.post(
        "/sign-in", data={"email": "a@b.c", "password": "x", "csrf_token": csrf_token(page.text)}
    )
    assert sign_in.status_code == 503
    folder.mkdir()
    assert client.get("/health").status_code == 200
    with outage_app.app_context():
        db.engine.dispose()


def test_a_signed_in_browser_gets_static_files_during_a_sqlite_outage(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    outage_app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'orderly.db'}"}
    )
    _prepare(outage_app)
    person = Browserless(outage_app.test_client())
    assert person.sign_in("coordinator", PASSWORD).status_code == 303
    with outage_app.app_context():
        db.engine.dispose()
    folder.rename(tmp_path / "away")
    try:
        assert person.get("/orders/").status_code == 503
        style = person.get("/static/css/app.css")
        assert style.status_code == 200 and b"{" in style.data
    finally:
        (tmp_path / "away").rename(folder)
    assert person.get("/orders/").status_code == 200
    with outage_app.app_context():
        db.engine.dispose()


def test_static_files_run_no_sql(app, catalog, count_queries):
    person = Browserless(app.test_client())
    assert person.sign_in("coordinator", PASSWORD).status_code == 303
    with count_queries() as counter:
        style = person.get("/static/css/app.css")
        script = person.get("/static/js/app.js")
    assert (style.status_code, script.status_code) == (200, 200)
    assert counter.statements == []
