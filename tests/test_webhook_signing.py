"""Every message is signed with the subscription's secret as Standard Webhooks says, by both
secrets while a rotated one is still in its grace; a secret stored under another SECRET_KEY
fails the delivery with its reason. The worker's steps run in this process here;
test_webhooks_delivery.py runs the worker as a real process."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from app.webhooks import service
from tests.conftest import app_context
from tests.helpers.orders import actor, place
from tests.helpers.webhooks import Receiver, body_of, deliver_everything, deliveries, subscribe


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_during_a_rotation_each_message_carries_both_signatures(app, api, catalog, receiver):
    created = subscribe(api, receiver.url)
    with app_context(app):
        new_secret = service.rotate_secret(created["id"], actor("admin")).secret
    place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    [hit] = receiver.hits()
    signatures = hit.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (new_secret, created["secret"]):
        assert Webhook(secret).verify(hit.body, hit.headers)["type"] == "order.status"


def test_a_secret_stored_under_another_secret_key_fails_the_delivery_with_why(
    app, api, catalog, receiver, monkeypatch
):
    created = subscribe(api, receiver.url)
    place(app, catalog, items={"strips": 1})
    monkeypatch.setitem(app.config, "SECRET_KEY", "another secret key entirely")
    deliver_everything(app)
    monkeypatch.undo()
    assert receiver.hits() == []
    first, retry = sorted(deliveries(api, created["id"]), key=lambda d: d["attempt"])
    assert (first["status"], first["error"], first["durationMs"]) == (
        "failed",
        "the secret was stored under another SECRET_KEY",
        0,  # nothing was sent
    )
    assert (retry["status"], retry["attemptedAt"]) == ("pending", None)  # on the schedule


def test_each_message_is_named_by_a_standard_webhooks_message_id(app, api, catalog, receiver):
    """``msg_`` and a random part: the same id in the header the signature covers and in
    the body, and a new one for each message."""
    subscribe(api, receiver.url)
    for _ in range(2):
        place(app, catalog, items={"strips": 1})
    deliver_everything(app)
    ids = [hit.headers["webhook-id"] for hit in receiver.hits()]
    assert len(set(ids)) == 2 and all(i.startswith("msg_") and len(i) > 20 for i in ids)
    assert [body_of(hit)["id"] for hit in receiver.hits()] == ids


# A secret encrypted under SECRET_KEY "tests-only-secret" on 2026-12-05.
STORED_EARLIER = (
    "gAAAAABrFG75OtTlQwGAd1_PdcSWF4z8pp_TndubUGttOyifxGlWxCBv17SXKZCi6xJGxVJR-wusZxXIMKnBkmF"
    "lOzP9eN6cx-TH8sqZv2LKt848PSbqlJPWRXFxU3_nZtmbpUpNQJMm"
)


def test_a_secret_stored_by_an_earlier_release_is_still_readable(app):
    """The key that encrypts secrets is derived from SECRET_KEY the same way in every release:
    an upgrade leaves every subscription able to sign."""
    from app.webhooks import signing

    assert app.config["SECRET_KEY"] == "tests-only-secret"
    with app.app_context():
        assert signing.decrypt(STORED_EARLIER) == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
