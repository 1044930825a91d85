"""Real HTTP against the app served on a real port (the ``live_server`` fixture): a signed-in
browser session, an API call, and requests fired truly at once."""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import PASSWORD


class HttpSession:
    """A signed-in browser session over real HTTP: cookies and the CSRF token."""

    def __init__(self, base_url: str, role: str):
        self.base = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            NoRedirect(),
        )
        page = self.opener.open(f"{base_url}/sign-in").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        self.post(
            "/sign-in", {"email": f"{role}@example.org", "password": PASSWORD, "csrf_token": token}
        )
        page = self.opener.open(f"{base_url}/orders/").read().decode()
        self.token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def post(self, path: str, data: dict) -> int:
        body = urllib.parse.urlencode({"csrf_token": getattr(self, "token", ""), **data}).encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST")
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def in_parallel(calls):
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()  # everyone fires at once
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def api_post(base: str, key: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Impilo-API-Key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
