"""The Webhooks page: admins create, see the secret once, manage and read the delivery log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from app.auth import scopes
from app.db.types import utcnow
from app.extensions import db
from app.webhooks import service, worker
from app.webhooks.models import WebhookAttempt, WebhookMessage, WebhookSubscription
from tests.conftest import ApiClient, app_context
from tests.helpers.api_keys import key_with
from tests.helpers.orders import move, place
from tests.helpers.web import Browserless
from tests.helpers.webhooks import Receiver, Worker, wait_until

SECRET = re.compile(r'value="(whsec_[^"]+)"')


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    assert person.sign_in("admin").status_code == 303
    return person


def create(admin, url="http://127.0.0.1:9/hooks", types=("order.status",), description=""):
    return admin.post(
        "/admin/webhooks/", {"url": url, "types": list(types), "description": description}
    )


def test_the_secret_is_shown_once_after_creation(app, admin):
    response = create(admin, description="EHR feed")
    assert response.status_code == 200
    secret = SECRET.search(response.text).group(1)
    assert "shown this once" in response.text
    with app_context(app):
        subscription = db.session.scalar(select(WebhookSubscription))
        assert subscription.description == "EHR feed"
        assert secret not in subscription.secret_encrypted  # kept encrypted
        assert service.signing_secrets(subscription) == [secret]
    listing = admin.get("/admin/webhooks/")
    assert "http://127.0.0.1:9/hooks" in listing.text
    assert secret not in listing.text
    assert secret not in admin.get(f"/admin/webhooks/{subscription.id}").text


def test_a_refused_url_is_explained_next_to_its_field_and_the_rest_kept(app, admin):
    response = create(
        admin, url="http://169.254.169.254/latest", types=(), description="Keep this text"
    )
    assert response.status_code == 422
    assert "link-local or cloud metadata" in response.text
    assert 'id="url-error"' in response.text
    assert 'id="types-error"' in response.text
    assert 'value="Keep this text"' in response.text
    with app_context(app):
        assert db.session.scalar(select(WebhookSubscription)) is None


def test_disable_enable_rotate_and_delete(app, admin):
    create(admin)
    with app_context(app):
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
    page = f"/admin/webhooks/{subscription_id}"
    assert admin.post(f"{page}/disable").status_code == 303
    shown = admin.get(page).text
    assert "Disabled by Admin Tester." in shown
    assert admin.post(f"{page}/enable").status_code == 303
    assert "Why it is disabled" not in admin.get(page).text
    rotated = admin.post(f"{page}/rotate")
    new_secret = SECRET.search(rotated.text).group(1)
    with app_context(app):
        found = db.session.get(WebhookSubscription, subscription_id)
        assert service.signing_secrets(found)[0] == new_secret
        assert len(service.signing_secrets(found)) == 2
    assert "Secret rotated" in admin.get(page).text
    assert admin.post(f"{page}/delete").status_code == 303
    assert admin.get(page).status_code == 404
    assert "127.0.0.1:9" not in admin.get("/admin/webhooks/").text


def test_ping_and_redeliver_from_the_page(app, admin):
    receiver = Receiver().start()
    delivering = Worker(app).start()
    try:
        create(admin, url=receiver.url)
        with app_context(app):
            subscription = db.session.scalar(select(WebhookSubscription))
            subscription_id = subscription.id
            secret = service.signing_secrets(subscription)[0]
        page = f"/admin/webhooks/{subscription_id}"
        assert admin.post(f"{page}/ping").status_code == 303
        ping = wait_until(receiver.hits, what="the ping")[0]
        assert Webhook(secret).verify(ping.body, ping.headers)["type"] == "webhook.ping"
        with app_context(app):
            message_id = db.session.scalar(select(WebhookMessage.id))
        wait_until(lambda: "Delivered" in admin.get(page).text, what="the ping logged")
        assert admin.post(f"{page}/messages/{message_id}/redeliver").status_code == 303
        hits = wait_until(lambda: len(receiver.hits()) == 2 and receiver.hits(), what="again")
        assert hits[1].headers["webhook-id"] == ping.headers["webhook-id"]
    finally:
        delivering.stop()
        receiver.stop()


def test_the_reason_of_an_automatic_disabling_is_shown(app, admin, catalog):
    create(admin, url="http://127.0.0.1:9/hooks")  # nothing listens on port 9
    app.config.update(WEBHOOK_RETRY_SCHEDULE=(), WEBHOOK_DISABLE_AFTER=1)
    try:
        place(app, catalog, items={"strips": 1})
        with app.app_context():  # the worker's own steps, in-process
            worker.fan_out()
            worker.record(claimed := worker.claim(), worker.deliver(claimed))
            db.session.remove()
    finally:
        app.config.update(WEBHOOK_RETRY_SCHEDULE=(900.0, 1800.0, 3600.0), WEBHOOK_DISABLE_AFTER=20)
    with app_context(app):
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
    shown = admin.get(f"/admin/webhooks/{subscription_id}").text
    assert "Why it is disabled" in shown
    assert "1 event in a row failed" in shown
    assert "ConnectError" in shown


def test_the_page_costs_the_same_queries_however_long_the_log(app, admin, catalog, count_queries):
    create(admin)
    with app_context(app):
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
    counts = []
    for orders in (1, 6):
        for _ in range(orders):
            place(app, catalog, items={"strips": 1})
        with app.app_context():
            worker.fan_out()
            db.session.remove()
        with app_context(app):
            assert db.session.query(WebhookAttempt).count() >= orders
        with count_queries() as counter:
            assert admin.get(f"/admin/webhooks/{subscription_id}").status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1]


def test_admins_see_every_subscription_and_who_made_it(app, admin, client):
    create(admin, url="http://127.0.0.1:9/by-admin")
    key = ApiClient(client, key_with(app, [scopes.WEBHOOKS_MANAGE]))
    made = key.post(
        "/api/v3/webhook", json={"url": "http://127.0.0.1:9/by-key", "types": ["order.status"]}
    )
    assert made.status_code == 201
    listing = admin.get("/admin/webhooks/").text
    rows = re.findall(r"<tr>(.*?)</tr>", listing, re.S)
    by_admin = next(r for r in rows if "/by-admin" in r)
    by_key = next(r for r in rows if "/by-key" in r)
    assert "Admin Tester" in by_admin
    assert "API key “Scoped”" in by_key
    assert admin.get(f"/admin/webhooks/{made.json['id']}").status_code == 200
    # The key sees its own only.
    assert [w["url"] for w in key.get("/api/v3/webhook").json["content"]] == [
        "http://127.0.0.1:9/by-key"
    ]


def deliver_once(app) -> None:
    """The worker's own steps, in-process: new events handed out, one due attempt sent."""
    with app.app_context():
        worker.fan_out()
        claimed = worker.claim()
        if claimed is not None:
            worker.record(claimed, worker.deliver(claimed))
        db.session.remove()


def delivery_rows(html: str) -> list[str]:
    body = html.split('<caption class="visually-hidden">Delivery attempts</caption>')[1]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    ]


def test_a_failed_event_is_retried_now_and_a_later_one_says_it_waits(app, admin, catalog):
    create(admin, url="http://127.0.0.1:9/hooks")  # nothing listens on port 9
    order_id = place(app, catalog, items={"strips": 1})
    deliver_once(app)  # the first try fails; the retry is due in 15 minutes
    move(app, order_id, "processing")
    deliver_once(app)  # the second event is handed out, and waits for the first
    with app_context(app):
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
    page = f"/admin/webhooks/{subscription_id}"
    html = admin.get(page).text
    newest, retry, failed = delivery_rows(html)
    assert f"Waiting behind an earlier event of order {order_id}" in newest
    assert "due" not in newest and "Retry now" not in newest
    assert "next try" in retry
    assert "Failed" in failed and "Retry now" in failed
    assert re.search(r"Events failing in a row</dt><dd>1 since the last delivery", html)

    with app_context(app):
        first = db.session.scalar(select(WebhookMessage.id).order_by(WebhookMessage.id))
    assert admin.post(f"{page}/messages/{first}/retry").status_code == 303
    with app_context(app):
        pending = db.session.scalar(
            select(WebhookAttempt).where(
                WebhookAttempt.message_id == first, WebhookAttempt.status == "pending"
            )
        )
        assert pending.attempt == 2 and not pending.manual
        assert pending.next_attempt_at <= utcnow()
    assert "queued: sent as soon as a worker is free" in admin.get(page).text


def test_an_event_failed_after_every_retry_is_retried_by_hand(app, admin, catalog):
    create(admin, url="http://127.0.0.1:9/hooks")
    app.config.update(WEBHOOK_RETRY_SCHEDULE=())
    try:
        place(app, catalog, items={"strips": 1})
        deliver_once(app)
    finally:
        app.config.update(WEBHOOK_RETRY_SCHEDULE=(900.0, 1800.0, 3600.0))
    with app_context(app):
        subscription_id = db.session.scalar(select(WebhookSubscription.id))
        message_id = db.session.scalar(select(WebhookMessage.id))
    page = f"/admin/webhooks/{subscription_id}"
    html = admin.get(page).text
    assert "Retry now" in html and "Redeliver" not in html
    assert re.search(r"Events failing in a row</dt><dd>1 since the last delivery", html)
    assert "(1 of 20 failed after every retry" in html
    assert admin.post(f"{page}/messages/{message_id}/retry").status_code == 303
    with app_context(app):
        attempts = db.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.message_id == message_id)
        ).all()
        assert [(a.attempt, a.status, a.manual) for a in attempts] == [
            (1, "failed", False),
            (2, "pending", True),
        ]
