"""A real HTTP receiver on a free port, and the webhooks worker as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers ``status`` (or the next of ``statuses``) with ``body``.

    ``hold`` makes each request wait until it is set (to catch a worker mid-delivery).
    """

    status: int = 200
    statuses: list[int] = field(default_factory=list)
    body: bytes = b"ok"
    extra_headers: dict = field(default_factory=dict)
    hold: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                try:
                    self.send_response(status)
                    for name, value in receiver.extra_headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(receiver.body)))
                    self.end_headers()
                    self.wfile.write(receiver.body)
                except OSError:
                    pass  # the worker was killed while we held its request

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def hits(self) -> list[Received]:
        with self.lock:
            return list(self.received)


# Seconds, not minutes: the retry schedule and the lease are configuration.
FAST = {
    "WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5",
    "WEBHOOK_POLL_SECONDS": "0.1",
    "WEBHOOK_TIMEOUT_SECONDS": "3",
    "WEBHOOK_LEASE_SECONDS": "5",
    "WEBHOOK_DENY_PRIVATE": "false",
}


class Worker:
    """``flask webhooks work`` in its own process, on the test's database."""

    def __init__(self, app, **settings: str):
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "LOG_LEVEL": os.environ.get("WEBHOOK_TEST_LOG_LEVEL", "WARNING"),
            **FAST,
            **settings,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "webhooks", "work"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        return self

    def kill(self) -> None:
        """As a crash would: no chance to finish anything."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class NotYet(AssertionError):
    """An API answer that means "ask again later" (the per-key limit answering 429) while a
    test polls: ``wait_until`` asks again; anywhere else it fails with what was answered."""


def wait_until(check, timeout: float = 40, what: str = "the condition"):
    """Calls ``check`` every 50 ms until it returns something true, and returns that. A
    timeout says what was waited for (and the last "not yet" answer of the API, if any)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            result = check()
        except NotYet as answer:
            last = f" (the API last answered: {answer})"
        else:
            if result:
                return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{last}")


def api_json(api, url: str, **kwargs):
    """The JSON of a 200 answer to a GET, for tests that poll: a 429 is ``NotYet``; any other
    answer fails, saying what it was."""
    response = api.get(url, **kwargs)
    if response.status_code == 429:
        raise NotYet(f"429 on GET {url}, {response.get_data(as_text=True)[:200]}")
    assert response.status_code == 200, (
        f"GET {url} answered {response.status_code}: {response.get_data(as_text=True)[:500]}"
    )
    return response.get_json()


def subscribe(api, url, types=("order.status",)) -> dict:
    response = api.post("/api/v3/webhook", json={"url": url, "types": list(types)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliveries(api, subscription_id, **params) -> list[dict]:
    return api_json(api, f"/api/v3/webhook/{subscription_id}/deliveries", query_string=params)[
        "content"
    ]


def body_of(hit) -> dict:
    return json.loads(hit.body)


def deliver_everything(app) -> None:
    """The worker's steps, in this process, until nothing is due."""
    from app.extensions import db
    from app.webhooks import worker

    with app.app_context():
        worker.fan_out()
        while (claimed := worker.claim()) is not None:
            worker.record(claimed, worker.deliver(claimed))
        db.session.remove()
