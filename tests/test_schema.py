"""The models and the migrations describe the same database, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from app.extensions import db
from tests.conftest import app_context


def test_migrations_match_the_models(app):
    """Autogenerate, run against the migrated test database, finds nothing to add."""
    with app_context(app), warnings.catch_warnings():
        # SQLite's indexes on expressions (the patient search's lower(...)) cannot be read
        # back: they are compared on PostgreSQL, and checked on both below.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migrations_reach_head(app):
    with app_context(app) as session:
        version = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    scripts = ScriptDirectory(str(Path(__file__).parent.parent / "migrations"))
    assert [version] == scripts.get_heads()


def test_the_lookups_the_api_makes_are_indexed(app):
    with app_context(app):
        inspector = inspect(db.engine)

        def indexed(table):
            columns = [tuple(ix["column_names"]) for ix in inspector.get_indexes(table)]
            columns += [tuple(uc["column_names"]) for uc in inspector.get_unique_constraints(table)]
            return columns

        assert ("current_status", "id") in indexed("order_")
        assert ("patient_id", "id") in indexed("order_")
        assert ("site_id", "id") in indexed("order_")
        assert ("value",) in indexed("order_external_id")
        assert ("value",) in indexed("tracking_number")
        assert ("order_id", "id") in indexed("order_event")
        assert ("type", "value") in indexed("device_identifier")
        assert ("key_hash",) in indexed("api_key")
        assert ("scope", "key") in indexed("submission_key")


def test_patients_are_found_by_the_first_letters_through_an_index(app):
    """Names and identifiers are matched as lower(x) LIKE 'ada%': PostgreSQL needs the
    pattern operator class for that, under any collation."""
    with app_context(app) as session:
        postgresql = db.engine.dialect.name == "postgresql"
        if postgresql:
            rows = session.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'patient'")
            )
        else:
            rows = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        definitions = {name: " ".join((sql or "").split()) for name, sql in rows}
    definition = definitions["ix_patient_lower_external_identifier"]
    # PostgreSQL gives it back as lower((external_identifier)::text)
    assert re.search(r"lower\(\(?external_identifier\)?(::text)?\)", definition)
    assert ("text_pattern_ops" in definition) == postgresql
    # Names by their search keys (stored in lower case, without apostrophes or hyphens).
    for name in ("first_name_key", "last_name_key"):
        assert re.search(rf"\(\s*{name}( text_pattern_ops)?\)", definitions[f"ix_patient_{name}"])
        assert ("text_pattern_ops" in definitions[f"ix_patient_{name}"]) == postgresql
    if not postgresql:
        with app_context(app) as session:
            table = session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'patient'"))
            assert 'first_name_key VARCHAR(100) COLLATE "NOCASE"' in table.scalar()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    with app_context(app) as session:
        if db.engine.dialect.name != "sqlite":
            assert db.engine.dialect.name == "postgresql"
            return
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_an_order_cannot_have_two_recipients_even_bypassing_the_service(app, catalog):
    """The rule is in the service; the table guards it too."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    with app_context(app) as session:
        with pytest.raises(IntegrityError):
            session.execute(
                text(
                    "INSERT INTO order_ (patient_id, site_id, current_status, email_label,"
                    " created_at, updated_at, version) VALUES (:p, :s, 'created', false,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
                ),
                {"p": catalog.patient, "s": catalog.site},
            )
        session.rollback()
