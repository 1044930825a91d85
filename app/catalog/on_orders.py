"""Whether items and kits are on orders.

The catalog must know this (what an ordered kit holds cannot change), yet it sits below
orders and may not import them. Orders registers its answer here when it is imported.
"""

from __future__ import annotations

from collections.abc import Callable

_answers: dict[str, Callable[[int], bool]] = {}


def register(*, item_on_orders: Callable[[int], bool], kit_on_orders: Callable[[int], bool]):
    _answers["item"] = item_on_orders
    _answers["kit"] = kit_on_orders


def item_on_orders(item_id: int) -> bool:
    """On an order line, expected back, or in a kit that was ordered."""
    answer = _answers.get("item")
    return bool(answer and answer(item_id))


def kit_on_orders(kit_id: int) -> bool:
    answer = _answers.get("kit")
    return bool(answer and answer(kit_id))
