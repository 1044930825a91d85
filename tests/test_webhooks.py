"""Webhooks end to end: a real receiver on a free port, the worker as a real process."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.orders import statuses
from app.webhooks import service, signing
from app.webhooks.destinations import DestinationRefused, HostNotFound, refusal, resolve
from app.webhooks.models import WebhookAttempt, WebhookMessage, WebhookSubscription
from tests.conftest import app_context
from tests.helpers.orders import actor, move, place
from tests.helpers.webhooks import (
    Receiver,
    Worker,
    api_json,
    body_of,
    deliveries,
    subscribe,
    wait_until,
)

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def workers(app):
    started: list[Worker] = []

    def start(**settings) -> Worker:
        worker = Worker(app, **settings).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def names(hits) -> list[str]:
    return [body_of(h)["payload"]["event"]["name"] for h in hits]


def test_events_of_an_order_arrive_in_order(app, api, catalog, receiver, workers):
    subscription = subscribe(api, receiver.url)
    receiver.statuses = [500]  # the first event fails once: the later ones must wait for it
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, statuses.PROCESSING)
    move(app, order_id, statuses.ON_HOLD, reason="Address check")
    move(app, order_id, statuses.PROCESSING)
    move(app, order_id, statuses.CANCELLED, role="admin", reason="Patient moved")
    workers()
    hits = wait_until(lambda: len(receiver.hits()) >= 6 and receiver.hits(), what="6 hits")
    assert names(hits) == [
        "created",  # answered 500
        "created",
        "processing",
        "onHold",
        "processing",
        "cancelled",
    ]
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    wait_until(
        lambda: (
            sum(1 for d in deliveries(api, subscription["id"]) if d["status"] == "delivered") == 5
        ),
        what="5 delivered events logged",
    )


def test_redirects_are_not_followed(app, api, catalog, receiver, workers):
    receiver.status = 302
    receiver.extra_headers = {"Location": receiver.url + "/elsewhere"}
    subscription = subscribe(api, receiver.url)
    workers(WEBHOOK_RETRY_SCHEDULE="")
    place(app, catalog, items={"strips": 1})
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] == "failed"],
        what="a failed attempt",
    )
    assert log[0]["responseStatus"] == 302
    assert "not followed" in log[0]["error"]
    assert [h.path for h in receiver.hits()] == ["/hooks"]


def test_a_run_of_failed_events_disables_the_subscription(app, api, catalog, receiver, workers):
    receiver.status = 503
    subscription = subscribe(api, receiver.url)
    workers(WEBHOOK_RETRY_SCHEDULE="", WEBHOOK_DISABLE_AFTER="2")
    for _ in range(3):
        place(app, catalog, items={"strips": 1})

    def disabled():
        found = api_json(api, f"/api/v3/webhook/{subscription['id']}")
        return found if not found["enabled"] else None

    found = wait_until(disabled, what="the subscription disabled")
    assert "2 events in a row failed" in found["disabledReason"]
    assert "HTTP 503" in found["disabledReason"]
    # The third event waits for the subscription to be enabled again; nothing is lost.
    assert len(receiver.hits()) == 2
    with app_context(app):
        service.set_enabled(subscription["id"], True, actor("admin"))
    receiver.status = 200
    wait_until(lambda: len(receiver.hits()) == 3, what="the third event")


def test_a_worker_killed_mid_delivery_leaves_it_to_the_next(app, api, catalog, receiver, workers):
    receiver.hold = threading.Event()
    subscription = subscribe(api, receiver.url)
    first = workers(WEBHOOK_LEASE_SECONDS="4", WEBHOOK_TIMEOUT_SECONDS="3")
    place(app, catalog, items={"strips": 1})
    wait_until(receiver.hits, what="the first request")
    first.kill()
    receiver.hold.set()
    workers(WEBHOOK_LEASE_SECONDS="2", WEBHOOK_TIMEOUT_SECONDS="1")
    hits = wait_until(lambda: len(receiver.hits()) == 2 and receiver.hits(), what="a second try")
    assert hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] == "delivered"],
        what="delivered",
    )
    # The killed worker recorded nothing: the same attempt was taken over and delivered.
    assert [d["attempt"] for d in log] == [1]


def test_two_workers_deliver_each_attempt_once(app, api, catalog, receiver, workers):
    with app_context(app):
        if db.engine.dialect.name != "postgresql":
            pytest.skip("several workers need PostgreSQL (SQLite runs a single worker)")
    subscribe(api, receiver.url)
    order_ids = [place(app, catalog, items={"strips": 1}) for _ in range(20)]
    workers()
    workers()
    hits = wait_until(lambda: len(receiver.hits()) >= 20 and receiver.hits(), what="20 hits")
    time.sleep(1)  # time for a duplicate to arrive, were there one
    hits = receiver.hits()
    ids = [h.headers["webhook-id"] for h in hits]
    assert len(ids) == len(set(ids)) == 20
    assert sorted(body_of(h)["payload"]["orderId"] for h in hits) == sorted(order_ids)


def test_refused_at_delivery_after_resolution(app, api, catalog, receiver, workers):
    subscription = subscribe(api, receiver.url)
    # Saved while private addresses were allowed; the worker now refuses them.
    workers(WEBHOOK_DENY_PRIVATE="true", WEBHOOK_RETRY_SCHEDULE="")
    place(app, catalog, items={"strips": 1})
    log = wait_until(
        lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] == "failed"],
        what="a refused attempt",
    )
    assert "127.0.0.1 is a private or loopback address" in log[0]["error"]
    assert log[0]["responseStatus"] is None
    assert receiver.hits() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "https://[::ffff:169.254.169.254]/",
        "http://169.254.1.1:8080/hook",
        "ftp://example.org/hook",
        "http://user:pass@127.0.0.1/hook",
        "not a url",
        # Other spellings and neighbours of metadata and undeliverable addresses.
        "http://[::169.254.169.254]/",  # IPv4-compatible
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
        "http://[2002:a9fe:a9fe::1]/",  # 6to4
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",  # Teredo, client 169.254.169.254
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud
        "http://192.0.0.192/opc/v2/instance/",  # Oracle Cloud
        "http://255.255.255.255/",
        "http://0.0.0.1/",
        "http://[64:ff9b:1::a9fe:a9fe]/",  # local-use NAT64: its target cannot be told
    ],
)
def test_metadata_and_odd_destinations_are_refused_when_saved(api, url):
    response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_url"
    assert response.get_json()["error"]["field"] == "url"
    assert api.get("/api/v3/webhook").get_json()["total"] == 0


def test_the_deny_rules():
    assert refusal("169.254.169.254", deny_private=False)
    assert refusal("fd00:ec2::254", deny_private=False)
    assert refusal("fe80::1", deny_private=False)
    assert refusal("::ffff:169.254.169.254", deny_private=False)
    assert refusal("10.0.0.5", deny_private=False) is None
    assert refusal("127.0.0.1", deny_private=False) is None
    assert refusal("10.0.0.5", deny_private=True)
    assert refusal("::1", deny_private=True)
    assert refusal("93.184.216.34", deny_private=True) is None
    # An IPv6 address is judged by the IPv4 address it carries.
    assert refusal("::ffff:10.0.0.5", deny_private=True)
    assert refusal("64:ff9b::a00:5", deny_private=True)  # NAT64 of 10.0.0.5
    assert refusal("64:ff9b::5db8:d822", deny_private=True) is None  # of 93.184.216.34
    assert refusal("2002:5db8:d822::1", deny_private=True) is None  # 6to4 of 93.184.216.34
    assert refusal("100.64.0.1", deny_private=False) is None  # carrier-grade NAT: private
    assert refusal("100.64.0.1", deny_private=True)


@pytest.mark.parametrize(
    "address",
    ["::169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "100.100.100.200"],
)
def test_resolved_addresses_are_judged_unwrapped_at_each_delivery(address):
    """What a name resolves to is judged as the address a URL names (the worker's path)."""
    with pytest.raises(DestinationRefused, match="link-local or cloud metadata"):
        resolve(address, 80, deny_private=False)


# Accepted with 201 before, then crashed the worker's round at each delivery.
UNSENDABLE = [
    "http://127.0.0.1\t:8205/x",
    "http://127.0.0.1:8205/\r\nX-Injected: 1",
    "http://１２７.0.0.1:8205/x",
    "http://①②⑦.0.0.1:8205/x",
]


@pytest.mark.parametrize(
    "url",
    [
        *UNSENDABLE,
        "http://exa mple.org/x",
        "http://example.org/\u200bx",  # a zero-width space
        "http://127.0.0.1:8205\\@example.org/x",  # a backslash, read as "/" by browsers
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1:８２０５/x",  # fullwidth digits in the port
        "http://ex%61mple.org/x",
        "http://١٢٧.example/x",  # Arabic-Indic digits
    ],
)
def test_urls_the_sender_cannot_send_are_refused_when_saved(api, url):
    response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid_url"
    assert api.get("/api/v3/webhook").get_json()["total"] == 0


def test_international_host_names_and_names_not_yet_in_dns_are_accepted(api):
    """IDNA host names are legitimate (sent IDNA-encoded); a name that does not resolve now
    is checked again at each delivery."""
    for url in ["https://bücher.example/hooks", "https://hooks.orderly-test.invalid/x?a=b"]:
        response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["url"] == url


def test_the_readme_example_subscription_is_accepted_as_written(api):
    readme = README.read_text()
    example = next(
        block
        for block in readme.split("```")
        if "-X POST http://127.0.0.1:8000/api/v3/webhook" in block
    )
    body = json.loads(re.search(r"-d '(.*)'", example).group(1))
    response = api.post("/api/v3/webhook", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["url"] == body["url"]


def stored_before_the_rules(app, url: str, types=("order.status",)) -> int:
    """A subscription saved before its URL would be refused: written as the service wrote
    it then, without today's checks."""
    with app.app_context(), write_transaction() as session:
        subscription = WebhookSubscription(
            url=url,
            types=",".join(types),
            secret_encrypted=signing.encrypt(signing.new_secret()),
            enabled=True,
            consecutive_failures=0,
            created_at=utcnow(),
        )
        session.add(subscription)
        session.flush()
        return subscription.id


def test_subscriptions_stored_with_unsendable_urls_fail_cleanly_and_others_receive(
    app, api, catalog, receiver, workers
):
    bad = [
        stored_before_the_rules(app, url)
        for url in [*UNSENDABLE, "http://[64:ff9b::a9fe:a9fe]/x", "http://127.0.0.1:99999/x"]
    ]
    healthy = subscribe(api, receiver.url)
    order_ids = [place(app, catalog, items={"strips": 1}) for _ in range(3)]
    workers(WEBHOOK_RETRY_SCHEDULE="", WEBHOOK_LEASE_SECONDS="30")
    hits = wait_until(lambda: len(receiver.hits()) == 3 and receiver.hits(), what="3 events")
    assert sorted(body_of(h)["payload"]["orderId"] for h in hits) == order_ids

    def failed_everywhere():
        with app_context(app) as session:
            return session.execute(
                select(WebhookMessage.subscription_id, WebhookAttempt.status, WebhookAttempt.error)
                .join(WebhookAttempt.message)
                .where(WebhookMessage.subscription_id.in_(bad))
            ).all()

    attempts = wait_until(
        lambda: (
            (found := failed_everywhere())
            and len(found) == 3 * len(bad)
            and all(status == "failed" for _, status, _ in found)
            and found
        ),
        what="every attempt to a bad URL failed",
    )
    errors = {subscription_id: error for subscription_id, _, error in attempts}
    assert "whitespace" in errors[bad[0]] and "whitespace" in errors[bad[1]]
    assert "digits other than 0-9" in errors[bad[2]] and "digits" in errors[bad[3]]
    assert "carries 169.254.169.254" in errors[bad[4]]
    assert "port" in errors[bad[5]]
    wait_until(
        lambda: [d["status"] for d in deliveries(api, healthy["id"])] == ["delivered"] * 3,
        what="the healthy receiver's deliveries recorded",
    )


def test_a_slow_receiver_does_not_hold_back_the_others(app, api, catalog, workers):
    slow = Receiver(hold=threading.Event()).start()  # answers only when the worker gives up
    fast = Receiver().start()
    try:
        subscribe(api, slow.url)  # first: its attempts come first in the queue
        subscribe(api, fast.url)
        workers(WEBHOOK_TIMEOUT_SECONDS="5", WEBHOOK_LEASE_SECONDS="30")
        for _ in range(3):
            place(app, catalog, items={"strips": 1})
        wait_until(slow.hits, what="the slow receiver's first request")
        held_since = time.monotonic()
        wait_until(lambda: len(fast.hits()) == 3, timeout=10, what="the fast receiver's events")
        waited = time.monotonic() - held_since
        # All three well within one slow timeout, and the slow one holds one request at a time.
        assert waited < 2.5, f"the fast receiver waited {waited:.1f} s"
        assert len(slow.hits()) == 1
    finally:
        slow.stop()
        fast.stop()


def test_an_answer_the_database_cannot_store_is_kept_readable(app, api, catalog, workers):
    """A receiver answering NUL bytes (which PostgreSQL's text refuses) is still delivered."""
    receiver = Receiver(body=b"ok\x00\x00done").start()
    try:
        subscription = subscribe(api, receiver.url)
        workers()
        place(app, catalog, items={"strips": 1})
        logged = wait_until(
            lambda: [d for d in deliveries(api, subscription["id"]) if d["status"] != "pending"],
            what="the attempt recorded",
        )
        assert logged[0]["status"] == "delivered"
        with app_context(app) as session:
            assert session.scalar(select(WebhookAttempt.response_body)) == "ok\ufffd\ufffddone"
            assert session.scalar(select(func.count(WebhookAttempt.id))) == 1
    finally:
        receiver.stop()


def test_the_readme_receiver_verifies_our_signature(app):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = next(
        block.removeprefix("python\n")
        for block in readme.split("```")
        if block.startswith("python\n") and "standardwebhooks" in block
    )
    with app_context(app):
        secret = signing.new_secret()
        body = service.message_body("msg_readme", "webhook.ping", {"message": "hi"})
        now = utcnow()
        signature = signing.signature_header([secret], "msg_readme", now, body)
    namespace: dict = {"__name__": "readme_receiver"}
    exec(example.replace('"whsec_..."', repr(secret)), namespace)  # noqa: S102
    receiver = namespace["app"].test_client()
    headers = {
        "webhook-id": "msg_readme",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    assert receiver.post("/orderly-hooks", data=body, headers=headers).status_code == 204
    forged = {**headers, "webhook-signature": signature[:-4] + "AAA="}
    assert receiver.post("/orderly-hooks", data=body, headers=forged).status_code == 400


REFUSED_WITH_REASON = [
    (
        "http://example.org/a\\b",
        "The URL may not contain a backslash (percent-encode it if it belongs there).",
    ),
    (
        "http://example.org/a b",
        "The URL may not contain whitespace (percent-encode it if it belongs there).",
    ),
    (
        "http://example.org/\u200bx",
        "The URL may not contain the character U+200B (percent-encode it if it belongs there).",
    ),
    (
        "http://169.254.169.254/x",
        "Refused: 169.254.169.254 is a link-local or cloud metadata address.",
    ),
    ("http://224.0.0.1/x", "Refused: 224.0.0.1 is not an address one can deliver to."),
    ("http://[ff02::1]/x", "Refused: ff02::1 is not an address one can deliver to."),
    ("http://[::2]/x", "Refused: ::2 carries 0.0.0.2, not an address one can deliver to."),
    ("http://①②⑦.0.0.1:8205/x", "The host name may hold no digits other than 0-9."),
    ("http://[::1/x", "This is not a valid URL (Invalid port: ':1')."),
    ("ftp://example.org/x", "The URL must start with https:// or http://."),
    ("http:///x", "The URL needs a host name."),
    ("http://user:pass@example.org/x", "Put no user name or password in the URL."),
    ("http://example.org/x#top", "The URL may not have a #fragment."),
    ("http://exa%mple.org/x", "The host is neither a host name nor an IP address."),
    ("http://[fe80::1%25eth0]/x", "The host may not name a network interface (%)."),
    ("http://example.org:0/x", "The port must be a number from 1 to 65535."),
    ("http://example.org:65536/x", "The port must be a number from 1 to 65535."),
    # The authority ends at "/", "?" or "#" only (capitals are host name letters like others).
    ("http://XY.orderly-test.invalid:99999/x", "The port must be a number from 1 to 65535."),
]


@pytest.mark.parametrize("url, message", REFUSED_WITH_REASON)
def test_a_refused_url_is_told_why_and_not_stored(api, url, message):
    response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == message
    assert api.get("/api/v3/webhook").get_json()["total"] == 0


def test_loopback_is_a_destination_unless_private_addresses_are_denied(app, api, monkeypatch):
    """::1 is loopback, not the IPv4-compatible form of 0.0.0.1 (which no one can call)."""
    response = api.post(
        "/api/v3/webhook", json={"url": "http://[::1]:8205/x", "types": ["order.status"]}
    )
    assert response.status_code == 201, response.get_json()
    monkeypatch.setitem(app.config, "WEBHOOK_DENY_PRIVATE", True)
    refused = [
        ("http://10.0.0.5/x", "Refused: 10.0.0.5 is a private or loopback address"),
        ("http://localhost:8205/x", "Refused: localhost resolves to an address not allowed: "),
        # Teredo is judged by itself too, not only by the (public) addresses it carries.
        (
            "http://[2001:0:4136:e378:8000:63bf:a247:2bdd]/x",
            "Refused: 2001:0:4136:e378:8000:63bf:a247:2bdd is a private or loopback address",
        ),
    ]
    for url, message in refused:
        response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
        assert response.status_code == 400
        error = response.get_json()["error"]["message"]
        assert error.startswith(message) and error.endswith(
            "a private or loopback address (WEBHOOK_DENY_PRIVATE is on)."
        ), error
    assert [s["url"] for s in api.get("/api/v3/webhook").get_json()["content"]] == [
        "http://[::1]:8205/x"
    ]


def test_a_path_may_hold_what_a_host_name_may_not(api):
    """Only the host is held to ASCII digits and the port to a number: the path is the
    receiver's own (httpx percent-encodes it)."""
    url = "https://hooks.orderly-test.invalid/①/a:b?next=http://①"
    response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
    assert response.status_code == 201, response.get_json()
    assert [s["url"] for s in api.get("/api/v3/webhook").get_json()["content"]] == [url]


def test_a_port_from_1_to_65535_is_accepted(api):
    urls = ["http://hooks.orderly-test.invalid:1/x", "http://hooks.orderly-test.invalid:65535/x"]
    for url in urls:
        response = api.post("/api/v3/webhook", json={"url": url, "types": ["order.status"]})
        assert response.status_code == 201, response.get_json()
    assert [s["url"] for s in api.get("/api/v3/webhook").get_json()["content"]] == urls


def test_an_address_is_judged_and_named_without_its_network_interface():
    """A name may resolve to a link-local address with its interface (``fe80::1%eth0``)."""
    assert refusal("fe80::1%eth0", deny_private=False) == (
        "fe80::1 is a link-local or cloud metadata address"
    )


def test_a_name_that_does_not_resolve_at_delivery_is_reported_by_name():
    with pytest.raises(HostNotFound) as missing:
        resolve("hooks.orderly-test.invalid", 80, deny_private=False)
    assert str(missing.value) == "The host hooks.orderly-test.invalid could not be found."


def test_an_https_delivery_names_the_host_to_tls_not_the_address_it_connects_to():
    """The delivery connects to the address it resolved and judged, but TLS is told the URL's
    host name (SNI), so the certificate is checked against the name: a TLS receiver records
    the name each client asks for (none given for an address)."""
    import contextlib
    import socket
    import ssl

    from app.webhooks.sender import send

    asked_for = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no certificate: the hello is all we read
    tls.sni_callback = lambda connection, name, context: asked_for.append(name)
    address = resolve("localhost", 443, deny_private=False)  # where the delivery connects
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.create_server((address, 0), family=family) as listener:
        port = listener.getsockname()[1]

        def hear_one_hello():
            connection, _ = listener.accept()
            with connection, contextlib.suppress(ssl.SSLError):  # the handshake fails after it
                tls.wrap_socket(connection, server_side=True)

        server = threading.Thread(target=hear_one_hello)
        server.start()
        outcome = send(f"https://localhost:{port}/hook", "{}", {}, timeout=5, deny_private=False)
        server.join(timeout=10)
    assert asked_for == ["localhost"]
    assert outcome.response_status is None and "SSL" in outcome.error
