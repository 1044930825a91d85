"""The PHI access log: who viewed, printed or exported which patient's data, and when; one
insert per request however many patients it shows; append-only, pruned by retention."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import func, select, update

from app.db.types import utcnow
from app.history.models import PatientDataAccess
from tests.conftest import app_context
from tests.helpers.orders import move, place
from tests.helpers.web import Browserless


def entries(app) -> list[tuple]:
    with app_context(app) as session:
        rows = session.scalars(select(PatientDataAccess).order_by(PatientDataAccess.id))
        return [
            (r.source, r.action, r.patient_id, r.order_id, r.user_id, r.api_key_id) for r in rows
        ]


def person(client, role):
    someone = Browserless(client)
    someone.sign_in(role)
    return someone


def test_pages_log_who_saw_which_patient(app, client, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    site_order = place(app, catalog, items={"strips": 1}, patient=False)
    coordinator = person(client, "coordinator")
    user = catalog.users["coordinator"]
    coordinator.get(f"/patients/{catalog.patient}")
    coordinator.get(f"/orders/{order_id}")
    coordinator.get(f"/orders/{site_order}")  # a site's order names no patient
    coordinator.get(f"/orders/{order_id}/packing-summary")
    coordinator.get("/orders/export.csv")
    coordinator.get("/patients/999999")  # a 404 shows nobody
    assert entries(app) == [
        ("patientPage", "viewed", catalog.patient, None, user, None),
        ("orderPage", "viewed", catalog.patient, order_id, user, None),
        ("packingSummary", "viewed", catalog.patient, order_id, user, None),
        ("ordersCsv", "exported", catalog.patient, order_id, user, None),
    ]


def test_api_reads_log_the_key(app, api, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    api.get(f"/api/v3/order/{order_id}")
    api.get("/api/v3/order")
    api.get(f"/api/v3/patient/{catalog.patient}")
    with app_context(app) as session:
        key_id = session.scalar(select(PatientDataAccess.api_key_id))
    assert entries(app) == [
        ("apiOrder", "viewed", catalog.patient, order_id, None, key_id),
        ("apiOrder", "viewed", catalog.patient, order_id, None, key_id),
        ("apiPatient", "viewed", catalog.patient, None, None, key_id),
    ]


def test_the_log_costs_one_statement_however_many_patients(app, api, catalog, count_queries):
    place(app, catalog, items={"strips": 1})
    with count_queries() as one:
        api.get("/api/v3/order?size=250")
    for _ in range(20):
        place(app, catalog, items={"strips": 1})
    with count_queries() as many:
        api.get("/api/v3/order?size=250")
    assert many.count == one.count
    inserts = [s for s in many.statements if "INSERT INTO patient_data_access" in s]
    assert len(inserts) == 1
    with app_context(app) as session:
        assert session.scalar(select(func.count(PatientDataAccess.id))) == 22


def test_an_admin_filters_the_log_by_patient_and_by_person(app, client, catalog):
    from app.people.models import Patient

    with app_context(app) as session:
        other = session.scalar(select(Patient.id).where(Patient.id != catalog.patient))
    coordinator = person(app.test_client(), "coordinator")
    fulfillment = person(app.test_client(), "fulfillment")
    coordinator.get(f"/patients/{catalog.patient}")
    coordinator.get(f"/patients/{other}")
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "processing")
    fulfillment.get(f"/orders/{order_id}")
    admin = person(client, "admin")
    page = admin.get("/admin/phi-access/").text
    assert page.count("<tr>") == 1 + 3
    by_patient = admin.get(f"/admin/phi-access/?patient={other}").text
    assert by_patient.count("<tr>") == 1 + 1 and "Coordinator Tester" in by_patient
    by_person = admin.get(f"/admin/phi-access/?person=user:{catalog.users['fulfillment']}").text
    assert by_person.count("<tr>") == 1 + 1 and f">Order {order_id}</a>" in by_person
    assert admin.get("/admin/phi-access/?patient=x&person=nonsense").status_code == 200


def test_retention_prunes_old_entries_only(app, client, catalog):
    coordinator = person(client, "coordinator")
    coordinator.get(f"/patients/{catalog.patient}")
    coordinator.get(f"/patients/{catalog.patient}")
    days = app.config["PHI_ACCESS_RETENTION_DAYS"]
    with app_context(app) as session:
        first = session.scalar(select(func.min(PatientDataAccess.id)))
        session.execute(
            update(PatientDataAccess)
            .where(PatientDataAccess.id == first)
            .values(at=utcnow() - timedelta(days=days + 1))
        )
        session.commit()
    result = app.test_cli_runner().invoke(args=["phi-access", "prune"])
    assert result.exit_code == 0 and "Removed 1 entries" in result.output
    assert len(entries(app)) == 1


def test_api_answers_that_carry_the_patient_are_logged(app, api, catalog):
    body = {
        "patient": {"id": catalog.patient},
        "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
    }
    placed = api.post("/api/v3/order", json=body, headers={"Idempotency-Key": "k-1"})
    replayed = api.post("/api/v3/order", json=body, headers={"Idempotency-Key": "k-1"})
    assert placed.status_code == replayed.status_code == 201
    order_id = placed.json["id"]
    cancelled = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "Not needed"})
    assert cancelled.status_code == 200 and cancelled.json["patient"]["id"] == catalog.patient
    site_order = {**body, "patient": None, "site": {"id": catalog.site}}
    assert api.post("/api/v3/order", json=site_order).status_code == 201  # names no patient
    refused = api.post(f"/api/v3/order/{order_id}/cancel", json={"reason": "Again"})
    assert refused.status_code == 409  # an answer that is refused shows no one
    with app_context(app) as session:
        key_id = session.scalar(select(PatientDataAccess.api_key_id))
    assert entries(app) == [
        ("apiOrder", "viewed", catalog.patient, order_id, None, key_id),
        ("apiOrder", "viewed", catalog.patient, order_id, None, key_id),
        ("apiOrder", "viewed", catalog.patient, order_id, None, key_id),
    ]


def test_every_page_that_shows_a_patient_logs_it(app, client, catalog):
    from app.people.models import Patient

    with app_context(app) as session:
        others = session.scalars(select(Patient.id).where(Patient.id != catalog.patient)).all()
    order_id = place(app, catalog, items={"strips": 1})
    coordinator = person(client, "coordinator")
    user = catalog.users["coordinator"]
    assert coordinator.get(f"/patients/{catalog.patient}/edit").status_code == 200
    assert coordinator.get(f"/orders/new?patient={catalog.patient}").status_code == 200
    assert coordinator.get(f"/orders/new?again={order_id}").status_code == 200
    coordinator.get("/orders/new")  # nobody chosen: nobody shown
    assert coordinator.get("/patients/?q=Lovelace").status_code == 200
    assert coordinator.get("/patients/?q=Nobody").status_code == 200
    search = {"action": "search", "recipient_kind": "patient", "recipient_query": "MRN"}
    found = coordinator.post("/orders/new/recipient", search, htmx=True)
    assert "Ada Lovelace" in found.text and "Old Patient" in found.text
    chosen = {**search, "action": f"choose:{catalog.patient}"}
    assert coordinator.post("/orders/new/recipient", chosen, htmx=True).status_code == 200
    both = sorted([catalog.patient, *others])
    assert entries(app) == [
        ("patientEdit", "viewed", catalog.patient, None, user, None),
        ("newOrder", "viewed", catalog.patient, None, user, None),
        ("newOrder", "viewed", catalog.patient, order_id, user, None),
        ("patientSearch", "viewed", catalog.patient, None, user, None),
        *[("recipientSearch", "viewed", p, None, user, None) for p in both],
        ("newOrder", "viewed", catalog.patient, None, user, None),
    ]


def test_a_search_logs_its_patients_in_one_statement(app, client, catalog, count_queries):
    from app.people import service
    from tests.helpers.orders import actor

    coordinator = person(client, "coordinator")
    coordinator.get("/patients/?q=Zz")
    with count_queries() as one:
        coordinator.get("/patients/?q=Zz")
    with app.app_context():
        for n in range(20):
            service.create_patient(
                service.PatientDraft(
                    external_identifier=f"ZZ-{n}",
                    first_name="Zz",
                    last_name=f"Tester{n}",
                    address=service.AddressDraft(
                        line_one="1 Elm St", city="Columbus", state="OH", zip_code="43215"
                    ),
                ),
                actor("coordinator"),
            )
    with count_queries() as twenty:
        html = coordinator.get("/patients/?q=Zz").text
    assert html.count("Tester") >= 20
    # The same statements, and the log's one insert for all twenty.
    assert twenty.count == one.count + 1
    inserts = [s for s in twenty.statements if "INSERT INTO patient_data_access" in s]
    assert len(inserts) == 1
    assert len([e for e in entries(app) if e[0] == "patientSearch"]) == 20


def test_send_to_many_logs_every_patient_it_shows(app, client, catalog):
    import re

    from app.people.models import Patient

    with app_context(app) as session:
        archived = session.scalar(select(Patient.id).where(Patient.id != catalog.patient))
    coordinator = person(client, "coordinator")
    user = catalog.users["coordinator"]
    page = coordinator.get("/orders/batch").text
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {
        "submission_token": token,
        "shipping_option": "standard",
        "kits-0-ref": "Hypertension kit",
        "kits-0-count": "1",
    }
    found = coordinator.post("/orders/batch", {**data, "action": "search", "patient_query": "MRN"})
    assert "Ada Lovelace" in found.text and "Old Patient" in found.text
    previewed = coordinator.post(
        "/orders/batch", {**data, "action": "preview", "identifiers": "MRN-1"}
    )
    assert "3 Main St" in previewed.text  # the address
    placed = coordinator.post("/orders/batch", {**data, "action": "place", "identifiers": "MRN-1"})
    coordinator.get(placed.headers["Location"])
    with app_context(app) as session:
        from app.orders.models import Order

        order_id = session.scalar(select(Order.id))
    assert entries(app) == [
        ("sendToMany", "viewed", catalog.patient, None, user, None),
        ("sendToMany", "viewed", archived, None, user, None),
        ("sendToMany", "viewed", catalog.patient, None, user, None),
        ("sendToMany", "viewed", catalog.patient, order_id, user, None),
    ]


def log_rows(html: str) -> list[str]:
    """The log table's rows, as text."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_log_page_shows_one_row_per_visit_in_words_and_keeps_every_entry(app, client, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    fulfillment = person(app.test_client(), "fulfillment")
    for _ in range(13):  # the order page opened, then drawn again after each scan
        assert fulfillment.get(f"/orders/{order_id}").status_code == 200
    coordinator = person(app.test_client(), "coordinator")
    coordinator.get(f"/patients/{catalog.patient}")
    assert len(entries(app)) == 14  # the log itself keeps every look

    html = person(client, "admin").get("/admin/phi-access/").text
    rows = log_rows(html)
    assert len(rows) == 2
    assert "Coordinator Tester Viewed the patient's page Ada Lovelace MRN-1" in rows[0]
    assert rows[0].endswith("once")
    assert (
        f"Fulfillment Tester Viewed the order page Ada Lovelace MRN-1 Order {order_id}" in rows[1]
    )
    assert rows[1].endswith("13 times")
    assert "orderPage" not in html and "patientPage" not in html
    days = app.config["PHI_ACCESS_RETENTION_DAYS"]
    assert days == 2196
    assert "kept for 6 years and 6 days (2,196 days)" in html


def test_looks_far_apart_are_two_visits(app, client, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    fulfillment = person(app.test_client(), "fulfillment")
    for _ in range(3):
        fulfillment.get(f"/orders/{order_id}")
    with app_context(app) as session:
        session.execute(update(PatientDataAccess).values(at=utcnow() - timedelta(hours=2)))
        session.commit()
    fulfillment.get(f"/orders/{order_id}")
    rows = log_rows(person(client, "admin").get("/admin/phi-access/").text)
    assert len(rows) == 2
    assert rows[0].endswith("once") and rows[1].endswith("3 times")


def test_an_admin_finds_a_patients_looks_by_mrn_in_any_case(app, client, catalog):
    coordinator = person(app.test_client(), "coordinator")
    coordinator.get(f"/patients/{catalog.patient}")
    coordinator.get(f"/patients/{catalog.archived_patient}")
    admin = person(client, "admin")
    html = admin.get("/admin/phi-access/?mrn=mrn-1").text
    assert [r.split(" Viewed")[1] for r in log_rows(html)] == [
        " the patient's page Ada Lovelace MRN-1 once"
    ]
    assert 'value="MRN-1"' in html
    unknown = admin.get("/admin/phi-access/?mrn=MRN-404").text
    assert "No patient has the MRN “MRN-404”." in unknown and "<tbody>" not in unknown


def test_the_log_page_costs_the_same_statements_however_many_visits(
    app, client, catalog, count_queries
):
    coordinator = person(app.test_client(), "coordinator")
    admin = person(client, "admin")
    coordinator.get(f"/patients/{catalog.patient}")
    with count_queries() as one:
        assert admin.get("/admin/phi-access/").status_code == 200
    for _ in range(5):
        coordinator.get(f"/patients/{catalog.archived_patient}")
        coordinator.get(f"/orders/{place(app, catalog, items={'strips': 1})}")
    with count_queries() as many:
        html = admin.get("/admin/phi-access/").text
    assert len(log_rows(html)) == 7
    assert many.count == one.count


def test_a_packing_session_is_one_row_of_the_log(app, client, catalog):
    """The order page opened, then each scan drawing it again: one visit, every look kept."""
    from tests.helpers.orders import iccid

    order_id = place(app, catalog, kits={"hypertension": 2})
    move(app, order_id, "processing")
    packer = person(app.test_client(), "fulfillment")
    packer.get(f"/orders/{order_id}")
    scans = [iccid(41), iccid(42), "SN000041", "SN000042"]
    for value in scans:
        answer = packer.post(f"/orders/{order_id}/devices", {"identifier": value}, htmx=True)
        assert answer.status_code == 200 and "Recorded" in answer.text
    assert len(entries(app)) == 1 + len(scans)
    rows = log_rows(person(client, "admin").get("/admin/phi-access/").text)
    assert len(rows) == 1
    assert f"Viewed the order page Ada Lovelace MRN-1 Order {order_id} 5 times" in rows[0]
