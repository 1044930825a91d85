"""The dashboard's charts as geometry: bars, ticks and labels with their places in an SVG's
coordinates, drawn by ``templates/dashboard/_chart.html``. No script: the server works
out every rectangle, and each chart's figures are also a table beneath it.

Colours are distinguishable with the common colour-vision deficiencies (Okabe and Ito's
palette, darkened where needed) and each has at least 3:1 contrast with the white
background; no chart relies on colour alone (every series is named in a legend and every
bar carries its figures in its title).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Series colours, in order.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#882255")
LOW_COLOUR = "#B3261E"

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    # What a pointer over it (and the SVG's own text) says: "12 Dec: 14 placed".
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Rule:
    """A line across the plot: a gridline, or a mark such as the target cover."""

    x1: float
    y1: float
    x2: float
    y2: float
    kind: str = "grid"


@dataclass
class Chart:
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    # (colour, name) for the legend.
    legend: list[tuple[str, str]] = field(default_factory=list)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always answers


def scale_top(value: float) -> int:
    """The top of a scale with four whole, round steps that reaches ``value`` (4 at least):
    7 -> 8 (steps of 2), 130 -> 200 (steps of 50)."""
    return 4 * max(int(nice_ceiling(value / 4)), 1)


def _ticks(top: float) -> list[float]:
    return [top * n / 4 for n in range(5)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def bar_chart(
    title: str,
    description: str,
    categories: list[str],
    series: list[tuple[str, list[float]]],
    *,
    stacked: bool = False,
    label_every: int = 1,
    unit: str = "",
    top: float | None = None,
) -> Chart:
    """Vertical bars: one group (or stack) per category, one bar per series; the scale
    reaches ``top`` when given (100 for percentages), else the tallest bar, rounded up."""
    chart = Chart(
        title, description, legend=[(COLOURS[i], name) for i, (name, _) in enumerate(series)]
    )
    totals = [
        sum(values[at] for _, values in series)
        if stacked
        else max((values[at] for _, values in series), default=0)
        for at in range(len(categories))
    ]
    top = top or scale_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    for tick in _ticks(top):
        y = base - plot_h * tick / top
        chart.rules.append(Rule(LEFT, y, WIDTH - RIGHT, y))
        chart.labels.append(Label(LEFT - 6, y + 4, _number(tick) + unit, "end"))
    slot = plot_w / max(len(categories), 1)
    bar_w = slot * 0.8 / (1 if stacked else max(len(series), 1))
    for at, category in enumerate(categories):
        x0, below = LEFT + slot * at + slot * 0.1, 0.0
        for i, (name, values) in enumerate(series):
            value = values[at]
            height = plot_h * value / top
            x = x0 if stacked else x0 + bar_w * i
            y = base - height - (plot_h * below / top if stacked else 0)
            chart.bars.append(
                Bar(x, y, bar_w, height, COLOURS[i], f"{category}: {_number(value)}{unit} {name}")
            )
            if stacked:
                below += value
        if at % label_every == 0:
            chart.labels.append(Label(LEFT + slot * (at + 0.5), base + 16, category))
    return chart


def cover_chart(title: str, description: str, rows: list, target_days: int) -> Chart:
    """Horizontal bars of days of cover, one per item and location, drawn to twice the
    target at most; rows at or below their reorder point in the warning colour, with a
    rule at the target."""
    row_h = 22
    height = TOP + BOTTOM + row_h * max(len(rows), 1)
    left = 260
    chart = Chart(
        title,
        description,
        height=height,
        legend=[(COLOURS[0], "Days of cover"), (LOW_COLOUR, "At or below the reorder point")],
    )
    top = scale_top(target_days * 2)
    plot_w = WIDTH - left - RIGHT - 16  # room for the last tick's label
    base = TOP + row_h * len(rows)
    for tick in _ticks(top):
        x = left + plot_w * tick / top
        chart.rules.append(Rule(x, TOP, x, base))
        chart.labels.append(Label(x, base + 16, _number(tick) + " d"))
    target_x = left + plot_w * target_days / top
    chart.rules.append(Rule(target_x, TOP, target_x, base, "mark"))
    for at, row in enumerate(rows):
        y = TOP + row_h * at
        days = row.days_of_cover
        shown = 0 if days is None else min(days, top)
        said = "no recent use" if days is None else f"{days:,.1f} days of cover"
        chart.labels.append(
            Label(left - 6, y + row_h * 0.65, f"{row.item} · {row.location}", "end")
        )
        if days is None:
            chart.labels.append(Label(left + 4, y + row_h * 0.65, "no recent use", "start"))
        chart.bars.append(
            Bar(
                left,
                y + 3,
                plot_w * shown / top,
                row_h - 6,
                LOW_COLOUR if row.low else COLOURS[0],
                f"{row.item} at {row.location}: {row.available:,} available, {said}"
                + (", at or below the reorder point" if row.low else ""),
            )
        )
    return chart


# --- The dashboard's own charts ----------------------------------------------------------


def daily_chart(days: list) -> Chart:
    total_placed, total_shipped = sum(d.placed for d in days), sum(d.shipped for d in days)
    return bar_chart(
        "Orders placed and shipped per day",
        f"The last {len(days)} days: {total_placed:,} orders placed and {total_shipped:,} "
        "shipped. The figures are in the table below.",
        [f"{d.day:%d %b}" for d in days],
        [("Placed", [d.placed for d in days]), ("Shipped", [d.shipped for d in days])],
        label_every=5,
    )


def open_chart(rows: list, ages: tuple) -> Chart:
    total = sum(r.total for r in rows)
    return bar_chart(
        "Open orders by status and age",
        f"{total:,} open orders, stacked by how long ago they were placed. The figures are "
        "in the table below.",
        [r.label for r in rows],
        [(label, [r.by_age[at] for r in rows]) for at, (label, _, _) in enumerate(ages)],
        stacked=True,
    )


def weekly_chart(weeks: list) -> Chart:
    return bar_chart(
        "Time from placed to shipped, per week",
        "The median and the 90th percentile of the hours from placed to shipped, for orders "
        "shipped each week (by the upper bound of the bucket each falls in). The figures are "
        "in the table below.",
        [f"{w.starts:%d %b}" for w in weeks],
        [
            ("Median", [w.median_hours or 0 for w in weeks]),
            ("90th percentile", [w.p90_hours or 0 for w in weeks]),
        ],
        unit=" h",
    )


def on_time_chart(weeks: list) -> Chart:
    shipped = sum(w.shipped for w in weeks)
    on_time = sum(w.on_time for w in weeks)
    return bar_chart(
        "Shipped on time against the ship-by date, per week",
        f"The share of each week's first shipments that left on or before their ship-by "
        f"date: {on_time:,} of {shipped:,} in the last {len(weeks)} weeks. The figures are "
        "in the table below.",
        [f"{w.starts:%d %b}" for w in weeks],
        [("On time", [100 * (w.on_time_share or 0) for w in weeks])],
        unit="%",
        top=100,
    )


def returns_chart(rows: list, ages: tuple) -> Chart:
    total, overdue = sum(r.total for r in rows), sum(r.overdue for r in rows)
    return bar_chart(
        "Returns outstanding by status and age",
        f"{total:,} orders still owe a return, stacked by how long ago their return label was "
        f"sent; {overdue:,} of them are overdue. The figures are in the table below.",
        [r.label for r in rows],
        [(label, [r.by_age[at] for r in rows]) for at, (label, _, _) in enumerate(ages)],
        stacked=True,
    )
