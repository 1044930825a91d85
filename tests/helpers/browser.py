"""Real Chromium against the app served on a real port (see server.py), CSRF on.

pytest-playwright provides ``page``; tests/browser/conftest.py points its ``base_url`` at
the live server, and these fixtures launch the system's Chromium when there is one
(Playwright's own download does not run everywhere; ``dev.py test`` finds or installs a
Chromium and exports CHROMIUM_PATH).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
