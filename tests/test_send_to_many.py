"""Send to many through the test client: preview, one order per good patient, no
duplicates on a second submission, a fixed number of queries however many patients."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.database import write_transaction
from app.orders.models import Order
from app.people.models import Address, Patient
from tests.conftest import app_context
from tests.helpers.web import Browserless


@pytest.fixture
def coordinator(client, catalog) -> Browserless:
    person = Browserless(client)
    assert person.sign_in("coordinator").status_code == 303
    return person


def enrol(app, count: int, start: int = 10) -> list[str]:
    """Patients MRN-<n>, each with an address; answers their identifiers."""
    with app.app_context(), write_transaction() as session:
        for n in range(start, start + count):
            session.add(
                Patient(
                    external_identifier=f"MRN-{n}",
                    first_name=f"Pat{n}",
                    last_name="Cohort",
                    date_of_birth=date(1960, 1, 1),
                    address=Address(
                        line_one=f"{n} Elm St", city="Dayton", state="OH", zip_code="45402"
                    ),
                )
            )
    return [f"MRN-{n}" for n in range(start, start + count)]


def batch_form(person) -> dict:
    page = person.get("/orders/batch").text
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page).group(1)
    return {
        "submission_token": token,
        "shipping_option": "standard",
        "kits-0-ref": "Hypertension kit",
        "kits-0-count": "1",
    }


def orders_placed(app) -> list[tuple[int, str]]:
    with app_context(app) as session:
        return [
            (o.id, o.patient.external_identifier)
            for o in session.scalars(select(Order).order_by(Order.id))
        ]


def test_preview_then_place_one_order_per_good_patient_once(app, coordinator, catalog):
    enrol(app, 2)
    data = {**batch_form(coordinator), "identifiers": "MRN-10, MRN-2\nMRN-11\nMRN-404"}
    html = coordinator.post("/orders/batch", {**data, "action": "preview"}).text
    assert "Preview: 2 orders to place, 1 refused" in html
    assert "Old Patient is archived and cannot receive orders." in html
    assert "No patient has this identifier: MRN-404." in html
    assert orders_placed(app) == []

    response = coordinator.post("/orders/batch", {**data, "action": "place"})
    assert response.status_code == 303
    placed = orders_placed(app)
    assert [mrn for _, mrn in placed] == ["MRN-10", "MRN-11"]
    result = coordinator.get(response.headers["Location"]).text
    for order_id, _ in placed:
        assert f'href="/orders/{order_id}"' in result
    assert "/orders/packing-summaries?order=" in result

    # The same batch submitted again places nothing twice.
    again = coordinator.post("/orders/batch", {**data, "action": "place"})
    assert again.headers["Location"] == response.headers["Location"]
    assert orders_placed(app) == placed


def test_patients_ticked_from_a_search_and_uploaded(app, coordinator, catalog):
    enrol(app, 2)
    data = batch_form(coordinator)
    html = coordinator.post(
        "/orders/batch", {**data, "action": "search", "patient_query": "Cohort"}
    ).text
    ticks = re.findall(r'name="patient_ids" value="(\d+)"', html)
    assert len(ticks) == 2
    upload = (io.BytesIO(b"MRN\nMRN-1\n"), "cohort.csv")
    html = coordinator.post(
        "/orders/batch",
        {**data, "action": "preview", "patient_ids": ticks[:1], "identifiers_file": upload},
        content_type="multipart/form-data",
    ).text
    assert "Preview: 2 orders to place" in html
    assert "MRN-1" in html and "Pat10 Cohort" in html


def test_lines_with_problems_place_nothing(app, coordinator, catalog):
    enrol(app, 1)
    data = {**batch_form(coordinator), "identifiers": "MRN-10", "kits-0-count": "0"}
    response = coordinator.post("/orders/batch", {**data, "action": "place"})
    assert response.status_code == 422
    assert "The lines have problems" in response.text
    assert orders_placed(app) == []


def test_the_preview_takes_a_fixed_number_of_queries(app, coordinator, catalog, count_queries):
    few = enrol(app, 2)
    data = batch_form(coordinator)
    with count_queries() as two:
        coordinator.post(
            "/orders/batch", {**data, "action": "preview", "identifiers": ",".join(few)}
        )
    many = few + enrol(app, 20, start=100)
    with count_queries() as twenty_two:
        html = coordinator.post(
            "/orders/batch", {**data, "action": "preview", "identifiers": ",".join(many)}
        ).text
    assert "Preview: 22 orders to place" in html
    assert twenty_two.count == two.count
    with app_context(app) as session:
        assert session.scalar(select(func.count(Order.id))) == 0
