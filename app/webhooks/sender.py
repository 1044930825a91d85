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
    # Whether the body may have reached the receiver (a connection was made): a delivery
    # that carries patient data is then recorded in the PHI access log.
    sent: bool = False

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
    """Never raises: whatever goes wrong is the outcome's ``error``."""
    import httpx

    started = time.monotonic()
    connected = False

    def outcome(status=None, text=None, error=None) -> Outcome:
        elapsed = int((time.monotonic() - started) * 1000)
        if error:
            error = _storable(error)[:MAX_ERROR_LENGTH]
        return Outcome(status, text, error, elapsed, sent=connected)

    try:
        destination = check_url(url)
        address = resolve(destination.host, destination.port, deny_private)
    except DestinationRefused as refused:
        return outcome(error=str(refused))
    target = destination.url.copy_with(host=address)
    request_headers = {
        **headers,
        "Host": destination.url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "Orderly-Webhooks/1",
        # Read the bytes as sent: a compressed answer could expand beyond what we read.
        "Accept-Encoding": "identity",
    }
    # TLS checks the certificate against the host name, not the address connected to.
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
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
            connected = True
            response = client.send(request, stream=True)
            try:
                received = b""
                for chunk in response.iter_raw():
                    received += chunk
                    if len(received) >= MAX_RESPONSE_BYTES:
                        break
            finally:
                response.close()
    except (httpx.ConnectError, httpx.ConnectTimeout) as failure:
        connected = False  # no connection: nothing was sent
        if isinstance(failure, httpx.ConnectTimeout):
            return outcome(error=f"No connection within {timeout:g} s.")
        return outcome(error=f"{type(failure).__name__}: {failure}")
    except httpx.TimeoutException:
        return outcome(error=f"No answer within {timeout:g} s.")
    except Exception as failure:  # any failure is this attempt's, never the worker's
        return outcome(error=f"{type(failure).__name__}: {failure}")
    text = _storable(received[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace"))
    error = None
    if 300 <= response.status_code < 400:
        error = f"Redirect to {response.headers.get('location', '?')} not followed."
    elif not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}"
    return outcome(response.status_code, text, error)


def _storable(text: str) -> str:
    """What a receiver answers is kept: without NUL, which PostgreSQL's text cannot hold."""
    return text.replace("\x00", "\ufffd")
