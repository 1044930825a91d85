"""Placing and reading an order through gunicorn: Orderly beside a bare baseline app.

Not part of the test suite (timings in tests flake); run it by hand on a fresh clone:

    python3 dev.py bench                           # SQLite, and PostgreSQL if DATABASE_URL is set
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench python3 dev.py bench
    .venv/bin/python -m tests.benchmarks.throughput --seconds 3 --rounds 4 --orders 10000

For each database: an empty database is migrated, given the demo data and ``--orders``
generated orders; then Orderly (``app:create_app()``) and the baseline
(``tests/benchmarks/baseline_app.py``) are each served by gunicorn as ``serve`` runs it
(2 workers x 4 threads), on sockets this process binds to port 0 and hands over. Each
operation is driven with 8 concurrent keep-alive connections, in rounds that alternate
between the two servers, so that both see the same load on this machine. It prints
requests/s, p50 and p99 for each, and Orderly's share of the baseline's requests/s.
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

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
CONNECTIONS = 8
SERVERS = {"Orderly": "app:create_app()", "baseline": "tests.benchmarks.baseline_app:create_app()"}


def prepare(url: str, orders: int) -> dict:
    """An empty, migrated database with the demo data and ``orders`` generated orders."""
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
            generate(orders, seed=11)
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
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "benchmark"}
        self.process = subprocess.Popen(
            [str(GUNICORN), "--bind", f"fd://{fd}", "--workers", "2", "--threads", "4"]
            + ["--log-level", "warning", target],
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


def run_database(label: str, url: str, args) -> list[dict]:
    click.echo(f"== {label}: preparing a database with {args.orders:,} generated orders")
    data = prepare(url, args.orders)
    KEY[0] = data["key"]
    servers = {name: Server(name, target, url) for name, target in SERVERS.items()}
    results = []
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
        with click.progressbar(
            steps,
            label=f"{label}: {args.rounds} rounds of {args.seconds:g} s",
            show_eta=True,
            item_show_func=lambda s: f"{s[0]}, {s[1]}" if s else "",
        ) as bar:
            for op, name in bar:
                taken, seconds = drive(servers[name].port, ops[op], args.seconds)
                timings[(op, name)] += taken
                elapsed[(op, name)] += seconds
        for op in ops:
            row = {"operation": op, "database": label}
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
            rss = ", ".join(f"{mb:.0f}" for mb in server.rss_mb())
            click.echo(f"  {name} workers' RSS after the run: {rss} MB")
    finally:
        for server in servers.values():
            server.stop()
    return results


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
    results = []
    for label, url in databases:
        results += run_database(label, url, args)
    load = os.getloadavg()
    click.echo(
        f"\n{CONNECTIONS} connections, gunicorn 2 workers x 4 threads, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n"
    )
    click.echo(
        "| operation | database | Orderly req/s | p50 ms | p99 ms "
        "| baseline req/s | p50 ms | p99 ms | share of baseline |"
    )
    click.echo("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        o, b = r["Orderly"], r["baseline"]
        click.echo(
            f"| {r['operation']} | {r['database']} | {o['rps']:.1f} | {o['p50']:.1f} "
            f"| {o['p99']:.1f} | {b['rps']:.1f} | {b['p50']:.1f} | {b['p99']:.1f} "
            f"| **{r['share']:.0%}** |"
        )


if __name__ == "__main__":
    main()
