"""A web worker's memory is mostly what it imports: gunicorn's workers leave out what only
command-line tasks, the webhooks worker and label pages use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Imported by flask db, by the webhooks worker (sending, signing) and by label pages only.
NOT_IN_A_WEB_WORKER = ["alembic", "flask_migrate", "cryptography", "httpx", "barcode", "PIL"]

SERVE_A_PAGE = """
import json, sys
from app import create_app
app = create_app()
assert app.test_client().get("/sign-in").status_code == 200
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def imported(tmp_path, **env) -> set[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        "SECRET_KEY": "worker-memory-test",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", SERVE_A_PAGE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_a_web_worker_leaves_out_what_only_commands_and_the_webhooks_worker_use(tmp_path):
    assert imported(tmp_path, ORDERLY_WEB_WORKER="1").isdisjoint(NOT_IN_A_WEB_WORKER)


def test_gunicorn_marks_its_workers_as_web_workers():
    config = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), config)
    assert "ORDERLY_WEB_WORKER=1" in config["raw_env"]


def test_the_command_line_still_migrates(tmp_path):
    assert "flask_migrate" in imported(tmp_path)
