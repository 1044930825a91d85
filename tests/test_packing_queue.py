"""The packing queue: "Next order" gives the most urgent order nobody is working on, claims it
race-free (packers pressing Next at once, in threads, on whichever database the suite runs
on), and a claim ends when the order is packed, put on hold, released, or left idle."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.auth.models import User
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.formats import zone_named
from app.orders import claims
from app.orders.models import Order, OrderEvent
from tests.conftest import app_context, password_hash
from tests.helpers.orders import move, place
from tests.helpers.real_http import in_parallel
from tests.helpers.web import Browserless

PACKERS = 6


def add_packers(app, count: int) -> list[int]:
    with app.app_context(), write_transaction() as session:
        packers = [
            User(
                email=f"packer{n}@example.org",
                role="fulfillment",
                first_name=f"Packer{n}",
                last_name="Tester",
                password_hash=password_hash(),
            )
            for n in range(count)
        ]
        session.add_all(packers)
        session.flush()
        return [p.id for p in packers]


def next_for(app, user_id: int) -> int | None:
    with app.app_context():
        try:
            return claims.next_order(Actor(user=db.session.get(User, user_id)))
        finally:
            db.session.remove()


def claimed(app, order_id: int) -> tuple[int | None, object]:
    with app_context(app) as session:
        order = session.get(Order, order_id)
        return order.claimed_by_id, order.claimed_at


def test_next_gives_overnight_first_then_by_ship_by_then_oldest(app, catalog):
    (packer,) = add_packers(app, 1)
    older = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    newer = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    held = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    move(app, held, "onHold", reason="Waiting for stock")
    taken = []
    for _ in range(3):
        order_id = next_for(app, packer)
        taken.append(order_id)
        move(app, order_id, "cancelled", role="coordinator", reason="Test")
    assert taken == [overnight, older, newer]
    assert next_for(app, packer) is None  # the one on hold is not in the queue


def ship_by_of(app, order_id: int):
    with app_context(app) as session:
        return session.get(Order, order_id).ship_by


def test_next_gives_an_overnight_order_before_a_standard_one_due_as_soon_or_sooner(
    app, catalog, monkeypatch
):
    (packer,) = add_packers(app, 1)
    # Standard orders ship the day they are placed; overnight ones (all after the cut-off)
    # the next business day.
    monkeypatch.setitem(app.config, "STANDARD_SHIP_DAYS", 0)
    monkeypatch.setitem(app.config, "OVERNIGHT_CUTOFF", time(0, 0))
    standard = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    assert ship_by_of(app, standard) <= ship_by_of(app, overnight)
    assert next_for(app, packer) == overnight


def test_next_gives_the_order_due_first_before_an_older_one_due_later(app, catalog, monkeypatch):
    (packer,) = add_packers(app, 1)
    monkeypatch.setitem(app.config, "STANDARD_SHIP_DAYS", 5)
    older = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    monkeypatch.setitem(app.config, "STANDARD_SHIP_DAYS", 0)
    newer = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    assert ship_by_of(app, newer) < ship_by_of(app, older)
    assert next_for(app, packer) == newer


def test_next_gives_the_oldest_of_orders_due_the_same_day_whatever_their_status(app, catalog):
    older, newer = (place(app, catalog, items={"strips": 1}) for _ in range(2))
    assert ship_by_of(app, older) == ship_by_of(app, newer)
    move(app, older, "processing")  # the fulfilment user starts it: theirs
    packer = claimed(app, older)[0]
    assert next_for(app, packer) == older


def test_a_packer_holds_one_claim_and_nexts_skip_orders_others_hold(app, catalog):
    ana, ben = add_packers(app, 2)
    first = place(app, catalog, items={"strips": 1})
    second = place(app, catalog, items={"strips": 1})
    third = place(app, catalog, items={"strips": 1})
    assert next_for(app, ana) == first
    assert next_for(app, ben) == second
    assert claimed(app, first)[0] == ana and claimed(app, second)[0] == ben
    # Ana's Next again gives her own first (still the most urgent), not Ben's.
    assert next_for(app, ana) == first
    move(app, first, "onHold", reason="Short of strips")  # on hold ends her claim
    assert claimed(app, first) == (None, None)
    assert next_for(app, ana) == third


def test_two_packers_pressing_next_at_once_get_different_orders(app, catalog):
    packers = add_packers(app, PACKERS)
    orders = [place(app, catalog, items={"strips": 1}) for _ in range(PACKERS)]
    for _ in range(3):
        got = in_parallel([lambda p=p: next_for(app, p) for p in packers])
        assert sorted(got) == sorted(orders), got
        with app_context(app) as session:
            holders = dict(session.execute(select(Order.id, Order.claimed_by_id)).all())
        assert sorted(holders.values()) == sorted(packers)
        assert {holders[order_id] for order_id in got} == set(packers)
        # Release them all for the next round.
        with app.app_context(), write_transaction() as session:
            for order in session.scalars(select(Order)):
                order.claimed_by_id = order.claimed_at = None


def test_more_packers_than_orders_leaves_the_rest_with_nothing(app, catalog):
    packers = add_packers(app, PACKERS)
    orders = [place(app, catalog, items={"strips": 1}) for _ in range(2)]
    got = in_parallel([lambda p=p: next_for(app, p) for p in packers])
    assert sorted(o for o in got if o is not None) == sorted(orders)
    assert got.count(None) == PACKERS - 2


def test_an_idle_claim_lapses_and_the_order_is_anyones_again(app, catalog, monkeypatch):
    ana, ben = add_packers(app, 2)
    order_id = place(app, catalog, items={"strips": 1})
    assert next_for(app, ana) == order_id
    assert next_for(app, ben) is None
    later = utcnow() + timedelta(minutes=app.config["PACKING_CLAIM_IDLE_MINUTES"] + 1)
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: later)
    assert next_for(app, ben) == order_id
    assert claimed(app, order_id)[0] == ben


def test_starting_processing_claims_and_packing_ends_the_claim(app, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "processing")
    with app_context(app) as session:
        fulfillment = session.scalar(select(User.id).where(User.role == "fulfillment"))
    assert claimed(app, order_id)[0] == fulfillment
    move(app, order_id, "packed")
    assert claimed(app, order_id) == (None, None)


def test_taking_over_a_claim_is_recorded_on_the_timeline(app, catalog):
    ana, ben = add_packers(app, 2)
    order_id = place(app, catalog, items={"strips": 1})
    assert next_for(app, ana) == order_id
    with app.app_context():
        claims.take_over(order_id, Actor(user=db.session.get(User, ben)))
        db.session.remove()
    assert claimed(app, order_id)[0] == ben
    with app_context(app) as session:
        event = session.scalar(select(OrderEvent).where(OrderEvent.name == "packingTakenOver"))
        assert event.actor_user_id == ben and event.note == "From Packer0 Tester"


@pytest.fixture
def fulfillment(client, catalog) -> Browserless:
    person = Browserless(client)
    assert person.sign_in("fulfillment").status_code == 303
    return person


def test_next_order_opens_the_claimed_order_and_its_page_says_who_packs_it(
    app, catalog, client, fulfillment
):
    (ana,) = add_packers(app, 1)
    order_id = place(app, catalog, items={"strips": 1})
    response = fulfillment.post("/orders/next")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/orders/{order_id}"
    page = fulfillment.get(f"/orders/{order_id}").text
    assert "Being packed by you since" in page
    listed = fulfillment.get("/orders/").text
    assert "Being packed by Fulfillment Tester since" in listed

    home = fulfillment.get("/orders/next").text
    assert f'<a href="/orders/{order_id}">order {order_id}</a>' in home
    # Ana opens it directly: she sees the claim and takes it over with one confirmation.
    other = Browserless(app.test_client())
    assert other.sign_in("packer0").status_code == 303
    page = other.get(f"/orders/{order_id}").text
    assert "Being packed by Fulfillment Tester since" in page and "Take over" in page
    assert other.post(f"/orders/{order_id}/take-over").status_code == 303
    assert claimed(app, order_id)[0] == ana
    assert "Packing taken over" in other.get(f"/orders/{order_id}").text
    # Nothing else to pack: Next says so.
    nothing = fulfillment.post("/orders/next", follow_redirects=True).text
    assert "No order is waiting to be packed" in nothing


def test_a_packer_working_on_the_order_keeps_the_claim_alive(app, catalog):
    from tests.helpers.orders import actor

    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "processing")
    first = claimed(app, order_id)[1]
    with app.app_context():
        from app.orders import lifecycle

        lifecycle.add_note(order_id, "Strips on the top shelf", actor("fulfillment"))
        db.session.remove()
    holder, touched = claimed(app, order_id)
    assert holder is not None and touched > first


# --- the edges of a claim: when it lapses, who takes it over, what Next and release end ---------


def as_packer(app, user_id: int, call, *args):
    """Runs a claims service as that packer (as the pages do for the signed-in one)."""
    with app.app_context():
        try:
            return call(*args, Actor(user=db.session.get(User, user_id)))
        finally:
            db.session.remove()


def versions(app) -> dict[int, int]:
    with app_context(app) as session:
        return dict(session.execute(select(Order.id, Order.version)).all())


def taken_over_notes(app) -> list[tuple[int, str | None, object]]:
    with app_context(app) as session:
        return [
            (e.actor_user_id, e.note, e.event_timestamp)
            for e in session.scalars(
                select(OrderEvent)
                .where(OrderEvent.name == "packingTakenOver")
                .order_by(OrderEvent.id)
            )
        ]


def live_claims(app, order_ids: list[int]) -> dict[int, tuple[int, str]]:
    with app.app_context():
        try:
            return {i: (c.user_id, c.name) for i, c in claims.claims_of(order_ids).items()}
        finally:
            db.session.remove()


def held_by(app, user_id: int) -> int | None:
    with app.app_context():
        try:
            return claims.held_by(user_id)
        finally:
            db.session.remove()


def test_a_claim_is_live_for_exactly_its_idle_minutes_and_lapses_after(app, catalog, monkeypatch):
    ana, ben = add_packers(app, 2)
    order_id = place(app, catalog, items={"strips": 1})
    start = utcnow().replace(microsecond=0)
    idle = timedelta(minutes=app.config["PACKING_CLAIM_IDLE_MINUTES"])
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: start)
    assert next_for(app, ana) == order_id
    assert claimed(app, order_id) == (ana, start)

    # Idle for exactly the idle minutes: still Ana's, for Next, her home page and the pages.
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: start + idle)
    assert next_for(app, ben) is None
    assert (held_by(app, ana), held_by(app, ben)) == (order_id, None)
    assert live_claims(app, [order_id]) == {order_id: (ana, "Packer0 Tester")}

    # A moment later it has lapsed: nobody holds it any more, and Ben's Next takes it.
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: start + idle + timedelta(seconds=1))
    assert held_by(app, ana) is None
    assert live_claims(app, [order_id]) == {}
    assert next_for(app, ben) == order_id
    assert live_claims(app, [order_id]) == {order_id: (ben, "Packer1 Tester")}
    assert (held_by(app, ana), held_by(app, ben)) == (None, order_id)


def test_taking_over_says_from_whom_only_while_that_claim_is_live(app, catalog, monkeypatch):
    ana, ben, cyd = add_packers(app, 3)
    anas, bens, nobodys = (place(app, catalog, items={"strips": 1}) for _ in range(3))
    start = utcnow().replace(microsecond=0)
    idle = timedelta(minutes=app.config["PACKING_CLAIM_IDLE_MINUTES"])
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: start)
    assert (next_for(app, ana), next_for(app, ben)) == (anas, bens)
    # Ben's claim is exactly as old as the idle minutes: still his, so the timeline names him.
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: start + idle)
    as_packer(app, cyd, claims.take_over, bens)
    # Ana's is a second older: lapsed, taken over from nobody.
    lapsed = start + idle + timedelta(seconds=1)
    monkeypatch.setitem(app.config, "CLAIM_CLOCK", lambda: lapsed)
    as_packer(app, cyd, claims.take_over, anas)
    assert taken_over_notes(app) == [
        (cyd, "From Packer1 Tester", start + idle),
        (cyd, None, lapsed),
    ]
    assert claimed(app, anas)[0] == cyd and claimed(app, bens) == (None, None)
    # An order nobody claimed is taken over from nobody too.
    as_packer(app, ben, claims.take_over, nobodys)
    assert taken_over_notes(app)[-1][:2] == (ben, None)
    assert claimed(app, nobodys)[0] == ben


def test_taking_over_ends_the_packers_other_claim_and_ones_own_claim_is_no_take_over(app, catalog):
    ana, ben, cyd = add_packers(app, 3)
    first, second, third = (place(app, catalog, items={"strips": 1}) for _ in range(3))
    assert next_for(app, ana) == first
    assert next_for(app, ben) == second
    assert next_for(app, cyd) == third
    before = versions(app)
    as_packer(app, ben, claims.take_over, first)
    assert claimed(app, first)[0] == ben
    assert claimed(app, second) == (None, None)  # one order at a time
    assert claimed(app, third)[0] == cyd  # other packers keep theirs
    assert list(live_claims(app, [first])) == [first]  # only the claims asked about
    assert versions(app)[second] == before[second] + 1  # pages showing it refresh
    assert [note for _, note, _ in taken_over_notes(app)] == ["From Packer0 Tester"]
    # Ben "taking over" his own claim records nothing.
    as_packer(app, ben, claims.take_over, first)
    assert len(taken_over_notes(app)) == 1 and claimed(app, first)[0] == ben


def test_an_order_not_in_the_queue_cannot_be_taken_over_and_nothing_changes(app, catalog):
    from app.validation import CONFLICT, Rejected

    (ana,) = add_packers(app, 1)
    order_id = place(app, catalog, items={"strips": 1})
    move(app, order_id, "onHold", reason="Waiting for stock")
    before = versions(app)
    with pytest.raises(Rejected) as refused:
        as_packer(app, ana, claims.take_over, order_id)
    assert (refused.value.code, refused.value.kind) == ("not_in_queue", CONFLICT)
    assert refused.value.message == f"Order {order_id} is On hold: there is nothing to pack."
    assert claimed(app, order_id) == (None, None) and taken_over_notes(app) == []
    assert versions(app) == before


def test_next_moves_a_packer_on_to_a_more_urgent_order_and_ends_their_other_claim(app, catalog):
    (ana,) = add_packers(app, 1)
    standard = place(app, catalog, items={"strips": 1}, shipping_option="standard")
    assert next_for(app, ana) == standard
    overnight = place(app, catalog, items={"strips": 1}, shipping_option="overnight")
    before = versions(app)
    assert next_for(app, ana) == overnight
    assert claimed(app, overnight)[0] == ana
    assert claimed(app, standard) == (None, None)
    # Each order whose claim changed has a new version: a page showing it refreshes.
    assert versions(app) == {standard: before[standard] + 1, overnight: before[overnight] + 1}


def test_a_packer_releases_only_their_own_claim(app, catalog, fulfillment):
    (ana,) = add_packers(app, 1)
    order_id = place(app, catalog, items={"strips": 1})
    assert fulfillment.post("/orders/next").headers["Location"] == f"/orders/{order_id}"
    holder = claimed(app, order_id)[0]
    # Ana's release of someone else's claim leaves it as it is, and says so.
    assert as_packer(app, ana, claims.release, order_id) is False
    assert claimed(app, order_id)[0] == holder
    ana_signed_in = Browserless(app.test_client())
    assert ana_signed_in.sign_in("packer0").status_code == 303  # Ana, the first packer
    refused = ana_signed_in.post(f"/orders/{order_id}/release")
    assert refused.headers["Location"] == f"/orders/{order_id}"
    shown = ana_signed_in.get(f"/orders/{order_id}").text
    assert f"Order {order_id} is not yours to release: nothing changed." in shown
    assert "back in the queue" not in shown
    assert claimed(app, order_id)[0] == holder
    released = fulfillment.post(f"/orders/{order_id}/release")
    assert (released.status_code, released.headers["Location"]) == (303, "/orders/next")
    assert claimed(app, order_id) == (None, None)
    assert next_for(app, ana) == order_id


def test_the_live_part_answered_after_starting_processing_is_drawn_for_the_packer_who_started(
    app, catalog, fulfillment
):
    """The change's transaction ends with the packer's row as the request read it: the claim
    is theirs, with its release button, and its time is in their time zone."""
    order_id = place(app, catalog, items={"strips": 1})
    with app_context(app) as session:
        packer = session.scalar(select(User).where(User.role == "fulfillment"))
        packer.time_zone = "Asia/Tokyo"
        session.commit()
    response = fulfillment.post(
        f"/orders/{order_id}/status",
        {"to_status": "processing", "from_status": "created"},
        htmx=True,
    )
    assert response.status_code == 200
    assert "Being packed by you since" in response.text
    assert "Release to the queue" in response.text
    with app_context(app) as session:
        claimed_at = session.scalar(select(Order.claimed_at).where(Order.id == order_id))
    tokyo = claimed_at.astimezone(zone_named("Asia/Tokyo"))
    assert f"since {tokyo:%H:%M}" in response.text
