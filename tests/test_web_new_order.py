"""The new-order page through the test client: the server side of every browser action.

Browser tests (tests/browser/) drive the same pages in Chromium; these check what the
server answers, quickly and for every branch.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.catalog.models import Item
from app.catalog.search import OPTION_CAP
from app.db.transactions import write_transaction
from app.orders.models import Order
from app.orders.service import LineRequest
from app.people.models import Address, Patient
from tests.conftest import app_context
from tests.helpers.orders import delivered_order, move, place
from tests.helpers.web import Browserless, a_good_order, new_form

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def coordinator(client, catalog) -> Browserless:
    person = Browserless(client)
    assert person.sign_in("coordinator").status_code == 303
    return person


def orders_in_db(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(Order.id)))


# --- Signing in -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/orders/", "/orders/new", "/orders/1"])
def test_pages_need_a_signed_in_user(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_sign_in_and_health_are_open(client):
    assert client.get("/sign-in").status_code == 200
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "email, password",
    [("coordinator@example.org", "wrong"), ("nobody@example.org", "correct horse battery staple")],
)
def test_failed_sign_in_does_not_say_which_part_was_wrong(client, catalog, email, password):
    from tests.helpers.web import csrf_token

    token = csrf_token(client.get("/sign-in").text)
    response = client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 401
    assert "That email and password do not match an active account." in response.text
    assert email in response.text  # the email is kept in its field


def test_deactivated_user_cannot_sign_in(app, client, catalog):
    from app.auth.models import User
    from app.db.transactions import write_transaction

    with app.app_context(), write_transaction() as session:
        session.get(User, catalog.users["coordinator"]).active = False
    assert Browserless(client).sign_in("coordinator").status_code == 401


def test_sign_in_without_csrf_token_is_refused(client, catalog):
    response = client.post(
        "/sign-in",
        data={"email": "coordinator@example.org", "password": "correct horse battery staple"},
    )
    assert response.status_code == 400


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(app, catalog):
    from tests.helpers.web import csrf_token

    def sign_in(next_url):
        client = app.test_client()
        token = csrf_token(client.get("/sign-in").text)
        return client.post(
            f"/sign-in?next={next_url}",
            data={
                "email": "coordinator@example.org",
                "password": "correct horse battery staple",
                "csrf_token": token,
            },
        )

    assert sign_in("/orders/").headers["Location"] == "/orders/"
    assert sign_in("https://evil.example/").headers["Location"] == "/"
    assert sign_in("//evil.example/").headers["Location"] == "/"


def test_sign_out_ends_the_session(coordinator):
    response = coordinator.post("/sign-out")
    assert response.status_code == 303
    assert coordinator.get("/orders/new").status_code == 302


def test_fulfillment_cannot_open_the_new_order_page(client, catalog):
    person = Browserless(client)
    person.sign_in("fulfillment")
    assert person.get("/orders/new").status_code == 403


def test_form_posts_without_csrf_token_are_refused(coordinator, catalog):
    for url in ("/orders/new", "/orders/new/lines", "/orders/new/recipient"):
        response = coordinator.client.post(
            url, data={"action": "add-item"}, headers={"HX-Request": "true"}
        )
        assert response.status_code == 400, url


def test_htmx_posts_may_send_the_csrf_token_as_a_header(coordinator, catalog):
    response = coordinator.client.post(
        "/orders/new/lines",
        data={"action": "add-item"},
        headers={"HX-Request": "true", "X-CSRFToken": coordinator.token},
    )
    assert response.status_code == 200


def test_pages_with_patient_data_are_not_cached(coordinator):
    response = coordinator.get("/orders/new")
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]
    assert '"historyCacheSize": 0' in response.text


# --- Finding the recipient --------------------------------------------------------------


def search(person, kind, query):
    response = person.post(
        "/orders/new/recipient",
        {"action": "search", "recipient_kind": kind, "recipient_query": query},
        htmx=True,
    )
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize(
    "query", ["Ada", "love", "Lovelace Ada", "Ada Love", "MRN-1", "1950-12-10", "12/10/1950"]
)
def test_patient_is_found_by_name_identifier_or_birth_date(coordinator, query):
    html = search(coordinator, "patient", query)
    assert "Ada Lovelace" in html
    assert "3 Main St, Columbus, OH 43215" in html  # the address
    assert "Riverside Clinic" in html  # the patient's site
    assert 'value="choose:' in html


def test_archived_patient_is_shown_but_cannot_be_chosen(coordinator, catalog):
    html = search(coordinator, "patient", "Old")
    assert "Old Patient" in html
    assert "Archived: cannot receive orders" in html
    assert f'value="choose:{catalog.archived_patient}"' not in html


def test_sites_are_found_by_name_and_inactive_ones_cannot_be_chosen(coordinator, catalog):
    html = search(coordinator, "site", "clinic")
    assert "Riverside Clinic" in html and "Closed Clinic" in html
    assert f'value="choose:{catalog.site}"' in html
    assert f'value="choose:{catalog.inactive_site}"' not in html
    assert "Inactive: cannot receive orders" in html


def test_search_escapes_what_was_typed(coordinator):
    html = search(coordinator, "patient", "<script>alert(1)</script>")
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html


def test_search_treats_like_wildcards_literally(coordinator):
    assert "Ada Lovelace" not in search(coordinator, "patient", "%")
    assert "Ada Lovelace" not in search(coordinator, "patient", "_da")


def test_search_text_is_only_ever_text(app, coordinator):
    """Quotes and backslashes in a name search stay plain text (the prefix pattern is a
    bound parameter; PostgreSQL plans each search with it, see app/db/postgresql.py)."""
    with app_context(app), write_transaction() as session:
        for n, (first, last) in enumerate([("Sean", "O'Brien"), ("Back", "Sl\\ash")]):
            session.add(
                Patient(
                    external_identifier=f"MRN-Q{n}",
                    first_name=first,
                    last_name=last,
                    address=Address(
                        line_one="1 Elm St", city="Dayton", state="OH", zip_code="45402"
                    ),
                )
            )
    assert "O&#39;Brien" in search(coordinator, "patient", "o'b")
    assert "Sl\\ash" in search(coordinator, "patient", "sl\\")
    for attack in ("' OR '1'='1", "x' OR 1=1 --", "\\' OR 1=1 --", "'; DROP TABLE patient; --"):
        html = search(coordinator, "patient", attack)
        assert "Lovelace" not in html and "Brien" not in html, attack
    with app_context(app) as session:
        assert session.scalar(select(func.count(Patient.id))) >= 4


def test_choosing_shows_the_ship_to_address(coordinator, catalog):
    response = coordinator.post(
        "/orders/new/recipient",
        {**new_form(coordinator), "action": f"choose:{catalog.patient}", "recipient_query": "ada"},
        htmx=True,
    )
    html = response.text
    assert 'id="ship-to"' in html
    assert "Ada Lovelace" in html and "3 Main St" in html and "+16145550101" in html
    assert f'name="recipient_id" value="{catalog.patient}"' in html
    assert "Change recipient" in html


# --- Lines ------------------------------------------------------------------------------


def rows_of(html, kind):
    return re.findall(rf'id="({kind}-\d+)-ref" name="\1-ref" value="([^"]*)"', html)


def test_add_item_and_add_kit_add_a_row(coordinator):
    form = new_form(coordinator)
    html = coordinator.post(
        "/orders/new/lines", {**form, "action": "add-item", "items-0-ref": "x"}, htmx=True
    ).text
    assert [r[0] for r in rows_of(html, "items")] == ["items-0", "items-1"]
    html = coordinator.post("/orders/new/lines", {**form, "action": "add-kit"}, htmx=True).text
    assert [r[0] for r in rows_of(html, "kits")] == ["kits-0"]
    assert html.lstrip().startswith('<section id="order-lines"') or 'id="order-lines"' in html[:300]


def test_removing_a_middle_row_renumbers_the_rest(coordinator):
    data = {
        **new_form(coordinator),
        "action": "remove-item:1",
        "items-0-ref": "first",
        "items-0-count": "1",
        "items-1-ref": "second",
        "items-1-count": "2",
        "items-2-ref": "third",
        "items-2-count": "3",
    }
    html = coordinator.post("/orders/new/lines", data, htmx=True).text
    assert rows_of(html, "items") == [("items-0", "first"), ("items-1", "third")]
    assert 'name="items-1-count" value="3"' in html


def test_kit_row_shows_what_the_kit_contains_and_summary_counts_units(coordinator):
    data = {
        **new_form(coordinator),
        "action": "refresh",
        "items-0-ref": "Test strips (STR)",
        "items-0-count": "4",
        "kits-0-ref": "hypertension kit",
        "kits-0-count": "2",
    }
    html = coordinator.post("/orders/new/lines", data, htmx=True).text
    assert "Contains 1 × BP monitor, 1 × BP cuff, large, 1 × Gateway" in html
    assert "2 lines · 10 units in all" in html


def test_the_catalog_is_not_rendered_into_the_page(coordinator):
    html = coordinator.get("/orders/new").text
    assert "<datalist" not in html
    assert "Test strips" not in html and "Hypertension kit" not in html


def options(person, text, kind="item", row="items-0") -> list[str]:
    """The option texts the combobox of ``row`` gets for ``text``."""
    response = person.get(
        "/orders/new/options",
        query_string={"kind": kind, "row": row, f"{row}-ref": text},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    return re.findall(r'role="option"[^>]*data-value="([^"]*)"', response.text)


def test_options_match_every_word_of_name_sku_model_or_maker(app, coordinator, catalog):
    with app.app_context(), write_transaction() as session:
        session.get(Item, catalog.items["monitor"]).model = "HEM-7121"
    assert options(coordinator, "strips") == ["Test strips (STR)"]
    assert options(coordinator, "STRIPS test") == ["Test strips (STR)"]
    assert options(coordinator, "omron") == ["BP cuff, large (CUF-L)", "BP monitor (BPM)"]
    assert options(coordinator, "omron large") == ["BP cuff, large (CUF-L)"]
    assert options(coordinator, "cuf-l") == ["BP cuff, large (CUF-L)"]
    assert options(coordinator, "hem-7121") == ["BP monitor (BPM)"]
    assert options(coordinator, "100%") == []
    # Not orderable, not offered; archived kits neither.
    assert options(coordinator, "old") == []
    assert options(coordinator, "hyper", "kit", "kits-0") == ["Hypertension kit"]
    # A kit is found by what it holds, too.
    assert options(coordinator, "GLU", "kit", "kits-0") == ["Diabetes kit"]
    assert options(coordinator, "old", "kit", "kits-0") == []
    assert options(coordinator, "") == []


def test_options_are_capped_with_a_fixed_number_of_queries(app, coordinator, count_queries):
    with count_queries() as few:
        options(coordinator, "strips")
    with app.app_context(), write_transaction() as session:
        session.add_all(Item(name=f"Lancet {n}", sku=f"LAN-{n}") for n in range(OPTION_CAP + 5))
    with count_queries() as many:
        assert len(options(coordinator, "lancet")) == OPTION_CAP
    assert many.count == few.count


def test_a_bad_row_name_is_refused(coordinator):
    response = coordinator.get("/orders/new/options", query_string={"row": "x;drop"})
    assert response.status_code == 404


def test_find_without_javascript_lists_the_matches_as_buttons(coordinator, catalog):
    data = {**new_form(coordinator), "items-0-ref": "omron", "items-0-count": "1"}
    html = coordinator.post("/orders/new", {**data, "action": "find-item:0"}).text
    monitor, cuff = catalog.items["monitor"], catalog.items["cuff"]
    assert f'value="pick-item:0:{monitor}"' in html and f'value="pick-item:0:{cuff}"' in html
    assert re.search(r'id="items-0-ref"[^>]*autofocus', html, re.S)
    # Enter in the box (the form's first button, "refresh") finds the same way.
    html = coordinator.post("/orders/new", {**data, "action": "refresh"}).text
    assert f'value="pick-item:0:{cuff}"' in html
    assert re.search(r'id="items-0-ref"[^>]*autofocus', html, re.S)
    # Picking fills the box and moves on to the count.
    html = coordinator.post("/orders/new", {**data, "action": f"pick-item:0:{cuff}"}).text
    assert rows_of(html, "items") == [("items-0", "BP cuff, large (CUF-L)")]
    assert re.search(r'id="items-0-count"[^>]*autofocus', html, re.S)
    assert "pick-item:" not in html


def test_enter_in_the_patient_search_without_javascript_keeps_the_focus_there(coordinator):
    data = {**new_form(coordinator), "recipient_query": "Lovelace", "items-0-ref": ""}
    html = coordinator.post("/orders/new", {**data, "action": "refresh"}).text
    assert "1 patient found" in html
    assert re.search(r'id="recipient-query"[^>]*autofocus', html, re.S)


# --- Placing ----------------------------------------------------------------------------


def test_coordinator_places_an_order_and_lands_on_it(app, coordinator, catalog):
    response = coordinator.post("/orders/new", a_good_order(coordinator, catalog))
    assert response.status_code == 303
    order_url = response.headers["Location"]
    assert re.fullmatch(r"/orders/\d+", order_url)

    page = coordinator.get(order_url).text
    assert "Ada Lovelace" in page and "3 Main St" in page
    assert "Test strips" in page and "BP cuff, large" in page and "Hypertension kit" in page
    assert "Created" in page  # the status and the first timeline event
    assert "Coordinator Tester" in page
    assert "EHR-1, EHR-2" in page
    assert "Call before delivery" in page
    assert orders_in_db(app) == 1


def test_site_order_from_the_form(app, coordinator, catalog):
    data = a_good_order(coordinator, catalog)
    data.update(recipient_kind="site", recipient_id=str(catalog.site))
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 303
    assert "Riverside Clinic" in coordinator.get(response.headers["Location"]).text


def test_htmx_submit_is_answered_with_hx_redirect(app, coordinator, catalog):
    response = coordinator.post("/orders/new", a_good_order(coordinator, catalog), htmx=True)
    assert response.status_code == 200
    assert re.fullmatch(r"/orders/\d+", response.headers["HX-Redirect"])


def test_problems_are_shown_next_to_their_fields_and_input_is_kept(app, coordinator, catalog):
    data = a_good_order(coordinator, catalog)
    data.update(
        {
            "recipient_id": "",
            "items-0-count": "0",
            "items-1-ref": "Unicorn saddle",
            "kits-0-ref": "Old kit",
            "external_order_ids": "ok, " + "x" * 70,
        }
    )
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    html = response.text
    assert "The order was not placed: 5 problems to fix" in html

    def error_of(field_id):
        match = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', html)
        return match.group(1) if match else None

    assert error_of("recipient-query") == "Choose a patient or a site to ship to."
    assert error_of("items-0-count") == "Count must be a whole number from 1 to 999."
    assert "Nothing on offer matches “Unicorn saddle”" in error_of("items-1-ref")
    assert "Nothing on offer matches “Old kit”" in error_of("kits-0-ref")
    assert "at most 64 characters" in error_of("external_order_ids")
    # Everything typed is still there.
    assert 'value="Unicorn saddle"' in html
    assert 'name="items-0-count" value="0"' in html
    assert "Call before delivery" in html
    assert orders_in_db(app) == 0


@pytest.mark.parametrize("sent", ["٢", "2147483648", "abc"])
def test_a_fulfillment_location_that_is_not_valid_is_refused_at_the_field(
    app, coordinator, catalog, sent
):
    data = {**a_good_order(coordinator, catalog), "fulfillment_location": sent}
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    html = response.text
    error = re.search(r'<p class="error" id="fulfillment_location-error">([^<]*)</p>', html)
    assert error and "That is not a valid location" in error.group(1)
    # Shown as sent, chosen, and everything else typed is kept.
    assert re.search(rf'<option value="{re.escape(sent)}" selected>', html)
    assert "Call before delivery" in html and 'value="EHR-1, EHR-2"' in html
    assert orders_in_db(app) == 0


def test_a_fulfillment_location_deactivated_meanwhile_is_refused_not_replaced(
    app, coordinator, catalog
):
    from app.inventory.locations import set_location_active
    from tests.helpers.orders import actor
    from tests.helpers.stock import second_location

    east = second_location(app)
    with app.app_context():
        set_location_active(east, False, actor("admin"))
    data = {**a_good_order(coordinator, catalog), "fulfillment_location": str(east)}
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    assert 'id="fulfillment_location-error"' in response.text
    assert orders_in_db(app) == 0


def test_htmx_gets_the_form_back_with_422(app, coordinator, catalog):
    data = a_good_order(coordinator, catalog)
    data["items-0-count"] = "1000"
    response = coordinator.post("/orders/new", data, htmx=True)
    assert response.status_code == 422
    assert 'id="order-form"' in response.text
    assert 'id="items-0-count-error"' in response.text
    assert orders_in_db(app) == 0


def test_order_without_lines_says_so_at_the_lines(app, coordinator, catalog):
    data = {**new_form(coordinator), "recipient_id": str(catalog.patient)}
    html = coordinator.post("/orders/new", data).text
    assert '<p class="error" id="lines-error">Order must contain at least one of' in html


def test_archived_patient_posted_by_hand_is_refused(app, coordinator, catalog):
    data = a_good_order(coordinator, catalog)
    data["recipient_id"] = str(catalog.archived_patient)
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    assert "is archived and cannot receive orders" in response.text
    assert orders_in_db(app) == 0


def test_submitting_the_same_form_twice_places_one_order(app, coordinator, catalog):
    data = a_good_order(coordinator, catalog)
    first = coordinator.post("/orders/new", data)
    second = coordinator.post("/orders/new", data)
    assert first.headers["Location"] == second.headers["Location"]
    assert orders_in_db(app) == 1
    assert "had already been placed" in coordinator.get(second.headers["Location"]).text


def test_going_back_changing_and_submitting_again_still_lands_on_the_first(
    app, coordinator, catalog
):
    data = a_good_order(coordinator, catalog)
    first = coordinator.post("/orders/new", data)
    data["items-0-count"] = "7"
    second = coordinator.post("/orders/new", data)
    assert second.headers["Location"] == first.headers["Location"]
    assert orders_in_db(app) == 1
    assert (
        "The changes made after that were not placed"
        in coordinator.get(second.headers["Location"]).text
    )


def test_a_fresh_form_places_a_new_order(app, coordinator, catalog):
    coordinator.post("/orders/new", a_good_order(coordinator, catalog))
    coordinator.post("/orders/new", a_good_order(coordinator, catalog))
    assert orders_in_db(app) == 2


# --- Without JavaScript -----------------------------------------------------------------


def test_every_edit_works_as_a_plain_form_submission(app, coordinator, catalog):
    data = new_form(coordinator)
    # search
    html = coordinator.post(
        "/orders/new", {**data, "action": "search", "recipient_query": "Lovelace"}
    ).text
    assert f'value="choose:{catalog.patient}"' in html
    # choose
    html = coordinator.post(
        "/orders/new",
        {**data, "action": f"choose:{catalog.patient}", "recipient_query": "Lovelace"},
    ).text
    assert 'id="ship-to"' in html
    # add a kit row, remove the empty item row
    data.update({"recipient_id": str(catalog.patient), "items-0-ref": "", "items-0-count": "1"})
    html = coordinator.post("/orders/new", {**data, "action": "add-kit"}).text
    assert 'id="kits-0-ref"' in html
    html = coordinator.post(
        "/orders/new", {**data, "action": "remove-item:0", "kits-0-ref": "Diabetes kit"}
    ).text
    assert rows_of(html, "items") == []
    assert rows_of(html, "kits") == [("kits-0", "Diabetes kit")]
    # place
    response = coordinator.post(
        "/orders/new",
        {
            **data,
            "action": "place",
            "items-0-ref": "Test strips",
            "kits-0-ref": "Diabetes kit",
            "kits-0-count": "1",
        },
    )
    assert response.status_code == 303
    assert orders_in_db(app) == 1


# --- Speed ------------------------------------------------------------------------------


def lines_data(form, n):
    data = {**form, "action": "refresh"}
    for i in range(n):
        data[f"items-{i}-ref"] = "Test strips (STR)"
        data[f"items-{i}-count"] = "1"
        data[f"kits-{i}-ref"] = "Hypertension kit"
        data[f"kits-{i}-count"] = "1"
    return data


def test_fragments_answer_with_a_fixed_number_of_queries(coordinator, count_queries, catalog):
    form = new_form(coordinator)
    with count_queries() as one_row:
        assert (
            coordinator.post("/orders/new/lines", lines_data(form, 1), htmx=True).status_code == 200
        )
    with count_queries() as forty_rows:
        assert (
            coordinator.post("/orders/new/lines", lines_data(form, 40), htmx=True).status_code
            == 200
        )
    assert forty_rows.count == one_row.count

    with count_queries() as few:
        search(coordinator, "patient", "Ada")
    with count_queries() as none_found:
        search(coordinator, "patient", "Zzz")
    # The PHI access log's one insert for the patients found (none found: nothing to log).
    assert few.count == none_found.count + 1

    chosen = {**form, "action": f"choose:{catalog.patient}"}
    with count_queries() as choose:
        coordinator.post("/orders/new/recipient", chosen, htmx=True)
    # Choosing redraws the lines too, which name their fulfillment locations (one query).
    assert choose.count <= few.count + 4


def test_new_order_page_loads_under_100_kb_of_css_and_javascript(coordinator):
    html = coordinator.get("/orders/new").text
    assets = re.findall(r'<(?:script src|link rel="stylesheet" href)="/static/([^"]+)"', html)
    assets += re.findall(r'<link rel="stylesheet" href="/static/([^"]+)" media', html)
    assert any(a.endswith("htmx.min.js") for a in assets)
    total = sum((ROOT / "static" / asset).stat().st_size for asset in set(assets))
    assert total < 100 * 1024, f"{total} bytes of CSS and JS"


# --- A new patient from the order page ------------------------------------------------------


def new_patient_fields(**overrides):
    data = {
        "new_patient-external_identifier": "MRN-NEW-1",
        "new_patient-first_name": "Dorothy",
        "new_patient-last_name": "Vaughan",
        "new_patient-date_of_birth": "1910-09-20",
        "new_patient-sex": "female",
        "new_patient-phone_number": "614-555-0166",
        "new_patient-email": "",
        "new_patient-site_id": "",
        "new_patient-enrolled": "y",
        "new_patient-line_one": "8 Langley Ave",
        "new_patient-line_two": "",
        "new_patient-city": "Columbus",
        "new_patient-state": "OH",
        "new_patient-zip_code": "43215",
        "new_patient-note": "",
    }
    data.update(overrides)
    return data


def test_coordinator_adds_a_patient_without_losing_the_order(app, coordinator, catalog):
    order = {
        **new_form(coordinator),
        "recipient_query": "Vaughan",
        "items-0-ref": "Test strips (STR)",
        "items-0-count": "2",
        "note": "Keep me",
    }
    opened = coordinator.post(
        "/orders/new/recipient", {**order, "action": "new-patient"}, htmx=True
    )
    assert opened.status_code == 200
    assert 'id="new_patient-external_identifier"' in opened.text
    assert 'name="creating_patient" value="1"' in opened.text

    bad = coordinator.post(
        "/orders/new/recipient",
        {
            **order,
            **new_patient_fields(**{"new_patient-zip_code": "9"}),
            "creating_patient": "1",
            "action": "create-patient",
        },
        htmx=True,
    )
    assert bad.status_code == 422
    assert 'id="new_patient-zip_code-error"' in bad.text
    assert 'value="Vaughan"' in bad.text  # what was typed stays

    good = coordinator.post(
        "/orders/new/recipient",
        {**order, **new_patient_fields(), "creating_patient": "1", "action": "create-patient"},
        htmx=True,
    )
    assert good.status_code == 200
    assert 'id="ship-to"' in good.text and "Dorothy Vaughan" in good.text
    patient_id = int(re.search(r'name="recipient_id" value="(\d+)"', good.text).group(1))

    placed = coordinator.post("/orders/new", {**order, "recipient_id": str(patient_id)})
    assert placed.status_code == 303
    page = coordinator.get(placed.headers["Location"]).text
    assert "Dorothy Vaughan" in page and "Keep me" in page


def test_adding_a_patient_works_without_javascript(app, coordinator, catalog):
    order = {**new_form(coordinator), "items-0-ref": "Test strips (STR)", "items-0-count": "1"}
    page = coordinator.post("/orders/new", {**order, "action": "new-patient"}).text
    assert 'id="new_patient-first_name"' in page
    page = coordinator.post(
        "/orders/new",
        {**order, **new_patient_fields(), "creating_patient": "1", "action": "create-patient"},
    ).text
    assert 'id="ship-to"' in page and "Dorothy Vaughan" in page
    assert 'value="Test strips (STR)"' in page


def test_htmx_request_after_signing_out_sends_the_whole_page_to_sign_in(client, catalog):
    response = client.post(
        "/orders/new/lines",
        data={"action": "add-item"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/orders/new"},
    )
    # No session, so no CSRF token either: refused before anything else.
    assert response.status_code == 400
    page = client.get(
        "/orders/", headers={"HX-Request": "true", "HX-Current-URL": "http://x/orders/?q=a"}
    )
    assert page.status_code == 401
    assert page.headers["HX-Redirect"] == "/sign-in?next=/orders/?q%3Da"
    assert client.get("/orders/?q=a").headers["Location"] == "/sign-in?next=/orders/?q%3Da"


# --- Two-way orders -----------------------------------------------------------------------


def held_choices(html: str) -> tuple[list[str], list[str]]:
    devices = re.findall(r'name="return_devices" value="(\d+)"', html)
    kits = re.findall(r'name="return_packed_kits" value="(\d+)"', html)
    return devices, kits


def stored_returns(app, order_id: int) -> dict:
    with app_context(app) as session:
        order = session.get(Order, order_id)
        return {
            "items": [(line.item.name, line.count) for line in order.items],
            "return_items": [(line.item.name, line.count) for line in order.return_items],
            "return_devices": [line.device_id for line in order.return_devices],
            "return_packed_kits": [line.packed_kit_id for line in order.return_packed_kits],
            "email_label": order.email_label,
            "shipping": order.shipping_option,
        }


def test_return_devices_offered_are_those_the_patient_has_now(
    app, coordinator, catalog, count_queries
):
    html = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    assert held_choices(html) == ([], [])
    assert "no devices or packed kits from delivered orders" in html
    delivered = delivered_order(app, catalog, items={"monitor": 1}, kits={"diabetes": 1})
    place(app, catalog, items={"monitor": 1})  # not delivered: nothing of it is offered
    with count_queries() as one_order:
        html = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    with app_context(app) as session:
        order = session.get(Order, delivered)
        monitor = next(d.device_id for d in order.devices if d.order_item_id)
        glucometer = next(d.device_id for d in order.devices if d.packed_kit_id)
        [packed_kit] = [pk.id for pk in order.packed_kits]
    assert held_choices(html) == ([str(monitor), str(glucometer)], [str(packed_kit)])

    delivered_order(app, catalog, items={"monitor": 1})
    with count_queries() as two_orders:
        html = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    assert len(held_choices(html)[0]) == 3
    assert two_orders.count == one_order.count

    # Once on a return order, a device or a packed kit is no longer offered; cancelling
    # that order offers them again.
    returning = place(app, catalog, return_device_ids=[monitor], return_packed_kit_ids=[packed_kit])
    html = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    assert str(monitor) not in held_choices(html)[0]
    assert held_choices(html)[1] == []
    move(app, returning, "cancelled", role="admin", reason="test")
    html = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    assert str(monitor) in held_choices(html)[0]
    assert held_choices(html)[1] == [str(packed_kit)]


def test_a_device_on_an_open_return_is_not_offered_nor_accepted_in_its_packed_kit(
    app, coordinator, catalog
):
    from tests.helpers.orders import delivered_kit, orders_returning

    _, monitor, packed_kit = delivered_kit(app, catalog)
    page = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    assert str(packed_kit) in held_choices(page)[1] and str(monitor) in held_choices(page)[0]
    stale = {
        **new_form(coordinator),
        "action": "place",
        "recipient_id": str(catalog.patient),
        "items-0-ref": "",
        "items-0-count": "1",
        "return_packed_kits": [str(packed_kit)],
        "note": "Kit back please",
    }
    # Meanwhile someone else asks for the monitor back alone.
    first = place(app, catalog, items={"strips": 1}, return_device_ids=[monitor])
    page = coordinator.get(f"/orders/new?patient={catalog.patient}").text
    assert str(packed_kit) not in held_choices(page)[1]
    assert str(monitor) not in held_choices(page)[0]
    refused = coordinator.post("/orders/new", stale)
    assert refused.status_code == 422
    assert f"is already expected back on order {first}" in refused.text
    assert "Kit back please" in refused.text
    assert orders_returning(app, monitor) == [first]


def test_a_two_way_order_from_the_form_goes_through_the_order_service(app, coordinator, catalog):
    delivered = delivered_order(app, catalog, items={"monitor": 1}, kits={"diabetes": 1})
    with app_context(app) as session:
        order = session.get(Order, delivered)
        monitor = next(d.device_id for d in order.devices if d.order_item_id)
        [packed_kit] = [pk.id for pk in order.packed_kits]
    data = {
        **new_form(coordinator),
        "action": "place",
        "recipient_id": str(catalog.patient),
        "items-0-ref": "BP monitor (BPM)",
        "items-0-count": "1",
        "return_items-0-ref": "cuf-l",
        "return_items-0-count": "2",
        "return_devices": [str(monitor)],
        "return_packed_kits": [str(packed_kit)],
    }
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 303
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert stored_returns(app, order_id) == {
        "items": [("BP monitor", 1)],
        "return_items": [("BP cuff, large", 2)],
        "return_devices": [monitor],
        "return_packed_kits": [packed_kit],
        "email_label": False,
        "shipping": "standard",
    }
    # What comes back reads as a packer and a coordinator say it.
    summary = coordinator.get(f"/orders/{order_id}/packing-summary").text
    page = coordinator.get(f"/orders/{order_id}").text
    for html in (summary, page):
        assert re.search(r"BP monitor, Serial number SN\d+", html)
        assert f"Diabetes kit (packed kit {packed_kit}, sent on" in html
    assert "Put a prepaid return label in the box." in summary


def test_a_return_only_order_with_an_emailed_label_ships_nothing(app, coordinator, catalog):
    delivered = delivered_order(app, catalog, items={"monitor": 1})
    with app_context(app) as session:
        [monitor] = [d.device_id for d in session.get(Order, delivered).devices]
    data = {
        **new_form(coordinator),
        "action": "place",
        "recipient_id": str(catalog.patient),
        "items-0-ref": "",  # the empty first row is not a line
        "items-0-count": "1",
        "return_devices": [str(monitor)],
        "email_label": "y",
    }
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 303
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    stored = stored_returns(app, order_id)
    assert (stored["email_label"], stored["shipping"], stored["items"]) == (True, None, [])


def test_return_problems_are_shown_in_the_form_as_the_api_words_them(app, coordinator, catalog):
    data = {
        **new_form(coordinator),
        "action": "place",
        "recipient_id": str(catalog.patient),
        "items-0-ref": "",
        "return_devices": ["999999"],
        "email_label": "y",
    }
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    assert "There is no device with id 999999." in response.text
    assert orders_in_db(app) == 0
    # An emailed label with nothing coming back is the API's rule too.
    data = {**data, "return_devices": [], "items-0-ref": "Test strips"}
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    assert "An emailed return label needs at least one return line." in response.text


# --- Order again --------------------------------------------------------------------------


def test_order_again_fills_a_new_order_and_places_nothing(app, coordinator, catalog):
    first = place(
        app,
        catalog,
        items={"strips": 3, "cuff": 1},
        kits={"hypertension": 2},
        external_order_ids=["EHR_2024_17"],
        shipping_option="overnight",
    )
    html = coordinator.get(f"/orders/{first}").text
    assert f'href="/orders/new?again={first}"' in html
    html = coordinator.get(f"/orders/new?again={first}").text
    assert orders_in_db(app) == 1
    assert rows_of(html, "items") == [
        ("items-0", "Test strips (STR)"),
        ("items-1", "BP cuff, large (CUF-L)"),
    ]
    assert rows_of(html, "kits") == [("kits-0", "Hypertension kit")]
    assert 'value="overnight" checked' in html or re.search(r'checked[^>]*value="overnight"', html)
    assert 'value="EHR_2024_"' in html
    assert 'id="ship-to"' in html and "Ada Lovelace" in html
    assert coordinator.get("/orders/new?again=99999").status_code == 404


def test_order_again_asks_for_nothing_back_that_already_came_back(app, coordinator, catalog):
    # A swap: a new cuff out, the old cuff back with an emailed label. Ordering again sends
    # another cuff; the old one has been returned and is not asked for twice.
    first = place(
        app,
        catalog,
        items={"cuff": 1},
        return_items=[LineRequest(catalog.items["cuff"], 1)],
        email_label=True,
    )
    html = coordinator.get(f"/orders/new?again={first}").text
    assert rows_of(html, "items") == [("items-0", "BP cuff, large (CUF-L)")]
    assert all(ref == "" for _, ref in rows_of(html, "return_items"))
    assert not re.search(r'name="email_label"[^>]*checked|checked[^>]*name="email_label"', html)


def test_a_recipient_holding_many_devices_shows_the_newest_until_all_are_asked_for(
    app, coordinator, catalog, count_queries, monkeypatch
):
    """The returns list the devices and packed kits of the newest deliveries, DEVICES_OUT_CAP of
    each (the cost does not grow with the recipient's history); "Show everything they
    have" lists them all, kept (with what is ticked) until the recipient changes."""
    monkeypatch.setattr("app.orders.lookups.DEVICES_OUT_CAP", 2)
    orders = [delivered_order(app, catalog, items={"monitor": 1}) for _ in range(3)]
    with app_context(app) as session:
        devices = [str(session.get(Order, o).devices[0].device_id) for o in orders]
    form = {**new_form(coordinator), "items-0-ref": "", "items-0-count": "1"}
    html = coordinator.post(
        "/orders/new/recipient", {**form, "action": f"choose:{catalog.patient}"}, htmx=True
    ).text
    # The two newest deliveries, oldest first; a way to see the rest.
    assert held_choices(html) == (devices[1:], [])
    assert 'id="held-more"' in html and 'value="all-held"' in html
    assert 'name="all_held"' not in html

    chosen = {**form, "recipient_id": str(catalog.patient)}
    with count_queries() as capped:
        html = coordinator.post(
            "/orders/new/lines", {**chosen, "action": "add-item"}, htmx=True
        ).text
    assert held_choices(html) == (devices[1:], [])
    with count_queries() as showing_all:
        html = coordinator.post(
            "/orders/new/lines", {**chosen, "action": "all-held"}, htmx=True
        ).text
    assert held_choices(html) == (devices, [])
    assert 'id="held-more"' not in html
    everything = f"patient:{catalog.patient}"
    assert f'<input type="hidden" name="all_held" value="{everything}">' in html
    assert re.search(rf'value="{devices[0]}"\s+autofocus', html)  # where the list grew
    assert showing_all.count == capped.count

    # The oldest one ticked stays listed and ticked as the order is edited...
    kept = {**chosen, "all_held": everything, "return_devices": [devices[0]], "action": "add-item"}
    html = coordinator.post("/orders/new/lines", kept, htmx=True).text
    assert held_choices(html) == (devices, [])
    assert re.search(rf'value="{devices[0]}"\s+checked', html)
    # ... and without JavaScript too.
    html = coordinator.post("/orders/new", {**chosen, "action": "all-held"}).text
    assert held_choices(html) == (devices, [])

    # It was asked for this recipient: chosen again, they still show everything; the key
    # of another recipient (left in the form as the recipient changes) shows the newest.
    def choose_with(key: str) -> str:
        data = {**form, "all_held": key, "action": f"choose:{catalog.patient}"}
        return coordinator.post("/orders/new/recipient", data, htmx=True).text

    assert held_choices(choose_with(everything)) == (devices, [])
    for other in (f"site:{catalog.patient}", f"patient:{catalog.patient + 1}", "1", "x"):
        html = choose_with(other)
        assert held_choices(html) == (devices[1:], [])
        assert 'name="all_held"' not in html


def test_a_line_with_a_count_but_no_item_asks_to_choose_the_item(app, coordinator, catalog):
    data = a_good_order(coordinator, catalog)
    data.update({"items-1-ref": "", "items-1-count": "3"})
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    match = re.search(r'<p class="error" id="items-1-ref-error">([^<]*)</p>', response.text)
    assert match is not None and match.group(1) == "Choose an item from the list."
    assert orders_in_db(app) == 0


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        # Nine digits are read as an id, which names no one; ten are no id at all.
        ("123456789", "There is no patient with id 123456789."),
        ("1234567890", "Choose a patient or a site to ship to."),
    ],
)
def test_a_recipient_id_posted_by_hand_that_names_no_one_is_refused(
    app, coordinator, catalog, sent, message
):
    data = a_good_order(coordinator, catalog)
    data["recipient_id"] = sent
    response = coordinator.post("/orders/new", data)
    assert response.status_code == 422
    assert re.findall(r'class="error"[^>]*>([^<]*)<', response.text) == [message]
    assert orders_in_db(app) == 0
