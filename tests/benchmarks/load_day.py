"""A day's load on Orderly, as Locust users: what each role does all day, with think times.

The locustfile of ``python3 dev.py bench --load`` (``tests/benchmarks/load_runner.py``
prepares the database, the accounts and the API key, serves the app with gunicorn and runs
this module as ``python -m tests.benchmarks.load_day``, headless, in steps of rising users).
What the users need (accounts, key, patients, items, device identifiers on the shelf) comes
from the JSON file named by ``LOAD_DAY_DATA``, written by the runner.

- ``Coordinator``: signs in through /sign-in, searches patients as they type (the patient
  list's live search fragment), and places orders through the new-order form (CSRF token and
  submission token from the page, the recipient search fragment, then the form).
- ``Packer``: signs in, presses Next (``POST /orders/next``), starts processing, scans a
  received device into each empty slot, packs and ships with a tracking number.
- ``Integration``: one API client placing and reading orders at a steady 10 requests/s.
- ``Lead``: refreshes ``/dashboard`` now and then (skipped, and said so, while it answers 404).

Every request is named by page or API call, so Locust's statistics are per page.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import sys
import time
from urllib.parse import urlencode

from locust import FastHttpUser, between, constant_throughput, events, task

CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)
SUBMISSION = re.compile(r'name="submission_token" type="hidden" value="([^"]+)"')
SLOT_FORM = re.compile(r'<input type="hidden" name="slot" value="([^"]+)">')
SLOT_LABEL = re.compile(
    r'<label for="slot-([^"]+)" class="visually-hidden">[^<]* for ([^<]+)</label>'
)
ORDER_PAGE = re.compile(r"/orders/(\d+)$")
HTMX = {"HX-Request": "true"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The roles every day has, by Locust user class: the runner's table and the test name them.
ROLES = ("Coordinator", "Packer", "Integration", "Lead")
API_RATE = 10  # the integration's requests per second


def load_data() -> dict:
    path = os.environ.get("LOAD_DAY_DATA")
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


DATA = load_data()
# Each simulated person signs in with an account of their own (the runner made them).
_accounts = {
    role: itertools.cycle(DATA.get("users", {}).get(role, [""]))
    for role in ("coordinator", "fulfillment")
}
# Devices on the shelf, by item id: each scan takes one, so no two packers scan the same one
# (Locust's users are greenlets of one process: a pop is never interleaved).
DEVICES: dict[str, list[str]] = {k: list(v) for k, v in DATA.get("devices", {}).items()}
_tracking = itertools.count(random.Random().randrange(10**8))
# Sign-ins finished (a password hash each, slow on purpose): a step is measured after all.
SIGNED_IN = [0]


def csrf_of(html: str) -> str | None:
    match = CSRF.search(html)
    return (match.group(1) or match.group(2)) if match else None


def form(fields: dict) -> str:
    return urlencode(fields)


class Person(FastHttpUser):
    """A member of staff: signs in for real through /sign-in (CSRF and all).

    People think for seconds between requests, longer than gunicorn keeps an idle connection
    (2 s): a browser whose request meets a connection the server is just closing sends it
    again on a new one, Locust's client does not (it fails the request). So each request of
    theirs comes on a connection of its own, as most of a browser's would after a pause."""

    abstract = True
    default_headers = {"Connection": "close"}
    role = ""
    token: str | None = None

    def on_start(self) -> None:
        email = next(_accounts[self.role])
        page = self.client.get("/sign-in", name="sign-in: page")
        with self.client.post(
            "/sign-in",
            data=form(
                {"email": email, "password": DATA["password"], "csrf_token": csrf_of(page.text)}
            ),
            headers=FORM,
            name="sign-in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 303:
                response.failure(f"sign-in answered {response.status_code}")
        SIGNED_IN[0] += 1

    def post_form(self, url: str, fields: dict, name: str, htmx: bool = False, **kwargs):
        headers = {**FORM, **(HTMX if htmx else {})}
        return self.client.post(
            url,
            data=form({"csrf_token": self.token, **fields}),
            headers=headers,
            name=name,
            **kwargs,
        )


class Coordinator(Person):
    """Searches patients as they type, and places an order now and then."""

    role = "coordinator"
    weight = 5
    wait_time = between(3, 8)

    def on_start(self) -> None:
        super().on_start()
        self.rng = random.Random()

    @task(3)
    def search_patients(self) -> None:
        name = self.rng.choice(DATA["last_names"])
        # The live search asks as the name is typed: from the third letter on, a key a beat.
        for n in range(3, min(len(name), 6) + 1):
            self.client.get(
                f"/patients/?{urlencode({'q': name[:n]})}",
                headers=HTMX,
                name="patients: live search",
            )
            self.wait_between_keys()

    def wait_between_keys(self) -> None:
        import gevent

        gevent.sleep(self.rng.uniform(0.2, 0.5))

    @task(1)
    def place_order(self) -> None:
        page = self.client.get("/orders/new", name="new order: page").text
        self.token = csrf_of(page)
        submission = SUBMISSION.search(page)
        if not self.token or not submission:
            return
        patient = self.rng.choice(DATA["patients"])
        self.post_form(
            "/orders/new/recipient",
            {
                "recipient_kind": "patient",
                "action": "search",
                "recipient_query": patient["last_name"],
            },
            "new order: recipient search",
            htmx=True,
        )
        self.wait_between_keys()
        item = self.rng.choice(DATA["item_names"])
        fields = {
            "submission_token": submission.group(1),
            "recipient_kind": "patient",
            "recipient_id": str(patient["id"]),
            "shipping_option": self.rng.choice(["standard", "standard", "overnight"]),
            "items-0-ref": item,
            "items-0-count": str(self.rng.randint(1, 3)),
            "kits-0-ref": self.rng.choice(DATA["kit_names"]),
            "kits-0-count": "1",
        }
        with self.post_form(
            "/orders/new", fields, "new order: place", allow_redirects=False, catch_response=True
        ) as r:
            if r.status_code != 303:
                r.failure(f"placing answered {r.status_code}: {r.text[:300]!r}")
                return
            location = r.headers.get("Location", "")
        self.client.get(location, name="order page")


class Packer(Person):
    """Takes the next order, scans its devices, packs and ships it."""

    role = "fulfillment"
    weight = 1
    wait_time = between(2, 5)

    @task
    def pack_next(self) -> None:
        home = self.client.get("/orders/next", name="packing: Next page").text
        self.token = csrf_of(home)
        with self.post_form(
            "/orders/next", {}, "packing: take Next", allow_redirects=False, catch_response=True
        ) as r:
            location = r.headers.get("Location", "")
            match = ORDER_PAGE.search(location.split("?")[0])
            if r.status_code != 303 or match is None:
                if r.status_code != 303:
                    r.failure(f"Next answered {r.status_code}")
                return  # the queue is empty: nothing to pack
        order = match.group(1)
        page = self.client.get(f"/orders/{order}", name="order page (packer)").text
        self.token = csrf_of(page) or self.token
        if 'name="to_status" value="processing"' in page:
            page = self.move(order, "processing", "created")
        for slot_key, item_id in self.empty_slots(page):
            pool = DEVICES.get(item_id)
            if not pool:
                continue
            self.think(1, 3)  # finds the device on the shelf and scans it
            fragment = self.post_form(
                f"/orders/{order}/devices",
                {"slot": slot_key, "identifier": pool.pop()},
                "packing: scan a device",
                htmx=True,
            )
            if fragment.status_code != 200:
                return  # said in the table; the order waits for its claim to lapse
            page = fragment.text
        if 'name="to_status" value="packed"' not in page:
            return  # a device we had none of: leave it for another day
        self.think(2, 4)
        self.move(order, "packed", "processing")
        self.think(2, 5)  # prints the label
        self.move(
            order,
            "shipped",
            "packed",
            {"carrier": "DHL", "tracking_number": f"{next(_tracking) % 10**10:010d}"},
        )

    def move(self, order: str, to: str, from_status: str, extra: dict | None = None) -> str:
        response = self.post_form(
            f"/orders/{order}/status",
            {"to_status": to, "from_status": from_status, **(extra or {})},
            f"order: {to}",
            htmx=True,
        )
        return response.text or ""

    def empty_slots(self, page: str) -> list[tuple[str, str]]:
        """(slot key, item id) of each empty slot on the order page: a kit's slot key names
        its item; a line's slot is named by its item's name."""
        labels = dict(SLOT_LABEL.findall(page))
        found = []
        for key in SLOT_FORM.findall(page):
            if key.startswith("kit-"):
                found.append((key, key.split("-")[3]))
            else:
                label = labels.get(key, "")
                item = next(
                    (i for n, i in DATA["device_items"].items() if label.startswith(n + " ")), None
                )
                if item:
                    found.append((key, item))
        return found

    def think(self, low: float, high: float) -> None:
        import gevent

        gevent.sleep(random.uniform(low, high))


class Integration(FastHttpUser):
    """One EHR integration: places and reads orders through the JSON API, 10 requests/s, on
    a kept-alive connection (never idle long enough for the server to close it)."""

    fixed_count = 1
    wait_time = constant_throughput(API_RATE)

    def on_start(self) -> None:
        self.rng = random.Random(5)
        self.headers = {"Impilo-API-Key": DATA["api_key"]}
        self.placed: list[int] = []

    @task
    def place(self) -> None:
        body = {
            "patient": {"id": self.rng.choice(DATA["patients"])["id"]},
            "orderItems": [{"item": {"id": self.rng.choice(DATA["item_ids"])}, "count": 2}],
            "orderKits": [{"kit": {"id": self.rng.choice(DATA["kit_ids"])}, "count": 1}],
            "externalOrderIds": [f"LOAD-{self.rng.randrange(10**12)}"],
            "shippingOption": "standard",
        }
        with self.client.post(
            "/api/v3/order",
            json=body,
            headers=self.headers,
            name="api: place an order",
            catch_response=True,
        ) as r:
            if r.status_code != 201:
                r.failure(f"placing answered {r.status_code}: {r.text[:300]!r}")
            else:
                self.placed.append(r.json()["id"])

    @task
    def read(self) -> None:
        order = (
            self.rng.choice(self.placed)
            if self.placed and self.rng.random() < 0.5
            else self.rng.choice(DATA["order_ids"])
        )
        self.client.get(f"/api/v3/order/{order}", headers=self.headers, name="api: read an order")


class Lead(Person):
    """The fulfilment lead, refreshing the dashboard."""

    role = "fulfillment"
    fixed_count = 1
    wait_time = between(20, 40)
    dashboard = True

    @task
    def refresh_dashboard(self) -> None:
        if not Lead.dashboard:
            return
        with self.client.get("/dashboard", name="dashboard", catch_response=True) as r:
            if r.status_code == 404:
                Lead.dashboard = False  # not on this branch yet: said in the report
                r.success()


USERS = {"Coordinator": Coordinator, "Packer": Packer, "Integration": Integration, "Lead": Lead}


def drive(host: str, steps: list[int], seconds: float, warmup: float, out: str) -> None:
    """Runs the steps one after the other in one Locust environment (people signed in at one
    step stay signed in at the next); each step's statistics are reset after its warm-up."""
    import gevent
    from locust.env import Environment

    env = Environment(user_classes=list(USERS.values()), host=host, events=events)
    runner = env.create_local_runner()
    results = []
    for coordinators in steps:
        packers = max(1, coordinators // 5)
        total = coordinators + packers + 2  # + the integration and the lead
        runner.start(total, spawn_rate=max(5, total / 5))
        # Everyone new signs in first (a password hash each, slow on purpose, and once a day
        # per person): the step is measured from the warm-up after the last sign-in.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            gevent.sleep(0.5)
            spawned = runner.user_classes_count
            people = sum(spawned.get(name, 0) for name in ("Coordinator", "Packer", "Lead"))
            if runner.state != "spawning" and SIGNED_IN[0] >= people:
                break
        gevent.sleep(warmup)
        env.stats.reset_all()
        gevent.sleep(seconds)
        counts = dict(runner.user_classes_count)
        rows = {}
        for (name, method), entry in sorted(env.stats.entries.items()):
            rows[f"{method} {name}"] = {
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "rps": entry.num_requests / seconds,
                "p50": entry.get_response_time_percentile(0.5),
                "p95": entry.get_response_time_percentile(0.95),
                "p99": entry.get_response_time_percentile(0.99),
            }
        errors = [
            f"{e.method} {e.name}: {e.error} (×{e.occurrences})" for e in env.stats.errors.values()
        ]
        results.append(
            {"users": counts, "rows": rows, "errors": errors[:20], "dashboard": Lead.dashboard}
        )
        print(f"  step {counts}: {sum(r['requests'] for r in rows.values())} requests", flush=True)
    runner.quit()
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Drive the day's load (run by load_runner).")
    parser.add_argument("--host", required=True)
    parser.add_argument("--steps", type=int, nargs="+", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    drive(args.host, args.steps, args.seconds, args.warmup, args.out)
    sys.exit(0)
