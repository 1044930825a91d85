"""Ship-by dates: the day an order must leave the warehouse, the one home of that rule.

From the order's shipping option and the moment it was placed, read in the warehouse's time
zone (``WAREHOUSE_TIME_ZONE``):

- overnight: placed on a business day before the cut-off (``OVERNIGHT_CUTOFF``), it ships
  that day; otherwise on the next business day;
- standard: on the ``STANDARD_SHIP_DAYS``-th business day after the day it was placed (0: that
  day, or the next business day if it was placed on a day off);
- no shipping option (nothing goes out, the return label is emailed): as standard, the time
  the warehouse has to send the label.

Business days are Monday to Friday, except the dates in ``WAREHOUSE_HOLIDAYS``. Placing
stores the date on the order (``Order.ship_by``), so that the list sorts and filters by it
with an index; a change of the settings applies to orders placed afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from app.db.types import utcnow
from app.orders import statuses

OVERNIGHT = "overnight"
# A ship-by date a status still owes: the order has not left (on hold included).
WAITING = statuses.OPEN


@dataclass(frozen=True)
class ShipByRules:
    zone: ZoneInfo
    overnight_cutoff: time
    standard_days: int
    holidays: frozenset[date] = frozenset()

    @classmethod
    def from_config(cls, config: Mapping) -> ShipByRules:
        """The rules the settings give (app/config.py has checked them)."""
        return cls(
            ZoneInfo(config["WAREHOUSE_TIME_ZONE"]),
            config["OVERNIGHT_CUTOFF"],
            config["STANDARD_SHIP_DAYS"],
            frozenset(config["WAREHOUSE_HOLIDAYS"]),
        )

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def business_days_after(self, day: date, count: int) -> date:
        """The ``count``-th business day after ``day``; for 0, ``day`` itself if it is a
        business day, else the next one."""
        if count == 0:
            while not self.is_business_day(day):
                day += timedelta(days=1)
            return day
        for _ in range(count):
            day += timedelta(days=1)
            while not self.is_business_day(day):
                day += timedelta(days=1)
        return day

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


def ship_by_date(shipping_option: str | None, placed_at: datetime, rules: ShipByRules) -> date:
    """The day an order placed at ``placed_at`` (aware) with this shipping option must ship."""
    local = placed_at.astimezone(rules.zone)
    if shipping_option == OVERNIGHT:
        days = 0 if local.time() < rules.overnight_cutoff else 1
    else:
        days = rules.standard_days
    return _business_days_after(rules, local.date(), days)


@functools.lru_cache(maxsize=64)
def _business_days_after(rules: ShipByRules, day: date, count: int) -> date:
    """``rules.business_days_after``, remembered: every order placed on a day asks the same
    one or two questions, and walking the calendar cost more than the rest of placing's
    ship-by date."""
    return rules.business_days_after(day, count)


def rules() -> ShipByRules:
    """The rules of the running app's settings (built once for each set of settings)."""
    config = current_app.config
    return _rules(
        config["WAREHOUSE_TIME_ZONE"],
        config["OVERNIGHT_CUTOFF"],
        config["STANDARD_SHIP_DAYS"],
        tuple(config["WAREHOUSE_HOLIDAYS"]),
    )


@functools.lru_cache(maxsize=16)
def _rules(zone: str, cutoff: time, standard_days: int, holidays: tuple[date, ...]) -> ShipByRules:
    return ShipByRules.from_config(
        {
            "WAREHOUSE_TIME_ZONE": zone,
            "OVERNIGHT_CUTOFF": cutoff,
            "STANDARD_SHIP_DAYS": standard_days,
            "WAREHOUSE_HOLIDAYS": holidays,
        }
    )


def now() -> datetime:
    """The time ship-by dates are judged against: ``SHIP_BY_CLOCK`` when set (tests move it
    on), else the real one."""
    clock: Callable[[], datetime] | None = current_app.config.get("SHIP_BY_CLOCK")
    return (clock or utcnow)()


def warehouse_today() -> date:
    """Today in the warehouse: what "Late" and "Due today" are counted against."""
    return rules().local_day(now())


def standing(ship_by: date | None, status: str, today: date | None = None) -> str | None:
    """ "late" or "due" (today) for an order that has not left; None otherwise."""
    if ship_by is None or status not in WAITING:
        return None
    today = today or warehouse_today()
    if ship_by < today:
        return "late"
    return "due" if ship_by == today else None


def shipped_on_time(ship_by: date | None, shipped_day: date) -> bool:
    """Whether an order that left on ``shipped_day`` (the warehouse's) kept its ship-by date:
    on that day or before. An order without a date was promised no day, so it is on time."""
    return ship_by is None or shipped_day <= ship_by
