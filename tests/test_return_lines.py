"""What an order may ask back (``returnDevices``, ``returnPackedKits``): each device and packed
kit found, listed once, not both by itself and in its kit, and not already expected back on
another open return; every problem named with its field, and what is placed stored."""

from __future__ import annotations

from sqlalchemy import select

from app.orders.models import Order, ReturnDevice, ReturnPackedKit
from tests.conftest import app_context
from tests.helpers.orders import delivered_kit, delivered_order, move
from tests.helpers.returns import values_of


def glucometer_and_its_kit(app, catalog) -> tuple[int, int]:
    """A diabetes kit delivered: (its glucometer, the packed kit)."""
    order_id = delivered_order(app, catalog, kits={"diabetes": 1})
    with app_context(app) as session:
        [packed_kit] = session.get(Order, order_id).packed_kits
        return packed_kit.devices[0].device_id, packed_kit.id


def asking_back(catalog, devices=(), kits=()) -> dict:
    return {
        "patient": {"id": catalog.patient},
        "returnDevices": [{"id": d} for d in devices],
        "returnPackedKits": [{"id": k} for k in kits],
        "emailLabel": True,
    }


def returns_stored(app, order_id: int) -> tuple[list[int], list[int]]:
    with app_context(app) as session:
        return (
            session.scalars(
                select(ReturnDevice.device_id)
                .where(ReturnDevice.order_id == order_id)
                .order_by(ReturnDevice.id)
            ).all(),
            session.scalars(
                select(ReturnPackedKit.packed_kit_id)
                .where(ReturnPackedKit.order_id == order_id)
                .order_by(ReturnPackedKit.id)
            ).all(),
        )


def orders_count(app) -> int:
    with app_context(app) as session:
        return len(session.scalars(select(Order.id)).all())


def test_every_wrong_return_line_is_named_with_its_field_and_nothing_is_placed(app, api, catalog):
    _, monitor, hypertension = delivered_kit(app, catalog)
    glucometer, _ = glucometer_and_its_kit(app, catalog)
    held, _ = glucometer_and_its_kit(app, catalog)
    held_in_kit, held_kit = glucometer_and_its_kit(app, catalog)
    first = api.post("/api/v3/order", json=asking_back(catalog, devices=[held, held_in_kit]))
    assert first.status_code == 201
    holder = first.get_json()["id"]
    before = orders_count(app)
    body = asking_back(
        catalog,
        devices=["x", 777777, glucometer, glucometer, monitor, held],
        kits=["y", 888888, hypertension, hypertension, held_kit],
    )
    answer = api.post("/api/v3/order", json=body)
    assert answer.status_code == 400
    held_name = f"Glucometer {values_of(app, held)}"
    one_at_a_time = "a device comes back on one open return at a time."
    problems = [
        (d["code"], d["message"], d["field"]) for d in answer.get_json()["error"]["details"]
    ]
    assert problems == [
        ("invalid_id", "The device id must be a positive whole number.", "returnDevices[0].id"),
        (
            "invalid_id",
            "The packed kit id must be a positive whole number.",
            "returnPackedKits[0].id",
        ),
        ("device_not_found", "There is no device with id 777777.", "returnDevices[1].id"),
        ("duplicate_device", "This device is listed twice.", "returnDevices[3].id"),
        (
            "device_in_returned_kit",
            "This device comes back inside a returned packed kit already.",
            "returnDevices[4].id",
        ),
        (
            "device_on_open_return",
            f"{held_name} is already expected back on order {holder}: {one_at_a_time}",
            "returnDevices[5].id",
        ),
        (
            "packed_kit_not_found",
            "There is no packed kit with id 888888.",
            "returnPackedKits[1].id",
        ),
        ("duplicate_packed_kit", "This packed kit is listed twice.", "returnPackedKits[3].id"),
        (
            "device_on_open_return",
            f"Glucometer {values_of(app, held_in_kit)}, in this packed kit, is already expected "
            f"back on order {holder}: {one_at_a_time}",
            "returnPackedKits[4].id",
        ),
    ]
    assert orders_count(app) == before
    # The good lines alone are placed, each stored once.
    placed = api.post(
        "/api/v3/order", json=asking_back(catalog, devices=[glucometer], kits=[hypertension])
    )
    assert placed.status_code == 201
    assert returns_stored(app, placed.get_json()["id"]) == ([glucometer], [hypertension])
    assert returns_stored(app, holder) == ([held, held_in_kit], [])


def test_a_device_is_held_by_its_return_until_that_return_is_complete(app, api, catalog):
    from tests.helpers.returns import kit_devices

    _, monitor, hypertension = delivered_kit(app, catalog)
    monitor_, gateway = kit_devices(app, hypertension)
    assert monitor_ == monitor
    kit_back = api.post("/api/v3/order", json=asking_back(catalog, kits=[hypertension]))
    kit_back_id = kit_back.get_json()["id"]
    move(app, kit_back_id, "awaitingReturn", role="coordinator")

    def asked_again():
        return api.post("/api/v3/order", json=asking_back(catalog, devices=[gateway]))

    refused = asked_again()
    assert refused.get_json()["error"]["code"] == "device_on_open_return"
    # Partly returned: still open, the gateway still held.
    returns_url = f"/api/v3/order/{kit_back_id}/returns"
    api.post(returns_url, json={"deviceIdentifiers": [{"value": values_of(app, monitor)}]})
    refused = asked_again()
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (
        400,
        "device_on_open_return",
    )
    # Returned: the gateway may be asked back again, on another order.
    api.post(returns_url, json={"deviceIdentifiers": [{"value": values_of(app, gateway)}]})
    with app_context(app) as session:
        assert session.get(Order, kit_back_id).current_status == "returned"
    again = asked_again()
    assert again.status_code == 201
    assert returns_stored(app, again.get_json()["id"]) == ([gateway], [])


def test_placing_a_return_reads_as_many_statements_for_three_devices_as_for_one(
    app, api, catalog, count_queries
):
    # Each device and packed kit asked back is read with what the answer shows of it (its
    # item, identifiers, the kit's devices), not one by one.
    one_device, _ = glucometer_and_its_kit(app, catalog)
    three = [glucometer_and_its_kit(app, catalog)[0] for _ in range(3)]
    one_kit, two_kits = (
        [delivered_kit(app, catalog)[2]],
        [delivered_kit(app, catalog)[2] for _ in range(2)],
    )
    with count_queries() as small:
        first = api.post("/api/v3/order", json=asking_back(catalog, [one_device], one_kit))
    with count_queries() as big:
        second = api.post("/api/v3/order", json=asking_back(catalog, three, two_kits))
    assert first.status_code == second.status_code == 201
    assert returns_stored(app, second.get_json()["id"]) == (three, two_kits)
    assert big.count == small.count


def test_a_device_named_on_a_return_is_free_again_once_that_return_is_returned(app, api, catalog):
    glucometer, _ = glucometer_and_its_kit(app, catalog)
    first = api.post("/api/v3/order", json=asking_back(catalog, devices=[glucometer]))
    first_id = first.get_json()["id"]
    move(app, first_id, "awaitingReturn", role="coordinator")
    held = api.post("/api/v3/order", json=asking_back(catalog, devices=[glucometer]))
    assert held.get_json()["error"]["message"].endswith(
        f"is already expected back on order {first_id}: a device comes back on one open "
        "return at a time."
    )
    api.post(
        f"/api/v3/order/{first_id}/returns",
        json={"deviceIdentifiers": [{"value": values_of(app, glucometer)}]},
    )
    again = api.post("/api/v3/order", json=asking_back(catalog, devices=[glucometer]))
    assert again.status_code == 201
    assert returns_stored(app, again.get_json()["id"]) == ([glucometer], [])
