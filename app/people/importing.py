"""Patients from a CSV file: a preview that lists each row's problems by row and column,
then an import of every good row (the others are reported, not imported).

A row whose external identifier is already on record is skipped, so the same file
imported twice adds no one twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth.actor import Actor
from app.database import utcnow, write_transaction
from app.extensions import db
from app.forms import snake
from app.history.record import record_change
from app.people import service
from app.people.models import Address, Patient, PatientImport, Site
from app.validation import Problem, Rejected, normalised_identifier

MAX_ROWS = 5000
# Column names people use, for each field (compared lower-case, without spaces or _).
COLUMNS = {
    "external_identifier": ["externalidentifier", "mrn", "externalid", "patientid", "identifier"],
    "first_name": ["firstname", "givenname", "first"],
    "last_name": ["lastname", "familyname", "surname", "last"],
    "date_of_birth": ["dateofbirth", "dob", "birthdate"],
    "sex": ["sex", "gender"],
    "email": ["email", "emailaddress"],
    "phone_number": ["phonenumber", "phone", "mobile"],
    "line_one": ["lineone", "addressline1", "address1", "address", "street"],
    "line_two": ["linetwo", "addressline2", "address2"],
    "city": ["city", "town"],
    "state": ["state"],
    "zip_code": ["zipcode", "zip", "postalcode", "postcode"],
    "site": ["site", "sitename", "clinic"],
    "note": ["note", "deliverynote", "addressnote"],
}
REQUIRED = (
    "external_identifier",
    "first_name",
    "last_name",
    "line_one",
    "city",
    "state",
    "zip_code",
)
LABELS = {
    "external_identifier": "External identifier",
    "first_name": "First name",
    "last_name": "Last name",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "email": "Email",
    "phone_number": "Phone",
    "line_one": "Address line 1",
    "line_two": "Address line 2",
    "city": "City",
    "state": "State",
    "zip_code": "ZIP code",
    "site": "Site",
    "note": "Note",
}


@dataclass
class RowCheck:
    line: int  # the line in the file, as a spreadsheet numbers it
    values: dict
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, message)
    exists: bool = False
    # The external identifier in its one spelling, lower-case: what "already on record" and
    # "also on line n" compare.
    identifier_key: str = ""
    # The checked values (patient, address), ready to store, when the row has no problem.
    checked: tuple[dict, dict] | None = None

    @property
    def status(self) -> str:
        if self.problems:
            return "problem"
        return "exists" if self.exists else "new"


@dataclass
class Preview:
    columns: dict[str, str]  # field -> the column heading in the file
    rows: list[RowCheck]
    file_problems: list[str]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


def _key(heading: str) -> str:
    return "".join(ch for ch in heading.lower() if ch.isalnum())


def _date(text: str) -> str:
    """ISO dates as they are; US dates (12/31/1950) turned into ISO ones."""
    text = text.strip()
    for fmt in ("%m/%d/%Y", "%m-%d-%Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return text


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def check_file(content: str) -> Preview:
    reader = csv.reader(io.StringIO(content))
    try:
        headings = next(reader)
    except StopIteration:
        return Preview({}, [], ["The file is empty."])
    except csv.Error as error:
        return Preview({}, [], [f"The file is not readable CSV: {error}."])
    columns: dict[str, int] = {}
    found: dict[str, str] = {}
    for index, heading in enumerate(headings):
        key = _key(heading)
        for name, aliases in COLUMNS.items():
            if (key == _key(name) or key in aliases) and name not in columns:
                columns[name] = index
                found[name] = heading.strip()
    missing = [LABELS[c] for c in REQUIRED if c not in columns]
    if missing:
        return Preview(found, [], ["The file has no column for: " + ", ".join(missing) + "."])

    sites = {s.name.lower(): s for s in db.session.scalars(select(Site))}
    sites_by_id = {s.id: s for s in sites.values()}
    rows, seen = [], {}
    line = 1  # the heading's
    try:
        for line, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                # Refused whole: importing the first rows only would leave the rest forgotten.
                return Preview(
                    found, [], [f"A file holds at most {MAX_ROWS:,} patients; split it."]
                )
            values = {
                name: (record[i].strip() if i < len(record) else "") for name, i in columns.items()
            }
            rows.append(_check_row(line, values, sites, sites_by_id, seen))
    except csv.Error as error:
        return Preview(
            found, [], [f"The file stops being readable CSV after line {line}: {error}."]
        )
    _mark_existing(rows)
    return Preview(found, rows, [])


def _check_row(line: int, values: dict, sites: dict, sites_by_id: dict, seen: dict) -> RowCheck:
    row = RowCheck(line, values)
    site_id = None
    site_name = values.get("site", "")
    if site_name:
        site = sites.get(site_name.lower())
        if site is None:
            row.problems.append(("site", f"No site is called “{site_name}”."))
        elif not site.active:
            row.problems.append(("site", f"{site.name} is inactive."))
        else:
            site_id = site.id
    try:
        # Unique identifiers are checked for the whole file at once (_mark_existing).
        row.checked = service.check_patient(
            _draft(values, site_id), check_unique=False, sites=sites_by_id
        )
    except Rejected as rejected:
        for problem in rejected.problems:
            column = snake(problem.field or "")
            row.problems.append((column if column in LABELS else "", problem.message))
    ident = normalised_identifier(values.get("external_identifier", "")).lower()
    row.identifier_key = ident
    if ident:
        if ident in seen:
            row.problems.append(
                ("external_identifier", f"Also on line {seen[ident]}: an identifier is used once.")
            )
        else:
            seen[ident] = line
    row.values["site_id"] = site_id
    return row


def _draft(values: dict, site_id: int | None) -> service.PatientDraft:
    return service.PatientDraft(
        external_identifier=values.get("external_identifier"),
        first_name=values.get("first_name"),
        last_name=values.get("last_name"),
        date_of_birth=_date(values.get("date_of_birth", "")) or None,
        email=values.get("email") or None,
        phone_number=values.get("phone_number") or None,
        sex=(values.get("sex") or "unknown").lower(),
        site_id=site_id,
        address=service.AddressDraft(
            line_one=values.get("line_one"),
            line_two=values.get("line_two") or None,
            city=values.get("city"),
            state=values.get("state"),
            zip_code=values.get("zip_code"),
            note=values.get("note") or None,
        ),
    )


def _mark_existing(rows: list[RowCheck]) -> None:
    """Rows whose patient is already on record are skipped: one query per 500 rows."""
    idents = [r.identifier_key for r in rows if r.identifier_key]
    existing = set()
    for start in range(0, len(idents), 500):
        chunk = idents[start : start + 500]
        existing |= set(
            db.session.scalars(
                select(func.lower(Patient.external_identifier)).where(
                    func.lower(Patient.external_identifier).in_(chunk)
                )
            )
        )
    for row in rows:
        if row.identifier_key and row.identifier_key in existing:
            row.exists = True


def store(filename: str, raw: bytes, actor: Actor) -> PatientImport:
    """Keeps the file for its preview. NUL characters, which no CSV of patients has and
    PostgreSQL cannot store, are dropped (the preview then shows what is left)."""
    content = decode(raw).replace("\x00", "")
    filename = "".join(ch for ch in (filename or "") if ch.isprintable())
    with write_transaction() as session:
        upload = PatientImport(
            filename=(filename or "patients.csv")[:200],
            content=content,
            sha256=hashlib.sha256(raw).hexdigest(),
            uploaded_by_id=actor.user_id,
        )
        session.add(upload)
    return upload


def run_import(import_id: int, actor: Actor) -> dict:
    """Adds every good new row in one transaction; answers what was done."""
    try:
        return _run_import(import_id, actor)
    except IntegrityError:
        raise Rejected(
            [
                Problem(
                    "import_conflict",
                    "Some of these patients were added by someone else at "
                    "the same moment; nothing was imported. Check the file again.",
                )
            ]
        ) from None


def _run_import(import_id: int, actor: Actor) -> dict:
    with write_transaction() as session:
        # Locked, so that a double click imports once (the second sees it imported).
        upload = session.scalar(
            select(PatientImport).where(PatientImport.id == import_id).with_for_update()
        )
        if upload is None or upload.imported_at is not None:
            raise Rejected([Problem("import_done", "This file was imported already, or is gone.")])
        preview = check_file(upload.content)
        if preview.file_problems:
            raise Rejected(
                [Problem("import_refused", "Nothing was imported: " + preview.file_problems[0])]
            )
        patients = [
            Patient(**row.checked[0], address=Address(**row.checked[1]))
            for row in preview.rows
            if row.status == "new"
        ]
        session.add_all(patients)
        session.flush()  # one batch of inserts, not one round trip per patient
        for patient in patients:
            record_change(
                "patient", patient.id, "imported", actor, {"file": [None, upload.filename]}
            )
        created = len(patients)
        result = {
            "created": created,
            "skipped": preview.count("exists"),
            "problems": preview.count("problem"),
        }
        upload.imported_at = utcnow()
        upload.result = result
    return result


def rejected_rows_csv(content: str) -> str:
    """The rows not imported because of problems, as the file had them, with a "Problems"
    column: a file to fix and import again (rows already on record stay out of it)."""
    preview = check_file(content)
    bad = {row.line: row for row in preview.rows if row.status == "problem"}
    out = io.StringIO()
    writer = csv.writer(out)
    reader = csv.reader(io.StringIO(content))
    try:
        writer.writerow([*next(reader), "Problems"])
        for line, record in enumerate(reader, start=2):
            if line in bad:
                problems = "; ".join(
                    f"{LABELS.get(column, 'Row')}: {message}"
                    for column, message in bad[line].problems
                )
                writer.writerow([*record, problems])
    except (StopIteration, csv.Error):
        pass  # an unreadable file has no rows to give back; its page says why
    return out.getvalue()
