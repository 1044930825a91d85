"""Stock locations: the warehouses stock is kept at, which one is the default, and the one
that an order or a receipt names."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, update

from app.auth.actor import Actor
from app.db.fast_path import DirectStatement
from app.db.transactions import write_transaction
from app.extensions import db
from app.history.changes import record_change
from app.inventory import models as m
from app.inventory.ledger import refuse
from app.inventory.models import StockBalance, StockLocation
from app.validation import MAX_DB_ID, Checker, Problem, as_id, get_or_reject

DEFAULT_LOCATION_NAME = "Main warehouse"
LOCATION_RECORD = "stock_location"  # its history entries' record type


def list_locations() -> list[StockLocation]:
    return list(
        db.session.scalars(
            select(StockLocation)
            .where(StockLocation.active.is_(True))
            .order_by(StockLocation.is_default.desc(), StockLocation.name)
        )
    )


def default_location() -> StockLocation | None:
    return db.session.scalar(
        select(StockLocation).where(StockLocation.is_default.is_(True)).limit(1)
    )


def ensure_default_location() -> StockLocation:
    """The default location, made as "Main warehouse" when there is none yet."""
    location = default_location()
    if location is None:
        location = StockLocation(name=DEFAULT_LOCATION_NAME, is_default=True)
        db.session.add(location)
        db.session.flush()
    return location


@dataclass(frozen=True)
class PlacedAt:
    """A stock location as an order or a receipt names it: read as a plain row, so that it
    outlives the transaction that read it (placing answers with its name after commit)."""

    id: int
    name: str
    active: bool
    is_default: bool


_LOCATION = StockLocation.__table__.c


def _placed_at_statement(which: str, locked: bool) -> DirectStatement:
    statement = select(_LOCATION.id, _LOCATION.name, _LOCATION.active, _LOCATION.is_default)
    if which == "default":
        statement = statement.where(_LOCATION.is_default.is_(True))
    else:
        statement = statement.where(_LOCATION.id == bindparam("location_id"))
    statement = statement.limit(1)
    # Locked (FOR SHARE on PostgreSQL): a change that puts stock at the location or reserves
    # it there keeps the location from going inactive until it commits (deactivating takes
    # the row FOR NO KEY UPDATE); several such changes share the lock.
    return DirectStatement(statement.with_for_update(read=True) if locked else statement)


# Run on the fast path (app.db.fast_path): every placed order reads its location. Built at
# first use, once per (which, locked), not at import: so its mutants can be switched on.
@cache
def _placed_at_statement_for(which: str, locked: bool) -> DirectStatement:
    return _placed_at_statement(which, locked)


def _placed_at(which: str, location_id: int | None = None, lock: bool = False) -> PlacedAt | None:
    # On the connection, not the session: the ORM's execution path costs more than the read.
    parameters = {} if location_id is None else {"location_id": location_id}
    row = _placed_at_statement_for(which, lock).first(db.session.connection(), parameters)
    return None if row is None else PlacedAt(*row)


def resolve_location(
    ref: Any, field_path: str, *, lock: bool = False
) -> tuple[PlacedAt | None, list[Problem]]:
    """The location an order or receipt names, or the default when it names none.

    With ``lock`` (inside a write transaction that will put stock there or reserve it) the
    location's row is held shared until commit: it cannot go inactive meanwhile."""
    check = Checker()
    if ref is None:
        location = _placed_at("default", lock=lock)
        if location is None:
            check.add("location_required", "There is no stock location.", field_path)
        return location, check.problems
    location_id = as_id(ref)
    location = None
    if location_id is not None and location_id <= MAX_DB_ID:
        location = _placed_at("by_id", location_id, lock=lock)
    if location is None or not location.active:
        named = f"with id {location_id}" if location_id is not None else f"“{ref}”"
        check.add(
            "location_not_found",
            f"That is not a valid location: there is no active stock location {named}.",
            field_path,
        )
        return None, check.problems
    return location, check.problems


def _location_name(check: Checker, name: Any, location_id: int | None) -> str | None:
    value = check.text(name, "name", "Name", required=True, max_length=m.MAX_LOCATION_NAME_LENGTH)
    if value is None:
        return None
    clash = db.session.scalar(
        select(StockLocation.id).where(
            func.lower(StockLocation.name) == value.lower(),
            StockLocation.id != (location_id or 0),
        )
    )
    if clash is not None:
        check.add("location_name_taken", f"There is a location called “{value}” already.", "name")
    return value


def create_location(name: Any, actor: Actor) -> StockLocation:
    """A new, active location; the first one ever made is the default."""
    with write_transaction() as session:
        check = Checker()
        value = _location_name(check, name, None)
        check.raise_if_any()
        location = StockLocation(name=value, is_default=default_location() is None, active=True)
        session.add(location)
        session.flush()
        record_change(LOCATION_RECORD, location.id, "created", actor, {"name": value})
    return location


def rename_location(location_id: int, name: Any, actor: Actor) -> StockLocation:
    with write_transaction():
        location = get_or_reject(StockLocation, location_id, "stock location")
        check = Checker()
        value = _location_name(check, name, location.id)
        check.raise_if_any()
        if value != location.name:
            record_change(
                LOCATION_RECORD, location.id, "updated", actor, {"name": [location.name, value]}
            )
            location.name = value
    return location


def make_default_location(location_id: int, actor: Actor) -> StockLocation:
    """Orders that name no location are fulfilled from this one from now on."""
    with write_transaction():
        location = get_or_reject(StockLocation, location_id, "stock location")
        if not location.active:
            refuse(
                "location_inactive",
                f"{location.name} is inactive: reactivate it before making it the default.",
            )
        if not location.is_default:
            db.session.execute(
                update(StockLocation)
                .where(StockLocation.is_default.is_(True))
                .values(is_default=False)
            )
            location.is_default = True
            record_change(LOCATION_RECORD, location.id, "madeDefault", actor)
    return location


def set_location_active(location_id: int, active: bool, actor: Actor) -> StockLocation:
    """An inactive location fulfils no new order and receives nothing; it can go inactive
    only when it is not the default and holds nothing (no units on hand, none reserved)."""
    with write_transaction() as session:
        # The location's row first (the lock order: app.db.transactions.write_transaction), so that
        # an order or receipt placing stock here either commits before the totals are read
        # or sees the location inactive afterwards.
        if 1 <= location_id <= MAX_DB_ID:
            session.scalar(
                select(StockLocation)
                .where(StockLocation.id == location_id)
                .with_for_update(key_share=True)
            )
        location = get_or_reject(StockLocation, location_id, "stock location")
        if location.active == active:
            return location
        if not active:
            if location.is_default:
                refuse(
                    "location_is_default",
                    f"{location.name} is the default location: make another one the default first.",
                )
            on_hand, reserved = _lock_location_totals(location.id)
            if on_hand or reserved:
                refuse(
                    "location_not_empty",
                    f"{location.name} still holds {on_hand} on hand and {reserved} reserved by "
                    "open orders: ship, move or count them out first.",
                )
        location.active = active
        record_change(LOCATION_RECORD, location.id, "activated" if active else "deactivated", actor)
    return location


def _lock_location_totals(location_id: int) -> tuple[int, int]:
    """Units on hand and reserved at a location, its balance rows locked (in id order) so
    no order reserves there while it is being emptied out."""
    rows = db.session.execute(
        select(StockBalance.on_hand, StockBalance.reserved)
        .where(StockBalance.location_id == location_id)
        .order_by(StockBalance.id)
        .with_for_update()
    ).all()
    return sum(r.on_hand for r in rows), sum(r.reserved for r in rows)


def location_totals() -> dict[int, tuple[int, int]]:
    """Units on hand and reserved at every location, in one query."""
    rows = db.session.execute(
        select(
            StockBalance.location_id,
            func.coalesce(func.sum(StockBalance.on_hand), 0),
            func.coalesce(func.sum(StockBalance.reserved), 0),
        ).group_by(StockBalance.location_id)
    ).all()
    return {location_id: (on_hand, reserved) for location_id, on_hand, reserved in rows}


def all_locations() -> list[StockLocation]:
    """Every location, active ones first (the default at the top), then inactive ones."""
    return list(
        db.session.scalars(
            select(StockLocation).order_by(
                StockLocation.active.desc(), StockLocation.is_default.desc(), StockLocation.name
            )
        )
    )


def location_name(location_id: int | None) -> str:
    location = db.session.get(StockLocation, location_id) if location_id else None
    return location.name if location else "no location"
