"""The stock ledger and reservations, rule by rule: the figures (on hand, reserved,
available), the one way they change (a ledger row and the balance moved by the same amount),
what an order reserves, releases and ships, and the refusals that stop overselling. Each test
goes through the inventory's modules as the order service does and reads back what was stored.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.auth.actor import Actor
from app.auth.models import User
from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.inventory import adjustments, ledger, receipts, reservations
from app.inventory.locations import default_location
from app.inventory.models import StockBalance, StockLocation, StockMovement
from app.inventory.reservations import DemandLine
from app.orders import lifecycle
from tests.conftest import STOCK_PER_COUNTED_ITEM, STOCK_PER_DEVICE_ITEM, app_context
from tests.helpers.orders import move, place


def admin_actor() -> Actor:
    return Actor(user=db.session.scalar(select(User).where(User.role == "admin")))


def figures(app, item_id: int, location_id: int | None = None) -> tuple[int, int]:
    """(on hand, reserved) of an item at a location (the default one unless given)."""
    with app_context(app) as session:
        location_id = location_id or default_location().id
        balance = session.scalar(
            select(StockBalance).where(
                StockBalance.item_id == item_id, StockBalance.location_id == location_id
            )
        )
        return (balance.on_hand, balance.reserved) if balance else (0, 0)


def rows_of(app, order_id: int) -> list[tuple]:
    """An order's ledger rows: (kind, item, location, on hand change, reserved change, reason)."""
    with app_context(app) as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    StockMovement.kind,
                    StockMovement.item_id,
                    StockMovement.location_id,
                    StockMovement.on_hand_change,
                    StockMovement.reserved_change,
                    StockMovement.reason,
                )
                .where(StockMovement.order_id == order_id)
                .order_by(StockMovement.id)
            )
        ]


def ledger_count(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(StockMovement.id)))


def new_location(app, name: str = "East depot") -> int:
    with app.app_context(), write_transaction() as session:
        location = StockLocation(name=name)
        session.add(location)
        session.flush()
        return location.id


def receive_counted(app, location_id: int, units: dict[int, int]) -> None:
    with app.app_context():
        receipts.receive(
            receipts.ReceiptDraft(
                location_ref=location_id,
                reference="For this test",
                lines=[receipts.ReceiptLine(i, n) for i, n in units.items()],
            ),
            admin_actor(),
        )
        db.session.remove()


def reserve(app, order_id: int, location_id: int, lines: list[DemandLine]) -> None:
    """Reserves as the order service does, in a write transaction of its own."""
    with app.app_context():
        try:
            with write_transaction():
                reservations.reserve(order_id, location_id, lines, admin_actor())
        finally:
            db.session.remove()


def an_order(app, catalog) -> int:
    """A placed order that holds nothing reserved (one monitor, received when scanned): the
    tests below reserve for it by hand."""
    return place(app, catalog, items={"monitor": 1})


def refusal(error: pytest.ExceptionInfo) -> list[tuple]:
    return [(p.code, p.message, p.field) for p in error.value.problems]


# --- Figures -------------------------------------------------------------------------------


def test_available_is_on_hand_less_reserved_and_zero_where_never_received(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east = new_location(app)
    receive_counted(app, east, {strips: 5})
    place(app, catalog, items={"strips": 7})
    with app_context(app):
        home = default_location().id
        assert ledger.available(home, [strips, cuff]) == {
            strips: STOCK_PER_COUNTED_ITEM - 7,
            cuff: STOCK_PER_COUNTED_ITEM,
        }
        # An item never received at a location has nothing available there, not a gap.
        assert ledger.available(east, {strips, cuff}) == {strips: 5, cuff: 0}
        # No item asked (or only empty references): nothing is read, nothing answered.
        assert ledger.available(home, []) == {} and ledger.available(home, [0]) == {}


def test_available_never_goes_below_zero_when_reserved_exceeds_on_hand(app, catalog):
    strips = catalog.items["strips"]
    place(app, catalog, items={"strips": 10})
    with app.app_context(), write_transaction() as session:
        # A count after the reservation (or an edit behind the ledger's back) can leave fewer
        # on hand than reserved: what is available is then none, never a negative number.
        balance = session.scalar(select(StockBalance).where(StockBalance.item_id == strips))
        balance.on_hand = 4
    with app_context(app):
        assert ledger.available(default_location().id, [strips]) == {strips: 0}


def new_item(app, name: str = "Lancets") -> int:
    with app.app_context(), write_transaction() as session:
        item = Item(name=name, sku=name.upper()[:8])
        session.add(item)
        session.flush()
        return item.id


def test_the_stock_check_names_each_balance_that_differs_from_its_ledger(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    lancets, swabs = new_item(app), new_item(app, "Swabs")
    east = new_location(app)
    receive_counted(app, east, {strips: 5})
    place(app, catalog, items={"strips": 3})
    with app_context(app):
        home = default_location().id
        assert ledger.balance_mismatches() == []
        assert ledger.ledger_totals()[(strips, home)] == (STOCK_PER_COUNTED_ITEM, 3)
        assert ledger.balance_totals()[(strips, home)] == (STOCK_PER_COUNTED_ITEM, 3)
    with app.app_context(), write_transaction() as session:
        balance = session.scalar(select(StockBalance).where(StockBalance.item_id == cuff))
        balance.reserved += 2
        # A balance row with no ledger row at all, holding something: also a mismatch.
        session.add(StockBalance(location_id=home, item_id=lancets, on_hand=1, reserved=0))
        session.add(StockBalance(location_id=home, item_id=swabs, on_hand=0, reserved=1))
        # A balance row gone while its ledger rows remain: the check names it too.
        session.delete(
            session.scalar(
                select(StockBalance).where(
                    StockBalance.item_id == strips, StockBalance.location_id == east
                )
            )
        )
    with app_context(app):
        assert ledger.balance_mismatches() == sorted(
            [
                ((strips, east), (0, 0), (5, 0)),
                ((lancets, home), (1, 0), (0, 0)),
                ((swabs, home), (0, 1), (0, 0)),
                ((cuff, home), (STOCK_PER_COUNTED_ITEM, 2), (STOCK_PER_COUNTED_ITEM, 0)),
            ]
        )


def test_an_empty_balance_without_ledger_rows_is_no_mismatch(app, catalog):
    lancets = new_item(app)
    with app.app_context(), write_transaction() as session:
        home = default_location().id
        session.add(StockBalance(location_id=home, item_id=lancets, on_hand=0, reserved=0))
    with app_context(app):
        assert ledger.balance_totals()[(lancets, home)] == (0, 0)
        assert ledger.balance_mismatches() == []


def test_a_missing_balance_row_whose_ledger_sums_to_nothing_is_no_mismatch(app, catalog):
    strips = catalog.items["strips"]
    east = new_location(app)
    receive_counted(app, east, {strips: 5})
    with app.app_context():
        adjustments.adjust(east, strips, 0, "Stocktake", admin_actor(), counted=True)
        db.session.remove()
    with app.app_context(), write_transaction() as session:
        session.delete(
            session.scalar(
                select(StockBalance).where(
                    StockBalance.item_id == strips, StockBalance.location_id == east
                )
            )
        )
    with app_context(app):
        assert ledger.ledger_totals()[(strips, east)] == (0, 0)
        assert ledger.balance_mismatches() == []


# --- The one way figures change ------------------------------------------------------------


def test_a_change_naming_no_item_or_an_unknown_one_is_refused_and_stores_nothing(app, catalog):
    before = ledger_count(app)
    with app.app_context(), pytest.raises(ledger.StockRefused) as error:
        receipts.receive(
            receipts.ReceiptDraft(
                lines=[receipts.ReceiptLine(None, 1), receipts.ReceiptLine(999_999, 1)]
            ),
            admin_actor(),
        )
    assert refusal(error) == [
        ("item_not_found", "Choose an item.", "lines[0].item.id"),
        ("item_not_found", "There is no item with id 999999.", "lines[1].item.id"),
    ]
    assert ledger_count(app) == before


def test_a_refusal_for_one_reason_names_its_code_message_and_field():
    with pytest.raises(ledger.StockRefused) as error:
        ledger.refuse("below_reserved", "Too few.", "quantity")
    assert refusal(error) == [("below_reserved", "Too few.", "quantity")]
    with pytest.raises(ledger.StockRefused) as error:
        ledger.refuse("location_inactive", "Inactive.")
    assert refusal(error) == [("location_inactive", "Inactive.", None)]


def test_balance_rows_are_locked_as_they_are_and_made_only_when_asked(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east = new_location(app)
    receive_counted(app, east, {strips: 4})
    with app.app_context(), write_transaction():
        assert ledger.lock_balances(east, set(), create=True) == {}
        found = ledger.lock_balances(east, {strips, cuff}, create=False)
        assert set(found) == {strips}
        assert (found[strips].item_id, found[strips].on_hand, found[strips].reserved) == (
            strips,
            4,
            0,
        )
        made = ledger.lock_balances(east, {strips, cuff}, create=True)
        assert set(made) == {strips, cuff} and made[strips] == found[strips]
        assert (made[cuff].on_hand, made[cuff].reserved) == (0, 0)
        # Made twice (a concurrent maker, or this one again): no error, the same row.
        assert ledger.lock_balances(east, {cuff}, create=True) == {cuff: made[cuff]}


def test_each_ledger_row_moves_its_balance_by_the_same_amount_stamped_with_its_actor(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east = new_location(app)
    with app.app_context(), write_transaction():
        actor = admin_actor()
        balances = ledger.lock_balances(east, {strips, cuff}, create=True)
        ledger.record_movements(balances, [], actor)  # nothing to write: nothing written
        ledger.record_movements(
            balances,
            [
                {"kind": "receipt", "item_id": strips, "location_id": east, "on_hand_change": 9},
                {
                    "kind": "reservation",
                    "item_id": strips,
                    "location_id": east,
                    "reserved_change": 4,
                },
                {
                    "kind": "receipt",
                    "item_id": cuff,
                    "location_id": east,
                    "on_hand_change": 2,
                    "reason": "Found on a shelf",
                },
                {"kind": "receipt", "item_id": strips, "location_id": east, "on_hand_change": 1},
            ],
            actor,
        )
        user_id = actor.user_id
    # Several rows of one item in one call move its balance by their sum.
    assert figures(app, strips, east) == (10, 4)
    assert figures(app, cuff, east) == (2, 0)
    with app_context(app) as session:
        rows = session.execute(
            select(
                StockMovement.kind,
                StockMovement.item_id,
                StockMovement.on_hand_change,
                StockMovement.reserved_change,
                StockMovement.reason,
                StockMovement.order_id,
                StockMovement.receipt_id,
                StockMovement.device_id,
                StockMovement.actor_user_id,
                StockMovement.actor_api_key_id,
                StockMovement.created_at.is_not(None),
            )
            .where(StockMovement.location_id == east)
            .order_by(StockMovement.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("receipt", strips, 9, 0, None, None, None, None, user_id, None, True),
            ("reservation", strips, 0, 4, None, None, None, None, user_id, None, True),
            ("receipt", cuff, 2, 0, "Found on a shelf", None, None, None, user_id, None, True),
            ("receipt", strips, 1, 0, None, None, None, None, user_id, None, True),
        ]
        assert ledger.balance_mismatches() == []


# --- Reservations --------------------------------------------------------------------------


def test_a_reservation_never_takes_more_than_is_available(app, catalog):
    strips = catalog.items["strips"]
    east = new_location(app)
    receive_counted(app, east, {strips: 5})
    first, second = an_order(app, catalog), an_order(app, catalog)
    line = DemandLine(field_path="orderItems[0].count", name="Test strips", count=6, item_id=strips)
    with pytest.raises(reservations.InsufficientInventory) as error:
        reserve(app, first, east, [line])
    assert refusal(error) == [
        (
            "insufficient_inventory",
            "Not enough stock for Test strips: 6 × Test strips needed, 5 available.",
            "orderItems[0].count",
        )
    ]
    assert figures(app, strips, east) == (5, 0)
    # Exactly what is there is granted, and then nothing more.
    reserve(app, first, east, [DemandLine("orderItems[0].count", "Test strips", 5, item_id=strips)])
    assert figures(app, strips, east) == (5, 5)
    with pytest.raises(reservations.InsufficientInventory) as error:
        reserve(app, second, east, [DemandLine("orderItems[0].count", "Strips", 1, item_id=strips)])
    assert "1 × Test strips needed, 0 available" in refusal(error)[0][1]
    assert figures(app, strips, east) == (5, 5)


def test_an_item_never_received_at_the_location_cannot_be_reserved_there(app, catalog):
    strips = catalog.items["strips"]
    east, order_id = new_location(app), an_order(app, catalog)
    with pytest.raises(reservations.InsufficientInventory) as error:
        reserve(
            app, order_id, east, [DemandLine("orderItems[0].count", "Strips", 1, item_id=strips)]
        )
    assert (
        refusal(error)[0][1] == "Not enough stock for Strips: 1 × Test strips needed, 0 available."
    )
    assert figures(app, strips, east) == (0, 0)


def test_later_lines_see_what_earlier_lines_took_and_every_short_line_is_named(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east = new_location(app)
    receive_counted(app, east, {strips: 5, cuff: 1})
    lines = [
        DemandLine("orderItems[0].count", "Strips", 4, item_id=strips),
        DemandLine("orderItems[1].count", "More strips", 3, item_id=strips),
        DemandLine("orderItems[2].count", "Cuffs", 2, item_id=cuff),
        DemandLine("orderItems[3].count", "Last strips", 1, item_id=strips),
    ]
    with pytest.raises(reservations.InsufficientInventory) as error:
        reserve(app, an_order(app, catalog), east, lines)
    assert refusal(error) == [
        (
            "insufficient_inventory",
            "Not enough stock for More strips: 3 × Test strips needed, 1 available.",
            "orderItems[1].count",
        ),
        (
            "insufficient_inventory",
            "Not enough stock for Cuffs: 2 × BP cuff, large needed, 1 available.",
            "orderItems[2].count",
        ),
        (
            # What the refused line asked for is counted as taken: none is left, not less.
            "insufficient_inventory",
            "Not enough stock for Last strips: 1 × Test strips needed, 0 available.",
            "orderItems[3].count",
        ),
    ]
    assert (figures(app, strips, east), figures(app, cuff, east)) == ((5, 0), (1, 0))


def test_a_line_short_of_several_items_names_each_of_them(app, catalog):
    strips, glucometer = catalog.items["strips"], catalog.items["glucometer"]
    east, order_id = new_location(app), an_order(app, catalog)
    receive_counted(app, east, {strips: 1})
    kit = DemandLine(
        "orderKits[0].count",
        "Diabetes kit",
        1,
        kit_id=catalog.kits["diabetes"],
        kit_contents=((glucometer, 1), (strips, 2)),
        received_on_scan=frozenset(),
    )
    with pytest.raises(reservations.InsufficientInventory) as error:
        reserve(app, order_id, east, [kit])
    assert refusal(error) == [
        (
            "insufficient_inventory",
            "Not enough stock for Diabetes kit: 1 × Glucometer needed, 0 available; "
            "2 × Test strips needed, 1 available.",
            "orderKits[0].count",
        )
    ]
    assert rows_of(app, order_id) == []


def test_a_reservation_is_one_row_per_item_with_kits_multiplied_out(app, catalog):
    strips, glucometer = catalog.items["strips"], catalog.items["glucometer"]
    with app.app_context(), write_transaction() as session:
        session.get(Item, glucometer).accept_unreceived_devices = False
        home = default_location().id
    diabetes = catalog.kits["diabetes"]  # a glucometer and 2 boxes of strips
    read, told = an_order(app, catalog), an_order(app, catalog)
    reserve(
        app,
        read,
        home,
        [
            DemandLine("orderItems[0].count", "Strips", 3, item_id=strips),
            DemandLine("orderKits[0].count", "Diabetes kit", 2, kit_id=diabetes),
        ],
    )
    # The order service passes the kit's contents it has read already: the same units.
    reserve(
        app,
        told,
        home,
        [
            DemandLine(
                "orderKits[0].count",
                "Diabetes kit",
                1,
                kit_id=diabetes,
                kit_contents=((glucometer, 1), (strips, 2)),
            )
        ],
    )
    by_item = sorted([(strips, 3 + 2 * 2), (glucometer, 2)])
    assert rows_of(app, read) == [("reservation", i, home, 0, n, None) for i, n in by_item]
    by_item = sorted([(strips, 2), (glucometer, 1)])
    assert rows_of(app, told) == [("reservation", i, home, 0, n, None) for i, n in by_item]
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM, 9)
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM, 3)


def test_items_received_on_scan_hold_nothing_back(app, catalog):
    """The fixture's device items are received when scanned: an order of them reserves
    nothing, whether the caller says so or reserving reads it."""
    strips, glucometer = catalog.items["strips"], catalog.items["glucometer"]
    many = STOCK_PER_DEVICE_ITEM + 5
    with app_context(app):
        home = default_location().id
    lines = [
        DemandLine("orderItems[0].count", "Strips", 2, item_id=strips),
        DemandLine("orderItems[1].count", "Glucometers", many, item_id=glucometer),
    ]
    first, second, third, fourth = (an_order(app, catalog) for _ in range(4))
    reserve(app, first, home, lines)
    assert rows_of(app, first) == [("reservation", strips, home, 0, 2, None)]
    told = [
        DemandLine(
            "orderItems[0].count", "Strips", 2, item_id=strips, received_on_scan=frozenset()
        ),
        DemandLine(
            "orderItems[1].count",
            "Glucometers",
            many,
            item_id=glucometer,
            received_on_scan=frozenset({glucometer}),
        ),
    ]
    reserve(app, second, home, told)
    assert rows_of(app, second) == [("reservation", strips, home, 0, 2, None)]
    # Told for some lines only: reserving reads which items are received on scan.
    reserve(app, fourth, home, [told[0], lines[1]])
    assert rows_of(app, fourth) == [("reservation", strips, home, 0, 2, None)]
    assert figures(app, glucometer) == (STOCK_PER_DEVICE_ITEM, 0)
    with app.app_context(), write_transaction() as session:
        session.get(Item, glucometer).accept_unreceived_devices = False
    with pytest.raises(reservations.InsufficientInventory):
        reserve(app, third, home, lines)


def test_what_an_order_would_reserve_is_previewed_without_writing(app, catalog):
    strips, glucometer, cuff = (catalog.items[n] for n in ("strips", "glucometer", "cuff"))
    lines = [
        DemandLine("orderItems[0].count", "Strips", 3, item_id=strips),
        DemandLine("orderItems[1].count", "Cuffs", 1, item_id=cuff),
        DemandLine("orderKits[0].count", "Diabetes kit", 2, kit_id=catalog.kits["diabetes"]),
    ]
    before = ledger_count(app)
    with app_context(app):
        # Glucometers are received when scanned (the fixture's rule): none held back.
        assert reservations.units_to_reserve(lines) == {strips: 3 + 4, cuff: 1}
        assert reservations.units_to_reserve([]) == {}
        assert reservations.item_names({strips, cuff}) == {
            strips: "Test strips",
            cuff: "BP cuff, large",
        }
        assert reservations.item_names(set()) == {}
    with app.app_context(), write_transaction() as session:
        session.get(Item, glucometer).accept_unreceived_devices = False
    with app_context(app):
        assert reservations.units_to_reserve(lines) == {strips: 7, cuff: 1, glucometer: 2}
    assert ledger_count(app) == before


def test_cancelling_gives_back_what_the_order_held_at_each_location_with_the_reason(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east = new_location(app)
    receive_counted(app, east, {strips: 5})
    with app_context(app):
        home = default_location().id
    order_id = an_order(app, catalog)
    reserve(
        app,
        order_id,
        home,
        [DemandLine("a", "Strips", 4, item_id=strips), DemandLine("b", "Cuff", 1, item_id=cuff)],
    )
    reserve(app, order_id, east, [DemandLine("a", "Strips", 2, item_id=strips)])
    with app.app_context():
        with write_transaction():
            reservations.release(order_id, admin_actor(), reason="Patient moved")
        db.session.remove()
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM, 0)
    assert figures(app, cuff) == (STOCK_PER_COUNTED_ITEM, 0)
    assert figures(app, strips, east) == (5, 0)
    released = [r for r in rows_of(app, order_id) if r[0] == "release"]
    assert sorted(released) == sorted(
        [
            ("release", strips, home, 0, -4, "Patient moved"),
            ("release", cuff, home, 0, -1, "Patient moved"),
            ("release", strips, east, 0, -2, "Patient moved"),
        ]
    )
    # Released once, nothing is held: releasing again writes nothing.
    with app.app_context():
        with write_transaction():
            reservations.release(order_id, admin_actor())
        db.session.remove()
    assert len(rows_of(app, order_id)) == 6


def test_shipping_takes_the_units_out_and_ends_the_reservation(app, catalog):
    strips = catalog.items["strips"]
    order_id = place(app, catalog, items={"strips": 3}, kits={"diabetes": 1})
    move(app, order_id, "processing")
    with app_context(app):
        home = default_location().id
    with app.app_context():
        with write_transaction():
            reservations.ship(
                order_id,
                home,
                [
                    DemandLine("a", "Strips", 3, item_id=strips),
                    DemandLine("b", "Diabetes kit", 1, kit_id=catalog.kits["diabetes"]),
                ],
                admin_actor(),
            )
        db.session.remove()
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM - 5, 0)
    shipped = [r for r in rows_of(app, order_id) if r[0] == "shipment"]
    assert ("shipment", strips, home, -5, -5, None) in shipped
    # The glucometer is received when scanned: it was never reserved, it still leaves.
    assert ("shipment", catalog.items["glucometer"], home, -1, 0, None) in shipped
    with app_context(app):
        assert ledger.balance_mismatches() == []


def test_an_order_shipped_through_its_timeline_takes_its_units_out_under_its_own_number(
    app, catalog
):
    """The lifecycle's door to the ledger: shipping an order ends its reservation and writes
    the shipment rows under that order, as a packer's Shipped does."""
    strips = catalog.items["strips"]
    order_id = place(app, catalog, items={"strips": 3})
    with app_context(app):
        home = default_location().id
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM, 3)
    move(app, order_id, "processing", "packed")
    with app.app_context():
        lifecycle.add_tracking_number(order_id, "UPS", "1z 999 aa1 01 2345 6784", admin_actor())
        db.session.remove()
    move(app, order_id, "shipped")
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM - 3, 0)
    assert [r for r in rows_of(app, order_id) if r[0] == "shipment"] == [
        ("shipment", strips, home, -3, -3, None)
    ]
    with app_context(app):
        assert ledger.balance_mismatches() == []


def test_an_order_sent_again_after_a_delivery_exception_takes_its_units_out_once(app, catalog):
    """Shipped again after a delivery exception, the same parcel is on its way: no units leave
    a second time."""
    strips = catalog.items["strips"]
    order_id = place(app, catalog, items={"strips": 3})
    with app_context(app):
        home = default_location().id
    move(app, order_id, "processing", "packed")
    move(app, order_id, "shipped", tracking=("UPS", "1Z999AA10123456784"))
    move(app, order_id, "deliveryException", "shipped")
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM - 3, 0)
    assert [r for r in rows_of(app, order_id) if r[0] == "shipment"] == [
        ("shipment", strips, home, -3, -3, None)
    ]
    with app_context(app):
        assert ledger.balance_mismatches() == []


def test_shipping_ends_all_the_order_held_there_even_what_it_did_not_take(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    order_id = an_order(app, catalog)
    with app_context(app):
        home = default_location().id
    reserve(app, order_id, home, [DemandLine("a", "Strips", 4, item_id=strips)])
    with app.app_context():
        with write_transaction():
            reservations.ship(
                order_id, home, [DemandLine("a", "Cuff", 2, item_id=cuff)], admin_actor()
            )
        db.session.remove()
    assert rows_of(app, order_id)[1:] == sorted(
        [
            ("shipment", strips, home, 0, -4, None),
            ("shipment", cuff, home, -2, 0, None),
        ],
        key=lambda row: row[1],
    )
    assert figures(app, strips) == (STOCK_PER_COUNTED_ITEM, 0)
    assert figures(app, cuff) == (STOCK_PER_COUNTED_ITEM - 2, 0)


def test_shipping_from_a_location_without_a_balance_row_keeps_balance_and_ledger_equal(
    app, catalog
):
    strips = catalog.items["strips"]
    east, order_id = new_location(app), an_order(app, catalog)
    with app.app_context():
        with write_transaction():
            reservations.ship(
                order_id, east, [DemandLine("a", "Strips", 1, item_id=strips)], admin_actor()
            )
        db.session.remove()
    assert rows_of(app, order_id) == [("shipment", strips, east, -1, 0, None)]
    assert figures(app, strips, east) == (-1, 0)
    with app_context(app):
        assert ledger.balance_mismatches() == []


def test_returned_units_come_back_into_stock_counted_lines_only(app, catalog):
    strips, cuff = catalog.items["strips"], catalog.items["cuff"]
    east, order_id = new_location(app), an_order(app, catalog)
    with app.app_context():
        with write_transaction():
            reservations.receive_returned_items(order_id, east, {strips: 2, cuff: 0}, admin_actor())
            reservations.receive_returned_items(order_id, east, {cuff: 0}, admin_actor())
        db.session.remove()
    assert rows_of(app, order_id) == [("return", strips, east, 2, 0, None)]
    assert figures(app, strips, east) == (2, 0)
    assert figures(app, cuff, east) == (0, 0)
