"""Every order rule, through the API: a clear error with a stable code and field, nothing stored.

The web form comes through the same service; its tests check the mapping onto fields.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.orders.models import Order, OrderEvent, OrderExternalId, OrderItem, OrderKit, ReturnItem
from tests.conftest import app_context
from tests.helpers.orders import delivered_kit, orders_returning, patient_order


def nothing_stored(app) -> bool:
    with app_context(app) as session:
        return all(
            session.scalar(select(func.count()).select_from(model)) == 0
            for model in (Order, OrderItem, OrderKit, OrderEvent, OrderExternalId)
        )


def rejected(api, app, body, status=400):
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert nothing_stored(app)
    error = response.get_json()["error"]
    assert set(error) >= {"code", "message", "field"}
    assert error["message"]
    return error


def placed(api, body) -> int:
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def stored(app, order_id: int) -> dict:
    """What the database holds for one order: recipient, shipping, lines and their counts."""
    with app_context(app) as session:
        order = session.get(Order, order_id)

        def lines(model, column):
            rows = session.execute(
                select(getattr(model, column), model.count).where(model.order_id == order_id)
            )
            return sorted(tuple(row) for row in rows)

        return {
            "patient": order.patient_id,
            "site": order.site_id,
            "shipping": order.shipping_option,
            "email_label": order.email_label,
            "items": lines(OrderItem, "item_id"),
            "kits": lines(OrderKit, "kit_id"),
            "returns": lines(ReturnItem, "item_id"),
            "external_ids": sorted(
                session.scalars(
                    select(OrderExternalId.value).where(OrderExternalId.order_id == order_id)
                )
            ),
        }


def codes(error) -> set[str]:
    return {d["code"] for d in error.get("details", [error])}


# --- Each refusal in full: its code, its field and its message ----------------------------


def _lines(noun, ref, count=1, times=1):
    return [{noun: {"id": ref}, "count": count}] * times


# What each case changes in a good order's body, and the problem it must be refused with.
REFUSALS = {
    "no recipient": (
        lambda c: {"patient": None},
        ("recipient_required", "patient", "Choose a patient or a site to ship to."),
    ),
    "two recipients": (
        lambda c: {"site": {"id": c.site}},
        ("recipient_conflict", "site", "An order goes to a patient or to a site, not both."),
    ),
    "unknown patient": (
        lambda c: {"patient": {"id": 424242}},
        ("patient_not_found", "patient.id", "There is no patient with id 424242."),
    ),
    "archived patient": (
        lambda c: {"patient": {"id": c.archived_patient}},
        ("patient_archived", "patient.id", "Old Patient is archived and cannot receive orders."),
    ),
    "patient id not a number": (
        lambda c: {"patient": {"id": 0}},
        ("invalid_id", "patient.id", "The patient id must be a positive whole number."),
    ),
    "unknown site": (
        lambda c: {"patient": None, "site": {"id": 999}},
        ("site_not_found", "site.id", "There is no site with id 999."),
    ),
    "inactive site": (
        lambda c: {"patient": None, "site": {"id": c.inactive_site}},
        ("site_inactive", "site.id", "Closed Clinic is inactive and cannot receive orders."),
    ),
    "site id not a number": (
        lambda c: {"patient": None, "site": {"id": -3}},
        ("invalid_id", "site.id", "The site id must be a positive whole number."),
    ),
    "no line": (
        lambda c: {"orderItems": [], "orderKits": []},
        (
            "lines_required",
            "orderItems",
            "Order must contain at least one of: orderItems, orderKits, returnItems, "
            "returnDevices, or returnPackedKits.",
        ),
    ),
    "201 item lines": (
        lambda c: {"orderItems": _lines("item", c.items["strips"], times=201)},
        ("too_many_lines", "orderItems", "An order holds at most 200 item lines."),
    ),
    "201 kit lines": (
        lambda c: {"orderKits": _lines("kit", c.kits["diabetes"], times=201)},
        ("too_many_lines", "orderKits", "An order holds at most 200 kit lines."),
    ),
    "201 return item lines": (
        lambda c: {"returnItems": _lines("item", c.items["cuff"], times=201)},
        ("too_many_lines", "returnItems", "An order holds at most 200 item lines."),
    ),
    "201 return devices": (
        lambda c: {"returnDevices": [{"id": 1}] * 201},
        ("too_many_lines", "returnDevices", "An order lists at most 200 returnDevices."),
    ),
    "201 returned packed kits": (
        lambda c: {"returnPackedKits": [{"id": 1}] * 201},
        ("too_many_lines", "returnPackedKits", "An order lists at most 200 returnPackedKits."),
    ),
    "item id not a number": (
        lambda c: {"orderItems": _lines("item", "1")},
        ("invalid_id", "orderItems[0].item.id", "The item id must be a positive whole number."),
    ),
    "unknown item": (
        lambda c: {"orderItems": _lines("item", c.items["strips"]) + _lines("item", 98765)},
        ("item_not_found", "orderItems[1].item.id", "There is no item with id 98765."),
    ),
    "unknown kit": (
        lambda c: {"orderKits": _lines("kit", 5555)},
        ("kit_not_found", "orderKits[0].kit.id", "There is no kit with id 5555."),
    ),
    "an item twice": (
        lambda c: {"orderItems": _lines("item", c.items["strips"], times=2)},
        (
            "duplicate_item",
            "orderItems[1].item.id",
            "Test strips is already on line 1; change that line's count instead.",
        ),
    ),
    "a kit twice": (
        lambda c: {"orderKits": _lines("kit", c.kits["diabetes"], times=2)},
        (
            "duplicate_kit",
            "orderKits[1].kit.id",
            "Diabetes kit is already on line 1; change that line's count instead.",
        ),
    ),
    "an item not orderable": (
        lambda c: {"orderItems": _lines("item", c.items["retired"])},
        ("item_not_orderable", "orderItems[0].item.id", "Old monitor cannot be ordered."),
    ),
    "an archived kit": (
        lambda c: {"orderKits": _lines("kit", c.kits["archived"])},
        ("kit_archived", "orderKits[0].kit.id", "The kit Old kit is archived."),
    ),
    "a count of 0": (
        lambda c: {"orderKits": _lines("kit", c.kits["diabetes"], count=0)},
        ("invalid_count", "orderKits[0].count", "Count must be a whole number from 1 to 999."),
    ),
    "a return count of 1000": (
        lambda c: {"returnItems": _lines("item", c.items["cuff"], count=1000)},
        ("invalid_count", "returnItems[0].count", "Count must be a whole number from 1 to 999."),
    ),
    "an unknown fulfilment location": (
        lambda c: {"fulfillmentLocation": {"id": 999999}},
        (
            "location_not_found",
            "fulfillmentLocation.id",
            "That is not a valid location: there is no active stock location with id 999999.",
        ),
    ),
    "21 external ids": (
        lambda c: {"externalOrderIds": [f"E-{n}" for n in range(21)]},
        (
            "too_many_external_order_ids",
            "externalOrderIds",
            "An order carries at most 20 external order ids.",
        ),
    ),
    "an empty external id": (
        lambda c: {"externalOrderIds": ["E-1", " "]},
        (
            "invalid_external_order_id",
            "externalOrderIds[1]",
            "An external order id must be a non-empty text.",
        ),
    ),
    "an external id not text": (
        lambda c: {"externalOrderIds": [7]},
        (
            "invalid_external_order_id",
            "externalOrderIds[0]",
            "An external order id must be a non-empty text.",
        ),
    ),
    "an external id of 65 characters": (
        lambda c: {"externalOrderIds": ["x" * 65]},
        (
            "invalid_external_order_id",
            "externalOrderIds[0]",
            "An external order id is at most 64 characters.",
        ),
    ),
    "an external id on two lines": (
        lambda c: {"externalOrderIds": ["E-1\nE-2"]},
        (
            "invalid_external_order_id",
            "externalOrderIds[0]",
            "An external order id must be on one line.",
        ),
    ),
    "an external id twice": (
        lambda c: {"externalOrderIds": ["A-1", "B-2", "A-1"]},
        ("duplicate_external_order_id", "externalOrderIds[2]", "“A-1” is listed twice."),
    ),
    "an email label not true or false": (
        lambda c: {"emailLabel": "true"},
        ("invalid_email_label", "emailLabel", "emailLabel must be true or false."),
    ),
    "an email label without returns": (
        lambda c: {"emailLabel": True},
        (
            "email_label_without_returns",
            "emailLabel",
            "An emailed return label needs at least one return line.",
        ),
    ),
    "no shipping option": (
        lambda c: {"shippingOption": None},
        (
            "shipping_option_required",
            "shippingOption",
            "Choose how the order ships: standard or overnight.",
        ),
    ),
    "returns and lines going out, an emailed label and no shipping option": (
        lambda c: {
            "returnItems": _lines("item", c.items["cuff"]),
            "emailLabel": True,
            "shippingOption": None,
        },
        (
            "shipping_option_required",
            "shippingOption",
            "Choose how the order ships: standard or overnight.",
        ),
    ),
    "an unknown shipping option": (
        lambda c: {"shippingOption": "rocket"},
        (
            "invalid_shipping_option",
            "shippingOption",
            "Shipping option must be “standard” or “overnight”.",
        ),
    ),
    "a note not text": (
        lambda c: {"orderNotes": [{"note": "fine"}, {"note": 5}]},
        ("invalid_note", "orderNotes[1].note", "A note must be text."),
    ),
    "a note of 2001 characters": (
        lambda c: {"orderNotes": [{"note": "x" * 2001}]},
        ("invalid_note", "orderNotes[0].note", "A note is at most 2000 characters."),
    ),
    "a note with an escape": (
        lambda c: {"orderNotes": [{"note": "ring \x1b[31m twice"}]},
        (
            "invalid_note",
            "orderNotes[0].note",
            "A note cannot hold control characters (it holds U+001B).",
        ),
    ),
    "21 notes": (
        lambda c: {"orderNotes": [{"note": f"note {n}"} for n in range(21)]},
        ("too_many_notes", "orderNotes", "An order is placed with at most 20 notes."),
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_each_order_rule_refuses_with_its_code_field_and_message(api, app, catalog, case):
    change, problem = REFUSALS[case]
    error = rejected(api, app, patient_order(catalog, **change(catalog)))
    listed = [(d["code"], d["field"], d["message"]) for d in error.get("details", [error])]
    assert listed == [problem]


def test_an_order_may_hold_200_lines_20_external_ids_and_20_notes(api, app, catalog):
    from app.catalog.models import Item
    from app.db.transactions import write_transaction
    from app.orders.models import OrderNote

    with app.app_context(), write_transaction() as session:
        more = [Item(name=f"Part {n}", sku=f"PART-{n}") for n in range(199)]
        session.add_all(more)
        session.flush()
        ids = [catalog.items["strips"], *(item.id for item in more)]
    # Return lines: they reserve no stock, so the new items need none.
    body = patient_order(
        catalog,
        orderItems=[],
        orderKits=[],
        returnItems=[{"item": {"id": i}, "count": 1} for i in ids],
        externalOrderIds=[f"E-{n}" for n in range(20)],
        orderNotes=[{"note": f"note {n}"} for n in range(20)],
    )
    order_id = placed(api, body)
    order = stored(app, order_id)
    assert order["returns"] == sorted((i, 1) for i in ids)
    assert order["external_ids"] == sorted(f"E-{n}" for n in range(20))
    with app_context(app) as session:
        notes = session.scalars(select(OrderNote.note).where(OrderNote.order_id == order_id))
        assert sorted(notes) == sorted(f"note {n}" for n in range(20))


def test_200_return_devices_are_each_looked_up(api, app, catalog):
    body = {
        "patient": {"id": catalog.patient},
        "returnDevices": [{"id": 10**6 + n} for n in range(200)],
    }
    error = rejected(api, app, body)
    assert codes(error) == {"device_not_found"}


def test_a_null_email_label_is_no_emailed_label(api, app, catalog):
    body = {
        "patient": {"id": catalog.patient},
        "returnItems": [{"item": {"id": catalog.items["cuff"]}, "count": 1}],
        "emailLabel": None,
    }
    order = stored(app, placed(api, body))
    assert (order["email_label"], order["shipping"]) == (False, "standard")
    assert order["returns"] == [(catalog.items["cuff"], 1)]


def test_an_email_label_not_true_or_false_counts_as_no_label_for_the_shipping_rule(
    api, app, catalog
):
    body = {
        "patient": {"id": catalog.patient},
        "returnItems": [{"item": {"id": catalog.items["cuff"]}, "count": 1}],
        "emailLabel": "yes",
        "shippingOption": None,
    }
    error = rejected(api, app, body)
    assert [(d["code"], d["field"]) for d in error["details"]] == [
        ("invalid_email_label", "emailLabel"),
        ("shipping_option_required", "shippingOption"),
    ]


def test_an_empty_note_placed_with_the_order_is_left_out(api, app, catalog):
    from app.orders.models import OrderNote

    body = patient_order(catalog, orderNotes=[{"note": "   "}, {"note": " Ring twice "}])
    order_id = placed(api, body)
    with app_context(app) as session:
        notes = session.scalars(select(OrderNote.note).where(OrderNote.order_id == order_id))
        assert notes.all() == ["Ring twice"]


def test_every_line_is_checked_after_one_that_names_nothing(api, app, catalog):
    strips = {"item": {"id": catalog.items["strips"]}, "count": 1}
    body = patient_order(
        catalog,
        orderItems=[
            {"item": {"id": "1"}, "count": 1},
            {"item": {"id": 98765}, "count": 1},
            strips,
            strips,
            {"item": {"id": catalog.items["retired"]}, "count": 0},
        ],
    )
    error = rejected(api, app, body)
    assert [(d["code"], d["field"]) for d in error["details"]] == [
        ("invalid_id", "orderItems[0].item.id"),
        ("item_not_found", "orderItems[1].item.id"),
        ("duplicate_item", "orderItems[3].item.id"),
        ("invalid_count", "orderItems[4].count"),
        ("item_not_orderable", "orderItems[4].item.id"),
    ]


# --- Recipient --------------------------------------------------------------------------


def test_order_needs_a_recipient(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, patient=None))
    assert (error["code"], error["field"]) == ("recipient_required", "patient")


def test_order_cannot_go_to_a_patient_and_a_site(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, site={"id": catalog.site}))
    assert error["code"] == "recipient_conflict"


def test_unknown_patient_is_refused(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, patient={"id": 424242}))
    assert (error["code"], error["field"]) == ("patient_not_found", "patient.id")


def test_archived_patient_cannot_receive_orders(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, patient={"id": catalog.archived_patient}))
    assert (error["code"], error["field"]) == ("patient_archived", "patient.id")
    assert "archived" in error["message"]


def test_unknown_site_is_refused(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, patient=None, site={"id": 999}))
    assert (error["code"], error["field"]) == ("site_not_found", "site.id")


def test_inactive_site_cannot_receive_orders(api, app, catalog):
    error = rejected(
        api, app, patient_order(catalog, patient=None, site={"id": catalog.inactive_site})
    )
    assert (error["code"], error["field"]) == ("site_inactive", "site.id")


@pytest.mark.parametrize("bad_id", [0, -1, "1", 1.5, True, [1], {"id": 1}])
def test_recipient_id_must_be_a_positive_whole_number(api, app, catalog, bad_id):
    error = rejected(api, app, patient_order(catalog, patient={"id": bad_id}))
    assert (error["code"], error["field"]) == ("invalid_id", "patient.id")


@pytest.mark.parametrize("patient", [{"id": None}, {}, {"name": "Ada"}])
def test_recipient_without_an_id_is_refused(api, app, catalog, patient):
    error = rejected(api, app, patient_order(catalog, patient=patient))
    assert (error["code"], error["field"]) == ("missing_id", "patient.id")


def test_huge_recipient_id_is_simply_not_found(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, patient={"id": 10**30}))
    assert error["code"] == "patient_not_found"


# --- Lines ------------------------------------------------------------------------------


def test_order_needs_at_least_one_line(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, orderItems=[], orderKits=[]))
    assert error["code"] == "lines_required"
    assert "at least one of: orderItems, orderKits, returnItems" in error["message"]


def test_null_line_lists_count_as_empty(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, orderItems=None, orderKits=None))
    assert error["code"] == "lines_required"


def test_kit_only_order_is_fine(api, app, catalog):
    order_id = placed(api, patient_order(catalog, orderItems=[]))
    assert stored(app, order_id) == {
        "patient": catalog.patient,
        "site": None,
        "shipping": "standard",
        "email_label": False,
        "items": [],
        "kits": [(catalog.kits["hypertension"], 1)],
        "returns": [],
        "external_ids": ["xyz_123_0", "xyz_123_1"],
    }


def test_unknown_item_is_refused_at_its_line(api, app, catalog):
    body = patient_order(
        catalog,
        orderItems=[
            {"item": {"id": catalog.items["strips"]}, "count": 1},
            {"item": {"id": 98765}, "count": 1},
        ],
    )
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("item_not_found", "orderItems[1].item.id")


def test_item_that_is_not_orderable_is_refused(api, app, catalog):
    body = patient_order(
        catalog, orderItems=[{"item": {"id": catalog.items["retired"]}, "count": 1}]
    )
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("item_not_orderable", "orderItems[0].item.id")


def test_unknown_kit_is_refused(api, app, catalog):
    body = patient_order(catalog, orderKits=[{"kit": {"id": 5555}, "count": 1}])
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("kit_not_found", "orderKits[0].kit.id")


def test_archived_kit_is_refused(api, app, catalog):
    body = patient_order(catalog, orderKits=[{"kit": {"id": catalog.kits["archived"]}, "count": 1}])
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("kit_archived", "orderKits[0].kit.id")


@pytest.mark.parametrize("count", [0, -1, 1000, 10**12, 2.5, 1.0, "3", None, True, [1], {"n": 1}])
def test_count_is_a_whole_number_from_1_to_999(api, app, catalog, count):
    body = patient_order(
        catalog, orderItems=[{"item": {"id": catalog.items["strips"]}, "count": count}]
    )
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("invalid_count", "orderItems[0].count")


def test_missing_count_is_refused(api, app, catalog):
    body = patient_order(catalog, orderKits=[{"kit": {"id": catalog.kits["diabetes"]}}])
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("invalid_count", "orderKits[0].count")


@pytest.mark.parametrize("count", [1, 999])
def test_count_limits_are_allowed(api, app, catalog, count):
    body = patient_order(
        catalog, orderItems=[{"item": {"id": catalog.items["strips"]}, "count": count}]
    )
    order = stored(app, placed(api, body))
    assert order["items"] == [(catalog.items["strips"], count)]
    assert order["kits"] == [(catalog.kits["hypertension"], 1)]
    assert (order["patient"], order["shipping"]) == (catalog.patient, "standard")


def test_the_same_item_twice_is_refused_not_merged(api, app, catalog):
    strips = {"item": {"id": catalog.items["strips"]}, "count": 1}
    error = rejected(api, app, patient_order(catalog, orderItems=[strips, strips]))
    assert (error["code"], error["field"]) == ("duplicate_item", "orderItems[1].item.id")
    assert "line 1" in error["message"]


def test_the_same_kit_twice_is_refused(api, app, catalog):
    kit = {"kit": {"id": catalog.kits["diabetes"]}, "count": 1}
    error = rejected(api, app, patient_order(catalog, orderKits=[kit, kit]))
    assert (error["code"], error["field"]) == ("duplicate_kit", "orderKits[1].kit.id")


def test_every_problem_is_listed_not_only_the_first(api, app, catalog):
    body = patient_order(
        catalog,
        patient={"id": catalog.archived_patient},
        orderItems=[{"item": {"id": catalog.items["retired"]}, "count": 0}],
        shippingOption="rocket",
    )
    error = rejected(api, app, body)
    assert codes(error) >= {
        "patient_archived",
        "invalid_count",
        "item_not_orderable",
        "invalid_shipping_option",
    }
    fields = {d["field"] for d in error["details"]}
    assert {"patient.id", "orderItems[0].count", "shippingOption"} <= fields


def test_at_most_200_lines(api, app, catalog):
    lines = [{"item": {"id": catalog.items["strips"]}, "count": 1}] * 201
    error = rejected(api, app, patient_order(catalog, orderItems=lines))
    assert error["code"] == "too_many_lines"


# --- External order ids -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   ", "x" * 65, 12, None, {"id": "a"}])
def test_external_order_ids_are_non_empty_strings_of_at_most_64(api, app, catalog, value):
    error = rejected(api, app, patient_order(catalog, externalOrderIds=["ok", value]))
    assert (error["code"], error["field"]) == ("invalid_external_order_id", "externalOrderIds[1]")


def test_external_order_id_of_64_characters_is_fine(api, app, catalog):
    order = stored(app, placed(api, patient_order(catalog, externalOrderIds=["x" * 64])))
    assert order["external_ids"] == ["x" * 64]
    assert order["items"] == [(catalog.items["strips"], 10)]
    assert (order["patient"], order["shipping"]) == (catalog.patient, "standard")


def test_duplicate_external_order_ids_are_refused(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, externalOrderIds=["A-1", "A-1"]))
    assert (error["code"], error["field"]) == ("duplicate_external_order_id", "externalOrderIds[1]")


def test_external_order_ids_must_be_a_list(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, externalOrderIds="A-1"))
    assert (error["code"], error["field"]) == ("invalid_type", "externalOrderIds")


# --- Shipping and returns ---------------------------------------------------------------


@pytest.mark.parametrize("option", ["express", "", "STANDARD", 1, ["standard"]])
def test_shipping_option_is_standard_or_overnight(api, app, catalog, option):
    error = rejected(api, app, patient_order(catalog, shippingOption=option))
    assert (error["code"], error["field"]) == ("invalid_shipping_option", "shippingOption")


def test_explicit_null_shipping_option_is_refused_for_an_outbound_order(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, shippingOption=None))
    assert (error["code"], error["field"]) == ("shipping_option_required", "shippingOption")


def return_only(catalog, **overrides):
    body = {
        "patient": {"id": catalog.patient},
        "returnItems": [{"item": {"id": catalog.items["cuff"]}, "count": 1}],
    }
    body.update(overrides)
    return body


def test_return_only_order_is_placed(api, catalog):
    response = api.post("/api/v3/order", json=return_only(catalog))
    assert response.status_code == 201
    order = response.get_json()
    assert order["returnItems"][0]["item"]["sku"] == "CUF-L"
    assert order["orderItems"] == []
    assert order["shippingOption"] == "standard"


def test_returns_with_a_shipped_label_need_a_shipping_option(api, app, catalog):
    error = rejected(api, app, return_only(catalog, shippingOption=None, emailLabel=False))
    assert error["code"] == "shipping_option_required"


def test_returns_with_an_emailed_label_need_no_shipping_option(api, catalog):
    response = api.post(
        "/api/v3/order", json=return_only(catalog, shippingOption=None, emailLabel=True)
    )
    assert response.status_code == 201
    assert response.get_json()["emailLabel"] is True
    assert response.get_json()["shippingOption"] is None


def test_email_label_needs_return_lines(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, emailLabel=True))
    assert (error["code"], error["field"]) == ("email_label_without_returns", "emailLabel")


@pytest.mark.parametrize("value", ["true", 1, {}])
def test_email_label_is_a_boolean(api, app, catalog, value):
    error = rejected(api, app, return_only(catalog, emailLabel=value))
    assert (error["code"], error["field"]) == ("invalid_email_label", "emailLabel")


def test_return_items_may_be_items_no_longer_orderable(api, app, catalog):
    body = return_only(
        catalog, returnItems=[{"item": {"id": catalog.items["retired"]}, "count": 1}]
    )
    order = stored(app, placed(api, body))
    assert order["returns"] == [(catalog.items["retired"], 1)]
    assert (order["items"], order["kits"]) == ([], [])
    assert (order["patient"], order["site"], order["shipping"]) == (
        catalog.patient,
        None,
        "standard",
    )


def test_unknown_return_device_is_refused(api, app, catalog):
    error = rejected(api, app, return_only(catalog, returnDevices=[{"id": 777}]))
    assert (error["code"], error["field"]) == ("device_not_found", "returnDevices[0].id")


def test_unknown_returned_packed_kit_is_refused(api, app, catalog):
    error = rejected(api, app, return_only(catalog, returnPackedKits=[{"id": 777}]))
    assert (error["code"], error["field"]) == ("packed_kit_not_found", "returnPackedKits[0].id")


def test_return_device_listed_twice_is_refused(app, api, catalog):
    from app.catalog.models import Device, DeviceIdentifier
    from app.db.transactions import write_transaction

    with app.app_context(), write_transaction() as session:
        device = Device(
            item_id=catalog.items["monitor"],
            identifiers=[DeviceIdentifier(type="serial", value="SN-1234")],
        )
        session.add(device)
        session.flush()
        device_id = device.id
    twice = api.post(
        "/api/v3/order",
        json=return_only(catalog, returnDevices=[{"id": device_id}, {"id": device_id}]),
    )
    assert twice.status_code == 400
    assert twice.get_json()["error"]["code"] == "duplicate_device"
    ok = api.post("/api/v3/order", json=return_only(catalog, returnDevices=[{"id": device_id}]))
    assert ok.status_code == 201
    assert ok.get_json()["returnDevices"][0]["deviceIdentifiers"] == [
        {"type": "serial", "value": "SN-1234"}
    ]


def test_a_device_is_on_at_most_one_open_return(app, api, catalog):
    _, monitor, packed_kit = delivered_kit(app, catalog)
    first = api.post("/api/v3/order", json=return_only(catalog, returnDevices=[{"id": monitor}]))
    assert first.status_code == 201
    first_id = first.get_json()["id"]
    # The packed kit that holds the same monitor, and the monitor again: both refused.
    for body, field in [
        (return_only(catalog, returnPackedKits=[{"id": packed_kit}]), "returnPackedKits[0].id"),
        (return_only(catalog, returnDevices=[{"id": monitor}]), "returnDevices[0].id"),
    ]:
        refused = api.post("/api/v3/order", json=body)
        assert refused.status_code == 400
        error = refused.get_json()["error"]
        assert (error["code"], error["field"]) == ("device_on_open_return", field)
        assert f"already expected back on order {first_id}" in error["message"]
    assert orders_returning(app, monitor) == [first_id]


def test_a_packed_kit_on_an_open_return_holds_its_devices_too(app, api, catalog):
    from tests.helpers.orders import move

    _, monitor, packed_kit = delivered_kit(app, catalog)
    kit_back = api.post(
        "/api/v3/order", json=return_only(catalog, returnPackedKits=[{"id": packed_kit}])
    )
    assert kit_back.status_code == 201
    kit_back_id = kit_back.get_json()["id"]
    device_back = api.post(
        "/api/v3/order", json=return_only(catalog, returnDevices=[{"id": monitor}])
    )
    assert device_back.status_code == 400
    error = device_back.get_json()["error"]
    assert (error["code"], error["field"]) == ("device_on_open_return", "returnDevices[0].id")
    # Once that return is cancelled, the device may be asked back on another.
    move(app, kit_back_id, "cancelled", role="admin", reason="asked twice")
    again = api.post("/api/v3/order", json=return_only(catalog, returnDevices=[{"id": monitor}]))
    assert again.status_code == 201
    assert orders_returning(app, monitor) == [again.get_json()["id"]]


# --- Notes ------------------------------------------------------------------------------


def test_note_of_more_than_2000_characters_is_refused(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, orderNotes=[{"note": "x" * 2001}]))
    assert (error["code"], error["field"]) == ("invalid_note", "orderNotes[0].note")


def test_note_must_be_text(api, app, catalog):
    error = rejected(api, app, patient_order(catalog, orderNotes=[{"note": 5}]))
    assert error["code"] == "invalid_note"


# --- Malformed requests: always a 4xx, never a 500, nothing stored ----------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"",
        b"not json",
        b'{"patient": {"id": 1},}',
        b"\xff\xfe\x00",
        b'{"patient": {"id": NaN}}',
        b'{"patient": {"id": Infinity}}',
        b"[" * 100000 + b"]" * 100000,
        b'{"patient": {"id": ' + b"9" * 5000 + b"}}",
    ],
)
def test_malformed_json_is_400(api, app, catalog, raw):
    response = api.post("/api/v3/order", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
    assert nothing_stored(app)


@pytest.mark.parametrize(
    "body, field",
    [
        ([], "The request body"),
        ("order", "The request body"),
        (None, "The request body"),
        (42, "The request body"),
        ({"patient": 1}, "patient"),
        ({"patient": [1]}, "patient"),
        ({"patient": {"id": 1}, "orderItems": {"item": {"id": 1}, "count": 1}}, "orderItems"),
        ({"patient": {"id": 1}, "orderItems": "strips"}, "orderItems"),
        ({"patient": {"id": 1}, "orderItems": [5]}, "orderItems[0]"),
        ({"patient": {"id": 1}, "orderItems": [{"item": 5, "count": 1}]}, "orderItems[0].item"),
        ({"patient": {"id": 1}, "orderKits": [{"kit": "x", "count": 1}]}, "orderKits[0].kit"),
        ({"patient": {"id": 1}, "returnDevices": [7]}, "returnDevices[0]"),
        ({"patient": {"id": 1}, "orderNotes": ["hi"]}, "orderNotes[0]"),
    ],
)
def test_wrong_shapes_are_400_with_the_field(api, app, catalog, body, field):
    response = api.post(
        "/api/v3/order", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_type"
    assert error["field"] == field
    assert nothing_stored(app)


def test_line_without_its_item_is_400(api, app, catalog):
    body = patient_order(catalog, orderItems=[{"count": 1}])
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("invalid_type", "orderItems[0].item")


def test_item_with_null_id_is_400(api, app, catalog):
    body = patient_order(catalog, orderItems=[{"item": {"id": None}, "count": 1}])
    error = rejected(api, app, body)
    assert (error["code"], error["field"]) == ("missing_id", "orderItems[0].item.id")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_that_is_not_json_is_415(api, app, catalog, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/api/v3/order", data=json.dumps(patient_order(catalog)), headers=headers)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert nothing_stored(app)


def test_body_of_several_megabytes_is_413(api, app, catalog):
    body = patient_order(catalog, orderNotes=[{"note": "x" * (5 * 1024 * 1024)}])
    response = api.post("/api/v3/order", json=body)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "body_too_large"
    assert nothing_stored(app)


def test_wrong_method_is_405_in_json(api, catalog):
    response = api.client.delete("/api/v3/order/1", headers={"Impilo-API-Key": api.key})
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_unknown_api_path_is_404_in_json(api, catalog):
    response = api.get("/api/v3/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in ("not_found", "unauthorized")


def test_at_most_200_return_devices(api, app, catalog):
    error = rejected(api, app, return_only(catalog, returnDevices=[{"id": 1}] * 201))
    assert (error["code"], error["field"]) == ("too_many_lines", "returnDevices")


def test_an_answer_lists_at_most_100_problems(api, app, catalog):
    lines = [{"item": {"id": 10**6 + n}, "count": 0} for n in range(150)]
    error = rejected(api, app, patient_order(catalog, orderItems=lines))
    assert len(error["details"]) == 100
