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
