"""Identifiers (a patient's MRN, an order's external ids) are stored and compared in one
spelling (validation.normalised_identifier): what looks the same is the same identifier,
whichever door it comes through (API, web form, CSV import), and the rows stored before the
rule were brought to it by a migration."""

from __future__ import annotations

import io

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import bindparam, func, select, text

from app.db.types import UTCDateTime, utcnow
from app.orders.models import Order, OrderExternalId
from app.people.models import Patient
from app.validation import normalised_identifier
from tests.conftest import app_context
from tests.helpers.orders import place
from tests.helpers.web import Browserless

LOOKALIKES = [
    "MRN-100200\u200b",  # a zero-width space at the end
    "\ufeffMRN-100200",  # a byte order mark in front
    "MRN-1002\u206000",  # a word joiner inside
    "MRN-１００２００",  # full-width digits
    "ＭＲＮ－100200",  # full-width letters and hyphen
    "MRN\u2011100200",  # a non-breaking hyphen
    "MRN\u2013100200",  # an en dash
    "MRN\u2212100200",  # a minus sign
    "MRN-١٠٠٢٠٠",  # Arabic-Indic digits
    "MRN-۱۰۰۲۰۰",  # Persian digits
    "MRN-100\u00ad200",  # a soft hyphen
    "mrn-100200",  # (the case was already ignored)
]


def patient_body(identifier: str) -> dict:
    return {
        "externalIdentifier": identifier,
        "firstName": "Grace",
        "lastName": "Hopper",
        "address": {"lineOne": "1 Elm St", "city": "Columbus", "state": "OH", "zipCode": "43215"},
    }


def patients(app) -> list[str]:
    with app_context(app) as session:
        return sorted(session.scalars(select(Patient.external_identifier)))


@pytest.fixture
def coordinator(client, catalog):
    person = Browserless(client)
    person.sign_in("coordinator")
    return person


@pytest.mark.parametrize("value", LOOKALIKES)
def test_the_spelling_that_is_stored_and_compared(value):
    assert normalised_identifier(value).upper() == "MRN-100200"


def test_other_identifiers_keep_their_letters_and_inner_spaces():
    assert normalised_identifier("A\u00a0 B\u3000C") == "A B C"
    assert normalised_identifier("Ünal-٣") == "Ünal-3"
    assert normalised_identifier("xyz_123_0") == "xyz_123_0"


@pytest.mark.parametrize("value", LOOKALIKES)
def test_an_mrn_that_looks_like_one_on_record_is_refused_through_the_api(app, api, catalog, value):
    assert api.post("/api/v3/patient", json=patient_body("MRN-100200")).status_code == 201
    response = api.post("/api/v3/patient", json=patient_body(value))
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "duplicate_external_identifier"
    assert patients(app).count("MRN-100200") == 1 and len(patients(app)) == 3


def test_an_mrn_is_stored_in_its_one_spelling(app, api, catalog):
    created = api.post("/api/v3/patient", json=patient_body("MRN\u2011２００３００\u200b"))
    assert created.status_code == 201
    assert created.json["externalIdentifier"] == "MRN-200300"
    assert "MRN-200300" in patients(app)


def test_the_patient_form_refuses_a_lookalike_mrn(app, api, coordinator, catalog):
    api.post("/api/v3/patient", json=patient_body("MRN-100200"))
    form = {
        "external_identifier": "MRN\u2011100200",
        "first_name": "Ada",
        "last_name": "Byron",
        "sex": "unknown",
        "line_one": "1 Elm St",
        "city": "Columbus",
        "state": "OH",
        "zip_code": "43215",
    }
    response = coordinator.post("/patients/new", form)
    assert response.status_code == 422
    assert "MRN-100200 already belongs to Grace Hopper" in response.text
    assert len(patients(app)) == 3


def test_an_import_skips_lookalikes_of_patients_on_record_and_of_its_own_rows(
    app, api, coordinator, catalog
):
    api.post("/api/v3/patient", json=patient_body("MRN-100200"))
    content = (
        "MRN,First name,Last name,Address,City,State,ZIP\n"
        "MRN-１００２００,Grace,Hopper,1 Elm St,Columbus,OH,43215\n"
        "MRN-300400,Ada,Byron,1 Elm St,Columbus,OH,43215\n"
        "MRN\u2011300400\u200b,Ada,Again,1 Elm St,Columbus,OH,43215\n"
    )
    response = coordinator.post(
        "/patients/import",
        {"file": (io.BytesIO(content.encode()), "patients.csv")},
        content_type="multipart/form-data",
    )
    preview_url = response.headers["Location"]
    html = coordinator.get(preview_url).text
    assert "<strong>1 to add</strong>, 1 already on record" in html
    assert "Also on line 3" in html
    coordinator.post(preview_url)
    assert patients(app).count("MRN-100200") == 1
    assert patients(app).count("MRN-300400") == 1 and len(patients(app)) == 4


def order_body(catalog, *ids):
    return {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
        "externalOrderIds": list(ids),
    }


@pytest.mark.parametrize("second", ["EHR-１２３", "EHR-١٢٣", "EHR\u2010123", "EHR-123\u200b"])
def test_an_order_does_not_carry_one_external_id_twice(app, api, catalog, second):
    response = api.post("/api/v3/order", json=order_body(catalog, "EHR-123", second))
    assert response.status_code == 400
    error = response.json["error"]
    assert (error["code"], error["field"]) == ("duplicate_external_order_id", "externalOrderIds[1]")
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == 0


def test_an_external_id_is_stored_and_found_in_its_one_spelling(app, api, catalog):
    placed = api.post("/api/v3/order", json=order_body(catalog, "EHR-١٢٣"))
    assert placed.status_code == 201
    assert placed.json["externalOrderIds"] == ["EHR-123"]
    for spelling in ("EHR-123", "EHR-１２３", "EHR\u2011123"):
        found = api.get("/api/v3/order", query_string={"externalOrderId": spelling}).json
        assert [o["id"] for o in found["content"]] == [placed.json["id"]], spelling


def test_the_order_search_finds_an_external_id_however_it_is_typed(app, coordinator, catalog):
    order_id = place(app, catalog, items={"strips": 1}, external_order_ids=["EHR-123"])
    other = place(app, catalog, items={"strips": 1}, external_order_ids=["EHR-999"])
    html = coordinator.get("/orders/", query_string={"q": "EHR-１２３"}).text
    assert f'/orders/{order_id}"' in html and f'/orders/{other}"' not in html


# --- Rows stored before the rule ------------------------------------------------------------

BEFORE_THE_RULE = "b7e3f09a2c14"  # the revision before the rule (its down_revision)


def test_the_migration_brings_stored_identifiers_to_the_rule(app, catalog, capfd):
    order_id = place(app, catalog, items={"strips": 1}, external_order_ids=["EHR-1"])
    with app.app_context():
        downgrade(revision=BEFORE_THE_RULE)
    # Rows as the app stored them before the rule (not through today's service, which
    # would store them normalised).
    with app_context(app) as session:
        legacy = {
            "kept": "MRN-500600",
            "normalised": "MRN\u2011７００８００\u200b",
            "colliding": "MRN-５００６００",  # the same as "kept" once normalised
        }
        ids = {}
        # Plain INSERTs of the columns the tables had then: today's model has more.
        for name, identifier in legacy.items():
            address_id = session.execute(
                text(
                    "INSERT INTO address (line_one, city, state, zip_code, country)"
                    " VALUES ('1 Elm St', 'Columbus', 'OH', '43215', 'US') RETURNING id"
                )
            ).scalar_one()
            ids[name] = session.execute(
                text(
                    "INSERT INTO patient (external_identifier, first_name, last_name, sex,"
                    " archived, enrolled, address_id, created_at) VALUES (:identifier,"
                    " 'Legacy', :name, 'unknown', false, true, :address_id, :now) RETURNING id"
                ).bindparams(bindparam("now", type_=UTCDateTime)),
                {"identifier": identifier, "name": name, "address_id": address_id, "now": utcnow()},
            ).scalar_one()
        session.query(OrderExternalId).filter_by(order_id=order_id).delete()
        for value in ("EHR-１２３", "EHR-123", "EHR\u2011456"):
            session.add(OrderExternalId(order_id=order_id, value=value))
        session.commit()
    capfd.readouterr()
    with app.app_context():
        upgrade()  # (Alembic's logging configuration writes its log to stderr)
    log = capfd.readouterr().err
    assert f"Patient {ids['colliding']} keeps its external identifier as stored" in log
    assert f"patient {ids['kept']}'s" in log
    with app_context(app) as session:
        stored = {
            name: session.get(Patient, patient_id).external_identifier
            for name, patient_id in ids.items()
        }
        values = sorted(
            session.scalars(
                select(OrderExternalId.value).where(OrderExternalId.order_id == order_id)
            )
        )
    assert stored == {
        "kept": "MRN-500600",
        "normalised": "MRN-700800",
        # Its normalised spelling belongs to another patient: kept as it was, for a person to
        # resolve (the migration names both patients' ids in its log).
        "colliding": "MRN-５００６００",
    }
    # Two spellings of one id on one order are one id.
    assert values == ["EHR-123", "EHR-456"]
