"""Real Chromium against the app served on a real port (see server.py), CSRF on.

pytest-playwright provides ``page``; tests/browser/conftest.py points its ``base_url`` at
the live server, and these fixtures launch the system's Chromium when there is one
(Playwright's own download does not run everywhere; ``dev.py test`` finds or installs a
Chromium and exports CHROMIUM_PATH).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import PASSWORD

SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for path in (os.environ.get("CHROMIUM_PATH"), *SYSTEM_CHROMIUM):
        if path and Path(path).exists():
            return path
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = {**browser_type_launch_args, "args": CHROMIUM_FLAGS}
    path = chromium_path()
    if path:
        args["executable_path"] = path
    return args


def sign_in_through_form(page, base_url: str, role: str = "coordinator", target=None):
    """Signs ``page`` (of any browser context, with or without JavaScript) in through the
    real sign-in form."""
    page.goto(f"{base_url}/sign-in" + (f"?next={target}" if target else ""))
    page.get_by_label("Email").fill(f"{role}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


@pytest.fixture
def sign_in(page, base_url):
    """``sign_in("coordinator")`` signs the page in through the real sign-in form."""

    def _sign_in(role: str = "coordinator", target: str | None = None):
        return sign_in_through_form(page, base_url, role, target)

    return _sign_in


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


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings, each with where it was found."""
    from axe_playwright_python.sync_playwright import Axe  # browser tests only

    results = Axe().run(page)
    return [
        f"{violation['id']}: {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
