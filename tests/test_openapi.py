"""The OpenAPI document is valid and tells the truth about real responses."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tests.helpers.openapi import check, schema_validator
from tests.helpers.orders import patient_order


def test_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) >= {"/api/v3/order", "/api/v3/order/{orderId}"}


def test_created_fetched_and_listed_orders_match_the_document(api, catalog, spec):
    body = patient_order(catalog, orderNotes=[{"note": "Ring twice"}])
    created = api.post("/api/v3/order", json=body)
    check(spec, "/api/v3/order", "post", created)
    fetched = api.get(f"/api/v3/order/{created.get_json()['id']}")
    check(spec, "/api/v3/order/{orderId}", "get", fetched)
    site_order = api.post(
        "/api/v3/order", json=patient_order(catalog, patient=None, site={"id": catalog.site})
    )
    check(spec, "/api/v3/order", "post", site_order)
    listed = api.get("/api/v3/order")
    check(spec, "/api/v3/order", "get", listed)


def test_request_examples_match_the_create_schema(spec, catalog):
    validator = schema_validator(spec, "OrderCreate")
    assert list(validator.iter_errors(patient_order(catalog))) == []
    assert list(validator.iter_errors({"orderItems": [{"item": {"id": 1}, "count": 0}]})) != []


@pytest.mark.parametrize(
    "method, path, url, kwargs",
    [
        ("post", "/api/v3/order", "/api/v3/order", {"json": {"patient": None}}),
        (
            "post",
            "/api/v3/order",
            "/api/v3/order",
            {"data": "x", "headers": {"Content-Type": "text/plain"}},
        ),
        ("get", "/api/v3/order", "/api/v3/order?size=999", {}),
        ("get", "/api/v3/order/{orderId}", "/api/v3/order/424242", {}),
    ],
)
def test_errors_match_the_document(api, catalog, spec, method, path, url, kwargs):
    response = getattr(api, method)(url, **kwargs)
    assert response.status_code >= 400
    check(spec, path, method, response)


def test_unauthorised_answer_matches_the_document(client, spec):
    response = client.get("/api/v3/order")
    assert response.status_code == 401
    check(spec, "/api/v3/order", "get", response)


def test_cancel_answers_match_the_document(api, catalog, spec):
    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    path = "/api/v3/order/{orderId}/cancel"
    check(spec, path, "post", api.post(f"/api/v3/order/{order_id}/cancel", json={}))
    check(spec, path, "post", api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "x"}))
    check(spec, path, "post", api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "x"}))
    check(spec, path, "post", api.post("/api/v3/order/999999/cancel", json={"reason": "x"}))


def test_an_order_with_everything_matches_the_document(app, api, catalog, spec):
    from tests.helpers.orders import move, pack_everything

    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    move(app, order_id, "shipped", tracking=("UPS", "1Z999AA10123456784"))
    check(spec, "/api/v3/order/{orderId}", "get", api.get(f"/api/v3/order/{order_id}"))


def test_order_schemas_come_from_the_structs_that_write_the_answers(api, catalog, spec):
    """One declaration per shape: the document's order schemas are the Structs' own, and an
    answer has exactly their fields, in their order."""
    import msgspec

    from app.orders import serialize

    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    fetched = api.get(f"/api/v3/order/{order_id}").get_json()
    listed = api.get("/api/v3/order").get_json()
    for shape, answer in [(serialize.OrderJson, fetched), (serialize.OrderPageJson, listed)]:
        names = [f.encode_name for f in msgspec.structs.fields(shape)]
        assert list(answer) == names
        assert (
            spec["components"]["schemas"][shape.__name__.removesuffix("Json")]["required"] == names
        )
    for shape in (
        serialize.PatientJson,
        serialize.ItemJson,
        serialize.DeviceJson,
        serialize.PackedKitJson,
    ):
        names = [f.encode_name for f in msgspec.structs.fields(shape)]
        assert (
            list(spec["components"]["schemas"][shape.__name__.removesuffix("Json")]["properties"])
            == names
        )
