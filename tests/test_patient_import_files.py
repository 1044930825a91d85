"""A CSV file of patients is read as it was written or refused with the line to look at: no
row is lost without a word (a quote left open swallowed every row after it), and no letter is
changed (a file that is not UTF-8 was read as Latin-1: "José" became "JosÃ©")."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.history.models import RecordChange
from app.people import importing
from app.people.models import Address, Patient, PatientImport
from tests.conftest import app_context
from tests.helpers.web import Browserless

HEADING = "MRN,First name,Last name,DOB,Address,City,State,ZIP,Note\n"


def row(n: int, first: str = "Ann", note: str = "", dob: str = "1950-01-01") -> str:
    return f"IMP-{n},{first},Lee{n},{dob},1 Elm St,Columbus,OH,43215,{note}\n"


@pytest.fixture
def coordinator(client, catalog):
    person = Browserless(client)
    person.sign_in("coordinator")
    return person


def upload(person, content: bytes, encoding: str | None = None):
    data = {"file": (io.BytesIO(content), "patients.csv")}
    if encoding is not None:
        data["encoding"] = encoding
    return person.post("/patients/import", data, content_type="multipart/form-data")


def patient_count(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(Patient.id)))


def hundred_rows_with(line_52: str, later: dict[int, str] | None = None) -> str:
    """A heading and rows 1..100 (lines 2..101), line 52 (row 51) replaced."""
    lines = [row(n) for n in range(1, 101)]
    lines[50] = line_52
    for line, text in (later or {}).items():
        lines[line - 2] = text
    return HEADING + "".join(lines)


def refused_with(app, person, content: str, message: str) -> None:
    response = upload(person, content.encode())
    assert response.status_code == 303
    preview_url = response.headers["Location"]
    html = person.get(preview_url).text
    assert message in html, re.findall(r'<div class="error-summary".*?</div>', html, re.S)
    assert re.search(r"<strong>[1-9][0-9]* to add", html) is None
    person.post(preview_url)
    assert "Nothing was imported" in person.get(preview_url).text
    assert patient_count(app) == 2


def test_a_quote_never_closed_refuses_the_file_and_names_its_line(app, coordinator):
    content = hundred_rows_with('IMP-51,"Ann,Lee51,1950-01-01,1 Elm St,Columbus,OH,43215,\n')
    refused_with(
        app, coordinator, content, "The quote that opens a cell on line 52 is never closed"
    )


def test_the_line_of_a_quote_never_closed_is_found_past_doubled_and_mid_cell_quotes(
    app, coordinator
):
    """ "" inside a quoted cell is a quote, and a quote inside a cell opens nothing (the csv
    module's rules): neither is taken for the quote left open. Lines are the file's own: the
    note over two lines moves the unclosed quote of row 55 to line 57."""
    content = hundred_rows_with(
        'IMP-51,Ann,Lee51,1950-01-01,1 Elm St,Columbus,OH,43215,"Say ""ring"", then,\nwait"\n',
        {
            54: 'IMP-53,An"n,Lee53,1950-01-01,1 Elm St,Columbus,OH,43215,\n',
            55: 'IMP-54,Ann,Lee54,1950-01-01,1 Elm St,Columbus,OH,43215,"A ""B"" C"\n',
            56: 'IMP-55,"Bob ""B"",Lee55,1950-01-01,1 Elm St,Columbus,OH,43215,\n',
        },
    )
    refused_with(
        app, coordinator, content, "The quote that opens a cell on line 57 is never closed"
    )


NEVER_CLOSED = (
    "The quote that opens a cell on line {} is never closed, so every line after it would be "
    'read as that one cell. Close it (a quote inside a cell is written twice: "").'
)


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        # The open quote is the first character of its line.
        ('"IMP-2,Ann,Lee2,1950-01-01,1 Elm St,Columbus,OH,43215,\n', 3),
        # Closed after a doubled quote ("" then the closing "), then another left open.
        ('IMP-2,"Ann ""A""",Lee2,1950-01-01,1 Elm St,Columbus,OH,43215,"Ring\n', 3),
        # A quote inside a cell, after a letter, opens nothing.
        ('IMP-2,MAX"Y,Lee2,1950-01-01,1 Elm St,Columbus,OH,43215,"Ring\n', 3),
        # A note over two lines, closed, and on its second line a quote left open.
        ('IMP-2,Ann,Lee2,1950-01-01,1 Elm St,Columbus,OH,43215,"Ring\ntwice","Wait\n', 4),
        (row(2) + 'IMP-3,Ann,Lee3,1950-01-01,1 Elm St,Columbus,OH,43215,"A\nB\nC","D\n', 6),
    ],
    ids=["at-line-start", "after-doubled-quotes", "mid-cell-quote", "second-line", "third-line"],
)
def test_the_quote_left_open_is_found_on_its_own_line_of_the_record(app, rows, line):
    with app.app_context():
        preview = importing.check_file(HEADING + row(1) + rows)
    assert (preview.rows, preview.file_problems) == ([], [NEVER_CLOSED.format(line)])


def test_a_quote_closed_rows_later_names_the_line_it_opened(app, coordinator):
    content = hundred_rows_with(
        'IMP-51,"Ann,Lee51,1950-01-01,1 Elm St,Columbus,OH,43215,\n',
        {61: 'IMP-60,"Bob",Lee60,1950-01-01,1 Elm St,Columbus,OH,43215,\n'},
    )
    refused_with(app, coordinator, content, "line 52")


def test_a_cell_that_runs_over_lines_outside_the_note_refuses_the_file(app, coordinator):
    # The quote opened on line 52 is closed at the end of line 61: one "first name" of ten
    # lines, and nine patients gone, unless the file is refused.
    content = hundred_rows_with(
        'IMP-51,"Ann,Lee51,1950-01-01,1 Elm St,Columbus,OH,43215,\n',
        {61: 'IMP-60,Bob,Lee60,1950-01-01,1 Elm St,Columbus,OH,43215,note"\n'},
    )
    refused_with(app, coordinator, content, "line 52")


def test_a_note_may_run_over_lines(app, coordinator):
    content = HEADING + row(1, note='"Blue door,\nback of the building"') + row(2)
    preview_url = upload(coordinator, content.encode()).headers["Location"]
    assert "<strong>2 to add</strong>" in coordinator.get(preview_url).text
    coordinator.post(preview_url)
    with app_context(app) as session:
        note = session.scalar(
            select(Address.note).join(Patient).where(Patient.external_identifier == "IMP-1")
        )
    assert note == "Blue door,\nback of the building"


LATIN_1 = (HEADING + row(1) + row(2, first="José") + row(3, first="Zoë")).encode("cp1252")


def test_a_file_that_is_not_utf8_is_refused_with_its_line(app, coordinator):
    response = upload(coordinator, LATIN_1)
    assert response.status_code == 422
    assert "The file is not UTF-8 at line 3" in response.text
    assert '<option selected value="utf-8">' in response.text
    with app_context(app) as session:
        assert session.scalar(select(func.count(PatientImport.id))) == 0


def test_a_windows_1252_file_is_read_when_its_encoding_is_chosen(app, coordinator):
    response = upload(coordinator, LATIN_1, encoding="cp1252")
    assert response.status_code == 303
    preview_url = response.headers["Location"]
    assert "José" in coordinator.get(preview_url).text
    coordinator.post(preview_url)
    with app_context(app) as session:
        names = set(session.scalars(select(Patient.first_name)))
    assert {"José", "Zoë"} <= names and not any("Ã" in name for name in names)


def test_the_form_keeps_the_chosen_encoding_when_it_refuses_the_file(app, coordinator):
    # 0x81 is no character in Windows-1252.
    content = (HEADING + row(1)).encode() + b"IMP-2,A\x81n,Lee,1950-01-01,1 Elm,C,OH,43215,\n"
    response = upload(coordinator, content, encoding="cp1252")
    assert response.status_code == 422
    assert "The file is not Windows-1252 (Latin-1) at line 3" in response.text
    assert '<option selected value="cp1252">' in response.text


def test_a_utf8_file_with_a_byte_order_mark_is_read(app, coordinator):
    content = "\ufeff" + HEADING + row(1, first="José")
    preview_url = upload(coordinator, content.encode()).headers["Location"]
    html = coordinator.get(preview_url).text
    assert "<strong>1 to add</strong>" in html and "José" in html


def test_a_file_with_a_nul_character_is_refused_with_its_line(app, coordinator):
    content = (HEADING + row(1)).encode() + b"IMP-2,A\x00na,Lee,1950-01-01,1 Elm,C,OH,43215,\n"
    response = upload(coordinator, content)
    assert response.status_code == 422
    assert "NUL character at line 3" in response.text
    with app_context(app) as session:
        assert session.scalar(select(func.count(PatientImport.id))) == 0


def test_an_import_of_too_many_rows_imports_nothing(app, coordinator, catalog):
    from app.people.importing import MAX_ROWS

    content = HEADING + "".join(row(n) for n in range(MAX_ROWS + 1))
    preview_url = upload(coordinator, content.encode()).headers["Location"]
    assert f"A file holds at most {MAX_ROWS:,} patients" in coordinator.get(preview_url).text
    coordinator.post(preview_url)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Patient.id))) == 2
    assert "Nothing was imported" in coordinator.get(preview_url).text


def test_an_import_that_breaks_partway_imports_nothing(app, coordinator, catalog):
    content = HEADING + row(1) + 'IMP-2,"Ann,Lee,1950-01-01,1 Elm St,Columbus,OH,43215\n'
    preview_url = upload(coordinator, (content + "x" * 200_000).encode()).headers["Location"]
    assert "The quote that opens a cell on line 3 is never closed" in (
        coordinator.get(preview_url).text
    )
    coordinator.post(preview_url)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Patient.id))) == 2
    assert "Nothing was imported" in coordinator.get(preview_url).text


@pytest.mark.parametrize("dob", ["31/12/1950", "1950-13-01"])
def test_an_import_shows_a_malformed_date_of_birth_in_its_column(coordinator, catalog, dob):
    preview_url = upload(coordinator, (HEADING + row(1, dob=dob)).encode()).headers["Location"]
    html = coordinator.get(preview_url).text
    assert re.search(r"Date of birth</strong> \(column “DOB”\): Date of birth must be", html)


def import_file(person, content: str) -> str:
    """Uploads the file and imports it; answers the preview's URL."""
    preview_url = upload(person, content.encode()).headers["Location"]
    person.post(preview_url)
    return preview_url


def imported(app, identifier: str):
    with app_context(app) as session:
        patient = session.scalar(select(Patient).where(Patient.external_identifier == identifier))
        return patient and (
            patient.first_name,
            patient.last_name,
            patient.date_of_birth and patient.date_of_birth.isoformat(),
            patient.sex,
            patient.email,
            patient.phone_number,
            patient.site_id,
            patient.address.line_one,
            patient.address.line_two,
            patient.address.city,
            patient.address.state,
            patient.address.zip_code,
            patient.address.note,
        )


def test_every_column_a_file_may_have_is_stored_on_the_patient(app, coordinator, catalog):
    content = (
        "Patient ID,Given name,Surname,Birthdate,Gender,Email address,Mobile,Street,Address2,"
        "Town,State,Postcode,Clinic,Delivery note\n"
        "IMP-7,Grace,Hopper,12-09-1906,Female,grace@example.org,614-555-0199,1 Navy Way,Apt 2,"
        "Columbus,OH,43215,riverside CLINIC,Ring twice\n"
        "IMP-8,Alan,Kay,,,,,2 Park Pl,,Columbus,OH,43215,,\n"
    )
    import_file(coordinator, content)
    assert imported(app, "IMP-7") == (
        "Grace",
        "Hopper",
        "1906-12-09",
        "female",
        "grace@example.org",
        "+16145550199",
        catalog.site,
        "1 Navy Way",
        "Apt 2",
        "Columbus",
        "OH",
        "43215",
        "Ring twice",
    )
    assert imported(app, "IMP-8") == (
        "Alan",
        "Kay",
        None,
        "unknown",
        None,
        None,
        None,
        "2 Park Pl",
        None,
        "Columbus",
        "OH",
        "43215",
        None,
    )


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(app, coordinator, catalog):
    content = "\ufeff" + HEADING + row(1) + row(1, first="Bo")
    preview_url = upload(coordinator, content.encode()).headers["Location"]
    html = coordinator.get(preview_url).text
    assert (
        "<strong>External identifier</strong> (column “MRN”): Also on line 2: an identifier "
        "is used once." in html
    )
    coordinator.post(preview_url)
    rejected = coordinator.get(preview_url + "/rejected.csv").text
    assert rejected.splitlines()[0] == HEADING.strip() + ",Problems"


def file_error(response) -> str:
    """The message next to the file field of the refused upload form."""
    assert response.status_code == 422
    return re.search(r'<p class="error" id="file-error">(.*?)</p>', response.text, re.S)[1]


def test_a_file_not_in_its_encoding_is_refused_with_its_line_and_what_to_do(app, coordinator):
    assert file_error(upload(coordinator, LATIN_1)) == (
        "The file is not UTF-8 at line 3: save it as “CSV UTF-8”, or choose the encoding it "
        "was saved in."
    )
    # Counted from the file's first byte: a first line left empty is a line.
    assert file_error(upload(coordinator, b"\n" + LATIN_1, encoding="utf-8")) == (
        "The file is not UTF-8 at line 4: save it as “CSV UTF-8”, or choose the encoding it "
        "was saved in."
    )
    content = (HEADING + row(1)).encode() + b"IMP-2,A\x81n,Lee,1950-01-01,1 Elm,C,OH,43215,\n"
    assert file_error(upload(coordinator, content, encoding="cp1252")) == (
        "The file is not Windows-1252 (Latin-1) at line 3: choose the encoding it was saved in."
    )
    with app_context(app) as session:
        assert session.scalar(select(func.count(PatientImport.id))) == 0


@pytest.mark.parametrize(
    "content, line",
    [
        (b"\x00" + HEADING.encode(), 1),
        (b"\n" + HEADING.encode() + b"IMP-1,A\x00n,Lee\nIMP-2,B\x00n,Lee\n", 3),
    ],
)
def test_the_first_nul_character_of_a_file_refuses_it_with_its_line(
    app, coordinator, content, line
):
    assert file_error(upload(coordinator, content)) == (
        f"The file holds a NUL character at line {line}: save it as “CSV UTF-8”."
    )
    with app_context(app) as session:
        assert session.scalar(select(func.count(PatientImport.id))) == 0


def file_problems(person, preview_url: str) -> list[str]:
    """The problems of the whole file, at the top of its preview."""
    html = person.get(preview_url).text
    summary = re.search(r'<div class="error-summary" role="alert"><ul>(.*?)</ul>', html, re.S)
    return [unescape(p) for p in re.findall(r"<li>(.*?)</li>", summary[1], re.S)] if summary else []


def previewed(person, content: str) -> list[str]:
    return file_problems(person, upload(person, content.encode()).headers["Location"])


def test_a_file_that_stops_being_csv_is_refused_with_the_line_and_the_quote_to_look_at(
    app, coordinator
):
    assert previewed(coordinator, hundred_rows_with('IMP-51,"Ann,Lee51\n')) == [
        "The quote that opens a cell on line 52 is never closed, so every line after it would "
        'be read as that one cell. Close it (a quote inside a cell is written twice: "").'
    ]
    assert previewed(coordinator, '"MRN,First name\n' + row(1)) == [
        "The quote that opens a cell on line 1 is never closed, so every line after it would "
        'be read as that one cell. Close it (a quote inside a cell is written twice: "").'
    ]
    # A quote closed where its cell does not end: on the line it opened, or lines later.
    assert previewed(coordinator, HEADING + row(1) + row(2, first='"Bo"b')) == [
        "The file stops being readable CSV at line 3: ',' expected after '\"'."
    ]
    assert previewed(coordinator, HEADING + row(1, note='"Blue\ndoor"x') + row(2)) == [
        "The file stops being readable CSV at line 3: ',' expected after '\"' "
        "(the quoted cell opened on line 2)."
    ]


def test_a_cell_over_lines_outside_the_note_is_refused_with_its_column_and_line(coordinator):
    content = hundred_rows_with(
        'IMP-51,"Ann,Lee51,1950-01-01,1 Elm St,Columbus,OH,43215,\n',
        {61: 'IMP-60,Bob,Lee60,1950-01-01,1 Elm St,Columbus,OH,43215,note"\n'},
    )
    assert previewed(coordinator, content) == [
        "A cell of the column “First name” opens on line 52 and runs over 10 lines: only a "
        "note may. Check the quotes on line 52."
    ]
    # A line break of old Macs (a carriage return alone) is a line break too.
    assert previewed(coordinator, HEADING + row(1) + row(2, first='"A\rnn"')) == [
        "A cell of the column “First name” opens on line 3 and runs over 1 lines: only a note "
        "may. Check the quotes on line 3."
    ]


def test_a_file_without_the_needed_columns_names_every_one_missing(coordinator, catalog):
    assert previewed(coordinator, "name,city,zip\nAda,Columbus,43215\n") == [
        "The file has no column for: External identifier, First name, Last name, "
        "Address line 1, State."
    ]


def test_empty_rows_are_skipped_and_the_rows_after_them_are_read(app, coordinator, catalog):
    content = HEADING + row(1) + "\n" + ",,, ,,,,,\n" + row(2)[:-2] + "\n"
    preview_url = upload(coordinator, content.encode()).headers["Location"]
    assert "2 rows: <strong>2 to add</strong>" in coordinator.get(preview_url).text
    coordinator.post(preview_url)
    # The second row has no cell for the note: it is empty.
    assert imported(app, "IMP-2")[-1] is None and imported(app, "IMP-1") is not None


def test_a_row_names_the_site_it_cannot_be_sent_to(app, coordinator, catalog):
    content = (
        "MRN,First name,Last name,Address,City,State,ZIP,Site\n"
        "S-1,Ann,Lee,1 Elm St,Columbus,OH,43215,Closed Clinic\n"
        "S-2,Bob,Lee,1 Elm St,Columbus,OH,4321,Hill Clinic\n"
    )
    preview_url = import_file(coordinator, content)
    html = coordinator.get(preview_url).text
    assert "<strong>Site</strong> (column “Site”): Closed Clinic is inactive.</li>" in html
    assert "<strong>Site</strong> (column “Site”): No site is called “Hill Clinic”.</li>" in html
    assert imported(app, "S-1") is None and imported(app, "S-2") is None
    rejected = list(csv.reader(io.StringIO(coordinator.get(preview_url + "/rejected.csv").text)))
    assert rejected[2][-1] == (
        "Site: No site is called “Hill Clinic”.; ZIP code: Enter a ZIP code like 43215 or "
        "43215-1234."
    )


def test_patients_on_record_are_skipped_wherever_they_are_in_a_long_file(app, coordinator):
    import_file(coordinator, HEADING + row(0).replace("IMP-0", "OLD-1"))
    # Looked up 500 identifiers at a time: rows 1, 501 and 1001 are on record.
    rows = [row(n) for n in range(1, 1002)]
    for index, identifier in ((0, "mrn-1"), (500, "MRN-2"), (1000, "old-1")):
        rows[index] = row(0).replace("IMP-0", identifier)
    preview_url = upload(coordinator, (HEADING + "".join(rows)).encode()).headers["Location"]
    assert (
        "1001 rows: <strong>998 to add</strong>, 3 already on record (will be skipped), "
        "<strong>0 with problems</strong>" in coordinator.get(preview_url).text
    )


def test_an_upload_keeps_the_file_its_name_and_who_sent_it(app, coordinator, catalog):
    content = (HEADING + row(1)).encode()
    name = "clinic list " + "x" * 250 + ".csv"
    response = coordinator.post(
        "/patients/import",
        {"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app_context(app) as session:
        upload_ = session.scalar(select(PatientImport))
        assert (upload_.filename, upload_.content, upload_.sha256, upload_.uploaded_by_id) == (
            name[:200],
            content.decode(),
            hashlib.sha256(content).hexdigest(),
            catalog.users["coordinator"],
        )


def test_an_import_records_each_patient_it_adds_with_its_file(app, coordinator, catalog):
    preview_url = import_file(coordinator, HEADING + row(1) + row(2) + row(3, dob="1950-13-01"))
    with app_context(app) as session:
        upload_ = session.scalar(select(PatientImport))
        assert upload_.imported_at is not None
        assert upload_.result == {"created": 2, "skipped": 0, "problems": 1}
        ids = dict(session.execute(select(Patient.id, Patient.external_identifier)).all())
        changes = [
            (c.record_type, ids.get(c.record_id), c.action, c.actor_user_id, c.changes)
            for c in session.scalars(
                select(RecordChange)
                .where(RecordChange.actor_user_id == catalog.users["coordinator"])
                .order_by(RecordChange.id)
            )
        ]
    file = {"file": [None, "patients.csv"]}
    user = catalog.users["coordinator"]
    assert changes == [
        ("patient", "IMP-1", "imported", user, file),
        ("patient", "IMP-2", "imported", user, file),
    ]
    assert "2 added, 0 already on record (skipped), 1 not imported" in (
        coordinator.get(preview_url).text
    )


def flashed(person, url: str) -> list[str]:
    html = person.get(url).text
    return [unescape(m) for m in re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html, re.S)]


def test_an_import_done_or_refused_says_so_and_adds_no_one(app, coordinator, catalog):
    preview_url = import_file(coordinator, HEADING + row(1))
    coordinator.post(preview_url)
    assert "This file was imported already, or is gone." in flashed(coordinator, preview_url)
    refused_url = import_file(coordinator, HEADING + 'IMP-2,"Ann\n')
    assert (
        "Nothing was imported: The quote that opens a cell on line 2 is never closed, so every "
        "line after it would be read as that one cell. Close it (a quote inside a cell is "
        'written twice: "").'
    ) in flashed(coordinator, refused_url)
    assert patient_count(app) == 3


def test_a_patient_added_by_someone_else_during_the_import_stops_it_whole_and_says_so(
    app, coordinator, catalog
):
    """Between the import's check of the patients on record and its insert, someone else adds
    one of the file's patients: nothing is imported, the person is told why, and the file
    can be imported again (that patient then on record, the others added)."""
    from sqlalchemy import event, insert, literal

    from app.extensions import db

    preview_url = upload(coordinator, (HEADING + row(1) + row(2)).encode()).headers["Location"]
    patients = Patient.__table__
    columns = [c for c in patients.columns if c.name != "id"]
    copy_as_imp_1 = insert(patients).from_select(
        [c.name for c in columns],
        select(
            *[literal("IMP-1") if c.name == "external_identifier" else c for c in columns]
        ).where(patients.c.id == catalog.patient),
    )
    added_meanwhile = []

    def add_imp_1_meanwhile(conn, cursor, statement, parameters, context, many):
        on_record_looked_up = "external_identifier" in statement and "lower" in statement
        if added_meanwhile or not on_record_looked_up:
            return
        added_meanwhile.append(statement)
        conn.execute(copy_as_imp_1)  # in the import's own transaction: its rollback undoes it

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", add_imp_1_meanwhile)
    try:
        coordinator.post(preview_url)
    finally:
        event.remove(engine, "after_cursor_execute", add_imp_1_meanwhile)
    assert added_meanwhile
    assert flashed(coordinator, preview_url) == [
        "Some of these patients were added by someone else at the same moment; nothing was "
        "imported. Check the file again."
    ]
    assert patient_count(app) == 2
    with app_context(app) as session:
        assert session.scalar(select(PatientImport.imported_at)) is None
    coordinator.post(preview_url)
    assert patient_count(app) == 4 and imported(app, "IMP-2") is not None
