"""Send to many through the test client: preview, one order per good patient, no
duplicates on a second submission, a fixed number of queries however many patients."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.db.transactions import write_transaction
from app.history.models import PatientDataAccess
from app.orders.models import Order
from app.people.models import Address, Patient
from tests.conftest import STOCK_PER_COUNTED_ITEM, app_context
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
    assert "Archived: cannot receive orders." in html
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


def test_a_second_submission_says_nothing_new_was_placed(app, coordinator, catalog):
    enrol(app, 2)
    data = {**batch_form(coordinator), "identifiers": "MRN-10\nMRN-11", "action": "place"}
    first = coordinator.post("/orders/batch", data)
    assert "2 orders placed." in coordinator.get(first.headers["Location"]).text

    again = coordinator.post("/orders/batch", data)
    html = coordinator.get(again.headers["Location"]).text
    assert "2 orders placed" not in html
    assert "This batch had already placed these 2 orders; nothing new was placed." in html

    # Back, another kit, placed again under the same token: the batch says so.
    changed = coordinator.post("/orders/batch", {**data, "kits-0-count": "2"})
    html = coordinator.get(changed.headers["Location"]).text
    assert "The changes made after that were not placed" in html
    assert len(orders_placed(app)) == 2


@pytest.mark.parametrize(
    "content",
    [b"MRN-10\nMR\x00N-11\n", bytes(range(256)) * 100],
    ids=["nul", "binary"],
)
def test_an_uploaded_file_that_is_not_text_is_no_500(app, coordinator, catalog, content):
    enrol(app, 1)
    response = coordinator.post(
        "/orders/batch",
        {
            **batch_form(coordinator),
            "action": "place",
            "identifiers_file": (io.BytesIO(content), "cohort.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code in (303, 422)
    assert len(orders_placed(app)) == (1 if content.startswith(b"MRN-10") else 0)


def test_an_uploaded_csv_gives_its_first_column_only(app, coordinator, catalog):
    # The people export: identifiers first, then names; none of the names is an identifier.
    enrol(app, 2)
    upload = b'external_identifier,first_name,last_name\nMRN-10,Pat10,Cohort\n"MRN-11",Pat11,X\n'
    html = coordinator.post(
        "/orders/batch",
        {
            **batch_form(coordinator),
            "action": "preview",
            "identifiers_file": (io.BytesIO(upload), "people.csv"),
        },
        content_type="multipart/form-data",
    ).text
    assert "Preview: 2 orders to place</h2>" in html
    assert "No patient has" not in html


def test_a_batch_token_that_is_no_token_is_not_found(coordinator):
    assert coordinator.get("/orders/batch/ab%00c").status_code == 404
    assert coordinator.get("/orders/batch/" + "a" * 200).status_code == 404


def test_a_batch_placed_under_a_strange_token_still_shows_its_result(app, coordinator, catalog):
    enrol(app, 1)
    data = {**batch_form(coordinator), "identifiers": "MRN-10", "action": "place"}
    response = coordinator.post("/orders/batch", {**data, "submission_token": "a/b%"})
    assert response.status_code == 303
    assert coordinator.get(response.headers["Location"]).status_code == 200


def test_the_preview_refuses_the_patients_the_stock_cannot_serve(app, coordinator, catalog):
    """Each order takes from what the ones above it left: with stock for two such orders,
    the third patient is refused in the preview, and placing places two."""
    identifiers = enrol(app, 3)
    data = {
        **batch_form(coordinator),
        "kits-0-ref": "",
        "items-0-ref": "Test strips",
        "items-0-count": str(STOCK_PER_COUNTED_ITEM // 2),
        "identifiers": "\n".join(identifiers),
    }
    html = coordinator.post("/orders/batch", {**data, "action": "preview"}).text
    assert "Preview: 2 orders to place, 1 refused" in html
    needed = STOCK_PER_COUNTED_ITEM // 2
    assert (
        f"Not enough stock left for this order: {needed} × Test strips needed, 0 available." in html
    )
    assert orders_placed(app) == []

    assert coordinator.post("/orders/batch", {**data, "action": "place"}).status_code == 303
    assert [mrn for _, mrn in orders_placed(app)] == identifiers[:2]


def test_pasted_identifiers_match_whatever_their_case(app, coordinator, catalog):
    enrol(app, 2)
    data = {**batch_form(coordinator), "identifiers": "mrn-10\nMrN\u201111\nmrn-404"}
    html = coordinator.post("/orders/batch", {**data, "action": "preview"}).text
    assert "Preview: 2 orders to place</h2>" in html
    assert "No patient has this identifier: mrn-404." in html
    assert coordinator.post("/orders/batch", {**data, "action": "place"}).status_code == 303
    assert [mrn for _, mrn in orders_placed(app)] == ["MRN-10", "MRN-11"]


def test_the_result_names_each_refused_patient_and_why(app, coordinator, catalog):
    identifiers = enrol(app, 3)
    data = {
        **batch_form(coordinator),
        "kits-0-ref": "",
        "items-0-ref": "Test strips",
        "items-0-count": str(STOCK_PER_COUNTED_ITEM // 2),
        "identifiers": "\n".join([*identifiers, "MRN-2"]),
        "action": "place",
    }
    response = coordinator.post("/orders/batch", data)
    assert response.status_code == 303
    assert [mrn for _, mrn in orders_placed(app)] == identifiers[:2]
    html = coordinator.get(response.headers["Location"]).text
    assert "2 orders placed; 2 patients refused." in html
    assert "2 patients refused: no order placed" in html
    refused = dict(
        (name.strip(), why)
        for name, why in re.findall(
            r'<th scope="row"><a [^>]*>([^<]+)</a></th>\s*'
            r'<td class="mrn">[^<]+</td>\s*<td>([^<]+)</td>',
            html,
        )
    )
    needed = STOCK_PER_COUNTED_ITEM // 2
    assert refused == {
        "Pat12 Cohort": f"Not enough stock left for this order: {needed} × Test strips needed, "
        "0 available.",
        "Old Patient": "Archived: cannot receive orders.",
    }
    assert '<td class="mrn">MRN-2</td>' in html and '<td class="mrn">MRN-12</td>' in html
    # Showing them is a look at their data, in the PHI access log.
    with app_context(app) as session:
        shown = set(
            session.scalars(
                select(Patient.external_identifier)
                .join(PatientDataAccess, PatientDataAccess.patient_id == Patient.id)
                .where(PatientDataAccess.source == "sendToMany")
                .where(PatientDataAccess.order_id.is_(None))
            )
        )
    assert {"MRN-2", "MRN-12"} <= shown
