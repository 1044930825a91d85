"""The v3 order API: placing, fetching and listing orders, in the public API's shapes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.orders.models import Order, OrderEvent, OrderItem, SubmissionKey
from tests.conftest import app_context
from tests.helpers.orders import actor, delivered_order, patient_order, receive_stock


def order_count(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(Order.id)))


def test_patient_order_is_placed_and_answered_whole(api, catalog):
    response = api.post("/api/v3/order", json=patient_order(catalog))

    assert response.status_code == 201
    order = response.get_json()
    assert response.headers["Location"] == f"/api/v3/order/{order['id']}"
    assert order["currentStatus"] == "created"
    assert order["externalOrderIds"] == ["xyz_123_0", "xyz_123_1"]
    assert order["patient"]["id"] == catalog.patient
    assert order["patient"]["firstName"] == "Ada"
    assert order["patient"]["address"]["city"] == "Columbus"
    assert order["patient"]["site"]["name"] == "Riverside Clinic"
    assert order["site"] is None
    assert order["orderItems"] == [
        {
            "item": {
                "id": catalog.items["strips"],
                "name": "Test strips",
                "sku": "STR",
                "model": None,
                "manufacturer": None,
                "orderable": True,
                "deviceIdentifierType": None,
                "serialPattern": None,
                "size": None,
            },
            "count": 10,
        }
    ]
    kit = order["orderKits"][0]
    assert kit["count"] == 1
    assert kit["kit"]["name"] == "Hypertension kit"
    assert [(ki["item"]["sku"], ki["count"]) for ki in kit["kit"]["kitItems"]] == [
        ("BPM", 1),
        ("CUF-L", 1),
        ("GWY", 1),
    ]
    assert [e["name"] for e in order["orderEvents"]] == ["created"]
    assert order["orderEvents"][0]["eventTimestamp"].endswith("Z")
    assert order["shippingOption"] == "standard"
    assert order["emailLabel"] is False
    assert order["trackingNumbers"] == order["devices"] == order["packedKits"] == []


def test_site_order_needs_no_patient(api, catalog):
    body = patient_order(catalog, patient=None, site={"id": catalog.site})
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == 201
    order = response.get_json()
    assert order["patient"] is None
    assert order["site"]["name"] == "Riverside Clinic"
    assert order["site"]["phoneNumber"] == "+16145550100"


def test_shipping_option_defaults_to_standard(api, catalog):
    body = patient_order(catalog)
    del body["shippingOption"]
    assert api.post("/api/v3/order", json=body).get_json()["shippingOption"] == "standard"


def test_overnight_is_kept(api, catalog):
    body = patient_order(catalog, shippingOption="overnight")
    assert api.post("/api/v3/order", json=body).get_json()["shippingOption"] == "overnight"


def test_the_public_guides_smallest_order_shape_is_accepted(api, catalog):
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["cuff"]}, "count": 1}],
    }
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == 201
    assert response.get_json()["externalOrderIds"] == []


def test_server_assigned_fields_are_ignored_on_create(api, catalog):
    body = patient_order(catalog, id=999, currentStatus="shipped", orderEvents=[{"name": "x"}])
    order = api.post("/api/v3/order", json=body).get_json()
    assert order["id"] != 999
    assert order["currentStatus"] == "created"
    assert [e["name"] for e in order["orderEvents"]] == ["created"]


def test_order_note_on_create_is_kept_with_who_wrote_it(api, catalog):
    body = patient_order(catalog, orderNotes=[{"note": "Leave with the neighbour at no. 5"}])
    order = api.post("/api/v3/order", json=body).get_json()
    assert [n["note"] for n in order["orderNotes"]] == ["Leave with the neighbour at no. 5"]
    assert order["orderNotes"][0]["createdBy"] is None  # placed by an API key, not a person


def test_order_is_fetched_by_id(api, catalog):
    placed = api.post("/api/v3/order", json=patient_order(catalog)).get_json()
    response = api.get(f"/api/v3/order/{placed['id']}")
    assert response.status_code == 200
    assert response.get_json() == placed


@pytest.mark.parametrize("order_id", ["999999", "2147483648", "99999999999999999999"])
def test_unknown_order_is_404_in_json(api, catalog, order_id):
    response = api.get(f"/api/v3/order/{order_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in ("order_not_found", "not_found")


def test_list_is_the_paged_envelope_newest_first(api, catalog):
    ids = [
        api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"] for _ in range(3)
    ]

    page = api.get("/api/v3/order?size=2").get_json()
    assert [o["id"] for o in page["content"]] == [ids[2], ids[1]]
    assert (page["page"], page["size"], page["total"], page["first"], page["last"]) == (
        1,
        2,
        3,
        True,
        False,
    )
    page2 = api.get("/api/v3/order?size=2&page=2").get_json()
    assert [o["id"] for o in page2["content"]] == [ids[0]]
    assert (page2["first"], page2["last"]) == (False, True)
    assert page["totalCapped"] is False


def test_list_total_stops_at_the_cap_and_says_so(api, catalog, monkeypatch):
    from app.orders import listing

    for _ in range(4):
        api.post("/api/v3/order", json=patient_order(catalog))
    monkeypatch.setattr(listing, "COUNT_CAP", 2)
    page = api.get("/api/v3/order?size=1").get_json()
    assert (page["total"], page["totalCapped"], page["last"]) == (2, True, False)
    # A page past the cap counts as far as it reaches, and still knows it is not the last.
    page3 = api.get("/api/v3/order?size=1&page=3").get_json()
    assert (page3["total"], page3["totalCapped"], page3["last"]) == (3, True, False)
    page4 = api.get("/api/v3/order?size=1&page=4").get_json()
    assert (page4["total"], page4["totalCapped"], page4["last"]) == (4, False, True)


def test_list_size_defaults_to_15(api, catalog):
    assert api.get("/api/v3/order").get_json()["size"] == 15


def test_list_filters(api, catalog):
    to_patient = api.post(
        "/api/v3/order", json=patient_order(catalog, externalOrderIds=["A-1"])
    ).get_json()
    to_site = api.post(
        "/api/v3/order",
        json=patient_order(
            catalog, patient=None, site={"id": catalog.site}, externalOrderIds=["B-2"]
        ),
    ).get_json()

    def ids(query):
        response = api.get(f"/api/v3/order?{query}")
        assert response.status_code == 200
        return [o["id"] for o in response.get_json()["content"]]

    assert ids(f"patientId={catalog.patient}") == [to_patient["id"]]
    assert ids(f"siteId={catalog.site}") == [to_site["id"]]  # shipped to the site
    # The site's own orders and its patients' (the patient is Riverside Clinic's).
    assert ids(f"responsibleSiteId={catalog.site}") == [to_site["id"], to_patient["id"]]
    assert ids(f"responsibleSiteId={catalog.inactive_site}") == []
    assert ids("externalOrderId=B-2") == [to_site["id"]]
    assert ids("externalOrderId=nope") == []
    assert ids("status=created") == [to_site["id"], to_patient["id"]]
    assert ids("status=shipped") == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("size=251", "size"),
        ("size=0", "size"),
        ("size=1e3", "size"),
        ("status=lost", "status"),
        ("patientId=x", "patientId"),
        ("siteId=-3", "siteId"),
        ("responsibleSiteId=x", "responsibleSiteId"),
        ("externalOrderId=" + "x" * 65, "externalOrderId"),
    ],
)
def test_bad_list_parameters_are_400(api, catalog, query, field):
    response = api.get(f"/api/v3/order?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_parameter",
        "message": response.get_json()["error"]["message"],
        "field": field,
    }


def fifty_items_in_stock(app) -> list[int]:
    """50 more items, 3 of each in stock: for orders of 1 line and of 50."""
    from app.catalog.models import Item
    from app.db.transactions import write_transaction

    with app.app_context(), write_transaction() as session:
        extra = [Item(name=f"Item {n}", sku=f"X{n}") for n in range(50)]
        session.add_all(extra)
        session.flush()
        extra_ids = [i.id for i in extra]
    receive_stock(app, {i: 3 for i in extra_ids})
    return extra_ids


def test_fetching_50_lines_costs_the_same_queries_as_1(app, api, catalog, count_queries):
    extra_ids = fifty_items_in_stock(app)
    small = api.post(
        "/api/v3/order",
        json=patient_order(catalog, orderItems=[{"item": {"id": extra_ids[0]}, "count": 1}]),
    ).get_json()
    big = api.post(
        "/api/v3/order",
        json=patient_order(
            catalog, orderItems=[{"item": {"id": i}, "count": 2} for i in extra_ids]
        ),
    ).get_json()
    assert len(big["orderItems"]) == 50

    with count_queries() as one_line:
        assert api.get(f"/api/v3/order/{small['id']}").status_code == 200
    with count_queries() as fifty_lines:
        assert api.get(f"/api/v3/order/{big['id']}").status_code == 200
    assert fifty_lines.count == one_line.count
    assert one_line.count <= 25

    with count_queries() as listing:
        page = api.get("/api/v3/order?size=250").get_json()
    assert page["total"] == 2
    assert listing.count <= one_line.count + 2


def test_an_order_with_every_kind_of_line_reads_as_the_orm_writes_it(app, api, catalog):
    """The API reads orders with plain statements; its answer is the document that
    serialize.order writes from the ORM's graph, devices, returns and notes included."""
    from app.orders import lifecycle, serialize
    from app.orders.lookups import get_order

    first = delivered_order(app, catalog, kits={"diabetes": 1}, items={"monitor": 1})
    with app_context(app):
        shipped = get_order(first)
        packed_kit_id = shipped.packed_kits[0].id
        loose = [od.device_id for od in shipped.devices if od.packed_kit_id is None]
    assert loose
    second = api.post(
        "/api/v3/order",
        json=patient_order(
            catalog,
            returnItems=[{"item": {"id": catalog.items["cuff"]}, "count": 2}],
            returnDevices=[{"id": device_id} for device_id in loose],
            returnPackedKits=[{"id": packed_kit_id}],
        ),
    ).get_json()["id"]
    with app.app_context():
        lifecycle.add_note(second, "Call before delivery", actor("coordinator"))

    for order_id in (first, second):
        answer = api.get(f"/api/v3/order/{order_id}").get_json()
        with app_context(app):
            assert answer == serialize.plain(serialize.order(get_order(order_id)))
    listed = api.get("/api/v3/order").get_json()["content"]
    with app_context(app):
        assert listed == [serialize.plain(serialize.order(get_order(i))) for i in (second, first)]
    assert listed[0]["returnPackedKits"][0]["devices"]
    assert listed[0]["returnDevices"] and listed[0]["returnItems"] and listed[0]["orderNotes"]
    assert listed[1]["packedKits"][0]["devices"] and listed[1]["devices"]
    assert listed[1]["trackingNumbers"]


def test_placing_answers_what_was_written_in_a_fixed_number_of_statements(
    app, api, catalog, count_queries
):
    extra_ids = fifty_items_in_stock(app)
    returns = {
        "returnItems": [{"item": {"id": catalog.items["cuff"]}, "count": 1}],
        "orderNotes": [{"note": "Leave at the door"}],
    }
    with count_queries() as one_line:
        small = api.post(
            "/api/v3/order",
            json=patient_order(
                catalog, orderItems=[{"item": {"id": extra_ids[0]}, "count": 1}], **returns
            ),
        )
    with count_queries() as fifty_lines:
        big = api.post(
            "/api/v3/order",
            json=patient_order(
                catalog, orderItems=[{"item": {"id": i}, "count": 2} for i in extra_ids], **returns
            ),
        )
    assert small.status_code == big.status_code == 201
    assert len(big.get_json()["orderItems"]) == 50
    # Checked once, written in bulk, answered from what was written: nothing is read back.
    assert fifty_lines.count == one_line.count
    assert not [s for s in one_line.statements if "FROM order_" in s]
    for placed in (small, big):
        assert placed.get_json() == api.get(placed.headers["Location"]).get_json()


def test_a_site_order_is_answered_as_get_answers_it(api, catalog):
    placed = api.post(
        "/api/v3/order", json=patient_order(catalog, patient=None, site={"id": catalog.site})
    )
    assert placed.status_code == 201
    assert placed.get_json() == api.get(placed.headers["Location"]).get_json()


def test_list_of_many_orders_costs_a_fixed_number_of_queries(api, catalog, count_queries):
    api.post("/api/v3/order", json=patient_order(catalog))
    with count_queries() as one:
        api.get("/api/v3/order")
    for _ in range(10):
        api.post("/api/v3/order", json=patient_order(catalog))
    with count_queries() as eleven:
        assert len(api.get("/api/v3/order").get_json()["content"]) == 11
    assert eleven.count == one.count


# --- Idempotency ------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_first_order(app, api, catalog):
    headers = {"Idempotency-Key": "retry-me-1"}
    first = api.post("/api/v3/order", json=patient_order(catalog), headers=headers)
    again = api.post("/api/v3/order", json=patient_order(catalog), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert order_count(app) == 1


def test_same_idempotency_key_with_another_body_is_409(app, api, catalog):
    headers = {"Idempotency-Key": "retry-me-2"}
    api.post("/api/v3/order", json=patient_order(catalog), headers=headers)
    response = api.post(
        "/api/v3/order", json=patient_order(catalog, shippingOption="overnight"), headers=headers
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"
    assert order_count(app) == 1


def test_a_used_idempotency_key_is_told_so_before_another_body_is_checked(app, api, catalog):
    """A key already used answers for its order whatever comes with it: a second body that
    would be refused on its own is told the key is taken, not what is wrong with the body."""
    headers = {"Idempotency-Key": "retry-me-3"}
    first = api.post("/api/v3/order", json=patient_order(catalog), headers=headers)
    response = api.post(
        "/api/v3/order", json=patient_order(catalog, shippingOption="rocket"), headers=headers
    )
    assert first.status_code == 201
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "idempotency_key_reused"
    assert order_count(app) == 1
    with app_context(app) as session:
        used = session.scalars(select(SubmissionKey)).all()
        assert [(k.key, k.order_id) for k in used] == [("retry-me-3", first.get_json()["id"])]


def test_rejected_order_does_not_use_up_its_idempotency_key(app, api, catalog):
    headers = {"Idempotency-Key": "fix-and-retry"}
    bad = api.post(
        "/api/v3/order", json=patient_order(catalog, shippingOption="rocket"), headers=headers
    )
    assert bad.status_code == 400
    good = api.post("/api/v3/order", json=patient_order(catalog), headers=headers)
    assert good.status_code == 201
    with app_context(app) as session:
        assert session.scalar(select(func.count(SubmissionKey.id))) == 1


def test_idempotency_keys_belong_to_one_api_key(app, client, api, catalog):
    from app.auth.models import ApiKey
    from app.auth.scopes import ALL_SCOPES
    from app.db.transactions import write_transaction
    from tests.conftest import ApiClient

    with app.app_context(), write_transaction() as session:
        other_key, plain = ApiKey.issue("Other system", ALL_SCOPES)
        session.add(other_key)
    other = ApiClient(client, plain)
    headers = {"Idempotency-Key": "shared-name"}
    a = api.post("/api/v3/order", json=patient_order(catalog), headers=headers).get_json()
    b = other.post("/api/v3/order", json=patient_order(catalog), headers=headers).get_json()
    assert a["id"] != b["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_malformed_idempotency_key_is_400(app, api, catalog, key):
    response = api.post(
        "/api/v3/order", json=patient_order(catalog), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_idempotency_key"
    assert order_count(app) == 0


# --- Authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, url", [("get", "/api/v3/order"), ("get", "/api/v3/order/1"), ("post", "/api/v3/order")]
)
def test_every_endpoint_needs_an_api_key(client, catalog, method, url):
    response = getattr(client, method)(url, json={})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_wrong_or_revoked_api_key_is_401(app, client, api_key, catalog):
    from app.auth.models import ApiKey, hash_api_key
    from app.db.transactions import write_transaction
    from app.db.types import utcnow

    assert client.get("/api/v3/order", headers={"Impilo-API-Key": "ok_wrong"}).status_code == 401
    with app.app_context(), write_transaction() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(api_key)))
        key.revoked_at = utcnow()
    assert client.get("/api/v3/order", headers={"Impilo-API-Key": api_key}).status_code == 401


def test_api_keys_are_stored_only_as_hashes(app, api_key):
    from app.auth.models import ApiKey

    with app_context(app) as session:
        stored = session.scalars(select(ApiKey)).one()
        assert api_key not in (stored.key_hash, stored.prefix, stored.name)
        assert len(stored.key_hash) == 64


def test_api_key_command_prints_a_key_once_and_it_works(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-key", "create", "Lab system"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("ok_")
    assert client.get("/api/v3/order", headers={"Impilo-API-Key": key}).status_code == 200


def test_orders_placed_keep_who_placed_them(app, api, catalog):
    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    with app_context(app) as session:
        event = session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)).one()
        assert event.actor_api_key.name == "Tests"
        assert session.scalar(select(func.count(OrderItem.id))) == 1


# --- Cancelling and the lifecycle in JSON -----------------------------------------------


def test_cancel_with_a_reason(api, catalog):
    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    response = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "Patient withdrew"})
    assert response.status_code == 200
    order = response.get_json()
    assert order["currentStatus"] == "cancelled"
    assert order["orderEvents"][-1]["name"] == "cancelled"
    assert order["orderEvents"][-1]["note"] == "Patient withdrew"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_cancel_needs_a_reason(api, catalog, body):
    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    response = api.post(f"/api/v3/order/{order_id}/cancel", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "reason_required"
    assert api.get(f"/api/v3/order/{order_id}").get_json()["currentStatus"] == "created"


@pytest.mark.parametrize("body", [[], "x", {"reason": 5}])
def test_cancel_body_shapes(api, catalog, body):
    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    assert api.post(f"/api/v3/order/{order_id}/cancel", json=body).status_code == 400


def test_cancel_unknown_order_is_404(api, catalog):
    response = api.post("/api/v3/order/424242/cancel", json={"reason": "x"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "order_not_found"


def test_packed_order_cannot_be_cancelled_through_the_api(app, api, catalog):
    from tests.helpers.orders import move

    order_id = api.post("/api/v3/order", json=patient_order(catalog, orderKits=[])).get_json()["id"]
    move(app, order_id, "processing", "packed")
    response = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "late"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "too_late_to_cancel"
    twice = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "late"})
    assert twice.status_code == 409


def test_cancelled_order_cannot_be_cancelled_again(api, catalog):
    order_id = api.post("/api/v3/order", json=patient_order(catalog)).get_json()["id"]
    api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "x"})
    response = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "x"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"


def test_order_json_carries_devices_packed_kits_tracking_and_notes(app, api, catalog):
    from app.orders import lifecycle
    from tests.helpers.orders import actor, move, pack_everything

    body = patient_order(
        catalog, orderItems=[{"item": {"id": catalog.items["monitor"]}, "count": 1}]
    )
    order_id = api.post("/api/v3/order", json=body).get_json()["id"]
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    move(app, order_id, "packed")
    with app.app_context():
        lifecycle.add_note(order_id, "Packed with care", actor("fulfillment"))
    move(app, order_id, "shipped", tracking=("FedEx", "123456789012"))

    order = api.get(f"/api/v3/order/{order_id}").get_json()
    assert order["currentStatus"] == "shipped"
    assert order["trackingNumbers"] == [{"carrier": "FedEx", "value": "123456789012"}]
    assert [d["item"]["sku"] for d in order["devices"]] == ["BPM"]
    assert order["devices"][0]["deviceIdentifiers"][0]["type"] == "serial"
    assert order["devices"][0]["currentStatus"] == "shipped"
    assert len(order["packedKits"]) == 1
    assert sorted(d["item"]["sku"] for d in order["packedKits"][0]["devices"]) == ["BPM", "GWY"]
    assert order["orderNotes"][0]["note"] == "Packed with care"
    assert order["orderNotes"][0]["createdBy"]["email"] == "fulfillment@example.org"
    assert [e["name"] for e in order["orderEvents"]][-2:] == ["trackingNumberAdded", "shipped"]
    assert api.get("/api/v3/order?status=shipped").get_json()["total"] == 1
