"""/api/v3/webhook: subscriptions and their delivery log, checked against the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth import scopes
from app.auth.actor import Actor
from app.auth.models import ApiKey, hash_api_key
from app.extensions import db
from app.validation import Rejected
from app.webhooks import service
from tests.conftest import ApiClient, app_context
from tests.helpers.api_keys import key_with
from tests.helpers.openapi import check
from tests.helpers.orders import actor

URL = "http://127.0.0.1:9/hooks"


def test_create_answers_the_secret_once(api, spec):
    created = api.post(
        "/api/v3/webhook",
        json={"url": URL, "types": ["order.statusFull", "order.status"], "description": "EHR"},
    )
    assert created.status_code == 201
    check(spec, "/api/v3/webhook", "post", created)
    body = created.get_json()
    assert body["secret"].startswith("whsec_")
    assert body["types"] == ["order.status", "order.statusFull"]
    assert created.headers["Location"] == f"/api/v3/webhook/{body['id']}"
    fetched = api.get(f"/api/v3/webhook/{body['id']}")
    check(spec, "/api/v3/webhook/{webhookId}", "get", fetched)
    assert "secret" not in fetched.get_json()
    listed = api.get("/api/v3/webhook")
    check(spec, "/api/v3/webhook", "get", listed)
    assert [w["id"] for w in listed.get_json()["content"]] == [body["id"]]
    assert body["secret"] not in listed.text


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"types": ["order.status"]}, "url_required", "url"),
        ({"url": URL}, "types_required", "types"),
        ({"url": URL, "types": ["order.created"]}, "invalid_type", "types"),
        ({"url": URL, "types": "order.status"}, "types_required", "types"),
        ({"url": "http://" + "a" * 2000, "types": ["order.status"]}, "invalid_url", "url"),
        ({"url": URL, "types": ["order.status"], "description": 5}, "invalid_description", None),
    ],
)
def test_bad_subscriptions_are_refused_with_the_field(api, spec, body, code, field):
    response = api.post("/api/v3/webhook", json=body)
    assert response.status_code == 400
    check(spec, "/api/v3/webhook", "post", response)
    error = response.get_json()["error"]
    assert error["code"] == code
    if field:
        assert error["field"] == field
    assert api.get("/api/v3/webhook").get_json()["total"] == 0


def test_delete_stops_it_and_hides_it(app, api, spec):
    webhook_id = api.post("/api/v3/webhook", json={"url": URL, "types": ["order.status"]}).json[
        "id"
    ]
    with app_context(app):
        service.send_ping(webhook_id, actor("admin"))
    deleted = api.client.delete(
        f"/api/v3/webhook/{webhook_id}", headers={"Impilo-API-Key": api.key}
    )
    assert deleted.status_code == 204
    missing = api.get(f"/api/v3/webhook/{webhook_id}")
    assert missing.status_code == 404
    check(spec, "/api/v3/webhook/{webhookId}", "get", missing)
    assert api.get("/api/v3/webhook").get_json()["total"] == 0
    with app_context(app):
        attempts = service.deliveries(webhook_id).attempts
        assert [a.status for a in attempts] == ["failed"]
        assert attempts[0].error == "The webhook was deleted."


def test_the_delivery_log_is_paged(app, api, spec, catalog):
    webhook_id = api.post("/api/v3/webhook", json={"url": URL, "types": ["order.status"]}).json[
        "id"
    ]
    with app_context(app):
        for _ in range(3):
            service.send_ping(webhook_id, actor("admin"))
    first = api.get(f"/api/v3/webhook/{webhook_id}/deliveries?size=2")
    check(spec, "/api/v3/webhook/{webhookId}/deliveries", "get", first)
    page = first.get_json()
    assert (page["total"], page["first"], page["last"], len(page["content"])) == (3, True, False, 2)
    assert page["content"][0]["status"] == "pending"
    assert page["content"][0]["type"] == "webhook.ping"
    second = api.get(f"/api/v3/webhook/{webhook_id}/deliveries?size=2&page=2").get_json()
    assert len(second["content"]) == 1 and second["last"]
    too_big = api.get(f"/api/v3/webhook/{webhook_id}/deliveries?size=1000")
    assert too_big.status_code == 400
    assert api.get("/api/v3/webhook/424242/deliveries").status_code == 404


def test_a_key_is_needed(client):
    assert client.get("/api/v3/webhook").status_code == 401
    assert client.post("/api/v3/webhook", json={}).status_code == 401


def test_a_key_manages_only_the_subscriptions_it_made(app, client, api, spec):
    mine = api.post("/api/v3/webhook", json={"url": URL, "types": ["order.status"]}).json["id"]
    other = ApiClient(client, key_with(app, [scopes.WEBHOOKS_MANAGE]))
    theirs = other.post("/api/v3/webhook", json={"url": URL, "types": ["order.status"]}).json["id"]
    assert [w["id"] for w in api.get("/api/v3/webhook").json["content"]] == [mine]
    assert [w["id"] for w in other.get("/api/v3/webhook").json["content"]] == [theirs]
    for path in (f"/api/v3/webhook/{theirs}", f"/api/v3/webhook/{theirs}/deliveries"):
        refused = api.get(path)
        assert refused.status_code == 404
        assert refused.json["error"]["code"] == "webhook_not_found"
    check(spec, "/api/v3/webhook/{webhookId}", "get", api.get(f"/api/v3/webhook/{theirs}"))
    assert api.delete(f"/api/v3/webhook/{theirs}").status_code == 404
    assert other.get(f"/api/v3/webhook/{theirs}").status_code == 200  # still there
    with app_context(app):
        with pytest.raises(Rejected):
            service.send_ping(theirs, Actor(api_key=key_named(api.key)))


def key_named(plain: str) -> ApiKey:
    return db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(plain)))


def test_the_subscription_list_is_paged_and_size_is_the_page_size(api, spec):
    for n in range(3):
        api.post("/api/v3/webhook", json={"url": f"{URL}/{n}", "types": ["order.status"]})
    whole = api.get("/api/v3/webhook")
    check(spec, "/api/v3/webhook", "get", whole)
    assert (whole.json["size"], whole.json["total"], len(whole.json["content"])) == (15, 3, 3)
    first = api.get("/api/v3/webhook?size=2").get_json()
    assert (first["page"], first["size"], first["total"], first["first"], first["last"]) == (
        1,
        2,
        3,
        True,
        False,
    )
    second = api.get("/api/v3/webhook?size=2&page=2").get_json()
    assert [w["url"] for w in first["content"] + second["content"]] == [
        f"{URL}/{n}" for n in range(3)
    ]
    assert second["size"] == 2 and second["last"]
    operation = spec["paths"]["/api/v3/webhook"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"page", "size"}
    size = spec["components"]["schemas"]["WebhookPage"]["properties"]["size"]
    assert "page size asked for" in size["description"]


@pytest.mark.parametrize(
    "method, path, code",
    [
        ("get", "/api/v3/webhook?foo=1", "unknown_parameter"),
        ("get", "/api/v3/webhook?page=", "invalid_parameter"),
        ("get", "/api/v3/webhook?size=", "invalid_parameter"),
        ("post", "/api/v3/webhook?foo=1", "unknown_parameter"),
        ("get", "/api/v3/webhook/{id}?foo=1", "unknown_parameter"),
        ("delete", "/api/v3/webhook/{id}?foo=1", "unknown_parameter"),
        ("get", "/api/v3/webhook/{id}/deliveries?pgae=2", "unknown_parameter"),
        ("get", "/api/v3/webhook/{id}/deliveries?page=", "invalid_parameter"),
        ("get", "/api/v3/webhook/{id}/deliveries?size=", "invalid_parameter"),
    ],
)
def test_unknown_and_empty_query_parameters_are_refused(api, spec, method, path, code):
    webhook_id = api.post("/api/v3/webhook", json={"url": URL, "types": ["order.status"]}).json[
        "id"
    ]
    url = path.replace("{id}", str(webhook_id))
    if method == "post":
        response = api.post(url, json={"url": URL + "/2", "types": ["order.status"]})
    else:
        response = getattr(api, method)(url)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == code
    # Nothing was made, and nothing deleted.
    assert [w["id"] for w in api.get("/api/v3/webhook").json["content"]] == [webhook_id]
