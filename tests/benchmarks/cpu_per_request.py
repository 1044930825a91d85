"""CPU per request of placing and reading an order, in-process, Orderly beside the baseline,
and what the throttle and the PHI access log each add: where the throughput goes.

Not part of the test suite; run it by hand (``python3 dev.py bench --cpu``, or with
``DATABASE_URL`` set for PostgreSQL too):

    .venv/bin/python -m tests.benchmarks.cpu_per_request --requests 2000 --rounds 3

The throughput benchmark (``throughput.py``) measures through gunicorn, where the figures
move by 10% or more from run to run on a 2-core machine: the load generator, both servers
and PostgreSQL share the cores. Here one thread sends the benchmark's own requests through
Flask's test client, on a database made the same way, and ``time.process_time`` counts that
process's CPU only (PostgreSQL's own work is not in it). Each variant runs ``--rounds``
times in turn, each run in a process of its own from the same database (put back before
every run); the table gives the median and the spread. On SQLite the runs agree within
about 5%; on PostgreSQL they spread more, by 10-15%. The variants:

- Orderly as it is served;
- without the API throttle (RATELIMIT_ENABLED off), to see what it costs;
- without the PHI access-log row an order read writes (reads only), to see what it costs;
- the baseline app (``baseline_app.py``).

``--profile`` prints the busiest functions of Orderly's run (cProfile, CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from tests.benchmarks.report import RunInfo, table

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = {
    "Orderly": "as served",
    "Orderly, no throttle": "the API throttle switched off",
    "Orderly, no access-log row": "the read's PHI access-log row not written",
    "baseline": "tests/benchmarks/baseline_app.py",
}
WARM_UP = 50


def measure(url: str, data_file: str, variant: str, operation: str, requests: int, profile: bool):
    """Runs in a process of its own: CPU ms and SQL statements per request."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "benchmark")
    os.environ["API_LIMIT_PER_KEY"] = "100000000/minute"
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from tests.benchmarks.throughput import operations

    data = json.loads(Path(data_file).read_text())
    if variant == "baseline":
        from tests.benchmarks.baseline_app import create_app

        app = create_app(url)
    else:
        from app import create_app

        app = create_app()
        if variant == "Orderly, no throttle":
            app.config["RATELIMIT_ENABLED"] = False
        if variant == "Orderly, no access-log row":
            from app.api import orders as api_orders

            api_orders.note_patient_access = lambda *args, **kwargs: None
    make = operations(data)[operation]
    client = app.test_client()
    statements = [0]

    @event.listens_for(Engine, "before_cursor_execute")
    def count(*args, **kwargs):
        statements[0] += 1

    headers = {"Impilo-API-Key": data["key"], "Content-Type": "application/json"}
    rng = random.Random(7)

    def one() -> None:
        method, path, body, expected = make(rng)
        response = client.open(path, method=method, data=body, headers=headers)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.data[:200]!r}")

    for _ in range(WARM_UP):
        one()
    import gc

    gc.collect()
    gc.freeze()  # as gunicorn.conf.py does when a worker starts
    statements[0] = 0
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    started = time.process_time()
    for _ in range(requests):
        one()
    cpu = time.process_time() - started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    # The baseline runs plain DB-API statements, which SQLAlchemy's events do not see.
    counted = None if variant == "baseline" else statements[0] / requests
    print(json.dumps({"cpu_ms": cpu * 1000 / requests, "statements": counted}))


def run_variant(url, data_file, variant, operation, requests, profile) -> dict:
    command = [sys.executable, "-m", "tests.benchmarks.cpu_per_request", "--measure"]
    command += [url, data_file, variant, operation, str(requests)]
    if profile:
        command.append("--profile")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{variant}, {operation}:\n{done.stderr[-3000:]}")
    if profile:
        click.echo(done.stderr, err=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def snapshot(url: str, work: Path):
    """Saves the prepared database, and answers a function that puts it back (so that every
    variant places orders on the same stock, and reads the same orders)."""
    if url.startswith("sqlite"):
        path = Path(url[len("sqlite:///") :])
        shutil.copy(path, work / "snapshot.db")

        def restore() -> None:
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            shutil.copy(work / "snapshot.db", path)

        return restore
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    copy = f"{name}_cpu_snapshot"

    def clone(source: str, target: str) -> None:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname IN (:a, :b) AND pid <> pg_backend_pid()"
                ),
                {"a": source, "b": target},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}"'))
            conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))

    clone(name, copy)

    def restore() -> None:
        clone(copy, name)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}"'))
        admin.dispose()

    restore.drop = drop
    return restore


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=10_000, help="generated orders to read")
    parser.add_argument("--requests", type=int, default=2000, help="per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, in turn")
    parser.add_argument("--profile", action="store_true", help="cProfile Orderly's runs")
    parser.add_argument("--measure", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        url, data_file, variant, operation, requests = args.measure
        measure(url, data_file, variant, operation, int(requests), args.profile)
        return

    from tests.benchmarks.throughput import prepare

    work = Path(tempfile.mkdtemp(prefix="orderly-cpu-"))
    databases = [("SQLite", f"sqlite:///{work / 'orderly-cpu.db'}")]
    if "postgresql" in os.environ.get("DATABASE_URL", ""):
        databases.append(("PostgreSQL", os.environ["DATABASE_URL"]))
    run = RunInfo.start(", ".join(label for label, _ in databases), f"{args.orders:,} orders")
    rows, cleanups = [], []
    try:
        for label, url in databases:
            click.echo(f"== {label}: preparing a database with {args.orders:,} generated orders")
            # Stock for every variant's placings, with room to spare.
            data = prepare(url, args.orders, args.requests * 2 + WARM_UP * 4)
            data_file = work / f"{label}.json"
            data_file.write_text(json.dumps(data))
            restore = snapshot(url, work)
            cleanups.append(getattr(restore, "drop", None))
            for operation in ("placing an order", "reading an order"):
                variants = [
                    v
                    for v in VARIANTS
                    if v != "Orderly, no access-log row" or operation == "reading an order"
                ]
                results = {variant: [] for variant in variants}
                for round_ in range(args.rounds):
                    # In turn, each round in another order, so that none always goes first.
                    for variant in variants if round_ % 2 == 0 else variants[::-1]:
                        restore()
                        click.echo(f"   {operation}, round {round_ + 1}: {variant}")
                        profile = args.profile and variant == "Orderly" and round_ == 0
                        results[variant].append(
                            run_variant(
                                url, str(data_file), variant, operation, args.requests, profile
                            )
                        )
                whole = statistics.median(r["cpu_ms"] for r in results["Orderly"])
                for variant, runs in results.items():
                    cpu = sorted(r["cpu_ms"] for r in runs)
                    counted = runs[0]["statements"]
                    rows.append(
                        [
                            operation,
                            label,
                            variant,
                            f"{statistics.median(cpu):.2f}",
                            f"{cpu[0]:.2f}–{cpu[-1]:.2f}",
                            "" if counted is None else f"{counted:.1f}",
                            f"{statistics.median(cpu) / whole:.0%}",
                        ]
                    )
    finally:
        for cleanup in filter(None, cleanups):
            cleanup()
        shutil.rmtree(work, ignore_errors=True)
    run.finish()
    click.echo(f"\n{run.heading('CPU per request, in-process')}\n")
    click.echo(
        f"{args.rounds} runs of {args.requests:,} requests per variant, in turn; one thread, "
        "Flask's test client; CPU of that process only (`time.process_time`).\n"
    )
    click.echo(
        table(
            [
                "operation",
                "database",
                "variant",
                "CPU ms (median)",
                "lowest–highest",
                "SQL",
                "of Orderly's",
            ],
            rows,
            numeric_from=3,
        )
    )


if __name__ == "__main__":
    main()
