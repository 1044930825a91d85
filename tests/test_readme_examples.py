"""The README's API examples run as written: every ```sh block that calls the server on
http://127.0.0.1:8000 with curl is run by bash, in README order, against `python3 dev.py
serve` on a fresh database (the demo data a new user gets), on a free port instead of 8000.
Each call must answer 2xx (curl --fail-with-body), so a README that drifts from the app fails
here."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers.webhooks import wait_until

ROOT = Path(__file__).resolve().parent.parent
SERVER = "http://127.0.0.1:8000"
# Every curl of a block fails on an HTTP error, showing the answer, and the block stops there.
CURL = 'curl() { command curl --fail-with-body --show-error --max-time 60 "$@"; echo; }'


def readme_examples() -> list[str]:
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    return [
        block
        for block in blocks
        if SERVER in block and any(line.startswith("curl ") for line in block.splitlines())
    ]


def json_documents(text: str) -> list:
    """The JSON answers printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the examples call curl")
def test_the_readme_api_examples_run_as_written(tmp_path):
    examples = readme_examples()
    assert len(examples) >= 3, "the README's API examples were not found"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}",
        "PORT": str(port),
        "HOME": str(tmp_path),
    }
    env.pop("WEB_CONCURRENCY", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serving = subprocess.Popen(
            [sys.executable, "dev.py", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return httpx.get(f"{base}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return serving.poll() is not None  # stopped: the assertion below says why

        wait_until(up, timeout=180, what="dev.py serve to answer")
        assert serving.poll() is None, log.read_text()
        answers = []
        for block in examples:
            ran = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", f"{CURL}\n{block.replace(SERVER, base)}"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert ran.returncode == 0, f"{block}\n{ran.stdout}\n{ran.stderr}"
            answers += json_documents(ran.stdout)
        # Every answer is the JSON of what was asked, none an error.
        assert answers and not any("error" in answer for answer in answers)
    finally:
        os.killpg(serving.pid, signal.SIGINT)
        try:
            serving.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(serving.pid, signal.SIGKILL)
            serving.wait()
