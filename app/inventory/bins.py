"""Bins: where an item sits at each location (an aisle, shelf or bin label such as
"A-03-2"). Pick lists sort by them, so that one walk through the shelves picks everything.

A bin is optional: an item without one is picked last, under "No bin".
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.auth.actor import Actor
from app.catalog.models import Item
from app.db.transactions import write_transaction
from app.extensions import db
from app.history.changes import record_change
from app.inventory.locations import LOCATION_RECORD
from app.inventory.models import MAX_BIN_LENGTH, ItemBin, StockLocation
from app.validation import Checker, get_or_reject

_NUMBER = re.compile(r"([0-9]+)")


def walk_order(bin_label: str | None) -> tuple:
    """Where a bin comes in a walk through the shelves: by its label with numbers read as
    numbers ("A-2" before "A-10"), letters whatever their case; no bin comes last."""
    if not bin_label:
        return (1, ())
    parts = _NUMBER.split(bin_label.casefold())
    return (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p))


def set_bin(location_id: int, item_id: int, text: Any, actor: Actor) -> str | None:
    """Sets (or, with an empty text, clears) the bin of an item at a location; answers the
    bin as stored. Checked like any one-line identifier: trimmed, in one spelling."""
    with write_transaction():
        location = get_or_reject(StockLocation, location_id, "stock location")
        item = get_or_reject(Item, item_id, "item")
        check = Checker()
        value = check.identifier(text, "bin", "Bin", required=False, max_length=MAX_BIN_LENGTH)
        check.raise_if_any()
        row = _locked_row(location.id, item.id)
        if row.bin != value:
            # On the location's history, as "Bin: CUF-M: A-02 → A-03".
            changes = {f"bin.{item.sku}": [row.bin, value]}
            record_change(LOCATION_RECORD, location.id, "updated", actor, changes)
            row.bin = value
    return value


def _locked_row(location_id: int, item_id: int) -> ItemBin:
    """The item's bin row at the location, made when missing (two people setting it at
    once is no error: one waits for the other), and locked until the change commits."""
    session = db.session
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        maker(ItemBin)
        .values(location_id=location_id, item_id=item_id)
        .on_conflict_do_nothing(index_elements=["location_id", "item_id"])
    )
    return session.scalars(
        select(ItemBin)
        .where(ItemBin.location_id == location_id, ItemBin.item_id == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def bins_of(location_ids: set[int], item_ids: set[int]) -> dict[tuple[int, int], str]:
    """The bins of these items at these locations, by (location, item), in one statement;
    an item without a bin there is not in the answer."""
    if not location_ids or not item_ids:
        return {}
    rows = db.session.execute(
        select(ItemBin.location_id, ItemBin.item_id, ItemBin.bin).where(
            ItemBin.location_id.in_(sorted(location_ids)),
            ItemBin.item_id.in_(sorted(item_ids)),
            ItemBin.bin.is_not(None),
        )
    ).all()
    return {(location_id, item_id): bin_ for location_id, item_id, bin_ in rows}
