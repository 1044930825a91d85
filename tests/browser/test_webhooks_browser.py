"""The Webhooks page in a real Chromium: create, copy the secret once, disable, rotate."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import serious_violations, watch_console

pytestmark = pytest.mark.browser


def test_admin_creates_and_manages_a_webhook(page: Page, sign_in, base_url, catalog):
    problems = watch_console(page)
    sign_in("admin")
    page.goto(f"{base_url}/admin/webhooks/")
    page.get_by_label("URL that receives the events").fill("http://169.254.169.254/latest")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_text("link-local or cloud metadata")).to_be_visible()
    assert serious_violations(page) == []

    page.get_by_label("URL that receives the events").fill("http://127.0.0.1:9/hooks")
    page.get_by_label(re.compile("^order.statusFull")).check()
    page.get_by_label("Description (optional)").fill("EHR feed")
    page.get_by_role("button", name="Create webhook").click()
    secret = page.get_by_label("Signing secret")
    expect(secret).to_have_value(re.compile("^whsec_"))
    assert serious_violations(page) == []

    page.get_by_role("link", name="http://127.0.0.1:9/hooks").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Webhook \d+$"))).to_be_visible()
    expect(page.get_by_label("Signing secret")).to_have_count(0)
    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("Disabled by Admin Tester.")).to_be_visible()
    page.get_by_role("button", name="Rotate the secret").click()
    expect(page.get_by_label("Signing secret")).to_have_value(re.compile("^whsec_"))
    assert serious_violations(page) == []
    assert problems == []
