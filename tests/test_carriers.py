"""Tracking numbers: each carrier's formats, and the check digit wherever the carrier
publishes its rule. The expected check digits below were worked out by hand from the
published rules (see app/orders/carriers.py), not by the code under test."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.orders import carriers, lifecycle
from app.orders.models import TrackingNumber
from app.validation import Rejected
from tests.conftest import app_context
from tests.helpers.orders import actor, move, place

VALID = [
    # UPS: letters count as their place in the alphabet plus one, last digit only.
    ("UPS", "1ZABCDEFGHJKLMNOP2"),
    ("UPS", "1ZZZZZZZZZZZZZZZZ6"),
    ("UPS", "1ZIIIIIIIIIIIIIII0"),  # I counts 0: a check digit of 0
    ("UPS", "1Z999AA10123456784"),
    # USPS IMpb, Mod 10 with weights 3, 1, ... from the right: 20 and 22 digits.
    ("USPS", "94000000000000000030"),
    ("USPS", "9400000000000000000030"),
    ("USPS", "9400100000000000000006"),
    # USPS S10: 11 less the weighted sum mod 11; 10 becomes 0, 11 becomes 5.
    ("USPS", "CP100000003US"),
    ("USPS", "CP000040000US"),  # remainder 1: check digit 0
    ("USPS", "CP000000005US"),  # remainder 0: check digit 5
    # FedEx 12 digits: weights 3, 1, 7, sum mod 11; 10 counts as 0.
    ("FedEx", "101000000000"),
    ("FedEx", "123456789012"),
    ("FedEx", "123456789012345"),  # 15 digits: format only
    ("DHL", "1234567890"),
    ("DHL", "JJD000390007827469380"),
]


@pytest.mark.parametrize("carrier, number", VALID)
def test_a_valid_tracking_number_is_accepted(carrier, number):
    assert carriers.problem(carrier, number) is None


# Each valid number whose last digit is a check digit, with that digit changed by 1 and by 5.
CHECKED = [
    (carrier, number[:-1] + str((int(number[-1]) + step) % 10))
    for carrier, number in VALID
    if carrier in ("UPS", "FedEx") and len(number) in (12, 18) or number.startswith("9")
    for step in (1, 5)
]


@pytest.mark.parametrize("carrier, number", CHECKED)
def test_a_wrong_check_digit_is_refused(carrier, number):
    assert carriers.problem(carrier, number) == (
        f"This is not a valid {carrier} tracking number: its check digit does not match. "
        "Check it for a mistyped or swapped character."
    )


@pytest.mark.parametrize("number", ["CP100000004US", "CP000040005US", "CP000000000US"])
def test_a_wrong_s10_check_digit_is_refused(number):
    assert "check digit does not match" in carriers.problem("USPS", number)


@pytest.mark.parametrize(
    "carrier, number, hint",
    [
        ("UPS", "1Z999AA1012345678", "1Z followed by 16 letters or digits"),
        ("FedEx", "1234567890123", "12, 15, 20 or 22 digits"),
        ("USPS", "96000000000000000030", "20 to 22 digits starting with 91-95"),
        ("DHL", "JJD12", "10 digits, or JJD followed by 18 to 20 digits"),
    ],
)
def test_a_number_of_the_wrong_shape_is_refused_with_the_carriers_format(carrier, number, hint):
    problem = carriers.problem(carrier, number)
    assert problem.startswith(f"A {carrier} tracking number is ") and hint in problem


def test_the_carrier_must_be_one_we_know_and_the_number_given():
    assert carriers.problem("Pigeon", "1234567890") == "Choose the carrier: UPS, FedEx, USPS, DHL."
    assert carriers.problem("DHL", "") == "Enter the tracking number."


def test_a_number_is_stored_without_spaces_or_dashes_in_capitals_and_links_to_its_carrier(
    app, catalog
):
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "processing", "packed")
    with app.app_context():
        lifecycle.add_tracking_number(order_id, "UPS", " 1z 999-aa1 0123 4567 84", actor("admin"))
        db.session.remove()
    with app_context(app) as session:
        stored = session.scalars(
            select(TrackingNumber).where(TrackingNumber.order_id == order_id)
        ).one()
        assert (stored.carrier, stored.value) == ("UPS", "1Z999AA10123456784")
        assert stored.url == "https://www.ups.com/track?tracknum=1Z999AA10123456784"


@pytest.mark.parametrize(
    "carrier, message",
    [
        ("UPS", "Enter the tracking number."),
        ("", "Choose the carrier: UPS, FedEx, USPS, DHL."),  # no number to tell it from
    ],
)
@pytest.mark.parametrize("blank", ["", None])
def test_a_tracking_number_left_blank_is_refused_and_nothing_stored(
    app, catalog, carrier, message, blank
):
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "processing", "packed")
    with app.app_context():
        with pytest.raises(Rejected) as refused:
            lifecycle.add_tracking_number(order_id, carrier, blank, actor("admin"))
        db.session.remove()
    assert (refused.value.code, refused.value.message) == ("invalid_tracking_number", message)
    with app_context(app) as session:
        assert session.scalars(select(TrackingNumber)).all() == []


def test_a_tracking_link_escapes_the_number():
    assert carriers.tracking_url("DHL", "JJD 1/2") == (
        "https://www.dhl.com/us-en/home/tracking.html?tracking-id=JJD%201/2"
    )
    assert carriers.tracking_url("Pigeon", "1") is None


@pytest.mark.parametrize("carrier, number", VALID)
def test_a_valid_number_names_its_carrier(carrier, number):
    assert carriers.recognise(number) == carrier


@pytest.mark.parametrize(
    "number, carrier",
    [
        # 20 and 22 digits from 91-95 fit FedEx's format and USPS's: the check digit decides.
        ("94000000000000000030", "USPS"),
        ("94000000000000000031", "FedEx"),
        ("1z999aa1 0123 456784", "UPS"),  # as typed: spaces and case do not matter
        ("1Z999AA10123456785", None),  # a UPS number with a wrong check digit
        ("12", None),
        ("", None),
    ],
)
def test_a_number_names_its_carrier_only_when_it_fits_one(number, carrier):
    assert carriers.recognise(number) == carrier
