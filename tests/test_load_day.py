"""The day's load (``python3 dev.py bench --load``) without load: its locustfile imports and
names a task for every role, and its runner refuses SQLite and finds the largest good step.

Locust patches the process it is imported into (gevent), so the locustfile is imported in a
process of its own here, as the runner runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

from tests.benchmarks import load_runner

ROOT = Path(__file__).resolve().parents[1]

DESCRIBE_USERS = """
import json
from tests.benchmarks import load_day
print(json.dumps({
    "roles": list(load_day.ROLES),
    "users": {
        name: {
            "tasks": sorted({t.__name__ for t in cls.tasks}),
            "thinks": cls.wait_time is not None,
            "fixed_count": cls.fixed_count,
            "weight": cls.weight,
        }
        for name, cls in load_day.USERS.items()
    },
}))
"""


def locustfile_users() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LOAD_DAY_DATA"}
    done = subprocess.run(
        [sys.executable, "-c", DESCRIBE_USERS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_day_s_load_has_a_user_with_tasks_and_think_times_for_every_role():
    described = locustfile_users()
    assert described["roles"] == ["Coordinator", "Packer", "Integration", "Lead"]
    users = described["users"]
    assert list(users) == described["roles"]
    assert users["Coordinator"]["tasks"] == ["place_order", "search_patients"]
    assert users["Packer"]["tasks"] == ["pack_next"]
    assert users["Integration"]["tasks"] == ["place", "read"]
    assert users["Lead"]["tasks"] == ["refresh_dashboard"]
    assert all(u["thinks"] for u in users.values())
    # One integration and one lead whatever the step; five coordinators to a packer.
    assert users["Integration"]["fixed_count"] == users["Lead"]["fixed_count"] == 1
    assert users["Coordinator"]["weight"] == 5 * users["Packer"]["weight"]


def test_the_day_s_load_refuses_sqlite_in_one_line():
    env = {**os.environ, "DATABASE_URL": "sqlite:////tmp/never-made.db"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.load_runner", "--orders", "10"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "PostgreSQL only" in done.stderr
    assert not Path("/tmp/never-made.db").exists()


def step(coordinators: int, packers: int, p95: float, failures: int = 0) -> dict:
    row = {"requests": 10, "failures": failures, "rps": 1.0, "p50": 10, "p95": p95, "p99": p95}
    return {
        "users": {"Coordinator": coordinators, "Packer": packers, "Integration": 1, "Lead": 1},
        "rows": {"GET order page": row, "GET dashboard": {**row, "requests": 0, "p95": 900}},
        "errors": [],
        "dashboard": True,
    }


def test_the_largest_good_step_is_the_largest_with_every_p95_under_200_ms_and_no_errors():
    steps = [step(10, 2, 50), step(50, 10, 150), step(75, 15, 199, failures=1), step(100, 20, 250)]
    said = load_runner.verdict(steps)
    assert "**50 coordinators, 10 packers, the integration at 10 requests/s and the lead**" in said
    assert "met" in said and "not met" not in said
    assert "No step" in load_runner.verdict([step(10, 2, 200)])
    assert "not met" in load_runner.verdict([step(25, 5, 20)])


def test_the_report_has_a_row_per_page_and_step_and_leaves_out_pages_nobody_asked_for():
    args = Namespace(warmup=5, seconds=10)
    text = load_runner.report([step(10, 2, 50), step(20, 4, 250)], "**heading**", args)
    rows = [line for line in text.splitlines() if line.startswith("| GET")]
    assert rows == [
        "| GET order page | 10 C + 2 P | 10 | 1.0 | 10 | 50 | 50 | 0 |",
        "| GET order page | 20 C + 4 P | 10 | 1.0 | 10 | **250** | 250 | 0 |",
    ]
    assert "- 20 C + 4 P: over the limit." in text
