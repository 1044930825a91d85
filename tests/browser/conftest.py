"""Browser tests: pytest-playwright's ``page`` pointed at the live server.

``base_url`` is declared here as well as in tests/helpers/browser.py because
pytest-playwright registers its own fallback ``base_url`` (when pytest-base-url is not
installed) after the initial conftests have loaded their plugins, so it shadows the one
in the helpers plugin; a conftest fixture is closer to the tests and always wins.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import sign_in_through_form, watch_console


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url


# Assertions wait up to 10 s, like actions: the suite runs two workers (and two Chromiums) on
# two cores, where a fragment can take longer than Playwright's default 5 s to come back.
expect.set_options(timeout=10_000)


@pytest.fixture
def coordinator(page: Page, sign_in, catalog) -> Page:
    """A coordinator signed in, on a new order; the test fails on any console error."""
    problems = watch_console(page)
    sign_in("coordinator")
    expect(page).to_have_url(re.compile(r"/orders/new$"))
    expect(page.get_by_role("heading", name="New order", exact=True)).to_be_visible()
    yield page
    assert problems == []


@pytest.fixture
def coordinator_without_javascript(new_context, base_url, catalog) -> Page:
    page = new_context(java_script_enabled=False).new_page()
    problems = watch_console(page)
    sign_in_through_form(page, base_url, "coordinator")
    expect(page).to_have_url(re.compile(r"/orders/new$"))
    yield page
    assert problems == []


# A refused action on the order page answers 422 (bad input) or 409 (the order's state does
# not allow it).
ORDER_PAGE_STATUSES = (422, 409)


@pytest.fixture
def open_as(new_context, base_url, catalog):
    """``open_as("fulfillment", "/orders/7")``: that person, signed in through the form in a
    browser context of their own, on that page. The test fails on any console error."""
    seen: list[list[str]] = []

    def _open(role: str, path: str, javascript: bool = True) -> Page:
        page = new_context(java_script_enabled=javascript).new_page()
        seen.append(watch_console(page, ORDER_PAGE_STATUSES))
        sign_in_through_form(page, base_url, role, target=path)
        expect(page).to_have_url(base_url + path)
        return page

    yield _open
    assert [problem for problems in seen for problem in problems] == []
