"""The packer's writes, in-process: wall time, CPU time and SQL statements of each.

Not part of the test suite; run it by hand:

    .venv/bin/python -m tests.benchmarks.packing_writes --orders 100000
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/pack \\
        .venv/bin/python -m tests.benchmarks.packing_writes --orders 100000 --packs 40

The database is made as ``bench --load`` makes it (``load_runner.prepare``: the demo data,
``--orders`` generated orders, stock and devices on the shelf); ``--reuse`` keeps one made
before (its data in a JSON file beside it). Then one signed-in packer works as the day's load
has them work (``load_day.Packer``), through Flask's test client: the Next page, take Next,
the order page, start processing, a device scanned into each empty slot, packed, shipped;
the status moves and scans as htmx requests, as the page sends them. Each request's wall
time, CPU time of this process (``time.process_time``: the database's own work is not in it)
and SQL statements are recorded; it prints their p50 and p95 per request. ``--profile``
prints the busiest functions of the four writes (cProfile, CPU time); ``--log`` prints the
statements of one order's writes, each with its time from the driver's send to its answer.
"Shared rows held" is the median time from a request's first statement on a row many
changes share (stock balances, the units used per day, the status and dashboard counters)
to its commit: how long another change wanting that row would wait.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import re
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.benchmarks.report import RunInfo, table

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ORDER_PAGE = re.compile(r"/orders/(\d+)$")
SLOT_FORM = re.compile(r'<input type="hidden" name="slot" value="([^"]+)">')
SLOT_LABEL = re.compile(
    r'<label for="slot-([^"]+)" class="visually-hidden">[^<]* for ([^<]+)</label>'
)
HTMX = {"HX-Request": "true"}
# Rows many changes share (a day's, a site's, an item's): the first statement that takes one
# of their locks, which the transaction holds until it commits.
SHARED_ROWS = re.compile(
    r"^(INSERT INTO|UPDATE|SELECT .* FROM) (stock_balance|stock_use_count|order_status_count"
    r"|order_day_count|order_shipped_count)\b",
    re.S,
)
WRITES = ("order: processing", "packing: scan a device", "order: packed", "order: shipped")


class Recorder:
    """Times requests and counts the statements each runs; optionally profiles the writes."""

    def __init__(self, engine, profile: bool, log: bool):
        self.rows: dict[str, list[tuple[float, float, int, float]]] = {}
        self.shared_since: float | None = None
        self.held = 0.0
        self.profiler = cProfile.Profile(time.process_time) if profile else None
        self.log = log
        self.logged: list[str] = []
        self.statements = 0
        self.began = 0.0
        event.listen(engine, "before_cursor_execute", self._count)
        event.listen(engine, "after_cursor_execute", self._done)
        event.listen(Session, "after_commit", self._committed)

    def _committed(self, _session) -> None:
        if self.shared_since is not None:
            self.held += time.perf_counter() - self.shared_since
            self.shared_since = None

    def _count(self, _conn, _cursor, statement, *_args) -> None:
        self.statements += 1
        self.began = time.perf_counter()
        if self.shared_since is None and SHARED_ROWS.match(statement.lstrip()):
            self.shared_since = self.began
        if self.log:
            self.logged.append(" ".join(statement.split())[:200])

    def _done(self, *_args) -> None:
        if self.log:
            took = (time.perf_counter() - self.began) * 1000
            self.logged[-1] = f"{took:7.2f} ms  {self.logged[-1]}"

    def __call__(self, name: str, send):
        self.statements = 0
        self.held = 0.0
        self.logged.clear()
        profiling = self.profiler is not None and name in WRITES
        cpu, wall = time.process_time(), time.perf_counter()
        if profiling:
            self.profiler.enable()
        response = send()
        if profiling:
            self.profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sample = (wall * 1000, cpu * 1000, self.statements, self.held * 1000)
        self.rows.setdefault(name, []).append(sample)
        if self.log and name in WRITES:
            print(f"-- {name}: {self.statements} statements")
            for line in self.logged:
                print("   ", line)
        return response


def prepared(url: str, orders: int, reuse: bool, packs: int) -> tuple:
    from tests.benchmarks.load_runner import prepare
    from tests.benchmarks.run_benchmarks import fresh_app

    name = re.sub(r"\W", "_", url.rsplit("/", 1)[-1])
    data_file = Path(tempfile.gettempdir()) / f"packing-writes-{name}.json"
    if reuse and data_file.exists():
        return fresh_app(url, reuse=True), json.loads(data_file.read_text())
    data = prepare(url, orders, {"fulfillment": 1}, max(packs * 4, 200))
    data_file.write_text(json.dumps(data))
    return fresh_app(url, reuse=True), data


def empty_slots(data: dict, page: str) -> list[tuple[str, str]]:
    labels = dict(SLOT_LABEL.findall(page))
    found = []
    for key in SLOT_FORM.findall(page):
        if key.startswith("kit-"):
            found.append((key, key.split("-")[3]))
        else:
            label = labels.get(key, "")
            names = data["device_items"].items()
            item = next((i for n, i in names if label.startswith(n + " ")), None)
            if item:
                found.append((key, item))
    return found


def pack_one(client, record: Recorder, data: dict, devices: dict, tracking: int) -> bool:
    home = record("packing: Next page", lambda: client.get("/orders/next"))
    token = CSRF.search(home.text).group(1)
    taken = record(
        "packing: take Next",
        lambda: client.post("/orders/next", data={"csrf_token": token}),
    )
    match = ORDER_PAGE.search(taken.headers.get("Location", "").split("?")[0])
    if match is None:
        return False
    order = match.group(1)
    page = record("order page (packer)", lambda: client.get(f"/orders/{order}")).text

    def move(to: str, seen: str, extra: dict | None = None) -> str:
        fields = {"csrf_token": token, "to_status": to, "from_status": seen, **(extra or {})}
        response = record(
            f"order: {to}",
            lambda: client.post(f"/orders/{order}/status", data=fields, headers=HTMX),
        )
        assert response.status_code == 200, (to, response.status_code)
        return response.text

    if 'name="to_status" value="processing"' in page:
        page = move("processing", "created")
    for slot, item in empty_slots(data, page):
        pool = devices.get(item)
        if not pool:
            continue
        fields = {"csrf_token": token, "slot": slot, "identifier": pool.pop()}
        response = record(
            "packing: scan a device",
            lambda f=fields: client.post(f"/orders/{order}/devices", data=f, headers=HTMX),
        )
        assert response.status_code == 200, response.status_code
        page = response.text
    if 'name="to_status" value="packed"' not in page:
        return True
    move("packed", "processing")
    move("shipped", "packed", {"carrier": "DHL", "tracking_number": f"{tracking:010d}"})
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--packs", type=int, default=40, help="orders packed and shipped")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--log", action="store_true", help="print one order's statements")
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "benchmark")
    url = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{Path(tempfile.gettempdir()) / f'orderly-packing-{args.orders}.db'}"
    )
    database = "PostgreSQL" if "postgresql" in url else "SQLite"
    app, data = prepared(url, args.orders, args.reuse, args.packs)
    run = RunInfo.start(database, f"{args.orders:,} orders")
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    client = app.test_client()
    page = client.get("/sign-in").text
    client.post(
        "/sign-in",
        data={
            "email": data["users"]["fulfillment"][0],
            "password": data["password"],
            "csrf_token": CSRF.search(page).group(1),
        },
    )
    # Devices already scanned by an earlier run on this database are refused: skip them.
    name = re.sub(r"\W", "_", url)
    used = Path(tempfile.gettempdir()) / f"packing-writes-used-{name}.json"
    spent = set(json.loads(used.read_text())) if args.reuse and used.exists() else set()
    devices = {k: [d for d in v if d not in spent] for k, v in data["devices"].items()}
    record = Recorder(engine, args.profile, False)
    gc.collect()
    gc.freeze()
    packed = 0
    tracking = int(time.time())
    for n in range(args.packs + 3):
        if n == 3:  # the first few warm the caches
            record.rows.clear()
        record.log = args.log and n == args.packs + 2
        if not pack_one(client, record, data, devices, tracking + n):
            break
        packed += 1
    left = {d for v in devices.values() for d in v}
    used.write_text(json.dumps(sorted({d for v in data["devices"].values() for d in v} - left)))
    rows = []
    for name, samples in sorted(record.rows.items()):
        walls = sorted(s[0] for s in samples)
        cpus = sorted(s[1] for s in samples)
        sql = sorted(s[2] for s in samples)
        held = statistics.median(s[3] for s in samples)
        rows.append(
            {
                "label": name,
                "n": len(samples),
                "p50": statistics.median(walls),
                "p95": walls[max(0, int(len(walls) * 0.95) - 1)],
                "cpu": statistics.median(cpus),
                "sql": f"{sql[0]}-{sql[-1]}" if sql[0] != sql[-1] else str(sql[0]),
                "held": f"{held:.1f}" if held else "",
            }
        )
    run.finish()
    print(run.heading(f"The packer's requests in-process ({packed} orders)"))
    print(
        table(
            ["request", "n", "p50 ms", "p95 ms", "CPU p50 ms", "SQL", "shared rows held ms"],
            [
                [r["label"], r["n"], f"{r['p50']:.1f}", f"{r['p95']:.1f}", f"{r['cpu']:.1f}"]
                + [r["sql"], r["held"]]
                for r in rows
            ],
        )
    )
    if record.profiler is not None:
        pstats.Stats(record.profiler).sort_stats("cumulative").print_stats(70)
        pstats.Stats(record.profiler).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()
