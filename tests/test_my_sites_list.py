"""The order list's "My sites": the orders of the sites the signed-in user works for
(app.people.staff), in the list, its tab counts (from the counters, and counted exactly
under a search) and its CSV. A filter, not a limit: every order stays open to everyone."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.helpers.orders import move, place
from tests.helpers.sites import new_site, works_for
from tests.helpers.web import Browserless


def person(client, role) -> Browserless:
    someone = Browserless(client)
    assert someone.sign_in(role).status_code == 303
    return someone


def listed(someone, query="") -> tuple[list[int], str]:
    response = someone.get(f"/orders/?{query}")
    assert response.status_code == 200
    body = (
        response.text.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in response.text else ""
    )
    return [int(i) for i in re.findall(r'<a href="/orders/(\d+)">', body)], response.text


def all_count(html: str) -> int:
    return int(re.search(r'All <span class="count">(\d+)</span>', html).group(1))


@pytest.fixture
def three_sites(app, catalog):
    """Orders of Riverside (the patient's site), Hilltop and Lakeside; the coordinator works
    for Riverside and Hilltop."""
    hilltop, lakeside = new_site(app, "Hilltop Clinic"), new_site(app, "Lakeside Clinic")
    riverside = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
    at_hilltop = place(app, catalog, items={"strips": 1}, patient=False, site_id=hilltop)
    at_lakeside = place(app, catalog, items={"strips": 1}, patient=False, site_id=lakeside)
    move(app, riverside[0], "processing")
    works_for(app, catalog.users["coordinator"], [catalog.site, hilltop])
    return {"mine": sorted([*riverside, at_hilltop], reverse=True), "other": at_lakeside}


def test_my_sites_lists_the_orders_of_the_sites_i_work_for(client, catalog, three_sites):
    coordinator = person(client, "coordinator")
    ids, html = listed(coordinator, "site=mine")
    assert ids == three_sites["mine"]
    assert (
        '<option value="mine" selected>My sites (Hilltop Clinic, Riverside Clinic)</option>' in html
    )
    assert all_count(html) == 3  # from the status counters
    assert re.search(r'Processing <span class="count">1</span>', html)
    ids, html = listed(coordinator, "site=mine&q=Lovelace")  # counted exactly, under a search
    assert ids == three_sites["mine"][1:] and all_count(html) == 2
    ids, html = listed(coordinator, "site=mine&status=created")
    assert (
        ids == three_sites["mine"][:2]  # the first is processing
        and 'href="/orders/?status=processing&amp;site=mine"' in html
    )

    # Not a limit: without the filter every order is listed, and Lakeside's opens.
    assert three_sites["other"] in listed(coordinator)[0]
    assert coordinator.get(f"/orders/{three_sites['other']}").status_code == 200

    answer = coordinator.get("/orders/export.csv?site=mine")
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) == 3


def test_my_sites_is_empty_for_someone_with_no_sites(client, catalog, three_sites):
    fulfilment = person(client, "fulfillment")
    ids, html = listed(fulfilment)
    assert "My sites" not in html and len(ids) == 4
    ids, html = listed(fulfilment, "site=mine")
    assert ids == [] and "My sites (none assigned)" in html and all_count(html) == 0


def test_my_sites_costs_the_same_statements_for_one_site_or_five(
    app, client, catalog, count_queries
):
    place(app, catalog, items={"strips": 1})
    works_for(app, catalog.users["coordinator"], [catalog.site])
    coordinator = person(client, "coordinator")
    with count_queries() as one:
        assert listed(coordinator, "site=mine")[0]
    others = [new_site(app, f"Clinic {n}") for n in range(4)]
    for site_id in others:
        place(app, catalog, items={"strips": 1}, patient=False, site_id=site_id)
    works_for(app, catalog.users["coordinator"], [catalog.site, *others])
    with count_queries() as five:
        assert len(listed(coordinator, "site=mine")[0]) == 5
    assert five.count == one.count
