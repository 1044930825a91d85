"""The order lifecycle: which status may follow which.

A return-only order (nothing ships out) never goes through processing, packing and
shipping: it is placed, then awaits the return (``awaitingReturn``, once its label is sent),
then comes back (``partlyReturned`` while some of what it asks back is still missing, then
``returned``). The returns station moves it (``returns_station``); which moves an order
may make by its lines is ``lifecycle``'s.

onHold is special: an order on hold resumes to the status it was held from, so its
allowed next statuses depend on that (see ``next_statuses``).
"""

from __future__ import annotations

CREATED = "created"
PROCESSING = "processing"
PACKED = "packed"
AVAILABLE_FOR_PICKUP = "availableForPickup"
SHIPPED = "shipped"
DELIVERY_EXCEPTION = "deliveryException"
DELIVERED = "delivered"
ON_HOLD = "onHold"
CANCELLED = "cancelled"
RETURNED = "returned"
AWAITING_RETURN = "awaitingReturn"
PARTLY_RETURNED = "partlyReturned"

ALL = (
    CREATED,
    PROCESSING,
    PACKED,
    AVAILABLE_FOR_PICKUP,
    SHIPPED,
    DELIVERY_EXCEPTION,
    DELIVERED,
    ON_HOLD,
    CANCELLED,
    RETURNED,
    AWAITING_RETURN,
    PARTLY_RETURNED,
)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    CREATED: (PROCESSING, AWAITING_RETURN, ON_HOLD, CANCELLED),
    PROCESSING: (PACKED, ON_HOLD, CANCELLED),
    PACKED: (AVAILABLE_FOR_PICKUP, SHIPPED, ON_HOLD, CANCELLED),
    AVAILABLE_FOR_PICKUP: (SHIPPED, ON_HOLD, CANCELLED),
    ON_HOLD: (CANCELLED,),  # plus the status it was held from
    SHIPPED: (DELIVERED, DELIVERY_EXCEPTION),
    DELIVERY_EXCEPTION: (SHIPPED, DELIVERED, PARTLY_RETURNED, RETURNED),
    DELIVERED: (PARTLY_RETURNED, RETURNED),
    AWAITING_RETURN: (PARTLY_RETURNED, RETURNED, CANCELLED),
    PARTLY_RETURNED: (RETURNED,),
    CANCELLED: (),
    RETURNED: (),
}

FINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)
# Still on its way out: the devices in it are spoken for.
OPEN = frozenset({CREATED, PROCESSING, PACKED, AVAILABLE_FOR_PICKUP, ON_HOLD})
# Its units are still on the shelves, to be picked (an order on hold waits where it is).
TO_PICK = frozenset({CREATED, PROCESSING})

LABELS = {
    CREATED: "Created",
    PROCESSING: "Processing",
    PACKED: "Packed",
    AVAILABLE_FOR_PICKUP: "Available for pickup",
    SHIPPED: "Shipped",
    DELIVERY_EXCEPTION: "Delivery exception",
    DELIVERED: "Delivered",
    ON_HOLD: "On hold",
    CANCELLED: "Cancelled",
    RETURNED: "Returned",
    AWAITING_RETURN: "Awaiting return",
    PARTLY_RETURNED: "Partly returned",
}


# Where a return is out with the recipient: its label sent (in the box that shipped, or
# emailed when a return-only order awaits it), and not all back yet (``owed``).
RETURN_OUT = (SHIPPED, DELIVERY_EXCEPTION, DELIVERED, AWAITING_RETURN, PARTLY_RETURNED)

# Where a return is checked in at the returns station: it has gone out (or needs not).
CHECK_IN_FROM = frozenset({DELIVERED, DELIVERY_EXCEPTION, AWAITING_RETURN, PARTLY_RETURNED})


def next_statuses(current: str, held_from: str | None = None) -> tuple[str, ...]:
    allowed = TRANSITIONS[current]
    if current == ON_HOLD and held_from:
        return (held_from, *allowed)
    return allowed


def label(status: str) -> str:
    return LABELS.get(status, status)
