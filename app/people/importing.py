"""Patients from a CSV file: a preview that lists each row's problems by row and column,
then an import of every good row (the others are reported, not imported).

A row whose external identifier is already on record is skipped, so the same file
imported twice adds no one twice. A file is read as it was written or refused with the line
to look at: in the encoding the person chose (UTF-8 unless they say otherwise), and as strict
CSV, so that a quote left open cannot swallow the rows after it into one cell.
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
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.forms import snake
from app.history.changes import record_change
from app.people import service
from app.people.models import Address, Patient, PatientImport, Site
from app.validation import Problem, Rejected, normalised_identifier

MAX_ROWS = 5000
# The encodings a file may be read in (the import form offers them), by Python's codec name.
ENCODINGS = {"utf-8": "UTF-8", "cp1252": "Windows-1252 (Latin-1)"}
# The one column whose cells may run over several lines (a delivery note).
MULTI_LINE_COLUMNS = ("note",)
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


def decode(raw: bytes, encoding: str = "utf-8") -> str:
    """The file's text, or Rejected naming the line that is not in ``encoding`` (a file is
    never read in another encoding than the one chosen: that would change its letters)."""
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        content = raw.decode(codec)
    except (UnicodeDecodeError, LookupError) as error:
        start = getattr(error, "start", 0)
        line = raw.count(b"\n", 0, start) + 1
        name = ENCODINGS.get(encoding, encoding)
        hint = (
            "save it as “CSV UTF-8”, or choose the encoding it was saved in"
            if encoding == "utf-8"
            else "choose the encoding it was saved in"
        )
        raise Rejected(
            [Problem("file_encoding", f"The file is not {name} at line {line}: {hint}.", "file")]
        ) from None
    nul = content.find("\x00")
    if nul >= 0:
        # No patient file holds one; a file saved as UTF-16 is full of them.
        line = content.count("\n", 0, nul) + 1
        raise Rejected(
            [
                Problem(
                    "file_nul",
                    f"The file holds a NUL character at line {line}: save it as “CSV UTF-8”.",
                    "file",
                )
            ]
        )
    return content


class FileProblem(Exception):
    """The file cannot be read as CSV; the message names the line to look at."""


def _records(content: str):
    """(line, cells) of each record, ``line`` the record's first line in the file. Strict
    CSV: a quote left open, or closed where a cell does not end, refuses the file with the
    line where that quote opened (read leniently, it took every line after it as one cell)."""
    reader = csv.reader(io.StringIO(content), strict=True)
    first = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            opened, still_open = _last_quote(content, first)
            if still_open:
                raise FileProblem(
                    f"The quote that opens a cell on line {opened} is never closed, so every "
                    "line after it would be read as that one cell. Close it (a quote inside a "
                    'cell is written twice: "").'
                ) from None
            raise FileProblem(
                f"The file stops being readable CSV at line {reader.line_num}: {error}"
                + (
                    f" (the quoted cell opened on line {opened})."
                    if opened < reader.line_num
                    else "."
                )
            ) from None
        yield first, cells
        first = reader.line_num + 1


def _last_quote(content: str, first_line: int) -> tuple[int, bool]:
    """The line on which the last quoted cell from ``first_line`` on opened, and whether it
    is still open at the end of the file (the rules of the csv module: a quote opens a cell
    only at its start; "" inside a quoted cell is a quote)."""
    start = 0
    for _ in range(first_line - 1):
        start = content.find("\n", start) + 1
        if start == 0:  # (no such line)
            return first_line, False
    line = opened = first_line
    quoted, at_cell_start = False, True
    i, end = start, len(content)
    while i < end:
        ch = content[i]
        if quoted:
            if ch == '"':
                if content.startswith('"', i + 1):
                    i += 1
                else:
                    quoted = False
        else:
            if ch == '"' and at_cell_start:
                quoted, opened = True, line
            at_cell_start = ch in ",\r\n"
        if ch == "\n":
            line += 1
        i += 1
    return opened, quoted


def check_file(content: str) -> Preview:
    records = _records(content)
    try:
        headings = next(records, (1, None))[1]
    except FileProblem as problem:
        return Preview({}, [], [str(problem)])
    if headings is None:
        return Preview({}, [], ["The file is empty."])
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
    try:
        for line, (first_line, record) in enumerate(records, start=2):
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
            _refuse_cells_over_lines(values, first_line, found)
            rows.append(_check_row(line, values, sites, sites_by_id, seen))
    except FileProblem as problem:
        return Preview(found, [], [str(problem)])
    _mark_existing(rows)
    return Preview(found, rows, [])


def _refuse_cells_over_lines(values: dict, first_line: int, headings: dict) -> None:
    """Only a note may run over lines: any other cell that does was most likely opened by a
    quote that is not closed where it should be, and holds the rows after it."""
    for name, value in values.items():
        if name not in MULTI_LINE_COLUMNS and ("\n" in value or "\r" in value):
            raise FileProblem(
                f"A cell of the column “{headings[name]}” opens on line {first_line} and runs "
                f"over {value.count(chr(10)) + 1} lines: only a note may. Check the quotes on "
                f"line {first_line}."
            )


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


def store(filename: str, raw: bytes, actor: Actor, encoding: str = "utf-8") -> PatientImport:
    """Keeps the file, read in ``encoding``, for its preview; or Rejected (field "file") when
    it is not in that encoding or holds a NUL character."""
    content = decode(raw, encoding)
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
    records = _records(content)
    try:
        writer.writerow([*next(records)[1], "Problems"])
        for line, (_, record) in enumerate(records, start=2):
            if line in bad:
                problems = "; ".join(
                    f"{LABELS.get(column, 'Row')}: {message}"
                    for column, message in bad[line].problems
                )
                writer.writerow([*record, problems])
    except (StopIteration, FileProblem):
        pass  # an unreadable file has no rows to give back; its page says why
    return out.getvalue()
