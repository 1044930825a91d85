"""A CSV file of patients is read as it was written or refused with the line to look at: no
row is lost without a word (a quote left open swallowed every row after it), and no letter is
changed (a file that is not UTF-8 was read as Latin-1: "José" became "JosÃ©")."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

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
