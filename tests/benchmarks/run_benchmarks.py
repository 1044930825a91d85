"""Speed figures for the order list, search, the timeline, the API and the stock and ledger
pages, at 10^4..10^6 orders (and as many stock ledger rows).

Not part of the test suite (timings in tests flake); run it by hand:

    .venv/bin/python -m tests.benchmarks.run_benchmarks                 # SQLite, 10^4 and 10^5
    .venv/bin/python -m tests.benchmarks.run_benchmarks --sizes 10000 100000 1000000
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m tests.benchmarks.run_benchmarks --sizes 10000 100000 1000000

Also ``python3 dev.py bench --pages --sizes 10000 100000 1000000``.

Each size starts from an empty database (SQLite: a file under /tmp; PostgreSQL: the schema
is dropped and migrated again), loads the demo catalog, generates the orders with
``flask generate-orders`` and as many stock ledger rows, then times requests in-process
through the app (no network), as a signed-in fulfillment user (a coordinator for the
new-order fragments). It prints a Markdown table for docs/performance.md: p50 and p95 in
milliseconds and the SQL statements each request issued, with the date, the commit, the
database and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, func, select, text

from app.demo.progress import Progress
from tests.benchmarks.report import RunInfo, table

REPEAT = 40
ITEM_WORDS = ["cuff", "glucose", "monitor", "strips", "sim"]


def fresh_app(url: str, reuse: bool = False):
    os.environ.setdefault("SECRET_KEY", "benchmark")
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        if reuse:
            upgrade()
            return app
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
    return app


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def sign_in(client, role: str = "fulfillment") -> str:
    """Signs the client in as the demo user of ``role``; answers the CSRF token its pages
    send (the new-order page's, which only coordinators open)."""
    client.post(
        "/sign-in",
        data={
            "email": f"{role}@orderly.example",
            "password": f"demo-{role}",
            "csrf_token": csrf_token(client.get("/sign-in").text),
        },
    )
    return csrf_token(client.get("/orders/new").text) if role == "coordinator" else ""


def measure(app, client, label: str, urls: list[str], headers=None, forms=None) -> dict:
    """``REPEAT`` requests, GETs of ``urls`` in turn, or POSTs of ``forms`` to them."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    statements = []

    def count(*_args):
        statements[-1] += 1

    event.listen(engine, "before_cursor_execute", count)
    timings = []
    try:
        for i in range(REPEAT):
            url = urls[i % len(urls)]
            statements.append(0)
            started = time.perf_counter()
            if forms:
                response = client.post(url, data=forms[i % len(forms)], headers=headers or {})
            else:
                response = client.get(url, headers=headers or {})
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    timings.sort()
    return {
        "label": label,
        "p50": statistics.median(timings),
        "p95": timings[int(len(timings) * 0.95) - 1],
        "sql": f"{min(statements)}-{max(statements)}"
        if min(statements) != max(statements)
        else str(statements[0]),
    }


def fill_ledger(rows: int, progress) -> None:
    """``rows`` stock ledger rows (adjustments in and out, over every item), written in bulk
    as the generator writes (COPY, executemany), then the balances recomputed from them:
    the stock and ledger pages at that size."""
    from sqlalchemy import update

    from app.catalog.models import Item
    from app.demo.generate import Writer
    from app.extensions import db
    from app.inventory.ledger import ledger_totals
    from app.inventory.locations import ensure_default_location
    from app.inventory.models import StockBalance, StockMovement

    location_id = ensure_default_location().id
    item_ids = db.session.scalars(select(Item.id)).all()
    rng = random.Random(11)
    writer = Writer()
    ledger = writer.table(
        StockMovement, "kind item_id location_id on_hand_change reserved_change reason"
    )
    step = 50_000
    for start in range(0, rows, step):
        for n in range(start, min(rows, start + step)):
            change = rng.choice([5, 3, -1, -2, 10])
            ledger.append(
                ("adjustment", item_ids[n % len(item_ids)], location_id, change, 0, "benchmark")
            )
        writer.flush()
        progress(min(step, rows - start))
    for (item_id, loc), (on_hand, reserved) in ledger_totals().items():
        exists = db.session.scalar(
            select(StockBalance.id).where(
                StockBalance.item_id == item_id, StockBalance.location_id == loc
            )
        )
        if exists is None:
            db.session.add(StockBalance(item_id=item_id, location_id=loc))
            db.session.flush()
        db.session.execute(
            update(StockBalance)
            .where(StockBalance.item_id == item_id, StockBalance.location_id == loc)
            .values(on_hand=on_hand, reserved=reserved)
        )
    db.session.commit()


def run_size(url: str, size: int, reuse: bool = False) -> list[dict]:
    from app.auth.models import ApiKey
    from app.demo import catalog as demo
    from app.demo.generate import generate
    from app.extensions import db
    from app.orders.models import Order, OrderExternalId, TrackingNumber
    from app.people.models import Patient, Site

    app = fresh_app(url, reuse)
    with app.app_context():
        started = time.perf_counter()
        if reuse and db.session.scalar(select(func.count(Order.id))) >= size:
            print(f"  reusing the {size:,} orders already in the database")
        else:
            app.test_cli_runner().invoke(args=["seed-demo"])
            with Progress(size, "Generating orders", "orders") as bar:
                generate(size, seed=7, progress=bar.update)
            with Progress(size, "Writing stock ledger rows", "rows") as bar:
                fill_ledger(size, bar.update)
        generated_in = time.perf_counter() - started
        rng = random.Random(3)
        max_id = db.session.scalar(select(func.max(Order.id)))
        order_ids = [rng.randrange(1, max_id) for _ in range(20)]
        last_names = [p.last_name for p in db.session.scalars(select(Patient).limit(200))][:10]
        patient_ids = db.session.scalars(
            select(Patient.id).where(Patient.archived.is_(False)).order_by(Patient.id.desc())
        ).all()[:10]
        external = db.session.scalars(
            select(OrderExternalId.value).order_by(OrderExternalId.id.desc()).limit(10)
        ).all()
        tracking = db.session.scalars(select(TrackingNumber.value).limit(10)).all()
        site_id = db.session.scalar(select(Site.id).where(Site.active))
        deep_cursor = db.session.scalar(select(Order.id).order_by(Order.id).offset(100).limit(1))
        from app.inventory.models import StockMovement

        ledger_max = db.session.scalar(select(func.max(StockMovement.id)))
        ledger_item = db.session.scalar(select(StockMovement.item_id).limit(1))
        assert db.session.scalar(select(func.count(ApiKey.id))) >= 1  # the demo key, at least
    client = app.test_client()
    sign_in(client)
    api_headers = {"Impilo-API-Key": demo.API_KEY}
    # As a served worker does once it has loaded (gunicorn.conf.py, post_worker_init): what
    # is alive now is frozen, so that a collection during a request does not walk the app,
    # its mappers and what generating left behind; otherwise a page that makes many objects
    # (the API list) pays a full collection of all of them every few requests.
    gc.collect()
    gc.freeze()
    results = [
        measure(app, client, "list: first page", ["/orders/"]),
        measure(app, client, "list: status tab (processing)", ["/orders/?status=processing"]),
        measure(
            app,
            client,
            "list: one site, overnight",
            [f"/orders/?site={site_id}&shipping=overnight"],
        ),
        measure(app, client, "list: deep page (keyset)", [f"/orders/?after={deep_cursor}"]),
        measure(app, client, "list: recently changed", ["/orders/?sort=updated"]),
        measure(app, client, "search: patient name", [f"/orders/?q={n}" for n in last_names]),
        measure(app, client, "search: order id", [f"/orders/?q={i}" for i in order_ids]),
        measure(app, client, "search: external order id", [f"/orders/?q={e}" for e in external]),
        measure(app, client, "search: tracking number", [f"/orders/?q={t}" for t in tracking]),
        measure(app, client, "timeline: order page", [f"/orders/{i}" for i in order_ids]),
        measure(
            app, client, "api: GET order", [f"/api/v3/order/{i}" for i in order_ids], api_headers
        ),
        measure(app, client, "api: list, 250 per page", ["/api/v3/order?size=250"], api_headers),
    ]
    if "inventory.stock" in app.view_functions:
        results += [
            measure(app, client, "stock: first page", ["/stock/"]),
            measure(app, client, "ledger: newest rows", ["/stock/ledger"]),
            measure(
                app,
                client,
                "ledger: one item, deep page (keyset)",
                [f"/stock/ledger?item={ledger_item}&before={ledger_max // 2}"],
            ),
            measure(app, client, "api: inventory", ["/api/v3/inventory?size=50"], api_headers),
        ]
    summary_urls = [f"/orders/{i}/packing-summary" for i in order_ids]
    if "orders.packing_summary" in app.view_functions:
        results.append(measure(app, client, "packing summary", summary_urls))
    if "orders.packing_summaries" in app.view_functions:
        batch = "&".join(f"order={i}" for i in range(max(1, max_id - 199), max_id + 1))
        results.append(
            measure(
                app,
                client,
                "packing summaries, batch of 200",
                [f"/orders/packing-summaries?{batch}"],
            )
        )
    results += measure_the_leads_pages(app, client, max_id)
    results += measure_new_order(app, last_names, patient_ids)
    gc.unfreeze()
    for r in results:
        r["size"] = size
    print(f"  generated {size:,} orders in {generated_in:.0f} s")
    return results


def measure_the_leads_pages(app, client, max_id: int) -> list[dict]:
    """The fulfilment lead's pages (issue 25), where this branch has them: the dashboard, the
    list's ship-by filters, a pick list of 50 ticked orders and of a whole tab, and the
    packing queue's Next page."""
    results = []
    if "orders.list_orders" in app.view_functions:
        results += [
            measure(app, client, "list: late", ["/orders/?due=late"]),
            measure(app, client, "list: due today", ["/orders/?due=today"]),
        ]
    if "dashboard.dashboard" in app.view_functions:
        results.append(measure(app, client, "dashboard", ["/dashboard"]))
    if "orders.pick_list_page" in app.view_functions:
        ticked = "&".join(f"order={i}" for i in range(max(1, max_id - 49), max_id + 1))
        results += [
            measure(app, client, "pick list: 50 ticked orders", [f"/orders/pick-list?{ticked}"]),
            measure(app, client, "pick list: a tab", ["/orders/pick-list?status=created"]),
        ]
    if "orders.next_order_page" in app.view_functions:
        results.append(measure(app, client, "packing queue: Next page", ["/orders/next"]))
    return results


def measure_new_order(app, last_names: list[str], patient_ids: list[int]) -> list[dict]:
    """The new-order page's htmx fragments, as a coordinator types: finding and choosing the
    recipient, adding a row, the options of an item box and of a kit box."""
    client = app.test_client()
    token = sign_in(client, "coordinator")
    htmx = {"HX-Request": "true"}

    def form(**fields) -> dict:
        return {"csrf_token": token, "recipient_kind": "patient", **fields}

    def options(kind: str, words: list[str]) -> list[str]:
        row = f"{kind}s-0"
        return [f"/orders/new/options?kind={kind}&row={row}&{row}-ref={w}" for w in words]

    chosen = [
        form(recipient_id=str(p), **{"items-0-ref": "", "items-0-count": "1"}) for p in patient_ids
    ]
    return [
        measure(
            app,
            client,
            "new order: recipient search",
            ["/orders/new/recipient"],
            htmx,
            [form(action="search", recipient_query=n) for n in last_names],
        ),
        measure(
            app,
            client,
            "new order: choose the recipient",
            ["/orders/new/recipient"],
            htmx,
            [form(action=f"choose:{p}") for p in patient_ids],
        ),
        measure(
            app,
            client,
            "new order: add an item row",
            ["/orders/new/lines"],
            htmx,
            [{**f, "action": "add-item"} for f in chosen],
        ),
        measure(app, client, "new order: item options", options("item", ITEM_WORDS), htmx),
        measure(app, client, "new order: kit options", options("kit", ["kit", "bp", "gluc"]), htmx),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--reuse", action="store_true", help="keep the orders generated by an earlier run"
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    database = "PostgreSQL" if url and "postgresql" in url else "SQLite"
    run = RunInfo.start(database, " / ".join(f"{size:,}" for size in args.sizes) + " orders")
    all_results = []
    for size in args.sizes:
        print(f"== {size:,} orders on {database}", flush=True)
        db_url = url or f"sqlite:///{Path(tempfile.gettempdir()) / f'orderly-bench-{size}.db'}"
        # PostgreSQL keeps one size at a time (each run drops the schema): reuse it if it is
        # the size asked for. SQLite keeps a file per size.
        reuse = args.reuse and (url is not None or Path(db_url[len("sqlite:///") :]).exists())
        if not url and not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(db_url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
        all_results += run_size(db_url, size, reuse)
    run.finish()
    print(f"\n{run.heading('Pages, in-process (server time)')}\n")
    print(
        table(
            ["request", "orders", "p50 ms", "p95 ms", "SQL statements"],
            [
                [r["label"], f"{r['size']:,}", f"{r['p50']:.1f}", f"{r['p95']:.1f}", r["sql"]]
                for r in all_results
            ],
        )
    )


if __name__ == "__main__":
    main()
