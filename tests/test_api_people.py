"""/api/v3/patient and /api/v3/site."""

from __future__ import annotations

import pytest

from tests.helpers.openapi import check


def new_patient(**overrides):
    body = {
        "externalIdentifier": "EXT-42",
        "firstName": "Mary",
        "lastName": "Seacole",
        "dateOfBirth": "1955-11-23",
        "email": "mary@example.com",
        "phoneNumber": "+1 (614) 555-0177",
        "sex": "female",
        "address": {
            "lineOne": "9 Crimea Way",
            "city": "Columbus",
            "state": "OH",
            "zipCode": "43215",
        },
    }
    body.update(overrides)
    return body


def test_patient_is_created_and_fetched(api, catalog, spec):  # noqa: F811
    response = api.post("/api/v3/patient", json=new_patient(site={"id": catalog.site}))
    assert response.status_code == 201
    patient = response.get_json()
    assert patient["phoneNumber"] == "+16145550177"
    assert patient["site"]["name"] == "Riverside Clinic"
    assert patient["archived"] is False
    assert response.headers["Location"] == f"/api/v3/patient/{patient['id']}"
    check(spec, "/api/v3/patient", "post", response)
    fetched = api.get(f"/api/v3/patient/{patient['id']}")
    assert fetched.get_json() == patient
    check(spec, "/api/v3/patient/{patientId}", "get", fetched)
    # and orders can go to them at once
    order = api.post(
        "/api/v3/order",
        json={
            "patient": {"id": patient["id"]},
            "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
        },
    )
    assert order.status_code == 201


def test_patient_rules_answer_400_with_every_problem(api, catalog, spec):  # noqa: F811
    body = new_patient(
        firstName="",
        dateOfBirth="2999-01-01",
        address={"lineOne": "x", "city": "y", "state": "ZZ", "zipCode": "1"},
    )
    response = api.post("/api/v3/patient", json=body)
    assert response.status_code == 400
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert fields == {"firstName", "dateOfBirth", "address.state", "address.zipCode"}
    check(spec, "/api/v3/patient", "post", response)


def test_duplicate_external_identifier_is_409(api, catalog):
    response = api.post("/api/v3/patient", json=new_patient(externalIdentifier="MRN-1"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "duplicate_external_identifier"


@pytest.mark.parametrize(
    "body, field",
    [
        ([], "The request body"),
        (dict(new_patient(), address="x"), "address"),
        (dict(new_patient(), site=3), "site"),
    ],
)
def test_patient_shapes_are_checked(api, catalog, body, field):
    response = api.post("/api/v3/patient", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_missing_address_is_400(api, catalog):
    body = new_patient()
    del body["address"]
    assert api.post("/api/v3/patient", json=body).get_json()["error"]["field"] == "address"


def test_unknown_patient_is_404(api, catalog):
    response = api.get("/api/v3/patient/99999")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "patient_not_found"


def test_sites_are_listed_in_the_paged_envelope(api, catalog, spec):  # noqa: F811
    response = api.get("/api/v3/site")
    check(spec, "/api/v3/site", "get", response)
    page = response.get_json()
    assert [s["name"] for s in page["content"]] == ["Riverside Clinic", "Closed Clinic"]
    assert (page["total"], page["first"], page["last"]) == (2, True, True)
    active = api.get("/api/v3/site?active=true").get_json()
    assert [s["name"] for s in active["content"]] == ["Riverside Clinic"]
    assert api.get("/api/v3/site?active=maybe").status_code == 400
    assert api.get("/api/v3/site?size=1&page=2").get_json()["content"][0]["name"] == "Closed Clinic"


@pytest.mark.parametrize("url", ["/api/v3/patient/1", "/api/v3/site"])
def test_people_endpoints_need_an_api_key(client, catalog, url):
    assert client.get(url).status_code == 401
