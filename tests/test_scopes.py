"""API key scopes: every API route declares the one scope it needs, and a key without that
scope is refused with 403 insufficient_scope, route by route.

The table below is the policy. An API route missing from it, or one whose view declares no
scope, fails the suite: no API route can be added without saying which scope it needs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth import scopes
from app.auth.models import ApiKey
from app.history.models import PatientDataAccess
from tests.conftest import ApiClient, app_context
from tests.helpers.api_keys import key_with
from tests.helpers.openapi import check
from tests.helpers.orders import patient_order
from tests.helpers.web import Browserless

POLICY = {
    "api.place_order": scopes.ORDERS_WRITE,
    "api.get_order": scopes.ORDERS_READ,
    "api.list_orders": scopes.ORDERS_READ,
    "api.cancel_order": scopes.ORDERS_WRITE,
    "api.record_return_arrivals": scopes.ORDERS_WRITE,
    "api.create_patient": scopes.PATIENTS_WRITE,
    "api.get_patient": scopes.PATIENTS_READ,
    "api.list_sites": scopes.PATIENTS_READ,
    "api.list_inventory": scopes.INVENTORY_READ,
    "api.create_receipt": scopes.INVENTORY_WRITE,
    "api.find_device": scopes.INVENTORY_READ,
    "api.create_webhook": scopes.WEBHOOKS_MANAGE,
    "api.list_webhooks": scopes.WEBHOOKS_MANAGE,
    "api.get_webhook": scopes.WEBHOOKS_MANAGE,
    "api.delete_webhook": scopes.WEBHOOKS_MANAGE,
    "api.webhook_deliveries": scopes.WEBHOOKS_MANAGE,
}
# Needs no key at all.
PUBLIC = {"api.openapi"}


def api_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in PUBLIC:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def test_every_api_route_declares_its_scope(app):
    declared = {}
    for rule, _ in api_rules(app):
        declared[rule.endpoint] = getattr(app.view_functions[rule.endpoint], "required_scope", None)
    assert {e: s for e, s in declared.items() if s is None} == {}, "routes without a scope"
    assert declared == POLICY


def call(client, rule, method):
    url = rule.rule
    for name in ("order_id", "patient_id", "subscription_id"):
        url = url.replace(f"<int:{name}>", "1")
    if method == "GET":
        return client.get(url)
    if method == "DELETE":
        return client.delete(url)
    return client.post(url, json={})


@pytest.mark.parametrize("endpoint", sorted(POLICY))
def test_each_route_needs_exactly_its_scope(app, client, catalog, endpoint):
    needed = POLICY[endpoint]
    without = ApiClient(client, key_with(app, [s for s in scopes.ALL_SCOPES if s != needed]))
    with_only = ApiClient(client, key_with(app, [needed]))
    for rule, method in api_rules(app):
        if rule.endpoint != endpoint:
            continue
        refused = call(without, rule, method)
        assert refused.status_code == 403, (endpoint, refused.status_code)
        assert refused.json["error"]["code"] == "insufficient_scope"
        assert needed in refused.json["error"]["message"]
        allowed = call(with_only, rule, method)
        assert allowed.status_code != 403, (endpoint, allowed.json)


def test_an_admin_chooses_scopes_and_sees_them(app, client, catalog):
    admin = Browserless(client)
    admin.sign_in("admin")
    page = admin.get("/admin/api-keys/").text
    for scope in scopes.ALL_SCOPES:
        assert f'value="{scope}"' in page
    none_chosen = admin.post("/admin/api-keys/", {"name": "Nothing"})
    assert none_chosen.status_code == 422
    assert "Choose at least one thing the key may do." in none_chosen.text
    made = admin.post(
        "/admin/api-keys/", {"name": "Reader", "scopes": [scopes.ORDERS_READ, scopes.PATIENTS_READ]}
    )
    assert made.status_code == 200
    with app_context(app) as session:
        key = session.scalar(select(ApiKey).where(ApiKey.name == "Reader"))
        assert key.scope_list == [scopes.ORDERS_READ, scopes.PATIENTS_READ]
    assert "orders:read" in made.text and "patients:read" in made.text


def test_the_cli_makes_keys_with_chosen_scopes(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-key", "create", "Reader", "--scope", "orders:read"])
    assert result.exit_code == 0, result.output
    wrong = runner.invoke(args=["api-key", "create", "X", "--scope", "orders:everything"])
    assert wrong.exit_code != 0 and "Traceback" not in wrong.output
    with app_context(app) as session:
        assert session.scalar(select(ApiKey.scopes).where(ApiKey.name == "Reader")) == "orders:read"


def test_the_demo_key_has_every_scope(app):
    app.test_cli_runner().invoke(args=["seed-demo"])
    with app_context(app) as session:
        demo = session.scalar(select(ApiKey).where(ApiKey.name == "Demo integration"))
        assert demo.scope_list == list(scopes.ALL_SCOPES)


def test_a_key_without_patients_read_gets_orders_naming_the_patient_by_id_only(
    app, client, catalog
):
    spec = client.get("/api/v3/openapi.json").get_json()
    orders_only = ApiClient(client, key_with(app, [scopes.ORDERS_READ, scopes.ORDERS_WRITE]))
    placed = orders_only.post("/api/v3/order", json=patient_order(catalog))
    assert placed.status_code == 201
    check(spec, "/api/v3/order", "post", placed)
    order_id = placed.json["id"]
    fetched = orders_only.get(f"/api/v3/order/{order_id}")
    check(spec, "/api/v3/order/{orderId}", "get", fetched)
    listed = orders_only.get("/api/v3/order")
    check(spec, "/api/v3/order", "get", listed)
    cancelled = orders_only.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "Moved"})
    check(spec, "/api/v3/order/{orderId}/cancel", "post", cancelled)
    for answer in (placed.json, fetched.json, listed.json["content"][0], cancelled.json):
        assert answer["patient"] == {"id": catalog.patient}
    for response in (placed, fetched, listed, cancelled):
        assert "Lovelace" not in response.text
    with app_context(app) as session:
        assert session.scalars(select(PatientDataAccess)).all() == []
    # With patients:read, the same order carries the patient whole.
    both = ApiClient(client, key_with(app, [scopes.ORDERS_READ, scopes.PATIENTS_READ]))
    assert both.get(f"/api/v3/order/{order_id}").json["patient"]["lastName"] == "Lovelace"
    assert both.get("/api/v3/order").json["content"][0]["patient"]["firstName"] == "Ada"
    patient = spec["components"]["schemas"]["Order"]["properties"]["patient"]
    assert {"$ref": "#/components/schemas/PatientRef"} in patient["anyOf"]
    assert "patients:read" in patient["description"]


def test_a_route_can_only_declare_a_scope_that_exists(app):
    """A misspelt scope stops the app at import, saying where scopes are listed."""
    with pytest.raises(ValueError, match=r"unknown scope 'orders:delete': add it to app/auth/"):
        scopes.scope_required("orders:delete")

    def view():
        return "answered"

    guarded = scopes.scope_required(scopes.ORDERS_READ)(view)
    assert guarded.required_scope == "orders:read"
