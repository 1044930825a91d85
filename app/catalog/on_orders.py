"""Whether items and kits are on orders.

The catalog must know this (what an ordered kit holds cannot change), yet it sits below
orders and may not import them. Orders registers its answer here when it is imported
(``app.orders.ordered_catalog``); asked before that, this fails loudly rather than answer
"not on any order" and let an ordered kit's contents change.
"""

from __future__ import annotations

from collections.abc import Callable

_answers: dict[str, Callable[[int], bool]] = {}


class OrdersNotRegistered(RuntimeError):
    """Asked whether something is on orders before orders registered their answer."""


def register(*, item_on_orders: Callable[[int], bool], kit_on_orders: Callable[[int], bool]):
    _answers["item"] = item_on_orders
    _answers["kit"] = kit_on_orders


def _answer(kind: str) -> Callable[[int], bool]:
    answer = _answers.get(kind)
    if answer is None:
        raise OrdersNotRegistered(
            f"Whether a {kind} is on orders is answered by app.orders, which has not been "
            "imported: import app.orders (app.models does) before changing the catalog."
        )
    return answer


def item_on_orders(item_id: int) -> bool:
    """On an order line, expected back, or in a kit that was ordered."""
    return bool(_answer("item")(item_id))


def kit_on_orders(kit_id: int) -> bool:
    return bool(_answer("kit")(kit_id))
