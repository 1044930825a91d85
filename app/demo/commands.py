"""``flask seed-demo``: fills an empty database with demo data, and says how to sign in."""

from __future__ import annotations

import random
from datetime import date

import click
from sqlalchemy import func, select

from app.auth.models import ApiKey, User
from app.auth.scopes import ALL_SCOPES
from app.catalog.identifiers import luhn_check_digit
from app.catalog.models import Item, Kit, KitItem, Manufacturer
from app.db.transactions import write_transaction
from app.demo import catalog
from app.demo.generate import generate
from app.demo.progress import Progress
from app.extensions import db
from app.inventory.locations import ensure_default_location
from app.inventory.receipts import ReceiptDevices, ReceiptDraft, ReceiptLine, receive
from app.orders.service import Actor, LineRequest, OrderDraft, place_order
from app.people.models import Address, Patient, Site, UserSite


def _identifier(kind: str, rng: random.Random, n: int, serial_prefix: str | None = None) -> str:
    if kind == "imei":
        body = "35" + "".join(rng.choice("0123456789") for _ in range(12))
        return body + luhn_check_digit(body)
    if kind in ("iccid", "simCardNumber"):
        body = "8901260" + "".join(rng.choice("0123456789") for _ in range(11))
        return body + luhn_check_digit(body)
    if kind == "macAddress":
        return "00:1C:05:" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))
    if serial_prefix:
        return f"{serial_prefix}{n:02d}{rng.randrange(10**6):06d}"
    return f"SN{rng.randrange(10**7):07d}{n:02d}"


def seed(rng: random.Random) -> None:
    with write_transaction() as session:
        manufacturers = {}
        items = {}
        for sku, name, model, maker, id_type, size, orderable in catalog.ITEMS:
            if maker not in manufacturers:
                manufacturers[maker] = Manufacturer(name=maker)
            items[sku] = Item(
                sku=sku,
                name=name,
                model=model,
                manufacturer=manufacturers[maker],
                device_identifier_type=id_type,
                serial_pattern=catalog.SERIAL_PATTERNS.get(sku, (None,))[0],
                size=size,
                orderable=orderable,
            )
        session.add_all(items.values())
        for name, archived, contents in catalog.KITS:
            session.add(
                Kit(
                    name=name,
                    archived=archived,
                    kit_items=[KitItem(item=items[sku], count=count) for sku, count in contents],
                )
            )
        for sku, (_, reorder_point) in catalog.STOCK.items():
            items[sku].reorder_point = reorder_point
        ensure_default_location()
        sites = []
        for name, active, phone, (line_one, city, state, zip_code) in catalog.SITES:
            address = Address(line_one=line_one, city=city, state=state, zip_code=zip_code)
            sites.append(Site(name=name, active=active, phone_number=phone, address=address))
        session.add_all(sites)

        for n, (first, last) in enumerate(
            zip(catalog.FIRST_NAMES, catalog.LAST_NAMES, strict=True)
        ):
            city, state, zip_code, area = catalog.CITIES[n % len(catalog.CITIES)]
            site = sites[n % 3]  # the three active sites
            address = Address(
                line_one=f"{rng.randrange(10, 9999)} {rng.choice(catalog.STREETS)}",
                line_two=f"Apt {rng.randrange(1, 40)}" if n % 4 == 0 else None,
                city=city,
                state=state,
                zip_code=zip_code,
            )
            session.add(
                Patient(
                    external_identifier=f"MRN-{100200 + n * 17}",
                    first_name=first,
                    last_name=last,
                    date_of_birth=date(
                        1938 + rng.randrange(50), rng.randrange(1, 13), rng.randrange(1, 29)
                    ),
                    email=f"{first}.{last}".lower().replace("'", "") + "@example.com",
                    phone_number=f"+1{area}555{rng.randrange(100, 200):04d}",
                    sex="female" if n % 2 == 0 else "male",
                    archived=n % 10 == 9,
                    address=address,
                    site=site,
                )
            )

        for email, password, role, first, last in catalog.USERS:
            user = User(email=email, role=role, first_name=first, last_name=last)
            user.set_password(password)
            session.add(user)
            if role == "coordinator":  # their dashboard shows two of the three active sites
                session.flush()
                session.add_all(UserSite(user_id=user.id, site_id=s.id) for s in sites[:2])
        api_key, _ = ApiKey.issue("Demo integration", ALL_SCOPES, key=catalog.API_KEY)
        session.add(api_key)

    _receive_demo_stock(rng)
    _place_demo_orders(rng)


def _receive_demo_stock(rng: random.Random) -> None:
    """The opening stock, received as a warehouse would: one receipt of counts and devices."""
    admin = db.session.scalar(select(User).where(User.role == "admin"))
    items = {i.sku: i for i in db.session.scalars(select(Item))}
    lines, devices = [], []
    for sku, (units, _) in catalog.STOCK.items():
        item = items[sku]
        kind = item.device_identifier_type
        if not units:
            continue
        if kind is None:
            lines.append(ReceiptLine(item.id, units))
        else:
            prefix = catalog.SERIAL_PATTERNS.get(sku, (None, None))[1]
            devices.append(
                ReceiptDevices(
                    item.id, [(kind, _identifier(kind, rng, n, prefix)) for n in range(units)]
                )
            )
    receive(
        ReceiptDraft(reference="Opening stock", lines=lines, devices=devices), Actor(user=admin)
    )


def _place_demo_orders(rng: random.Random) -> None:
    coordinator = db.session.scalar(select(User).where(User.role == "coordinator"))
    patients = db.session.scalars(
        select(Patient).where(Patient.archived.is_(False)).order_by(Patient.id)
    ).all()
    orderable = db.session.scalars(select(Item.id).where(Item.orderable).order_by(Item.id)).all()
    kits = db.session.scalars(select(Kit.id).where(Kit.archived.is_(False)).order_by(Kit.id)).all()
    for n, patient in enumerate(patients[:12]):
        draft = OrderDraft(
            patient_id=patient.id,
            kits=[LineRequest(ref=kits[n % len(kits)], count=1)],
            items=[LineRequest(ref=rng.choice(orderable[1:5]), count=rng.randrange(1, 3))],
            external_order_ids=[f"EHR-{20261100 + n}"],
            shipping_option="overnight" if n % 5 == 0 else "standard",
        )
        place_order(draft, Actor(user=coordinator))
    # Every replacement SIM card on the shelf is promised: the demo's out-of-stock item.
    sims = db.session.scalar(select(Item).where(Item.sku == "SIM-IOT"))
    place_order(
        OrderDraft(
            patient_id=patients[12].id,
            items=[LineRequest(ref=sims.id, count=catalog.STOCK["SIM-IOT"][0])],
        ),
        Actor(user=coordinator),
    )


def credentials_text() -> str:
    lines = ["Demo sign-ins (demo data only):"]
    for email, password, role, *_ in catalog.USERS:
        lines.append(f"  {role:<12} {email:<30} password: {password}")
    lines.append(f"Demo API key (header Impilo-API-Key): {catalog.API_KEY}")
    lines.append(
        "Devices to scan when packing: sign in as fulfillment, open Stock (/stock/): "
        "'Devices on the shelf' lists identifiers that are in stock."
    )
    return "\n".join(lines)


def register(app) -> None:
    @app.cli.command("seed-demo")
    def seed_demo():
        """Load demo data into an empty database (a database with data is left as it is)."""
        has_data = db.session.scalar(select(func.count(User.id))) or db.session.scalar(
            select(func.count(Item.id))
        )
        if has_data:
            click.echo("The database already holds data; it was left as it is.")
        else:
            seed(random.Random(20261126))
            click.echo("Loaded demo data.")
        click.echo(credentials_text())

    @app.cli.command("generate-orders")
    @click.argument("count", type=click.IntRange(1, 5_000_000))
    @click.option("--seed", default=1, show_default=True, help="Same seed, same orders.")
    def generate_orders(count: int, seed: int):
        """Add COUNT realistic orders with their histories (for load and speed checks).

        On PostgreSQL the run is one transaction that keeps the order tables locked until
        it commits: a server using the database waits for it.
        """
        with Progress(count, "Generating orders", "orders") as bar:
            result = generate(count, seed, progress=bar.update)
        click.echo(
            f"Added {result['orders']:,} orders for {result['patients']:,} new patients "
            f"({result['rows']:,} rows) in {result['seconds']} s."
        )
