"""Signing in and posting forms through the test client, CSRF on, like a browser would."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD

_CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


class Browserless:
    """The Flask test client acting as one signed-in person."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def sign_in(self, role: str = "coordinator", password: str = PASSWORD):
        page = self.client.get("/sign-in")
        response = self.client.post(
            "/sign-in",
            data={
                "email": f"{role}@example.org",
                "password": password,
                "csrf_token": csrf_token(page.text),
            },
        )
        if response.status_code == 303:
            self.token = csrf_token(self.client.get("/orders/").text)
        return response

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        if response.is_streamed:  # read a streamed answer (CSV) to its end, as a browser would
            response.get_data()
            response.close()
        return response

    def post(self, url, data=None, htmx: bool = False, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        headers = kwargs.pop("headers", {})
        if htmx:
            headers = {"HX-Request": "true", **headers}
        return self.client.post(url, data=data, headers=headers, **kwargs)


def new_form(person: Browserless) -> dict:
    """The new-order form's own fields, as the page gives them (its submission token)."""
    page = person.get("/orders/new").text
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', page).group(1)
    return {"submission_token": token, "recipient_kind": "patient", "shipping_option": "standard"}


def a_good_order(person, catalog) -> dict:
    """A new-order form filled in as a coordinator would: items, a kit, ids and a note."""
    return {
        **new_form(person),
        "recipient_id": str(catalog.patient),
        "items-0-ref": "Test strips (STR)",
        "items-0-count": "3",
        "items-1-ref": "BP cuff, large",
        "items-1-count": "1",
        "kits-0-ref": "Hypertension kit",
        "kits-0-count": "1",
        "external_order_ids": "EHR-1, EHR-2",
        "note": "Call before delivery",
    }
