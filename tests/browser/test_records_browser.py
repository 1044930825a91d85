"""Patients and kits in a real Chromium: a new patient from the order page, the kit editor."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.catalog.models import Kit
from app.orders.models import Order
from app.people import staff
from app.people.models import Patient
from tests.conftest import app_context
from tests.helpers.browser import serious_violations, watch_console
from tests.helpers.sites import new_site

pytestmark = pytest.mark.browser


def test_coordinator_adds_a_patient_from_the_order_page_without_losing_the_order(
    page: Page, sign_in, app, catalog
):
    problems = watch_console(page)
    sign_in("coordinator")
    page.get_by_label("Item 1", exact=True).fill("Test strips (STR)")
    page.get_by_label("Count of item 1").fill("3")
    page.get_by_label("Note for the packer").fill("Ring the bell twice")
    page.evaluate("window.__samePage = true")

    page.get_by_role("button", name="Add a new patient").click()
    form = page.get_by_role("group", name="New patient")
    expect(form).to_be_visible()
    expect(page.get_by_label("External identifier (MRN)")).to_be_focused()
    page.get_by_label("External identifier (MRN)").fill("MRN-BROWSER-1")
    page.get_by_label("First name").fill("Dorothy")
    page.get_by_label("Last name").fill("Vaughan")
    page.get_by_label("Date of birth").fill("1910-09-20")
    page.get_by_label("Address line 1").fill("8 Langley Ave")
    page.get_by_label("City").fill("Columbus")
    page.get_by_label("State").select_option("OH")
    page.get_by_label("ZIP code").fill("4321")
    page.get_by_role("button", name="Add patient and ship to them").click()
    expect(page.locator("#new_patient-zip_code-error")).to_have_text(re.compile("Enter a ZIP code"))
    expect(page.get_by_label("Last name")).to_have_value("Vaughan")
    assert serious_violations(page) == []

    page.get_by_label("ZIP code").fill("43215")
    page.get_by_role("button", name="Add patient and ship to them").click()
    ship_to = page.locator("#ship-to")
    expect(ship_to).to_contain_text("Dorothy Vaughan")
    expect(ship_to).to_contain_text("8 Langley Ave")
    # The order being entered is all still there, on the same page.
    expect(page.get_by_label("Item 1", exact=True)).to_have_value("Test strips (STR)")
    expect(page.get_by_label("Count of item 1")).to_have_value("3")
    expect(page.get_by_label("Note for the packer")).to_have_value("Ring the bell twice")
    assert page.evaluate("window.__samePage") is True

    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    expect(page.locator("#order-status")).to_contain_text("Created")
    with app_context(app) as session:
        patient = session.scalar(
            select(Patient).where(Patient.external_identifier == "MRN-BROWSER-1")
        )
        order = session.scalars(select(Order)).one()
        assert order.patient_id == patient.id
        assert [(line.item.name, line.count) for line in order.items] == [("Test strips", 3)]
    assert problems == []


def test_admin_edits_a_kit_with_rows_added_and_removed_in_place(
    page: Page, sign_in, base_url, app, catalog
):
    problems = watch_console(page)
    sign_in("admin")
    page.goto(f"{base_url}/kits/new")
    page.evaluate("window.__samePage = true")
    page.get_by_label("Name").fill("Hypertension refill kit")
    page.get_by_label("Item 1", exact=True).select_option(label="BP cuff, large (CUF-L)")
    page.get_by_label("Count of item 1").fill("2")
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_label("Item 2", exact=True)).to_be_focused()
    page.get_by_label("Item 2", exact=True).select_option(label="Gateway (GWY)")
    page.get_by_role("button", name="Add item").click()
    page.get_by_label("Item 3", exact=True).select_option(label="Test strips (STR)")
    page.get_by_label("Count of item 3").fill("4")
    # Remove the middle row: the last one becomes row 2, with its choice and count.
    page.get_by_role("button", name="Remove item 2").click()
    expect(page.get_by_label("Item 3", exact=True)).to_have_count(0)
    expect(page.get_by_label("Item 2", exact=True)).to_have_value(str(catalog.items["strips"]))
    expect(page.get_by_label("Count of item 2")).to_have_value("4")
    assert page.evaluate("window.__samePage") is True
    assert serious_violations(page) == []

    page.get_by_role("button", name="Add kit").click()
    expect(page).to_have_url(re.compile(r"/kits/\d+$"))
    expect(page.get_by_role("heading", name="Hypertension refill kit")).to_be_visible()
    with app_context(app) as session:
        kit = session.scalar(select(Kit).where(Kit.name == "Hypertension refill kit"))
        assert sorted((ki.item.name, ki.count) for ki in kit.kit_items) == [
            ("BP cuff, large", 2),
            ("Test strips", 4),
        ]
    assert problems == []


def test_kit_editor_shows_problems_at_their_rows(page: Page, sign_in, base_url, catalog):
    problems = watch_console(page)
    sign_in("admin")
    page.goto(f"{base_url}/kits/new")
    page.get_by_label("Name").fill("Diabetes kit")
    page.get_by_label("Count of item 1").fill("0")
    page.get_by_role("button", name="Add kit").click()
    expect(page.locator("#name-error")).to_contain_text(
        "There is already a kit called Diabetes kit"
    )
    expect(page.locator("#lines-0-item_id-error")).to_contain_text("Choose the item")
    expect(page.locator("#lines-0-count-error")).to_contain_text("from 1 to 99")
    expect(page.get_by_label("Name")).to_have_value("Diabetes kit")
    assert problems == []


def test_admin_chooses_a_coordinators_sites_without_javascript(app, catalog, open_as):
    hilltop = new_site(app, "Hilltop Clinic")
    page = open_as("admin", f"/admin/users/{catalog.users['coordinator']}", javascript=False)
    sites = page.get_by_role("group", name="Sites this user works for")
    sites.get_by_label("Hilltop Clinic").check()
    sites.get_by_label("Riverside Clinic").check()
    page.get_by_role("button", name="Save sites").click()
    expect(
        page.get_by_text("Coordinator Tester works for Hilltop Clinic, Riverside Clinic.")
    ).to_be_visible()
    expect(sites.get_by_label("Hilltop Clinic")).to_be_checked()
    expect(sites.get_by_label("Closed Clinic (inactive)")).not_to_be_checked()
    with app_context(app):
        assert [s.id for s in staff.sites_of(catalog.users["coordinator"])] == [
            hilltop,
            catalog.site,
        ]
    assert (
        serious_violations(open_as("admin", f"/admin/users/{catalog.users['coordinator']}")) == []
    )
