"""The PHI access log: who viewed, printed or exported which patient's data, and when.

A view notes what it shows with ``note_patient_access``; the entries of one request are
written together, in ONE insert, when its answer is ready (a streamed CSV: when it has been
sent), on a connection of their own. So the log costs a fixed number of statements per request
however many patients a page shows, and a refused change does not take the log with it.
Only answers that succeeded (2xx) are logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, g, request
from flask_login import current_user
from sqlalchemy import delete

from app.db.fast_path import direct_insert
from app.db.reading import end_reading
from app.db.transactions import commit_separately, commit_statement_separately
from app.db.types import utcnow
from app.extensions import db
from app.history.models import PatientDataAccess

VIEWED, PRINTED, EXPORTED = "viewed", "printed", "exported"
# Built once, on the table, and run on the fast path: every order read writes one.
_COLUMNS = ("at", "patient_id", "order_id", "action", "source", "user_id", "api_key_id")
_INSERT = direct_insert(PatientDataAccess.__table__, _COLUMNS)


@dataclass
class _Pending:
    rows: list[dict] = field(default_factory=list)
    seen: set = field(default_factory=set)


def note_patient_access(
    source: str, action: str, patients: Iterable[tuple[int | None, int | None]]
) -> None:
    """Notes (patient id, order id) pairs shown by this request; orders without a patient
    (a site's) are skipped. Written when the answer is complete."""
    pending = g.setdefault("patient_access", _Pending())
    for patient_id, order_id in patients:
        key = (patient_id, order_id, source, action)
        if patient_id is None or key in pending.seen:
            continue
        pending.seen.add(key)
        pending.rows.append(
            {"patient_id": patient_id, "order_id": order_id, "source": source, "action": action}
        )


def _who() -> dict:
    api_key = g.get("api_key")
    if api_key is not None:
        return {"user_id": None, "api_key_id": api_key.id}
    if current_user and current_user.is_authenticated:
        return {"user_id": current_user.id, "api_key_id": None}
    return {"user_id": None, "api_key_id": None}


def register(app) -> None:
    @app.after_request
    def write_when_answered(response):
        # A static file shows no patient, and is answered without the database (during an
        # outage too): asking who is signed in would load the user.
        if not 200 <= response.status_code < 300 or request.endpoint == "static":
            return response
        # Left on g: a streamed answer goes on noting after this hook has run.
        pending = g.setdefault("patient_access", _Pending())
        who, at = _who(), utcnow()
        engine = db.engine

        def write():
            if pending.rows:
                rows = [{**row, **who, "at": at} for row in pending.rows]
                if len(rows) == 1:
                    # One row (an order read): one statement, written at once.
                    commit_statement_separately(_INSERT, rows[0], engine)
                    return
                end_reading()
                with commit_separately(engine) as conn:
                    _INSERT.run_many(conn, rows)

        if response.is_streamed:
            # A streamed answer (the CSV) notes its patients as it goes: they are all noted
            # once the answer is closed.
            response.call_on_close(write)
        elif pending.rows:
            # The answer is made: the request's reading ends here (write() ends it), not at
            # teardown, so that it does not hold SQLite's write-ahead log while it waits for
            # its turn to write (a checkpoint emptying the log waits for every reader still
            # in it).
            write()
        return response


def prune() -> int:
    """Removes entries older than PHI_ACCESS_RETENTION_DAYS; answers how many."""
    cutoff = utcnow() - timedelta(days=current_app.config["PHI_ACCESS_RETENTION_DAYS"])
    with commit_separately() as conn:
        return conn.execute(delete(PatientDataAccess).where(PatientDataAccess.at < cutoff)).rowcount
