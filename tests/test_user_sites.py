"""The sites a staff user works for: set by admins on the user's page (checkboxes that work
without JavaScript), refused with a clear message when an id is no site's, recorded in the
user's history and shown on the list of users."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.people import staff
from app.people.models import UserSite
from tests.conftest import app_context
from tests.helpers.sites import new_site, works_for
from tests.helpers.web import Browserless


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    assert person.sign_in("admin").status_code == 303
    return person


def sites_of(app, user_id: int) -> set[int]:
    with app_context(app) as session:
        return set(session.scalars(select(UserSite.site_id).where(UserSite.user_id == user_id)))


def is_checked(page: str, site_id: int) -> bool:
    box = re.search(rf'<input[^>]*name="sites" type="checkbox" value="{site_id}">', page)
    assert box, f"no checkbox for site {site_id}"
    return " checked " in box.group(0)


def test_an_admin_chooses_the_sites_a_coordinator_works_for(app, admin, catalog):
    hilltop = new_site(app, "Hilltop Clinic")
    coordinator = catalog.users["coordinator"]
    page = admin.get(f"/admin/users/{coordinator}").text
    assert "<legend>Sites this user works for</legend>" in page
    assert "Works for no site yet." in page
    assert "Closed Clinic (inactive)" in page  # every site is offered, inactive ones marked

    sent = admin.post(
        f"/admin/users/{coordinator}/sites", {"sites": [str(hilltop), str(catalog.site)]}
    )
    assert sent.status_code == 303
    assert sites_of(app, coordinator) == {hilltop, catalog.site}
    page = admin.get(sent.headers["Location"]).text
    assert "Coordinator Tester works for Hilltop Clinic, Riverside Clinic." in page
    assert "Works for Hilltop Clinic, Riverside Clinic." in page
    assert is_checked(page, hilltop)
    assert "Sites" in page and "Hilltop Clinic, Riverside Clinic</ins>" in page  # the history

    users = admin.get("/admin/users/").text
    assert '<th scope="col">Sites</th>' in users
    assert "<td>Hilltop Clinic, Riverside Clinic</td>" in users

    # None checked: the user works for no site (the field is then not sent at all).
    assert admin.post(f"/admin/users/{coordinator}/sites", {}).status_code == 303
    assert sites_of(app, coordinator) == set()


@pytest.mark.parametrize("bad", ["999999", "abc", "0", "-3", "99999999999999999999"])
def test_a_site_id_that_is_no_sites_is_refused_and_changes_nothing(app, admin, catalog, bad):
    hilltop = new_site(app, "Hilltop Clinic")
    coordinator = catalog.users["coordinator"]
    works_for(app, coordinator, [catalog.site])
    answer = admin.post(f"/admin/users/{coordinator}/sites", {"sites": [str(hilltop), bad]})
    assert answer.status_code == 422
    assert f"No site has the id {bad}: choose sites from the list." in answer.text
    assert 'aria-describedby="sites-hint sites-error"' in answer.text
    # The input is kept: Hilltop stays checked as sent, Riverside unchecked as sent.
    assert is_checked(answer.text, hilltop)
    assert not is_checked(answer.text, catalog.site)
    assert "Works for Riverside Clinic." in answer.text  # what is saved, not what was sent
    assert sites_of(app, coordinator) == {catalog.site}


def test_choosing_sites_needs_the_csrf_token_and_an_admin(app, client, catalog):
    coordinator = catalog.users["coordinator"]
    admin = Browserless(client)
    admin.sign_in("admin")
    refused = admin.post(
        f"/admin/users/{coordinator}/sites", {"sites": [str(catalog.site)], "csrf_token": ""}
    )
    assert refused.status_code == 400
    assert sites_of(app, coordinator) == set()

    fulfilment = Browserless(app.test_client())
    fulfilment.sign_in("fulfillment")
    answer = fulfilment.post(f"/admin/users/{coordinator}/sites", {"sites": [str(catalog.site)]})
    assert answer.status_code == 403
    assert sites_of(app, coordinator) == set()
    assert (
        admin.post("/admin/users/999999/sites", {"sites": [str(catalog.site)]}).status_code == 404
    )


def test_the_service_refuses_what_is_not_a_list_of_site_ids(app, catalog):
    from app.validation import Rejected
    from tests.helpers.orders import actor

    with app_context(app):
        for sent in ("1", 1, {"id": 1}, [True], [1.5], [None]):
            with pytest.raises(Rejected) as refused:
                staff.set_sites(catalog.users["coordinator"], sent, actor("admin"))
            assert refused.value.problems[0].field == "sites"
        assert staff.set_sites(
            catalog.users["coordinator"], [catalog.site, catalog.site], actor("admin")
        )
        assert [s.id for s in staff.sites_of(catalog.users["coordinator"])] == [catalog.site]
