"""The dashboard's figures, from the areas' summary tables (``app.orders.daily_counts``,
``app.inventory.usage``): one statement each, whatever the number of orders.

Days and weeks are the warehouse's (``WAREHOUSE_TIME_ZONE``); weeks begin on Monday.
Times from placed to shipped are counted in buckets of hours (``daily_counts.HOURS_BUCKETS``),
so a week's median and 90th percentile are the bucket they fall in, told by its upper
bound ("within 6 hours").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.formats import day_in, warehouse_zone
from app.inventory import usage
from app.orders import daily_counts, owed, statuses

DAYS = 30
WEEKS = 8
# Open orders' ages in whole days since the day they were placed: (label, first, last).
AGES = (("Today", 0, 0), ("1–2 days", 1, 2), ("3–5 days", 3, 5), ("Older", 6, None))
OPEN_IN_ORDER = [s for s in statuses.ALL if s in statuses.OPEN]
# Returns out, by whole days since their label was sent: (label, first, last).
RETURN_AGES = (
    ("Under a week", 0, 6),
    ("1–2 weeks", 7, 13),
    ("2–3 weeks", 14, 20),
    ("3 weeks or more", 21, None),
)


@dataclass(frozen=True)
class Day:
    day: date
    placed: int
    shipped: int


@dataclass(frozen=True)
class OpenRow:
    status: str
    label: str
    # One count per age in AGES.
    by_age: tuple[int, ...]
    # Past their ship-by date (daily_counts.late_open_orders); None where not counted.
    late: int | None = None

    @property
    def total(self) -> int:
        return sum(self.by_age)


@dataclass(frozen=True)
class ReturnRow:
    """Orders of one status whose return is out (``owed``), by age, and how many overdue."""

    status: str
    label: str
    by_age: tuple[int, ...]  # one count per age in RETURN_AGES
    overdue: int

    @property
    def total(self) -> int:
        return sum(self.by_age)


@dataclass(frozen=True)
class Week:
    starts: date
    shipped: int
    # Upper bounds in hours of the buckets the median and the 90th percentile fall in.
    median_hours: int | None
    p90_hours: int | None
    # Of those shipped, how many left by their ship-by date (``ship_by.shipped_on_time``).
    on_time: int = 0

    @property
    def on_time_share(self) -> float | None:
        """The share shipped on time, 0 to 1; None for a week that shipped nothing."""
        return self.on_time / self.shipped if self.shipped else None


@dataclass(frozen=True)
class OrderFigures:
    today: date
    days: list[Day]
    open_rows: list[OpenRow]
    weeks: list[Week]
    late_known: bool


def warehouse_today(now: datetime) -> date:
    return day_in(now, warehouse_zone())


def age_index(today: date, placed: date) -> int:
    age = (today - placed).days
    for at, (_, first, last) in enumerate(AGES):
        if age >= first and (last is None or age <= last):
            return at
    return 0  # placed "after today" (a clock moved back): counted as today's


def percentile_bucket(histogram: dict[int, int], share: float) -> int | None:
    """The bucket holding the ``share`` (0.5, 0.9) point of the counts, nearest rank."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(math.ceil(share * total), 1), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket
    return None  # pragma: no cover - the ranks add up to the total


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def order_figures(now: datetime, sites: daily_counts.Sites) -> OrderFigures:
    """Placed and shipped per day, open orders by status and age, time to ship per week:
    three statements (four once orders have ship-by dates), for every site or only the
    orders of ``sites`` (``daily_counts.Sites``)."""
    today = warehouse_today(now)
    first_day = today - timedelta(days=DAYS - 1)
    first_week = week_start(today) - timedelta(weeks=WEEKS - 1)
    placed = daily_counts.placed_per_day(first_day, sites)
    shipped = daily_counts.shipped_per_day(min(first_day, first_week), sites)
    days = [
        Day(d, placed.get(d, 0), sum(shipped.get(d, {}).values()))
        for d in (first_day + timedelta(days=n) for n in range(DAYS))
    ]
    weekly: dict[date, dict[int, int]] = {}
    on_time: dict[date, int] = {}
    for day, counts in shipped.items():
        if day >= first_week:
            start = week_start(day)
            week = weekly.setdefault(start, {})
            for (bucket, in_time), n in counts.items():
                week[bucket] = week.get(bucket, 0) + n
                on_time[start] = on_time.get(start, 0) + (n if in_time else 0)
    weeks = [
        Week(
            start,
            sum(weekly.get(start, {}).values()),
            percentile_bucket(weekly.get(start, {}), 0.5),
            percentile_bucket(weekly.get(start, {}), 0.9),
            on_time.get(start, 0),
        )
        for start in (first_week + timedelta(weeks=n) for n in range(WEEKS))
    ]
    return OrderFigures(today, days, _open_rows(today, sites), weeks, late_known=True)


def _open_rows(today: date, sites: daily_counts.Sites) -> list[OpenRow]:
    counts = {s: [0] * len(AGES) for s in OPEN_IN_ORDER}
    for (status, placed_day), n in daily_counts.open_by_placed_day(sites).items():
        counts[status][age_index(today, placed_day)] += n
    late = daily_counts.late_open_orders(sites, today)
    return [OpenRow(s, statuses.label(s), tuple(counts[s]), late.get(s, 0)) for s in OPEN_IN_ORDER]


def returns_out(now: datetime, sites: daily_counts.Sites) -> list[ReturnRow]:
    """Returns still out with their recipients, by status and age since the label was sent,
    with those overdue (``owed.overdue_condition``'s rule): one statement, over the partial
    index of returns out."""
    counts = {s: [0] * len(RETURN_AGES) for s in owed.OUT}
    overdue = dict.fromkeys(owed.OUT, 0)
    for (status, age, late), n in owed.returns_out_by_age(now, sites, RETURN_AGES).items():
        counts[status][age] += n
        overdue[status] += n if late else 0
    return [ReturnRow(s, statuses.label(s), tuple(counts[s]), overdue[s]) for s in owed.OUT]


def overdue_days() -> int:
    """Days after its label was sent that a return is overdue (``RETURN_OVERDUE_DAYS``)."""
    return owed.overdue_days()


def stock_cover(now: datetime, target_days: int) -> list[usage.CoverRow]:
    """Every item at every active location with its days of cover: one statement."""
    return usage.stock_cover(warehouse_today(now), target_days)


def on_time_text(week: Week) -> str:
    """ "93% (140 of 150)"; a dash for a week that shipped nothing."""
    share = week.on_time_share
    if share is None:
        return "–"
    return f"{math.floor(share * 100):.0f}% ({week.on_time:,} of {week.shipped:,})"


def hours_text(hours: int | None) -> str:
    """A bucket's upper bound as people say it: "within 6 hours", "within 2 days"."""
    if hours is None:
        return "–"
    if hours == daily_counts.LONGEST:
        return "over 14 days"
    if hours > 48 and hours % 24 == 0:
        return f"within {hours // 24} days"
    return f"within {hours} hour{'s' if hours != 1 else ''}"
