"""A day's load: Locust's simulated staff and an API integration against gunicorn, in steps.

Not part of the test suite; run it by hand, on PostgreSQL, on a quiet machine:

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/load python3 dev.py bench --load
    DATABASE_URL=... python3 dev.py bench --load --orders 10000 --steps 5 10 --seconds 20

``--prepare-only FILE`` makes the database and stops; ``--prepared FILE`` then runs the steps
on it (or on a copy: ``CREATE DATABASE b TEMPLATE a``), so that the 10^6 orders can be made
while the machine is busy and measured once it is quiet.

The database in DATABASE_URL is emptied (its schema dropped), migrated, given the demo data,
``--orders`` generated orders (default 10^6), stock for what the run places, one account per
simulated person and an API key. Orderly is then served by gunicorn as ``serve`` runs it
(gunicorn.conf.py, 2 workers x 4 threads, access log on, the app's default configuration but
for the sign-in limit per address: every simulated person signs in from 127.0.0.1), and
``tests/benchmarks/load_day.py`` runs in Locust, headless, at each step's number of
coordinators (``--steps``, with a packer for every five coordinators, the integration at a
steady 10 requests/s and the lead). Each step warms up (``--warmup``), then is measured for
``--seconds``. It prints a Markdown table per step, page by page: requests, p50/p95/p99 in ms
and errors; and the largest step where every p95 is under 200 ms with no errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.demo.progress import Progress
from tests.benchmarks.report import RunInfo, table

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
PASSWORD = "a day of load at the desk"
API_RATE = 10  # as load_day.API_RATE (not imported here: importing Locust patches the process)
P95_LIMIT_MS = 200
GOAL = "50 coordinators + 10 packers + the integration at 10 requests/s (+ the lead)"
# The simulated people all come from 127.0.0.1: the per-address sign-in limit (20/minute by
# default, for strangers without a device cookie) would hold back a whole office at once.
SERVER_ENV = {"SIGN_IN_LIMIT_PER_ADDRESS": "10000/minute"}


def refuse_sqlite(url: str) -> None:
    if "postgresql" not in url:
        sys.exit(
            "The day's load runs on PostgreSQL only: set DATABASE_URL=postgresql+psycopg://"
            "... (a database this run may empty)."
        )


def prepare(url: str, orders: int, people: dict, placements: int) -> dict:
    """The database for the run, and what the Locust users need (the LOAD_DAY_DATA file)."""
    from sqlalchemy import func, select

    from app.auth import service as auth
    from app.auth.actor import Actor
    from app.catalog.models import Item, Kit
    from app.demo import catalog as demo
    from app.demo.generate import _identifier, generate
    from app.extensions import db
    from app.orders.models import Order
    from app.people.models import Patient
    from tests.benchmarks.run_benchmarks import fresh_app
    from tests.benchmarks.throughput import stock_up

    app = fresh_app(url)
    with app.app_context():
        app.test_cli_runner().invoke(args=["seed-demo"])
        if orders:
            with Progress(orders, "Generating orders", "orders") as bar:
                generate(orders, seed=11, progress=bar.update)
        stock_up(placements)
        users = {}
        for role, count in people.items():
            users[role] = []
            for n in range(count):
                email = f"load-{role}-{n}@orderly.example"
                draft = auth.UserDraft(
                    email=email, first_name="Load", last_name=f"{role} {n}", role=role
                )
                auth.create_user(draft, PASSWORD, Actor())
                users[role].append(email)
        _, key = auth.create_api_key(
            "Load test integration", ["orders:read", "orders:write"], Actor()
        )
        patients = db.session.execute(
            select(Patient.id, Patient.last_name).where(Patient.archived.is_(False)).limit(500)
        ).all()
        items = db.session.scalars(select(Item).where(Item.orderable).order_by(Item.id)).all()
        counted = [i for i in items if not i.is_device]
        devices = {}
        for item in (i for i in items if i.is_device):
            prefix = demo.SERIAL_PATTERNS.get(item.sku, (None, None))[1]
            # The identifiers stock_up received, by the generator's rule and its seed 99.
            devices[str(item.id)] = [
                _identifier(item.device_identifier_type, item.id * 10**7 + n, 99, prefix)
                for n in range(placements)
            ]
        kits = db.session.scalars(select(Kit).where(Kit.archived.is_(False))).all()
        max_id = db.session.scalar(select(func.max(Order.id))) or 1
        data = {
            "password": PASSWORD,
            "users": users,
            "api_key": key,
            "patients": [{"id": p.id, "last_name": p.last_name} for p in patients],
            "last_names": sorted({p.last_name for p in patients}),
            "item_names": [i.name for i in counted],
            "item_ids": [i.id for i in counted],
            "device_items": {i.name: str(i.id) for i in items if i.is_device},
            "devices": devices,
            "kit_names": [k.name for k in kits],
            "kit_ids": [k.id for k in kits],
            "order_ids": list(range(max(1, max_id - 5000), max_id + 1)),
        }
        db.session.remove()
        db.engine.dispose()
    return data


class Server:
    """gunicorn serving Orderly as ``python3 dev.py serve`` does, on a port of its own."""

    def __init__(self, url: str, log: Path):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "load-test", **SERVER_ENV}
        env.pop("FLASK_DEBUG", None)
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [str(GUNICORN), "--no-control-socket", "--config", str(ROOT / "gunicorn.conf.py")]
            + ["--bind", f"fd://{fd}", "--workers", "2", "--threads", "4"]
            + [
                "--access-logfile",
                "-",
                "--access-logformat",
                '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            ]
            + ["app:create_app()"],
            cwd=ROOT,
            env=env,
            pass_fds=[fd],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/health")
                conn.getresponse().read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start: see {log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.sock.close()
        self.log.close()


def short(users: dict) -> str:
    """A step's people in a table cell: coordinators + packers (+ the integration, the lead)."""
    return f"{users.get('Coordinator', 0)} C + {users.get('Packer', 0)} P"


def describe(users: dict) -> str:
    def n(count: int, noun: str) -> str:
        return f"{count} {noun}{'' if count == 1 else 's'}"

    return (
        f"{n(users.get('Coordinator', 0), 'coordinator')}, {n(users.get('Packer', 0), 'packer')}, "
        f"the integration at {API_RATE} requests/s" + (" and the lead" if users.get("Lead") else "")
    )


def measured(step: dict) -> dict:
    """The rows of a step with requests (a page nobody asked for in it is not a row)."""
    return {name: r for name, r in step["rows"].items() if r["requests"]}


def steps_table(steps: list[dict]) -> str:
    """One row per page or API call and step, pages in turn, steps rising within each."""
    names = sorted({name for step in steps for name in measured(step)})
    rows = []
    for name in names:
        for step in steps:
            r = measured(step).get(name)
            if r is None:
                continue
            slow = r["p95"] >= P95_LIMIT_MS
            rows.append(
                [
                    name,
                    short(step["users"]),
                    str(r["requests"]),
                    f"{r['rps']:.1f}",
                    f"{r['p50']:.0f}",
                    f"**{r['p95']:.0f}**" if slow else f"{r['p95']:.0f}",
                    f"{r['p99']:.0f}",
                    f"**{r['failures']}**" if r["failures"] else "0",
                ]
            )
    header = ["page or API call", "step", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms"]
    return table([*header, "errors"], rows, numeric_from=2)


def passes(step: dict) -> bool:
    rows = measured(step).values()
    return bool(rows) and all(r["p95"] < P95_LIMIT_MS and r["failures"] == 0 for r in rows)


def verdict(steps: list[dict]) -> str:
    """The largest step where every p95 is under the limit with no errors, and the goal's."""
    good = [s for s in steps if passes(s)]
    if not good:
        return f"No step had every p95 under {P95_LIMIT_MS} ms with no errors."
    best = max(good, key=lambda s: (s["users"].get("Coordinator", 0), s["users"].get("Packer", 0)))
    met = best["users"].get("Coordinator", 0) >= 50 and best["users"].get("Packer", 0) >= 10
    return (
        f"Largest step with every p95 under {P95_LIMIT_MS} ms and no errors: "
        f"**{describe(best['users'])}**. Goal ({GOAL}): {'met' if met else '**not met**'}."
    )


def report(steps: list[dict], heading: str, args) -> str:
    lines = [
        heading,
        "",
        f"Goal: {GOAL}. Each step warmed up {args.warmup:g} s, then was measured for "
        f"{args.seconds:g} s; people think between actions (tests/benchmarks/load_day.py). "
        "Step: coordinators (C) + packers (P), with the integration and the lead at every step. "
        f"p95 at or over {P95_LIMIT_MS} ms and errors in bold.",
        "",
        steps_table(steps),
        "",
    ]
    for step in steps:
        ok = "every p95 under the limit, no errors" if passes(step) else "over the limit"
        lines.append(f"- {short(step['users'])}: {ok}.")
        if step["errors"]:
            lines.append("  Errors: " + "; ".join(step["errors"]))
    if steps and not steps[-1]["dashboard"]:
        lines.append(
            "- `/dashboard` answered 404 (not on this branch): the lead's task was skipped."
        )
    lines += ["", verdict(steps)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="generated orders")
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[10, 25, 50, 75, 100],
        help="coordinators at each step (a packer for every five)",
    )
    parser.add_argument("--seconds", type=float, default=60, help="measured, per step")
    parser.add_argument("--warmup", type=float, default=15, help="before each step's measure")
    parser.add_argument(
        "--prepare-only",
        metavar="FILE",
        help="prepare the database (and what the simulated people need, in FILE), then stop",
    )
    parser.add_argument(
        "--prepared",
        metavar="FILE",
        help="run on a database prepared by --prepare-only with the same --steps (or a copy "
        "of one: CREATE DATABASE ... TEMPLATE ...), migrated first, not emptied",
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    refuse_sqlite(url)
    most = max(args.steps)
    people = {"coordinator": most, "fulfillment": max(1, most // 5) + 1}
    # Enough stock (and devices) for every order the run may place: the integration's ~5/s
    # and the coordinators' ~1 every 20 s each, with a margin.
    run_seconds = len(args.steps) * (args.seconds + args.warmup)
    placements = int(run_seconds * (5 + most / 20) * 1.5) + 100
    run = RunInfo.start("PostgreSQL", f"{args.orders:,} orders")
    if args.prepared:
        from tests.benchmarks.run_benchmarks import fresh_app

        print("== PostgreSQL: the database prepared earlier, migrated", flush=True)
        fresh_app(url, reuse=True)
        data = json.loads(Path(args.prepared).read_text())
    else:
        print(
            f"== PostgreSQL: preparing a database with {args.orders:,} generated orders",
            flush=True,
        )
        data = prepare(url, args.orders, people, placements)
    if args.prepare_only:
        Path(args.prepare_only).write_text(json.dumps(data))
        print(f"== Prepared; what the simulated people need is in {args.prepare_only}")
        return
    work = Path(tempfile.mkdtemp(prefix="orderly-load-"))
    (work / "data.json").write_text(json.dumps(data))
    server = Server(url, work / "gunicorn.log")
    try:
        print(f"== Locust: steps of {args.steps} coordinators, {args.seconds:g} s each", flush=True)
        env = {**os.environ, "LOAD_DAY_DATA": str(work / "data.json")}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.benchmarks.load_day",
                "--host",
                f"http://127.0.0.1:{server.port}",
            ]
            + ["--steps", *map(str, args.steps), "--seconds", str(args.seconds)]
            + ["--warmup", str(args.warmup), "--out", str(work / "steps.json")],
            cwd=ROOT,
            env=env,
        )
        if result.returncode != 0:
            sys.exit(
                f"Locust stopped with status {result.returncode}; "
                f"the server's log: {work / 'gunicorn.log'}"
            )
    finally:
        server.stop()
    run.finish()
    steps = json.loads((work / "steps.json").read_text())
    print("\n" + report(steps, run.heading("A day's load through gunicorn"), args))
    print(f"\n(The server's log: {work / 'gunicorn.log'})")


if __name__ == "__main__":
    main()
