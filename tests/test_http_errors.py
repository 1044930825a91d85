"""Errors answer as HTTP says they should, never with a 500: 404 for an id no row can have, in
every URL that takes one; 405 says what is allowed; 413 closes the connection and says so.
Through gunicorn as `dev.py serve` runs it: tests/test_serve_command.py."""

from __future__ import annotations

import pytest

from tests.helpers.web import Browserless


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    person.sign_in("admin")
    return person


def post_raw(api, url, text: str):
    return api.post(url, data=text, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("huge", [2**31, 2**63, 10**30])
def test_huge_ids_in_urls_answer_404(app, admin, api, huge):
    wrong = []
    for rule in app.url_map.iter_rules():
        ids = [arg for arg in rule.arguments if f"<int:{arg}>" in rule.rule]
        if not ids or rule.endpoint == "static":
            continue
        url = rule.rule
        for arg in ids:
            url = url.replace(f"<int:{arg}>", str(huge))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client = api if url.startswith("/api/") else admin
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, {}) if client is admin else client.post(url, json={})
            if response.status_code != 404:
                wrong.append(f"{method} {url}: {response.status_code}")
    assert wrong == []


def test_405_carries_allow(api, admin):
    for response in (api.client.delete("/api/v3/order"), admin.client.delete("/orders/")):
        assert response.status_code == 405
        assert "GET" in response.headers["Allow"]


def test_413_says_connection_close(app, api):
    response = post_raw(api, "/api/v3/order", "[" + " " * app.config["MAX_CONTENT_LENGTH"] + "]")
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
