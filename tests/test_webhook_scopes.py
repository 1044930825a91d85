"""Events carry only what the one who subscribed may read, and every delivery of a patient's
details is in the PHI access log: a key needs orders:read for order.statusFull and
patients:read for the patient in it; a revoked key's subscriptions receive nothing more;
admins' subscriptions carry everything and are logged under the admin who made them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth import scopes
from app.auth import service as auth
from app.auth.models import ApiKey, hash_api_key
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.history.models import PatientDataAccess
from app.webhooks import signing, worker
from app.webhooks.models import WebhookAttempt, WebhookMessage, WebhookSubscription
from tests.conftest import ApiClient, app_context
from tests.helpers.api_keys import key_with
from tests.helpers.orders import actor, place
from tests.helpers.web import Browserless
from tests.helpers.webhooks import Receiver, body_of, deliver_everything

FULL = "order.statusFull"


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def keyed(app, client, *granted: str) -> ApiClient:
    return ApiClient(client, key_with(app, [scopes.WEBHOOKS_MANAGE, *granted]))


def key_id(app, api: ApiClient) -> int:
    with app_context(app) as session:
        return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_api_key(api.key)))


def phi_log(app) -> list[tuple]:
    with app_context(app) as session:
        rows = session.scalars(select(PatientDataAccess).order_by(PatientDataAccess.id))
        return [
            (r.source, r.action, r.patient_id, r.order_id, r.user_id, r.api_key_id) for r in rows
        ]


def test_order_status_full_needs_orders_read(app, client):
    manager = keyed(app, client)
    refused = manager.post("/api/v3/webhook", json={"url": "http://127.0.0.1:9/", "types": [FULL]})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "insufficient_scope"
    assert refused.get_json()["error"]["field"] == "types"
    assert manager.get("/api/v3/webhook").get_json()["total"] == 0
    allowed = manager.post(
        "/api/v3/webhook", json={"url": "http://127.0.0.1:9/", "types": ["order.status"]}
    )
    assert allowed.status_code == 201
    reader = keyed(app, client, scopes.ORDERS_READ)
    assert (
        reader.post("/api/v3/webhook", json={"url": "http://127.0.0.1:9/", "types": [FULL]})
    ).status_code == 201


def test_a_key_without_patients_read_gets_the_patient_by_id_only_and_nothing_is_logged(
    app, client, catalog, receiver
):
    reader = keyed(app, client, scopes.ORDERS_READ)
    reader.post("/api/v3/webhook", json={"url": receiver.url, "types": [FULL]})
    order_id = place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    [hit] = receiver.hits()
    order = body_of(hit)["payload"]["order"]
    assert order["id"] == order_id
    assert order["patient"] == {"id": catalog.patient}
    assert "Lovelace" not in hit.body.decode()
    assert phi_log(app) == []


def test_a_delivery_of_patient_details_is_logged_under_the_key(app, client, catalog, receiver):
    reader = keyed(app, client, scopes.ORDERS_READ, scopes.PATIENTS_READ)
    reader.post("/api/v3/webhook", json={"url": receiver.url, "types": [FULL, "order.status"]})
    order_id = place(app, catalog, items={"strips": 1})
    site_order = place(app, catalog, items={"strips": 1}, patient=False)
    deliver_everything(app)
    full = [body_of(h) for h in receiver.hits() if body_of(h)["type"] == FULL]
    assert {m["payload"]["order"]["id"] for m in full} == {order_id, site_order}
    patient = next(m for m in full if m["payload"]["order"]["id"] == order_id)["payload"]
    assert patient["order"]["patient"]["lastName"] == "Lovelace"
    # One entry: the patient's order.statusFull (order.status and a site's order carry none).
    assert phi_log(app) == [
        ("webhook", "exported", catalog.patient, order_id, None, key_id(app, reader))
    ]


def test_every_attempt_that_reaches_a_receiver_is_logged_and_a_refused_one_is_not(
    app, client, catalog, receiver
):
    reader = keyed(app, client, scopes.ORDERS_READ, scopes.PATIENTS_READ)
    reader.post("/api/v3/webhook", json={"url": receiver.url, "types": [FULL]})
    closed = keyed(app, client, scopes.ORDERS_READ, scopes.PATIENTS_READ)
    closed.post("/api/v3/webhook", json={"url": "http://127.0.0.1:9/x", "types": [FULL]})
    receiver.statuses = [500]
    app.config.update(WEBHOOK_RETRY_SCHEDULE=(0.0,))
    try:
        order_id = place(app, catalog, items={"strips": 1})
        deliver_everything(app)
        deliver_everything(app)  # the retry
    finally:
        app.config.update(WEBHOOK_RETRY_SCHEDULE=(900.0, 1800.0, 3600.0))
    assert len(receiver.hits()) == 2
    # The answer 500 and the 200 both had the body; nothing listens on port 9: not sent.
    entry = ("webhook", "exported", catalog.patient, order_id, None, key_id(app, reader))
    assert phi_log(app) == [entry, entry]


def test_an_admins_subscription_carries_everything_logged_under_the_admin(
    app, client, catalog, receiver
):
    admin = Browserless(client)
    admin.sign_in("admin")
    made = admin.post("/admin/webhooks/", {"url": receiver.url, "types": [FULL]})
    assert made.status_code == 200
    order_id = place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    [hit] = receiver.hits()
    assert body_of(hit)["payload"]["order"]["patient"]["firstName"] == "Ada"
    assert phi_log(app) == [
        ("webhook", "exported", catalog.patient, order_id, catalog.users["admin"], None)
    ]


def test_a_revoked_keys_subscription_receives_nothing_more(app, client, catalog, receiver):
    reader = keyed(app, client, scopes.ORDERS_READ, scopes.PATIENTS_READ)
    subscription_id = reader.post(
        "/api/v3/webhook", json={"url": receiver.url, "types": [FULL]}
    ).get_json()["id"]
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()  # the message is made while the key is valid ...
        auth.revoke_api_key(key_id(app, reader), actor("admin"))  # ... and revoked before sent
        assert worker.claim() is None
        db.session.remove()
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert receiver.hits() == []
    assert phi_log(app) == []
    with app_context(app) as session:
        subscription = session.get(WebhookSubscription, subscription_id)
        assert not subscription.enabled
        assert "revoked" in subscription.disabled_reason
        [attempt] = session.scalars(select(WebhookAttempt).where(WebhookAttempt.attempt == 1))
        assert attempt.status == "failed"
        assert attempt.error.startswith("Not sent: The API key")
        # The event after the revocation was not even made for it.
        assert len(session.scalars(select(WebhookMessage)).all()) == 1
    # It cannot be enabled again: its key may read nothing.
    admin = Browserless(client)
    admin.sign_in("admin")
    admin.post(f"/admin/webhooks/{subscription_id}/enable")
    with app_context(app) as session:
        assert not session.get(WebhookSubscription, subscription_id).enabled


def test_a_full_subscription_made_before_the_rule_by_a_key_without_orders_read_gets_nothing(
    app, client, catalog, receiver
):
    manager = keyed(app, client)
    manager_id = key_id(app, manager)
    with app.app_context(), write_transaction() as session:
        # As the service stored it before order.statusFull needed orders:read.
        subscription = WebhookSubscription(
            url=receiver.url,
            types=FULL,
            secret_encrypted=signing.encrypt(signing.new_secret()),
            enabled=True,
            consecutive_failures=0,
            created_at=utcnow(),
            created_by_api_key=session.get(ApiKey, manager_id),
        )
        session.add(subscription)
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert receiver.hits() == []
    assert phi_log(app) == []
    found = manager.get("/api/v3/webhook").get_json()["content"][0]
    assert not found["enabled"]
    assert found["disabledReason"] == (
        "Disabled automatically: order.statusFull needs orders:read, which the API key "
        "“Scoped” has not."
    )
    with app_context(app) as session:  # disabled as the event was handed out: no message made
        assert session.scalars(select(WebhookMessage)).all() == []


def test_a_key_without_orders_read_still_gets_order_status(app, client, catalog, receiver):
    manager = keyed(app, client)
    made = manager.post("/api/v3/webhook", json={"url": receiver.url, "types": ["order.status"]})
    order_id = place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    assert [body_of(hit)["payload"]["orderId"] for hit in receiver.hits()] == [order_id]
    found = manager.get(f"/api/v3/webhook/{made.get_json()['id']}").get_json()
    assert (found["enabled"], found["disabledReason"]) == (True, None)


def test_two_keys_full_subscriptions_each_get_what_their_key_may_read_of_one_order(
    app, client, catalog, receiver
):
    with_patients = keyed(app, client, scopes.ORDERS_READ, scopes.PATIENTS_READ)
    with_patients.post("/api/v3/webhook", json={"url": receiver.url + "/all", "types": [FULL]})
    orders_only = keyed(app, client, scopes.ORDERS_READ)
    orders_only.post("/api/v3/webhook", json={"url": receiver.url + "/orders", "types": [FULL]})
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    patients = {hit.path: body_of(hit)["payload"]["order"]["patient"] for hit in receiver.hits()}
    assert patients["/hooks/orders"] == {"id": catalog.patient}
    assert patients["/hooks/all"]["lastName"] == "Lovelace"
    with app_context(app) as session:
        stored = session.execute(
            select(WebhookSubscription.url, WebhookMessage.patient_id)
            .join(WebhookMessage.subscription)
            .order_by(WebhookMessage.id)
        ).all()
    assert stored == [(receiver.url + "/all", catalog.patient), (receiver.url + "/orders", None)]


@pytest.mark.parametrize(
    ("kept", "why"),
    [
        (scopes.PATIENTS_READ, "order.statusFull needs orders:read"),
        (scopes.ORDERS_READ, "The patient's details need patients:read"),
    ],
    ids=["without-orders-read", "without-patients-read"],
)
def test_a_queued_message_its_key_may_no_longer_read_is_failed_unsent(
    app, client, catalog, receiver, kept, why
):
    """A key's scopes are checked again when its message is sent: one narrowed in the
    database (as a release that splits a scope would) while the message waited."""
    reader = keyed(app, client, scopes.ORDERS_READ, scopes.PATIENTS_READ)
    subscription_id = reader.post(
        "/api/v3/webhook", json={"url": receiver.url, "types": [FULL]}
    ).get_json()["id"]
    reader_id = key_id(app, reader)
    place(app, catalog, items={"strips": 1})
    with app.app_context():
        worker.fan_out()  # the message carries the patient's details
        db.session.remove()
    with app_context(app) as session:
        session.get(ApiKey, reader_id).scopes = f"{scopes.WEBHOOKS_MANAGE} {kept}"
        session.commit()
    with app.app_context():
        assert worker.claim() is None
        db.session.remove()
    assert receiver.hits() == []
    assert phi_log(app) == []
    reason = f"{why}, which the API key “Scoped” has not."
    with app_context(app) as session:
        subscription = session.get(WebhookSubscription, subscription_id)
        assert subscription.disabled_reason == f"Disabled automatically: {reason}"
        [attempt] = session.scalars(select(WebhookAttempt).where(WebhookAttempt.attempt == 1))
        assert (attempt.status, attempt.response_status, attempt.error, attempt.duration_ms) == (
            "failed",
            None,
            f"Not sent: {reason}",
            0,
        )
