"""Placing and reading an order through gunicorn: Orderly beside a bare baseline app.

Not part of the test suite (timings in tests flake); run it by hand on a fresh clone:

    python3 dev.py bench                           # SQLite, and PostgreSQL if DATABASE_URL is set
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench python3 dev.py bench
    .venv/bin/python -m tests.benchmarks.throughput --seconds 3 --rounds 4 --orders 10000

For each database: an empty database is migrated, given the demo data, ``--orders``
generated orders and stock for every order the placing rounds can make; then Orderly
(``app:create_app()``) and the baseline (``tests/benchmarks/baseline_app.py``) are each
served by gunicorn as ``serve`` runs it (gunicorn.conf.py, 2 workers x 4 threads), on
sockets this process binds to port 0 and hands over. Each operation is driven with 8
concurrent keep-alive connections, in rounds that alternate between the two servers, so
that both see the same load on this machine. It prints, as Markdown tables for
docs/performance.md: requests/s, p50 and p99 for each, Orderly's share of the baseline's
requests/s, and each gunicorn worker's resident memory after the run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

from app.demo.progress import Progress
from tests.benchmarks.report import RunInfo, table

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
CONNECTIONS = 8
SERVERS = {"Orderly": "app:create_app()", "baseline": "tests.benchmarks.baseline_app:create_app()"}
# The benchmark measures throughput, not throttling: one API key may call far more often
# than eight connections can (the limiter still counts every call).
SERVER_ENV = {"API_LIMIT_PER_KEY": "100000000/minute"}
# Orders per second the placing rounds are stocked for, Orderly's and the baseline's
# together: above what this machine reaches (the baseline alone placed over 1,000/s on a
# quiet machine, and 600 ran out of stock).
STOCKED_RATE = 1500
# Kits hold several boxes of strips and the like: counted items get this many times more
# (a receipt line each, whatever the count); devices are received one by one.
COUNTED_FACTOR = 20


def prepare(url: str, orders: int, stock_units: int) -> dict:
    """An empty, migrated database with the demo data, ``orders`` generated orders, and
    ``stock_units`` of every orderable item in stock."""
    from sqlalchemy import select

    from app.auth.models import ApiKey
    from app.catalog.models import Item, Kit
    from app.demo import catalog as demo
    from app.demo.generate import generate
    from app.extensions import db
    from app.orders.models import Order
    from app.people.models import Patient
    from tests.benchmarks.run_benchmarks import fresh_app

    app = fresh_app(url)
    with app.app_context():
        app.test_cli_runner().invoke(args=["seed-demo"])
        if orders:
            with Progress(orders, "Generating orders", "orders") as bar:
                generate(orders, seed=11, progress=bar.update)
        stock_up(stock_units)
        assert db.session.scalar(select(ApiKey.id))
        patients = db.session.scalars(
            select(Patient.id).where(Patient.archived.is_(False)).limit(200)
        ).all()
        items = db.session.scalars(
            select(Item.id).where(Item.orderable, Item.device_identifier_type.is_(None))
        ).all()
        kits = db.session.scalars(select(Kit.id).where(Kit.archived.is_(False))).all()
        order_ids = db.session.scalars(select(Order.id)).all()
        db.session.remove()
        db.engine.dispose()
    return {
        "key": demo.API_KEY,
        "patients": patients,
        "items": items,
        "kits": kits,
        "orders": order_ids,
    }


def stock_up(units: int) -> None:
    """``units`` of every orderable item received at the default location through the
    inventory's receipts (``app.inventory.receipts``), devices with valid identifiers:
    placing never runs out of stock."""
    from sqlalchemy import select

    from app.auth.models import User
    from app.catalog.models import Item
    from app.demo import catalog as demo
    from app.demo.generate import _identifier
    from app.extensions import db
    from app.inventory import receipts
    from app.orders.service import Actor

    admin = Actor(user=db.session.scalar(select(User).where(User.role == "admin")))
    items = db.session.scalars(select(Item).where(Item.orderable).order_by(Item.id)).all()
    left = units * COUNTED_FACTOR
    while left > 0:  # one receipt takes at most MAX_RECEIPT_UNITS of a line
        count = min(left, receipts.MAX_RECEIPT_UNITS)
        counted = [receipts.ReceiptLine(i.id, count) for i in items if not i.is_device]
        receipts.receive(receipts.ReceiptDraft(reference="Benchmark stock", lines=counted), admin)
        left -= count
    devices = [i for i in items if i.is_device]
    step = receipts.MAX_RECEIPT_DEVICES
    with Progress(units * len(devices), "Receiving devices", "devices") as bar:
        for item in devices:
            kind = item.device_identifier_type
            prefix = demo.SERIAL_PATTERNS.get(item.sku, (None, None))[1]
            for start in range(0, units, step):
                # Identifiers from the generator's rule, with a seed no generated order uses.
                values = [
                    (kind, _identifier(kind, item.id * 10**7 + n, 99, prefix))
                    for n in range(start, min(units, start + step))
                ]
                draft = receipts.ReceiptDraft(
                    reference="Benchmark stock",
                    devices=[receipts.ReceiptDevices(item.id, values)],
                )
                receipts.receive(draft, admin)
                bar.update(len(values))


class Server:
    """gunicorn serving one app on a socket bound here to port 0 (no fixed port)."""

    def __init__(self, name: str, target: str, url: str):
        self.name = name
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "benchmark", **SERVER_ENV}
        self.process = subprocess.Popen(
            [str(GUNICORN), "--config", str(ROOT / "gunicorn.conf.py"), "--bind", f"fd://{fd}"]
            + ["--workers", "2", "--threads", "4", "--log-level", "warning", target],
            cwd=ROOT,
            env=env,
            pass_fds=[fd],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v3/order/1")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.2)

    def rss_mb(self) -> list[float]:
        """Resident memory of each worker, in MB."""
        children = subprocess.run(
            ["ps", "-o", "rss=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
        ).stdout.split()
        return [int(kb) / 1024 for kb in children]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.sock.close()


def drive(port: int, make_request, seconds: float) -> tuple[list[float], float]:
    """``CONNECTIONS`` threads, each on its own keep-alive connection, for ``seconds``.

    Returns each request's time and the time until the last answer came back."""
    timings: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    began = time.perf_counter()
    stop_at = began + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.perf_counter() < stop_at:
            method, path, body, expected = make_request(rng)
            headers = {"Impilo-API-Key": KEY[0], "Content-Type": "application/json"}
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - started)
            if response.status != expected:
                failures.append(f"{method} {path}: {response.status} {payload[:200]!r}")
                break
        conn.close()
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(failures[0])
    return timings, elapsed


KEY = [""]


def operations(data: dict) -> dict:
    def place(rng):
        body = {
            "patient": {"id": rng.choice(data["patients"])},
            "orderKits": [{"kit": {"id": rng.choice(data["kits"])}, "count": 1}],
            "orderItems": [{"item": {"id": rng.choice(data["items"])}, "count": 2}],
            "externalOrderIds": [f"BENCH-{rng.randrange(10**9)}"],
            "shippingOption": "standard",
        }
        return "POST", "/api/v3/order", json.dumps(body), 201

    def read(rng):
        return "GET", f"/api/v3/order/{rng.choice(data['orders'])}", None, 200

    return {"placing an order": place, "reading an order": read}


def check_same_answer(servers: dict, data: dict) -> None:
    """The baseline answers the same document as Orderly (its work is honest)."""
    order_id = data["orders"][-1]
    documents = []
    for server in servers.values():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", f"/api/v3/order/{order_id}", headers={"Impilo-API-Key": KEY[0]})
        documents.append(json.loads(conn.getresponse().read()))
    if documents[0] != documents[1]:
        raise RuntimeError(f"the baseline answers another document for order {order_id}")


def run_database(label: str, url: str, args) -> tuple[list[dict], list[dict]]:
    click.echo(f"== {label}: preparing a database with {args.orders:,} generated orders")
    data = prepare(url, args.orders, int(args.rounds * args.seconds * STOCKED_RATE))
    KEY[0] = data["key"]
    servers = {name: Server(name, target, url) for name, target in SERVERS.items()}
    results, memory = [], []
    try:
        check_same_answer(servers, data)
        ops = operations(data)
        timings = {(op, name): [] for op in ops for name in servers}
        elapsed = dict.fromkeys(timings, 0.0)
        steps = [
            (op, name)
            for r in range(args.rounds)
            for op in ops
            # Alternate which server goes first, so neither always follows the other.
            for name in (list(servers) if r % 2 == 0 else list(reversed(servers)))
        ]
        with Progress(len(steps), f"{label}: {args.rounds} rounds of {args.seconds:g} s") as bar:
            for op, name in steps:
                bar.update(0, note=f"{op}, {name}")
                taken, seconds = drive(servers[name].port, ops[op], args.seconds)
                timings[(op, name)] += taken
                elapsed[(op, name)] += seconds
                bar.update(1)
        for op in ops:
            row = {"operation": op, "database": label, "orders": args.orders}
            for name in servers:
                t = sorted(timings[(op, name)])
                row[name] = {
                    "rps": len(t) / elapsed[(op, name)],
                    "p50": statistics.median(t) * 1000,
                    "p99": t[max(0, int(len(t) * 0.99) - 1)] * 1000,
                }
            row["share"] = row["Orderly"]["rps"] / row["baseline"]["rps"]
            results.append(row)
        for name, server in servers.items():
            memory.append(
                {"server": name, "database": label, "orders": args.orders, "rss": server.rss_mb()}
            )
    finally:
        for server in servers.values():
            server.stop()
    return results, memory


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="generated orders to read")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="per round and server")
    args = parser.parse_args()
    databases = [("SQLite", f"sqlite:///{Path(tempfile.gettempdir()) / 'orderly-throughput.db'}")]
    if "postgresql" in os.environ.get("DATABASE_URL", ""):
        databases.append(("PostgreSQL", os.environ["DATABASE_URL"]))
    for _, url in databases:
        if url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
    run = RunInfo.start(", ".join(label for label, _ in databases), f"{args.orders:,} orders")
    results, memory = [], []
    for label, url in databases:
        rows, rss = run_database(label, url, args)
        results += rows
        memory += rss
    run.finish()
    click.echo(
        f"\n{run.heading('Placing and reading an order through gunicorn')}\n\n"
        f"{CONNECTIONS} connections, gunicorn 2 workers x 4 threads, "
        f"{args.rounds} rounds of {args.seconds:g} s per server and operation.\n"
    )
    click.echo(
        table(
            [
                "operation",
                "database",
                "orders",
                "Orderly req/s",
                "p50 ms",
                "p99 ms",
                "baseline req/s",
                "p50 ms",
                "p99 ms",
                "share of baseline",
            ],
            [
                [
                    r["operation"],
                    r["database"],
                    f"{r['orders']:,}",
                    f"{r['Orderly']['rps']:.1f}",
                    f"{r['Orderly']['p50']:.1f}",
                    f"{r['Orderly']['p99']:.1f}",
                    f"{r['baseline']['rps']:.1f}",
                    f"{r['baseline']['p50']:.1f}",
                    f"{r['baseline']['p99']:.1f}",
                    f"**{r['share']:.0%}**",
                ]
                for r in results
            ],
            numeric_from=2,
        )
    )
    click.echo("\nEach gunicorn worker's resident memory (RSS) after the run:\n")
    click.echo(
        table(
            ["server", "database", "orders", "worker RSS, MB"],
            [
                [
                    m["server"],
                    m["database"],
                    f"{m['orders']:,}",
                    ", ".join(f"{mb:.0f}" for mb in m["rss"]),
                ]
                for m in memory
            ],
            numeric_from=2,
        )
    )


if __name__ == "__main__":
    main()
