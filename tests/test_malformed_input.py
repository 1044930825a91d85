"""No input, however malformed, makes a 500 or a half-written record, on either database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException, NotFound

from app.orders.models import Order
from app.people.models import Patient
from tests.conftest import app_context
from tests.helpers.web import Browserless

NASTY = [
    "\x00",
    "a\x00b",
    "\u202e",  # right-to-left override
    "💊" * 300,
    "x" * 100_000,
    "%00",
    "' OR 1=1 --",
    "-1",
    "1e309",
    "99999999999999999999",
]


@pytest.fixture
def coordinator(client, catalog):
    person = Browserless(client)
    person.sign_in("coordinator")
    return person


@pytest.mark.parametrize("value", NASTY)
def test_api_order_with_nasty_text(api, app, catalog, value):
    response = api.post(
        "/api/v3/order",
        json={
            "patient": {"id": catalog.patient},
            "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
            "externalOrderIds": [value],
            "orderNotes": [{"note": value}],
        },
    )
    assert response.status_code in (201, 400, 413)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == (
            1 if response.status_code == 201 else 0
        )


@pytest.mark.parametrize("value", NASTY)
def test_api_patient_with_nasty_text(api, app, catalog, value):
    response = api.post(
        "/api/v3/patient",
        json={
            "externalIdentifier": value,
            "firstName": value,
            "lastName": "X",
            "address": {"lineOne": value, "city": "C", "state": "OH", "zipCode": "43215"},
        },
    )
    assert response.status_code in (201, 400, 413)


@pytest.mark.parametrize("value", NASTY)
def test_api_list_with_nasty_parameters(api, catalog, value):
    for name in ("externalOrderId", "status", "page", "patientId"):
        response = api.get("/api/v3/order", query_string={name: value})
        assert response.status_code in (200, 400), name


@pytest.mark.parametrize("value", NASTY)
def test_pages_with_nasty_search_and_filters(coordinator, catalog, value):
    for url in ("/orders/", "/patients/", "/orders/export.csv"):
        for name in ("q", "site", "from", "after", "before", "sort", "status", "show"):
            response = coordinator.get(url, query_string={name: value})
            response.get_data()  # read the CSV stream to its end, as a browser would
            response.close()
            assert response.status_code in (200, 400), (url, name)


@pytest.mark.parametrize("value", NASTY)
def test_forms_with_nasty_values(app, coordinator, catalog, value):
    fields = {
        "recipient_query": value,
        "recipient_id": value,
        "items-0-ref": value,
        "items-0-count": value,
        "kits-0-ref": value,
        "external_order_ids": value,
        "note": value,
        "shipping_option": value,
        "submission_token": value,
    }
    for action in ("search", "add-item", "remove-item:" + value, "choose:" + value, "place"):
        for url in ("/orders/new", "/orders/new/lines", "/orders/new/recipient"):
            response = coordinator.post(url, {**fields, "action": action}, htmx=True)
            assert response.status_code in (200, 400, 413, 422), (url, action)
    patient = {
        "external_identifier": value,
        "first_name": value,
        "last_name": value,
        "line_one": value,
        "city": value,
        "state": "OH",
        "zip_code": "43215",
        "date_of_birth": value,
        "phone_number": value,
        "email": value,
        "site_id": value,
        "sex": value,
    }
    assert coordinator.post("/patients/new", patient).status_code in (303, 400, 413, 422)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == 0
        assert session.scalar(select(func.count(Patient.id))) in (2, 3)


def test_csv_with_nul_bytes_is_refused_and_a_strange_name_is_kept_out(app, coordinator, catalog):
    import io

    content = b"MRN,First name,Last name,Address,City,State,ZIP\nM-1,A\x00na,B,1 St,C,OH,43215\n"
    response = coordinator.post(
        "/patients/import",
        {"file": (io.BytesIO(content), "pa\x01tients.csv")},
        content_type="multipart/form-data",
    )
    # Dropping the NUL would have imported "Ana" without a word.
    assert response.status_code == 422
    assert "NUL character at line 2" in response.text
    response = coordinator.post(
        "/patients/import",
        {"file": (io.BytesIO(content.replace(b"\x00", b"")), "pa\x01tients.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = coordinator.get(response.headers["Location"]).text
    assert "1 to add" in page and "patients.csv" in page


@pytest.mark.parametrize(
    "query",
    [
        "site=%C2%B2",
        "size=%C2%B2",
        "q=%C2%B2",
        "after=%C2%B2",
        "to=9999-12-31",
        "from=0001-01-01",
        "sort=updated&after=2024-01-01T00:00:00~5",
        "sort=updated&after=0001-01-01T00:00:00%2B14:00~1",
        "sort=updated&after=2024-01-01T00:00:00%2B00:00~99999999999999999999999",
        "sort=updated&before=nonsense",
    ],
)
def test_strange_list_urls_answer_a_page(coordinator, catalog, query):
    for url in ("/orders/", "/orders/export.csv"):
        assert coordinator.get(f"{url}?{query}").status_code == 200


def test_a_bad_back_cursor_starts_from_the_first_page(app, coordinator, catalog):
    from tests.helpers.orders import place

    ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    html = coordinator.get("/orders/?before=nonsense").text
    assert html.index(f'/orders/{ids[-1]}"') < html.index(f'/orders/{ids[0]}"')


@pytest.mark.parametrize(
    "url",
    [
        "/orders/new?patient=%C2%B2",
        "/orders/1/changes?since=%C2%B2",
        "/orders/packing-summaries?order=%C2%B2",
        "/patients/?after=a%1Fb%1F99999999999999999999999",
        "/patients/?after=a%1Fb%1F%C2%B2",
    ],
)
def test_strange_digits_in_urls(app, coordinator, catalog, url):
    from tests.helpers.orders import place

    place(app, catalog, items={"strips": 1})
    assert coordinator.get(url).status_code in (200, 303)


def test_strange_digits_in_the_api(api, catalog):
    assert api.get("/api/v3/order?page=%C2%B2").status_code == 400


def test_a_nul_in_any_value_of_a_repeated_field_is_refused_at_the_door(coordinator):
    # Tick boxes and repeated parameters send several values under one name.
    assert coordinator.get("/orders/?status=created&status=a%00b").status_code == 400
    response = coordinator.post(
        "/orders/batch", {"action": "preview", "patient_ids": ["1", "2\x00"]}
    )
    assert response.status_code == 400


# Digits of other scripts are digits to Python (``int("١")`` is 1, and ``\d`` matches them):
# in a URL they are no id, whatever record 1 is.
FOREIGN_ONES = ["١", "１", "۱", "१", "߁"]  # Arabic-Indic, full-width, Persian, Devanagari, NKo


def test_no_route_reads_digits_of_other_scripts_as_an_id(app):
    urls = app.url_map.bind("localhost")
    matched = []
    for rule in app.url_map.iter_rules():
        ids = [arg for arg in rule.arguments if f"<int:{arg}>" in rule.rule]
        if not ids:
            continue
        for one in FOREIGN_ONES:
            path = rule.rule
            for arg in ids:
                path = path.replace(f"<int:{arg}>", one)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                try:
                    found = urls.match(path, method=method)
                except NotFound:
                    continue
                except HTTPException as other:  # 405 or a redirect: the path still matched
                    found = other
                matched.append(f"{method} {path}: {found}")
    assert matched == []


def test_an_order_and_a_patient_are_not_found_by_other_digits(app, api, coordinator, catalog):
    from tests.helpers.orders import place

    order_id = place(app, catalog, items={"strips": 1})
    assert api.get(f"/api/v3/order/{order_id}").status_code == 200
    assert coordinator.get(f"/patients/{catalog.patient}").status_code == 200
    arabic = "".join(chr(0x0660 + int(d)) for d in str(order_id))
    full_width = "".join(chr(0xFF10 + int(d)) for d in str(catalog.patient))
    assert api.get(f"/api/v3/order/{arabic}").status_code == 404
    assert api.get(f"/api/v3/patient/{full_width}").status_code == 404
    assert coordinator.get(f"/patients/{full_width}").status_code == 404
    assert coordinator.get(f"/orders/{arabic}").status_code == 404


# --- JSON the API refuses whole, with a stable code --------------------------------------


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


def test_nul_in_an_unknown_key_or_escaped_text_is_not_refused(api, catalog):
    body = order_body(catalog, orderNotes=[{"note": "path C:\\\\u0000 stays"}])
    response = api.post("/api/v3/order", json={**body, "extra\x00key": 1})
    assert response.status_code == 201, response.json
    assert response.json["orderNotes"][0]["note"] == "path C:\\\\u0000 stays"
    refused = api.post("/api/v3/order", json=order_body(catalog, orderNotes=[{"note": "a\x00"}]))
    assert refused.status_code == 400


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


def test_order_counts_unchanged_by_refusals(app, api, catalog):
    for body in ('{"a":1,"a":2}', '{"x":' + "[" * 100 + "]" * 100 + "}"):
        post_raw(api, "/api/v3/order", body)
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == 0
