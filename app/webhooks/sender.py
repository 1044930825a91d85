"""Sends one webhook request: to the checked address, without following redirects, with a
timeout, reading at most MAX_RESPONSE_BYTES of the answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from app.webhooks.destinations import DestinationRefused, check_url, resolve
from app.webhooks.models import MAX_ERROR_LENGTH, MAX_RESPONSE_BYTES

if TYPE_CHECKING:
    import ssl

# httpx, ssl and certifi are imported when a delivery is made: only the webhooks worker
# sends, and every web worker would otherwise carry them (several MB each).


@dataclass
class Outcome:
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


@cache
def _tls() -> ssl.SSLContext:
    """Made once: loading the certificate authorities costs more than a delivery."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def send(url: str, body: str, headers: dict, *, timeout: float, deny_private: bool) -> Outcome:
    import httpx

    started = time.monotonic()

    def outcome(status=None, text=None, error=None) -> Outcome:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(status, text, error[:MAX_ERROR_LENGTH] if error else None, elapsed)

    try:
        scheme, host, port = check_url(url)
        address = resolve(host, port, deny_private)
    except DestinationRefused as refused:
        return outcome(error=str(refused))
    target = httpx.URL(url).copy_with(host=address)
    request_headers = {
        **headers,
        "Host": httpx.URL(url).netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "Orderly-Webhooks/1",
        # Read the bytes as sent: a compressed answer could expand beyond what we read.
        "Accept-Encoding": "identity",
    }
    # TLS checks the certificate against the host name, not the address connected to.
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    try:
        with httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls()
        ) as client:
            request = client.build_request(
                "POST",
                target,
                content=body.encode(),
                headers=request_headers,
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                received = b""
                for chunk in response.iter_raw():
                    received += chunk
                    if len(received) >= MAX_RESPONSE_BYTES:
                        break
            finally:
                response.close()
    except httpx.TimeoutException:
        return outcome(error=f"No answer within {timeout:g} s.")
    except httpx.HTTPError as failure:
        return outcome(error=f"{type(failure).__name__}: {failure}")
    text = received[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
    error = None
    if 300 <= response.status_code < 400:
        error = f"Redirect to {response.headers.get('location', '?')} not followed."
    elif not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}"
    return outcome(response.status_code, text, error)
