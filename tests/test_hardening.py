"""The defects an outside review found, each pinned by a test that failed before its fix."""

from __future__ import annotations

import io
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash

from app.auth import service as auth_service
from app.auth import throttle
from app.auth.models import ApiKey, SignInAttempt, User
from app.history.models import RecordChange
from app.orders.models import Order
from app.people.models import Patient
from tests.conftest import PASSWORD, app_context
from tests.helpers.web import Browserless


@pytest.fixture
def coordinator(client, catalog):
    person = Browserless(client)
    person.sign_in("coordinator")
    return person


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    person.sign_in("admin")
    return person


def order_body(catalog, **overrides):
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
    }
    body.update(overrides)
    return body


def patient_body(**overrides):
    body = {
        "externalIdentifier": "MRN-77",
        "firstName": "Grace",
        "lastName": "Hopper",
        "dateOfBirth": "1936-12-09",
        "address": {"lineOne": "1 Elm St", "city": "Columbus", "state": "OH", "zipCode": "43215"},
    }
    body.update(overrides)
    return body


def post_raw(api, url, text: str):
    return api.post(url, data=text, headers={"Content-Type": "application/json"})


# 1. The failed-sign-in counter under parallel attempts.


def test_sixteen_parallel_wrong_passwords_make_that_client_wait(app, catalog):
    """Five passwords are checked, the rest refused before theirs is (the count is not lost
    to parallel attempts); another client of the account is not held back."""
    origin = throttle.Origin("203.0.113.50")

    def attempt(_):
        with app.app_context():
            try:
                return auth_service.authenticate(
                    "coordinator@example.org", "wrong password!", origin
                )
            except throttle.TooManyAttempts as refused:
                return refused.retry_after
            finally:
                from app.extensions import db

                db.session.remove()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(attempt, range(16)))
    assert answers.count(None) == 5
    assert len([a for a in answers if a is not None and 0 < a <= 60]) == 11
    with app_context(app) as session:
        failed = select(func.count(SignInAttempt.id)).where(SignInAttempt.succeeded.is_(False))
        assert session.scalar(failed) == 5
    with app.app_context():
        elsewhere = throttle.Origin("198.51.100.50")
        user = auth_service.authenticate("coordinator@example.org", PASSWORD, elsewhere)
        assert user is not None and user.id == catalog.users["coordinator"]


# 4. Lone surrogates, and 5. deep nesting: refused as JSON problems, never a 500.


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v3/order", '{"orderNotes":[{"note":"a\\udc00"}]}'),
        ("/api/v3/order", '{"externalOrderIds":["\\ud800x"]}'),
        ("/api/v3/patient", '{"firstName":"\\udc00"}'),
        ("/api/v3/patient", '{"address":{"note":"\\udfff"}}'),
        ("/api/v3/order/1/cancel", '{"reason":"\\udc00"}'),
    ],
)
def test_lone_surrogates_are_refused(api, catalog, path, body):
    response = post_raw(api, path, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_text"


def test_deep_nesting_is_refused_before_anything_else(api, catalog):
    deep = "[" * 800 + "]" * 800
    response = post_raw(api, "/api/v3/order", '{"externalOrderIds":' + deep + "}")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "too_deeply_nested"


# 6. Huge ids in every URL: 404, never 500.


@pytest.mark.parametrize("huge", [2**31, 2**63, 10**30])
def test_huge_ids_in_urls_answer_404(app, admin, api, huge):
    wrong = []
    for rule in app.url_map.iter_rules():
        ids = [arg for arg in rule.arguments if f"<int:{arg}>" in rule.rule]
        if not ids or rule.endpoint == "static":
            continue
        url = rule.rule
        for arg in ids:
            url = url.replace(f"<int:{arg}>", str(huge))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client = api if url.startswith("/api/") else admin
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, {}) if client is admin else client.post(url, json={})
            if response.status_code != 404:
                wrong.append(f"{method} {url}: {response.status_code}")
    assert wrong == []


# 7. 405 says what is allowed.


def test_405_carries_allow(api, admin):
    for response in (api.client.delete("/api/v3/order"), admin.client.delete("/orders/")):
        assert response.status_code == 405
        assert "GET" in response.headers["Allow"]


# 8. 413 closes the connection and says so.


def test_413_says_connection_close(app, api):
    response = post_raw(api, "/api/v3/order", "[" + " " * app.config["MAX_CONTENT_LENGTH"] + "]")
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


# 9. The NUL refusal fires on stored text only.


def test_nul_in_an_unknown_key_or_escaped_text_is_not_refused(api, catalog):
    body = order_body(catalog, orderNotes=[{"note": "path C:\\\\u0000 stays"}])
    response = api.post("/api/v3/order", json={**body, "extra\x00key": 1})
    assert response.status_code == 201, response.json
    assert response.json["orderNotes"][0]["note"] == "path C:\\\\u0000 stays"
    refused = api.post("/api/v3/order", json=order_body(catalog, orderNotes=[{"note": "a\x00"}]))
    assert refused.status_code == 400


# 10. Input that should be refused.


@pytest.mark.parametrize(
    "overrides, field",
    [
        (
            {"address": {"lineOne": "1 Elm", "city": "C", "state": "OH", "zipCode": "٤٣٢١٥"}},
            "address.zipCode",
        ),
        ({"firstName": "\u200b\u200b"}, "firstName"),
        ({"lastName": "Hop\u202eper"}, "lastName"),
        ({"externalIdentifier": "\u200b"}, "externalIdentifier"),
        ({"dateOfBirth": "19800203"}, "dateOfBirth"),
        ({"dateOfBirth": "1980-W01-1"}, "dateOfBirth"),
    ],
)
def test_text_that_should_be_refused_is(api, catalog, overrides, field):
    response = api.post("/api/v3/patient", json=patient_body(**overrides))
    assert response.status_code == 400, response.json
    assert field in {d["field"] for d in response.json["error"]["details"]}


@pytest.mark.parametrize("value", ["\u200b", " \u200b\u2060 ", "ab\u202ecd", "x\u2066y"])
def test_invisible_or_bidi_external_order_ids_are_refused(api, catalog, value):
    response = api.post("/api/v3/order", json=order_body(catalog, externalOrderIds=[value]))
    assert response.status_code == 400, value
    assert response.json["error"]["field"] == "externalOrderIds[0]"


def test_non_ascii_digits_in_tracking_numbers_and_device_ids_are_refused():
    from app.catalog import identifiers
    from app.orders import carriers

    assert carriers.problem("DHL", "1234567890") is None
    assert carriers.problem("DHL", "١٢٣٤٥٦٧٨٩٠") is not None
    assert carriers.problem("FedEx", "１２３４５６７８９０１２") is not None  # full-width
    assert identifiers.problem("imei", "٣٥٢٠٩٩٠٠١٧٦١٤٨١") is not None


def test_duplicate_json_keys_are_refused(api, catalog):
    item = catalog.items["strips"]
    text = (
        f'{{"patient":{{"id":{catalog.patient}}},'
        f'"orderItems":[{{"item":{{"id":{item}}},"count":1}}],"count":1,"count":2}}'
    )
    response = post_raw(api, "/api/v3/order", text)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "duplicate_key"


def test_date_of_birth_in_the_form_has_one_stated_format(app, coordinator, catalog):
    page = coordinator.get("/patients/new")
    assert "YYYY-MM-DD" in page.text
    response = coordinator.post(
        "/patients/new",
        {
            "external_identifier": "MRN-88",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "date_of_birth": "19800203",
            "line_one": "1 Elm St",
            "city": "Columbus",
            "state": "OH",
            "zip_code": "43215",
            "sex": "unknown",
            "country": "US",
        },
    )
    assert response.status_code == 422
    with app_context(app) as session:
        assert (
            session.scalar(select(func.count(Patient.id)).where(Patient.first_name == "Ana")) == 0
        )


# 11. The CLI goes through the same rules as the web.


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


# 12. An import is refused whole when the file is too long or breaks partway.


def upload(person, content: str):
    return person.post(
        "/patients/import",
        {"file": (io.BytesIO(content.encode()), "patients.csv")},
        content_type="multipart/form-data",
    )


HEADING = "MRN,First name,Last name,DOB,Address,City,State,ZIP\n"


def row(n: int, dob: str = "1950-01-01") -> str:
    return f"IMP-{n},Ann,Lee{n},{dob},1 Elm St,Columbus,OH,43215\n"


def test_an_import_of_too_many_rows_imports_nothing(app, coordinator, catalog):
    from app.people.importing import MAX_ROWS

    content = HEADING + "".join(row(n) for n in range(MAX_ROWS + 1))
    preview_url = upload(coordinator, content).headers["Location"]
    assert f"A file holds at most {MAX_ROWS:,} patients" in coordinator.get(preview_url).text
    coordinator.post(preview_url)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Patient.id))) == 2
    assert "Nothing was imported" in coordinator.get(preview_url).text


def test_an_import_that_breaks_partway_imports_nothing(app, coordinator, catalog):
    content = HEADING + row(1) + 'IMP-2,"Ann,Lee,1950-01-01,1 Elm St,Columbus,OH,43215\n'
    preview_url = upload(coordinator, content + "x" * 200_000).headers["Location"]
    assert "The quote that opens a cell on line 3 is never closed" in (
        coordinator.get(preview_url).text
    )
    coordinator.post(preview_url)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Patient.id))) == 2
    assert "Nothing was imported" in coordinator.get(preview_url).text


@pytest.mark.parametrize("dob", ["31/12/1950", "1950-13-01"])
def test_an_import_shows_a_malformed_date_of_birth_in_its_column(coordinator, catalog, dob):
    preview_url = upload(coordinator, HEADING + row(1, dob)).headers["Location"]
    html = coordinator.get(preview_url).text
    assert re.search(r"Date of birth</strong> \(column “DOB”\): Date of birth must be", html)


# 13. An API key's last use is recorded, at most once a minute.


def test_api_key_last_use_is_recorded_once_a_minute(app, api, admin):
    def last_used():
        with app_context(app) as session:
            return session.scalar(select(ApiKey.last_used_at))

    assert last_used() is None
    api.get("/api/v3/site")
    first = last_used()
    assert first is not None
    api.get("/api/v3/site")
    assert last_used() == first  # within the minute: not written again
    with app_context(app) as session:
        session.execute(update(ApiKey).values(last_used_at=first - timedelta(minutes=2)))
        session.commit()
    api.get("/api/v3/site")
    assert last_used() > first
    assert "Last used" in admin.get("/admin/api-keys/").text


def test_order_counts_unchanged_by_refusals(app, api, catalog):
    for body in ('{"a":1,"a":2}', '{"x":' + "[" * 100 + "]" * 100 + "}"):
        post_raw(api, "/api/v3/order", body)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == 0


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
