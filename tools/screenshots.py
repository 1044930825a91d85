"""Pictures for the README: the app with its demo data, in Chromium, into docs/screenshots/.

Run by ``python3 dev.py screenshots``. It builds a fresh SQLite database in a temporary
folder (your own data is never touched), loads the demo data, moves a few demo orders
along (processing, packed, shipped) so that the pages have something to show, serves the
app from a thread on a free port, and photographs each page at 1280 px wide.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 860
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def prepare(app) -> dict:
    """Demo data, and orders in the states the pictures need; answers their ids."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app.auth.models import User
    from app.catalog.models import Device, DeviceIdentifier
    from app.demo.commands import seed
    from app.extensions import db
    from app.inventory.devices import IN_STOCK
    from app.orders import lifecycle, packing
    from app.orders.lookups import get_order
    from app.orders.models import Order
    from app.orders.service import Actor

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        seed(random.Random(14))

        def fulfillment() -> Actor:  # afresh each time: a removed session detaches the user
            return Actor(user=db.session.scalar(select(User).where(User.role == "fulfillment")))

        first, being_packed = db.session.scalars(select(Order.id).order_by(Order.id).limit(2)).all()
        db.session.remove()

        # The first order goes all the way to shipped, with real demo devices: for each slot,
        # a device of its item on the shelf at the order's location (recording it allocates
        # it, so the next slot finds another). A refusal stops the run with its reason.
        lifecycle.change_status(first, "processing", fulfillment())
        order = get_order(first)
        for slot in packing.packing_plan(order).slots:
            identifier = db.session.scalars(
                select(DeviceIdentifier.value)
                .join(Device, DeviceIdentifier.device_id == Device.id)
                .where(
                    Device.item_id == slot.item.id,
                    Device.current_status == IN_STOCK,
                    Device.location_id == order.fulfillment_location_id,
                    DeviceIdentifier.type == slot.identifier_type,
                )
                .order_by(DeviceIdentifier.id)
                .limit(1)
            ).first()
            if identifier is None:
                sys.exit(f"The demo data has no {slot.item.name} in stock for {slot.label}.")
            packing.record_device(first, identifier, fulfillment(), slot_key=slot.key)
        db.session.remove()
        lifecycle.change_status(first, "packed", fulfillment())
        lifecycle.change_status(
            first, "shipped", fulfillment(), tracking=("UPS", "1Z999AA10123456784")
        )
        lifecycle.change_status(being_packed, "processing", fulfillment())
        db.session.remove()
    return {"shipped": first, "packing": being_packed}


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def shoot(page, name: str) -> None:
    page.wait_for_timeout(300)  # let the last swap settle
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"  docs/screenshots/{name}.png")


def photograph(base: str, ids: dict) -> None:
    from playwright.sync_api import sync_playwright

    from app.demo import catalog

    (coordinator, coordinator_password, *_), (fulfillment, fulfillment_password, *_) = (
        catalog.USERS[0],
        catalog.USERS[1],
    )
    path = os.environ.get("CHROMIUM_PATH") or next(
        (p for p in SYSTEM_CHROMIUM if Path(p).exists()), None
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            viewport={"width": WIDTH, "height": HEIGHT}, timezone_id="America/New_York"
        )
        page = context.new_page()
        sign_in(page, base, coordinator, coordinator_password)

        # The new-order page, an item box open on its options.
        page.goto(f"{base}/orders/new")
        page.get_by_label("Find a patient").fill("a")
        page.locator("#recipient-results button.result").first.click()
        page.locator("#ship-to").wait_for()
        page.wait_for_function("document.activeElement.id === 'items-0-ref'")
        page.keyboard.type("strips")
        options = page.get_by_role("listbox", name="Matches for item 1").get_by_role("option")
        options.first.wait_for()
        page.keyboard.press("ArrowDown")
        shoot(page, "new-order")

        page.goto(f"{base}/orders/")
        shoot(page, "order-list")

        page.goto(f"{base}/orders/{ids['shipped']}")
        page.get_by_role("region", name="Timeline").scroll_into_view_if_needed()
        shoot(page, "order-timeline")

        page.goto(f"{base}/orders/{ids['shipped']}/packing-summary")
        shoot(page, "packing-summary")

        context.clear_cookies()
        sign_in(page, base, fulfillment, fulfillment_password)
        page.goto(f"{base}/orders/{ids['packing']}")
        page.get_by_label("Scan or type a device identifier").focus()
        shoot(page, "packing-station")
        browser.close()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(folder) / 'screenshots.db'}"
        os.environ.setdefault("SECRET_KEY", "screenshots-only")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        from werkzeug.serving import make_server

        from app import create_app

        app = create_app()
        ids = prepare(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            photograph(f"http://127.0.0.1:{server.server_port}", ids)
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
