"""The API's query parameters: one rule for every route (app/api/parse.py). A parameter the
operation does not take is refused (a misspelt filter would otherwise answer every row), and
so is one given empty or twice (``?page=`` is not "the first page")."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.orders.models import Order
from app.people.models import Patient
from app.webhooks.models import WebhookSubscription
from tests.conftest import app_context
from tests.helpers.orders import place


def valid_bodies(catalog) -> dict[str, dict]:
    """A body each POST route would accept: refusing the parameter is then the only reason
    for a 400."""
    return {
        "api.place_order": {
            "patient": {"id": catalog.patient},
            "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
        },
        "api.cancel_order": {"reason": "No longer needed"},
        "api.create_patient": {
            "externalIdentifier": "MRN-Q1",
            "firstName": "Grace",
            "lastName": "Hopper",
            "address": {"lineOne": "1 Elm", "city": "Columbus", "state": "OH", "zipCode": "43215"},
        },
        "api.create_webhook": {"url": "http://127.0.0.1:9/other", "types": ["order.status"]},
        "api.create_receipt": {"lines": [{"item": {"id": catalog.items["strips"]}, "count": 1}]},
    }


def test_every_api_route_refuses_a_parameter_it_does_not_take(app, api, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    subscription = api.post(
        "/api/v3/webhook", {"url": "http://127.0.0.1:9/hooks", "types": ["order.status"]}
    )
    assert subscription.status_code == 201, subscription.json
    ids = {
        "order_id": order_id,
        "patient_id": catalog.patient,
        "subscription_id": subscription.json["id"],
    }
    bodies = valid_bodies(catalog)
    answered = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", str(ids[arg]))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = f"{path}?itemid=7"
            if method == "GET":
                response = api.get(url)
            else:
                response = api.client.open(
                    url, method=method, json=bodies.get(rule.endpoint, {}), headers=api._headers({})
                )
            answered[f"{method} {rule.rule}"] = (
                response.status_code,
                (response.get_json(silent=True) or {}).get("error", {}).get("code"),
            )
    assert set(answered.values()) == {(400, "unknown_parameter")}, answered
    assert len(answered) >= 10
    with app_context(app) as session:  # nothing was placed, enrolled, cancelled or received
        assert session.scalar(select(func.count(Order.id))) == 1
        assert session.scalar(select(func.count(Patient.id))) == 2
        assert session.get(Order, order_id).current_status == "created"
        assert session.scalar(select(func.count(WebhookSubscription.id))) == 1  # not deleted


def test_a_misspelt_filter_is_refused_not_ignored(api, catalog):
    for url in ("/api/v3/inventory?itemid=7", "/api/v3/device?identifier=X1&pagesize=5"):
        response = api.get(url)
        assert response.status_code == 400, url
        assert response.json["error"]["code"] == "unknown_parameter"
    assert api.get(f"/api/v3/inventory?itemId={catalog.items['strips']}").status_code == 200


@pytest.mark.parametrize(
    "url, name",
    [
        ("/api/v3/order?page=", "page"),
        ("/api/v3/order?size=", "size"),
        ("/api/v3/order?status=", "status"),
        ("/api/v3/order?patientId=", "patientId"),
        ("/api/v3/order?externalOrderId=", "externalOrderId"),
        ("/api/v3/order?externalOrderId=%20%20", "externalOrderId"),
        ("/api/v3/site?active=", "active"),
        ("/api/v3/site?page=&size=5", "page"),
        ("/api/v3/inventory?itemId=", "itemId"),
        ("/api/v3/inventory?locationId=", "locationId"),
        ("/api/v3/device?identifier=X1&size=", "size"),
        ("/api/v3/device?identifier=", "identifier"),
    ],
)
def test_an_empty_parameter_is_refused_not_taken_as_absent(api, catalog, url, name):
    response = api.get(url)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "invalid_parameter"
    assert response.json["error"]["field"] == name


@pytest.mark.parametrize(
    "url, name",
    [
        ("/api/v3/order?page=1&page=2", "page"),
        ("/api/v3/order?status=created&status=cancelled", "status"),
        ("/api/v3/site?active=true&active=false", "active"),
        ("/api/v3/inventory?itemId=1&itemId=2", "itemId"),
    ],
)
def test_a_parameter_given_twice_is_refused(api, catalog, url, name):
    # Which of the two was meant cannot be known; the first silently winning hides the other.
    response = api.get(url)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_parameter"
    assert response.json["error"]["field"] == name


def test_parameters_given_once_with_a_value_still_work(app, api, catalog):
    place(app, catalog, items={"strips": 1}, external_order_ids=["EHR-9"])
    page = api.get("/api/v3/order?page=1&size=5&status=created&externalOrderId=EHR-9").json
    assert page["total"] == 1 and page["size"] == 5
    assert api.get("/api/v3/site?active=true&page=1").json["total"] == 1
