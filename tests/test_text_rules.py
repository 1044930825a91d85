"""What text may be stored (app/validation.py, the Checker's text rules, used by every
service): a one-line text (a name, an identifier, an address line) holds no control character
and no line break; free text (a note, a reason) may hold line breaks but no other control
character; a required text needs a visible character; the web refuses text that is not UTF-8,
as the API does; and a phone number is never stored with part of it dropped."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app.auth.models import ApiKey
from app.catalog.models import Item, Kit
from app.inventory.models import StockLocation
from app.orders.models import Order, OrderEvent, OrderNote
from app.people.models import Patient, Site
from tests.conftest import app_context
from tests.helpers.orders import place
from tests.helpers.web import Browserless

ONE_LINE_REFUSED = [
    "Ann\x01",  # START OF HEADING
    "Ann\x1b[31mLee",  # an ANSI colour code: ESC
    "Ann\r\nLee",
    "Ann\nLee",
    "Ann\tLee",
    "Ann\x7f",  # DELETE
    "Ann\x85Lee",  # NEXT LINE (C1)
    "Ann\u2028Lee",  # LINE SEPARATOR
]


def patient_body(**overrides):
    body = {
        "externalIdentifier": "MRN-T1",
        "firstName": "Grace",
        "lastName": "Hopper",
        "address": {"lineOne": "1 Elm St", "city": "Columbus", "state": "OH", "zipCode": "43215"},
    }
    body.update(overrides)
    return body


def count(app, model) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    assert person.sign_in("admin").status_code == 303
    return person


@pytest.fixture
def coordinator(app, catalog):
    person = Browserless(app.test_client())
    assert person.sign_in("coordinator").status_code == 303
    return person


TEXT_REFUSALS = [
    # (field, value, code, message): each text rule, its code and its message in full.
    (
        "firstName",
        "Ann\ud800",
        "invalid_text",
        "firstName holds a broken character (a lone surrogate).",
    ),
    ("lastName", "Lee\x00", "invalid_text", "lastName cannot contain the NUL character."),
    (
        "lastName",
        "Lee\u202e",
        "invalid_text",
        "Last name cannot hold characters that reverse the text's direction.",
    ),
    ("address.city", "Colum\nbus", "invalid_text", "City must be on one line."),
    ("address.city", "Colum\u2029bus", "invalid_text", "City must be on one line."),
    (
        "address.lineOne",
        "1 Elm St\x07",
        "invalid_text",
        "Address line 1 cannot hold control characters (it holds U+0007).",
    ),
    (
        "address.lineOne",
        "1 Elm St\x9b",
        "invalid_text",
        "Address line 1 cannot hold control characters (it holds U+009B).",
    ),
    (
        "address.note",
        "Blue door\x1b[5m",
        "invalid_text",
        "Address note cannot hold control characters (it holds U+001B).",
    ),
    (
        "address.note",
        "Blue\x0cdoor",
        "invalid_text",
        "Address note cannot hold control characters (it holds U+000C).",
    ),
    ("address.lineTwo", "\u200b", "invalid_text", "Address line 2 has only invisible characters."),
    ("address.lineTwo", 12, "invalid_type", "Address line 2 must be text."),
    ("address.lineTwo", "x" * 201, "too_long", "Address line 2 is at most 200 characters."),
    ("firstName", "  ", "required", "First name is required."),
    ("firstName", None, "required", "First name is required."),
    (
        "firstName",
        "\u200b\u2060\ufeff",
        "required",
        "First name is required (it has only invisible characters).",
    ),
    ("firstName", "x" * 101, "too_long", "First name is at most 100 characters."),
    ("externalIdentifier", " ", "required", "External identifier is required."),
    # NFKC makes each "㎒" three letters ("MHz"): 22 of them are 66 characters as stored.
    (
        "externalIdentifier",
        "㎒" * 22,
        "too_long",
        "External identifier is at most 64 characters.",
    ),
    # 64 characters as typed, 66 as stored.
    (
        "externalIdentifier",
        "x" * 63 + "㎒",
        "too_long",
        "External identifier is at most 64 characters.",
    ),
    (
        "externalIdentifier",
        "x" * 65,
        "too_long",
        "External identifier is at most 64 characters.",
    ),
]


@pytest.mark.parametrize(("field", "value", "code", "message"), TEXT_REFUSALS)
def test_each_text_rule_refuses_with_its_code_and_message(
    app, api, catalog, field, value, code, message
):
    body = patient_body()
    if field.startswith("address."):
        body["address"][field.removeprefix("address.")] = value
    else:
        body[field] = value
    response = api.post("/api/v3/patient", json=body)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    listed = [(d["code"], d["field"], d["message"]) for d in error.get("details", [error])]
    assert listed == [(code, field, message)]
    assert count(app, Patient) == 2


def test_an_identifier_of_64_characters_as_stored_is_kept(app, api, catalog):
    response = api.post("/api/v3/patient", json=patient_body(externalIdentifier="x" * 61 + "㎒"))
    assert response.status_code == 201, response.json
    with app_context(app) as session:
        patient = session.get(Patient, response.json["id"])
        assert patient.external_identifier == "x" * 61 + "MHz"


def test_a_text_is_stored_trimmed_and_free_text_keeps_its_breaks_and_direction_marks(
    app, api, catalog
):
    body = patient_body(firstName="  Grace\u00a0 ", externalIdentifier=" ＭＲＮ\u2212\u200b٧ ")
    body["address"]["lineTwo"] = "   "
    body["address"]["note"] = "Blue door,\r\n\tback of the \u202bbuilding\u202c"
    response = api.post("/api/v3/patient", json=body)
    assert response.status_code == 201, response.json
    with app_context(app) as session:
        patient = session.get(Patient, response.json["id"])
        assert (patient.first_name, patient.external_identifier) == ("Grace", "MRN-7")
        assert patient.address.line_two is None
        assert patient.address.note == "Blue door,\r\n\tback of the \u202bbuilding\u202c"


@pytest.mark.parametrize("value", ONE_LINE_REFUSED)
@pytest.mark.parametrize(
    "field", ["firstName", "lastName", "externalIdentifier", "address.lineOne", "address.city"]
)
def test_a_one_line_text_holds_no_control_character_or_line_break(app, api, catalog, field, value):
    if field.startswith("address."):
        body = patient_body()
        body["address"][field.removeprefix("address.")] = value
    else:
        body = patient_body(**{field: value})
    response = api.post("/api/v3/patient", json=body)
    assert response.status_code == 400, response.json
    assert field in {d["field"] for d in response.json["error"]["details"]}
    assert count(app, Patient) == 2


@pytest.mark.parametrize("value", ["EHR\x1b1", "EHR\r\n1", "EHR\x0b1"])
def test_an_external_order_id_holds_no_control_character(app, api, catalog, value):
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
        "externalOrderIds": [value],
    }
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "externalOrderIds[0]"
    assert count(app, Order) == 0


def kit_form(catalog, name):
    return {"name": name, "lines-0-item_id": str(catalog.items["strips"]), "lines-0-count": "1"}


def site_form(name):
    return {
        "name": name,
        "phone_number": "",
        "line_one": "1 Elm St",
        "city": "Columbus",
        "state": "OH",
        "zip_code": "43215",
    }


@pytest.mark.parametrize("value", ["Strips\x1b[0m", "Strips\r\nX", "Str\x01ips"])
@pytest.mark.parametrize("what", ["item", "kit", "site", "location", "api key"])
def test_names_hold_no_control_character(app, admin, catalog, what, value):
    url, data, model = {
        "item": ("/items/new", {"name": value, "sku": "NEW-1", "orderable": "y"}, Item),
        "kit": ("/kits/new", kit_form(catalog, value), Kit),
        "site": ("/sites/new", site_form(value), Site),
        "location": ("/stock/locations/new", {"name": value}, StockLocation),
        "api key": ("/admin/api-keys/", {"name": value, "scopes": ["orders:read"]}, ApiKey),
    }[what]
    before = count(app, model)
    response = admin.post(url, data)
    assert response.status_code == 422
    assert "Name cannot hold control characters" in response.text or (
        "Name must be on one line" in response.text
    )
    assert count(app, model) == before


def test_free_text_keeps_its_line_breaks_and_refuses_other_control_characters(app, api, catalog):
    def order(note):
        return api.post(
            "/api/v3/order",
            json={
                "patient": {"id": catalog.patient},
                "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
                "orderNotes": [{"note": note}],
            },
        )

    assert order("Leave at the door.\r\nRing twice.\tThanks").status_code == 201
    refused = order("Leave at the door\x1b[5m")
    assert refused.status_code == 400
    assert refused.json["error"]["field"] == "orderNotes[0].note"
    with app_context(app) as session:
        assert session.scalars(select(OrderNote.note)).all() == [
            "Leave at the door.\r\nRing twice.\tThanks"
        ]
    address = patient_body()
    address["address"]["note"] = "Blue door\nback of the building"
    assert api.post("/api/v3/patient", json=address).status_code == 201


@pytest.mark.parametrize(
    ("note", "placed", "added"),
    [
        ("Leave at the door.\nRing twice.", None, None),
        ("dup\x1b licate", "invalid_note", "invalid_note"),
        ("x" * 2001, "invalid_note", "invalid_note"),
        ("\u200b\u2060", "invalid_note", "note_required"),
    ],
)
def test_a_note_follows_one_rule_placed_with_the_order_or_added_later(
    app, api, catalog, note, placed, added
):
    """Free text, a visible character, at most 2,000 characters: the same rule whether the
    note comes with the new order or is added on the order page later."""
    from app.orders import lifecycle
    from app.validation import Rejected
    from tests.helpers.orders import actor

    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
        "orderNotes": [{"note": note}],
    }
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == (201 if placed is None else 400)
    if placed is not None:
        assert response.json["error"]["code"] == placed
    order_id = place(app, catalog, items={"strips": 1})
    with app_context(app) as session:
        if added is None:
            lifecycle.add_note(order_id, note, actor("coordinator"))
        else:
            with pytest.raises(Rejected) as refused:
                lifecycle.add_note(order_id, note, actor("coordinator"))
            assert refused.value.code == added
        stored = session.scalars(select(OrderNote.note).where(OrderNote.order_id == order_id))
        assert stored.all() == ([] if added else [note])


@pytest.mark.parametrize("reason", ["\u200b", " \u200b\u2060 ", "\ufeff", "\u00ad"])
def test_a_reason_needs_a_visible_character(app, api, catalog, reason):
    order_id = place(app, catalog, items={"strips": 1})
    response = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": reason})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "reason_required"
    with app_context(app) as session:
        assert session.get(Order, order_id).current_status == "created"
        assert session.scalar(select(func.count(OrderEvent.id))) == 1  # "created" only


def test_a_cancel_reason_holds_no_control_character(app, api, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    response = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "dup\x1b licate"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_reason"
    with app_context(app) as session:
        assert session.get(Order, order_id).current_status == "created"


def test_a_stock_adjustment_needs_a_visible_reason(app, admin, catalog):
    from app.inventory.models import StockMovement

    form = admin.get(f"/stock/adjust?item={catalog.items['strips']}")
    assert form.status_code == 200
    before = count(app, StockMovement)
    response = admin.post(
        "/stock/adjust",
        {
            "location_id": str(catalog.location),
            "item_id": str(catalog.items["strips"]),
            "kind": "adjustment",
            "quantity": "-1",
            "reason": "\u200b\u200b",
        },
    )
    assert response.status_code == 422
    assert "Say why: a reason is required." in response.text
    assert count(app, StockMovement) == before


# Invalid UTF-8 in a web form: werkzeug keeps "%E9" as the text "%E9", empties a form whose
# body holds a raw invalid byte, and turns one in a multipart form into "�".


def urlencoded(person, **fields) -> bytes:
    body = [f"csrf_token={person.token}"]
    body += [f"{name}={value}" for name, value in fields.items()]
    return "&".join(body).encode()


PATIENT_FORM = {
    "external_identifier": "MRN-U8",
    "last_name": "Lee",
    "sex": "unknown",
    "line_one": "1+Elm+St",
    "city": "Columbus",
    "state": "OH",
    "zip_code": "43215",
}


@pytest.mark.parametrize(
    "first_name", [b"Jos%E9", b"Jos\xe9", b"%C3%28", b"\xed\xa0\x80", b"Jos%C3"]
)
def test_a_form_that_is_not_utf8_is_refused(app, coordinator, first_name):
    body = urlencoded(coordinator, **PATIENT_FORM) + b"&first_name=" + first_name
    response = coordinator.client.post(
        "/patients/new", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "not valid UTF-8" in response.text
    assert count(app, Patient) == 2


def test_a_multipart_form_that_is_not_utf8_is_refused(app, coordinator):
    boundary = "xYzZY"
    fields = {"csrf_token": coordinator.token, **PATIENT_FORM, "line_one": "1 Elm St"}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="first_name"\r\n\r\n'.encode()
        + b"Jos\xe9\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    response = coordinator.client.post(
        "/patients/new", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 400
    assert "not valid UTF-8" in response.text
    assert count(app, Patient) == 2


def test_a_valid_utf8_form_is_stored_as_typed(app, coordinator):
    body = urlencoded(coordinator, **PATIENT_FORM) + b"&first_name=Jos%C3%A9"
    response = coordinator.client.post(
        "/patients/new", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 303
    with app_context(app) as session:
        assert (
            session.scalar(select(Patient.first_name).where(Patient.last_name == "Lee")) == "José"
        )


def test_a_csv_upload_is_not_taken_for_a_form_that_is_not_utf8(app, coordinator):
    """The import's file may be in another encoding (it says which); only the form's text
    fields must be UTF-8."""
    content = "MRN,First name,Last name,Address,City,State,ZIP\nM-1,José,B,1 St,C,OH,43215\n"
    response = coordinator.post(
        "/patients/import",
        {"file": (io.BytesIO(content.encode("cp1252")), "patients.csv"), "encoding": "cp1252"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "phone", ["+1 614 555 0101 ext. 99", "(614) 555-0101 x99", "614-555-0101;ext=99"]
)
def test_a_phone_extension_is_refused_not_dropped(app, api, coordinator, catalog, phone):
    response = api.post("/api/v3/patient", json=patient_body(phoneNumber=phone))
    assert response.status_code == 400
    assert response.json["error"]["field"] == "phoneNumber"
    assert "extension" in response.json["error"]["message"]
    page = coordinator.post(
        "/patients/new",
        {**PATIENT_FORM, "line_one": "1 Elm St", "first_name": "Ann", "phone_number": phone},
    )
    assert page.status_code == 422
    assert "extension" in page.text and phone in page.text  # kept as typed
    assert count(app, Patient) == 2
