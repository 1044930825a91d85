"""The app served the way `python3 dev.py serve` serves it: gunicorn, on a real port."""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def gunicorn(tmp_path, app):
    """gunicorn with dev.py's own arguments, on port 0, with HOME in a folder of its own."""
    command = _dev().gunicorn_command("127.0.0.1", "0")
    command[command.index("--workers") + 1] = "1"
    command[1:1] = ["--graceful-timeout", "2"]
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "tests-only-secret",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        port = None
        for _ in range(1200):  # up to a minute: the machine may be busy
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
            if match and "Booting worker" in log.read_text():
                port = int(match.group(1))
                break
            time.sleep(0.05)
        assert port, log.read_text()
        yield port, tmp_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_binds_no_shared_control_socket(gunicorn):
    _, home = gunicorn
    assert not (home / ".gunicorn").exists()


def test_a_body_over_the_limit_answers_413_and_says_connection_close(gunicorn, app, api_key):
    port, _ = gunicorn
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = b"[" + b" " * app.config["MAX_CONTENT_LENGTH"] + b"]"
    conn.request(
        "POST",
        "/api/v3/order",
        body=body,
        headers={"Content-Type": "application/json", "Impilo-API-Key": api_key},
    )
    response = conn.getresponse()
    assert response.status == 413
    assert response.getheader("Connection") == "close"
    conn.close()
