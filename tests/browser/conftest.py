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

from tests.helpers.browser import sign_in_through_form


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url


# Assertions wait up to 10 s, like actions: the suite runs two workers (and two Chromiums) on
# two cores, where a fragment can take longer than Playwright's default 5 s to come back.
expect.set_options(timeout=10_000)


# Chromium logs every 4xx as a console error. The new-order form answers a rejected order
# with 422 by design, and an order page's refused action 422 (bad input) or 409 (the
# order's state does not allow it). Any other status (a 400 for a missing CSRF token, a
# 500) still counts.
EXPECTED_STATUSES = (422,)


def watch_console(page: Page, expected_statuses: tuple[int, ...] = EXPECTED_STATUSES) -> list[str]:
    """Collects what goes wrong in ``page``: console errors (where Chromium reports CSP
    violations and failed requests) and uncaught script errors.

    A request htmx aborts on purpose is not a problem: ``hx-sync="...:replace"`` drops a
    live search still on its way when a newer one starts, and htmx logs that as two errors,
    ``htmx:afterRequest`` then ``htmx:sendAbort``. A request that failed (``sendError``) or
    timed out still counts."""
    expected = re.compile(
        r"^Failed to load resource: the server responded with a status of "
        rf"({'|'.join(map(str, expected_statuses))}) "
    )
    problems: list[str] = []

    def on_console(message):
        if message.type != "error" or expected.match(message.text):
            return
        if (
            message.text.startswith("htmx:sendAbort")
            and problems
            and problems[-1].startswith("htmx:afterRequest")
        ):
            problems.pop()  # the abort's first half
            return
        problems.append(message.text)

    page.set_default_timeout(10_000)  # a local server: fail in seconds, not in 30
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


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
