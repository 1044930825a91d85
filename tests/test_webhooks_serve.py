"""`python3 dev.py serve` starts one webhooks worker beside gunicorn: a new user gets webhooks
with no extra step, and Ctrl+C stops both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.webhooks import ROOT, Receiver, wait_until

DEMO_KEY = "ok_demo_local_only_5b1f0c9e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_in_group(group: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) == group:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads the process table from /proc")
def test_serve_delivers_webhooks_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WEBHOOK_POLL_SECONDS": "0.2",
    }
    serving = subprocess.Popen(
        [sys.executable, "dev.py", "serve"],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group, as a terminal would give it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    receiver = Receiver().start()
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return httpx.get(f"{base}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=120, what="dev.py serve to answer")
        assert any("webhooks work" in p for p in processes_in_group(serving.pid))
        headers = {"Impilo-API-Key": DEMO_KEY}
        created = httpx.post(
            f"{base}/api/v3/webhook",
            headers=headers,
            json={"url": receiver.url, "types": ["order.status"]},
        )
        assert created.status_code == 201
        order = httpx.post(
            f"{base}/api/v3/order",
            headers=headers,
            json={"patient": {"id": 1}, "orderItems": [{"item": {"id": 7}, "count": 1}]},
        )
        assert order.status_code == 201, order.text
        hit = wait_until(receiver.hits, what="the webhook")[0]
        assert b'"name":"created"' in hit.body
    finally:
        os.killpg(serving.pid, signal.SIGINT)
        receiver.stop()
    serving.wait(30)
    deadline = time.monotonic() + 30
    while processes_in_group(serving.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in_group(serving.pid) == []
