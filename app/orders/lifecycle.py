"""After an order is placed: status moves, tracking numbers, notes.

Every change here runs in one write transaction on the locked order row
(``changes.changing``), checks the status machine and the actor's role, and appends an
event. Both doors (the order page and the API) call these functions; neither decides
anything itself. Recording devices while packing is ``packing``'s.
"""

from __future__ import annotations

from functools import partial

from app.auth.actor import Actor
from app.db.transactions import BALANCES, DAY_COUNTS, STATUS_COUNTERS, last
from app.db.types import utcnow
from app.inventory import devices as stock_devices
from app.inventory import reservations
from app.orders import (
    carriers,
    claims,
    daily_counts,
    demand,
    events,
    service,
    status_counters,
    statuses,
)
from app.orders.changes import changing
from app.orders.events import record_event
from app.orders.models import Order, OrderNote, TrackingNumber
from app.orders.packing import open_packed_kits, packing_plan
from app.validation import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    MAX_REASON_LENGTH,
    Checker,
    Rejected,
    refusal,
)

# Who may move an order into each status (admins may do everything).
STATUS_ROLES: dict[str, frozenset[str]] = {
    statuses.PROCESSING: frozenset({"fulfillment"}),
    statuses.PACKED: frozenset({"fulfillment"}),
    statuses.AVAILABLE_FOR_PICKUP: frozenset({"fulfillment"}),
    statuses.SHIPPED: frozenset({"fulfillment"}),
    statuses.DELIVERED: frozenset({"fulfillment"}),
    statuses.DELIVERY_EXCEPTION: frozenset({"fulfillment"}),
    statuses.RETURNED: frozenset({"fulfillment"}),
    statuses.AWAITING_RETURN: frozenset({"coordinator", "fulfillment"}),
    statuses.PARTLY_RETURNED: frozenset({"fulfillment"}),
    statuses.ON_HOLD: frozenset({"coordinator", "fulfillment"}),
    statuses.CANCELLED: frozenset({"coordinator", "api"}),
}
# Coordinators (and other systems) cancel only before packing has finished.
CANCELLABLE_BEFORE_PACKING = frozenset(
    {statuses.CREATED, statuses.PROCESSING, statuses.AWAITING_RETURN}
)
NEEDS_REASON = frozenset({statuses.ON_HOLD, statuses.CANCELLED})
SEES_ORDERS = frozenset({"coordinator", "fulfillment", "admin"})
# Statuses in which tracking numbers may still be added.
TRACKABLE = frozenset(
    {statuses.PACKED, statuses.AVAILABLE_FOR_PICKUP, statuses.SHIPPED, statuses.DELIVERY_EXCEPTION}
)


# --- Who may do what ---------------------------------------------------------------------


def _effective_status(order: Order) -> str:
    """The status an order on hold was in, for rules that look through the hold."""
    if order.current_status == statuses.ON_HOLD and order.held_from_status:
        return order.held_from_status
    return order.current_status


def role_may_move(role: str, order: Order, to_status: str) -> bool:
    if role == "admin":
        return True
    resuming = order.current_status == statuses.ON_HOLD and to_status == order.held_from_status
    if resuming:
        return role in ("coordinator", "fulfillment")
    if role not in STATUS_ROLES.get(to_status, ()):
        return False
    if to_status == statuses.CANCELLED:
        return _effective_status(order) in CANCELLABLE_BEFORE_PACKING
    return True


def ships_out(order) -> bool:
    """Whether the order (a model or a view) sends anything out; a return-only order does not."""
    return bool(order.items or order.kits)


def _not_for_this_order(order, to_status: str) -> str | None:
    """Why the order's lines rule this move out, or None. A return-only order skips
    processing, packing and shipping; what comes back is checked in at the returns station
    (``returns_station``), which alone moves an order with return lines to (partly) returned."""
    if to_status == statuses.PROCESSING and not ships_out(order):
        return "This order ships nothing: once its return label is sent, it awaits the return."
    if to_status == statuses.AWAITING_RETURN and ships_out(order):
        return "This order ships: it awaits the return once it is delivered."
    if to_status == statuses.PARTLY_RETURNED or (
        to_status == statuses.RETURNED and order.has_return_lines
    ):
        return "What comes back is checked in at the returns station, device by device."
    return None


def next_moves(order, role: str) -> list[str]:
    """The statuses this role may move the order to now, in the lifecycle's order."""
    allowed = statuses.next_statuses(order.current_status, order.held_from_status)
    return [
        s
        for s in allowed
        if role_may_move(role, order, s) and _not_for_this_order(order, s) is None
    ]


def may_add_tracking(order: Order, role: str) -> bool:
    return order.current_status in TRACKABLE and role in ("fulfillment", "admin")


def may_add_note(role: str) -> bool:
    return role in SEES_ORDERS


def checked_reason(text: str | None, required: bool, missing: str) -> str | None:
    """Why a change is made, by the free-text rules every service uses (Checker.text):
    "required" means a visible character, not only zero-width ones."""
    check = Checker()
    value = check.text(
        text, "reason", "Reason", required=required, max_length=MAX_REASON_LENGTH, free_text=True
    )
    for problem in check.problems:
        if problem.code == "required":
            raise refusal("reason_required", missing, INVALID, "reason")
        raise refusal("invalid_reason", problem.message, INVALID, "reason")
    return value


# --- Status changes ----------------------------------------------------------------------


def change_status(
    order_id: int,
    to_status: str,
    actor: Actor,
    *,
    reason: str | None = None,
    from_status: str | None = None,
    tracking: tuple[str, str] | None = None,
) -> Order:
    """Moves an order to ``to_status`` and records the event, or refuses and changes nothing.

    ``from_status`` is the status the person saw when they chose the action: if the order
    has moved since, the change is refused, so that two people acting at the same moment
    never make two changes from the same state. ``tracking`` (carrier, number) is added in
    the same transaction, for shipping in one step.
    """
    if to_status not in statuses.ALL:
        raise refusal("invalid_status", f"“{to_status}” is not a status.", INVALID, "status")
    with changing(order_id, actor) as order:
        current = order.current_status
        if from_status is not None and from_status != current:
            raise refusal(
                "order_changed",
                f"Order {order.id} is now {statuses.label(current)}: someone changed it while you "
                "were looking. Nothing was changed; check the timeline and try again.",
            )
        if to_status not in statuses.next_statuses(current, order.held_from_status):
            raise refusal(
                "invalid_transition",
                f"An order that is {statuses.label(current)} cannot become "
                f"{statuses.label(to_status)}.",
            )
        why_not = _not_for_this_order(order, to_status)
        if why_not:
            raise refusal("not_for_this_order", why_not)
        if not role_may_move(actor.role, order, to_status):
            if to_status == statuses.CANCELLED and actor.role in ("coordinator", "api"):
                raise refusal(
                    "too_late_to_cancel",
                    "This order has been packed: only an admin can cancel it now.",
                )
            raise refusal(
                "forbidden",
                f"Your role cannot move an order to {statuses.label(to_status)}.",
                FORBIDDEN,
            )
        note = checked_reason(
            reason,
            required=to_status in NEEDS_REASON,
            missing=f"Say why the order is {statuses.label(to_status).lower()}: "
            "a reason is required.",
        )
        if tracking is not None and any(tracking):
            _add_tracking(order, tracking[0], tracking[1], actor)
        _enter(order, to_status, actor, note)
        return order


def _enter(order: Order, to_status: str, actor: Actor, note: str | None) -> None:
    current = order.current_status
    if to_status == statuses.PACKED:
        missing = packing_plan(order).missing
        if missing:
            raise refusal(
                "packing_incomplete",
                f"{missing} device{'s are' if missing != 1 else ' is'} still to be recorded "
                "before the order is packed.",
            )
    if to_status == statuses.SHIPPED and not order.tracking_numbers:
        raise refusal(
            "tracking_number_required",
            "Add at least one tracking number before shipping.",
            INVALID,
            "trackingNumber",
        )
    if to_status == statuses.ON_HOLD:
        order.held_from_status = current
    elif current == statuses.ON_HOLD:
        order.held_from_status = None
    if to_status == statuses.PROCESSING and not order.packed_kits:
        open_packed_kits(order)
    _move_devices(order, current, to_status, actor, note)
    claims.on_status_change(order, to_status, actor)
    at = utcnow()
    _count_status_change(order, current, to_status, at, order.ship_by)
    order.current_status = to_status
    record_event(order, to_status, actor, note, at=at)


def _count_status_change(order: Order, current: str, to_status: str, at, ship_by_day=None):
    """The order list's status counters and the dashboard's day counts follow the move:
    rows every change shares, written last (``app.db.transactions.last``)."""
    counted = status_counters.counter_rows(order, current, to_status)
    last(STATUS_COUNTERS, partial(status_counters.write_counter_rows, counted))
    last(
        DAY_COUNTS,
        partial(
            daily_counts.record_status_change,
            order.responsible_site_id,
            order.created_at,
            current,
            to_status,
            at,
            ship_by_day,
        ),
    )


def _move_devices(order: Order, current: str, to_status: str, actor: Actor, note) -> None:
    """Stock and devices follow the order: released, shipped, delivered or returned."""
    devices = [od.device for od in order.devices]
    # The devices' rows are locked now, the balances last, after the ORM has written the
    # devices' changes (the lock order: app.db.transactions.write_transaction).
    if to_status == statuses.CANCELLED:
        stock_devices.lock_devices(devices)
        last(BALANCES, partial(reservations.release, order.id, actor, note))
        stock_devices.move_devices(
            devices, stock_devices.IN_STOCK, order.id, actor, order.fulfillment_location_id
        )
    elif to_status == statuses.SHIPPED and current != statuses.DELIVERY_EXCEPTION:
        stock_devices.lock_devices(devices)
        lines = demand.demand_lines(order)
        last(
            BALANCES,
            partial(reservations.ship, order.id, order.fulfillment_location_id, lines, actor),
        )
        stock_devices.move_devices(devices, stock_devices.SHIPPED, order.id, actor)
    elif to_status == statuses.DELIVERED:
        stock_devices.move_devices(devices, stock_devices.DELIVERED, order.id, actor)
    elif to_status == statuses.RETURNED and not order.has_return_lines:
        # The shipment itself came back. (What a return asks back is checked in at the
        # returns station, each device as it arrives: ``returns_station``.)
        stock_devices.lock_devices(devices)
        # Returned devices wait in quarantine until someone inspects them.
        stock_devices.move_devices(
            devices, stock_devices.QUARANTINED, order.id, actor, order.fulfillment_location_id
        )


def enter_return_status(order: Order, to_status: str, actor: Actor, note: str | None) -> None:
    """The returns station's own moves (to partly returned, or returned) inside its change of
    the locked ``order``: it has moved the devices and stock itself."""
    if order.current_status == to_status:
        return
    if to_status not in statuses.next_statuses(order.current_status, order.held_from_status):
        raise refusal(
            "invalid_transition",
            f"An order that is {statuses.label(order.current_status)} cannot become "
            f"{statuses.label(to_status)}.",
        )
    at = utcnow()
    # The status counters and the dashboard's counts of orders per day, as in ``_enter``.
    _count_status_change(order, order.current_status, to_status, at)
    order.current_status = to_status
    record_event(order, to_status, actor, note, at=at)


# --- Tracking numbers and notes ----------------------------------------------------------


def _add_tracking(order: Order, carrier: str, value: str, actor: Actor) -> TrackingNumber:
    if not may_add_tracking(order, actor.role):
        if order.current_status not in TRACKABLE:
            raise refusal(
                "not_trackable",
                f"Tracking numbers are added once the order is packed; this one is "
                f"{statuses.label(order.current_status)}.",
            )
        raise refusal("forbidden", "Only fulfillment adds tracking numbers.", FORBIDDEN)
    value = carriers.normalise(value)
    if not carrier and value:
        # Left blank: the carrier whose format the number fits (the page fills it in as
        # the number is typed; without JavaScript, here).
        carrier = carriers.recognise(value) or ""
        if not carrier:
            raise refusal(
                "invalid_tracking_number",
                "The carrier cannot be told from this number: choose it.",
                INVALID,
                "carrier",
            )
    problem = carriers.problem(carrier, value)
    if problem:
        field = "carrier" if carrier not in carriers.CARRIERS else "trackingNumber"
        raise refusal("invalid_tracking_number", problem, INVALID, field)
    if any(t.carrier == carrier and t.value == value for t in order.tracking_numbers):
        raise refusal(
            "duplicate_tracking_number",
            "This tracking number is already on the order.",
            INVALID,
            "trackingNumber",
        )
    tracking = TrackingNumber(carrier=carrier, value=value)
    order.tracking_numbers.append(tracking)
    record_event(order, events.TRACKING_NUMBER_ADDED, actor, f"{carrier} {value}")
    return tracking


def add_tracking_number(order_id: int, carrier: str, value: str, actor: Actor) -> TrackingNumber:
    with changing(order_id, actor) as order:
        return _add_tracking(order, carrier, value, actor)


def may_remove_tracking(order: Order, role: str) -> bool:
    """Whoever adds tracking numbers removes a wrong one, while one could be added again."""
    return may_add_tracking(order, role)


def remove_tracking_number(
    order_id: int, carrier: str, value: str, reason: str | None, actor: Actor
) -> None:
    """Takes a wrong tracking number off the order, with a reason, as an event
    (``trackingNumberRemoved``: the number and why, on the timeline and in the API's
    events); the number no longer links or shows as the parcel's.

    The order's status stays as it is: a shipped order's goods have left (stock and devices
    went with them), whatever its label said. A shipped order left without a tracking
    number asks for the right one (the page offers the form); a packed one needs one again
    to ship, as ever.
    """
    with changing(order_id, actor) as order:
        if not may_remove_tracking(order, actor.role):
            if actor.role not in ("fulfillment", "admin"):
                raise refusal("forbidden", "Only fulfillment removes tracking numbers.", FORBIDDEN)
            raise refusal(
                "not_trackable",
                f"Tracking numbers are changed while the order is packed or on its way; this "
                f"one is {statuses.label(order.current_status)}.",
            )
        value = carriers.normalise(value)
        found = next(
            (t for t in order.tracking_numbers if t.carrier == carrier and t.value == value), None
        )
        if found is None:
            raise refusal(
                "tracking_number_not_found",
                "That tracking number is not on this order (someone may have removed it).",
                CONFLICT,
                "trackingNumber",
            )
        why = checked_reason(
            reason,
            required=True,
            missing="Say why the tracking number is removed: a reason is required.",
        )
        order.tracking_numbers.remove(found)  # deleted with it (delete-orphan)
        record_event(order, events.TRACKING_NUMBER_REMOVED, actor, f"{carrier} {value}: {why}")


def add_note(order_id: int, text: str, actor: Actor) -> OrderNote:
    if not may_add_note(actor.role):
        raise refusal("forbidden", "Your role cannot add notes.", FORBIDDEN)
    check = Checker()
    note_text = service.check_note(text, check, "note", label="Note", required=True)
    if check.problems:
        raise Rejected(check.problems, INVALID)
    with changing(order_id, actor) as order:
        note = OrderNote(
            note=note_text,
            created_by=actor.user,
            created_by_api_key=actor.api_key,
            created_at=utcnow(),
        )
        order.notes.append(note)
        return note
