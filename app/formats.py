"""How values are written out, wherever they are shown or exported."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, has_app_context


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as the v3 API writes every time."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 patient", "3 patients", "0 rows": the count with the word in its proper number."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


_NAME_HEAD = re.compile(r"^(?P<head>[^,(]*[A-Za-z])(?P<rest>\s*[,(].*)?$", re.DOTALL)


def plural_name(count: int, name: str) -> str:
    """A catalog name counted: "1 Blood pressure monitor", "3 Blood pressure monitors",
    "2 Blood pressure cuffs, large (32-42 cm)". The noun is the name's head (before a comma
    or a bracket); a head already plural ("Test strips") stays, and one ending in a model
    number reads "3 × Omron 7156T"."""
    if count == 1:
        return f"1 {name}"
    match = _NAME_HEAD.match(name)
    if match is None or any(c.isdigit() for c in match["head"].split()[-1]):
        return f"{count} × {name}"  # a model number is no noun
    head = match["head"]
    if head.endswith("s") and not head.endswith("ss"):
        return f"{count} {name}"
    if head.endswith(("ss", "x", "z", "ch", "sh")):
        head += "es"
    elif head.endswith("y") and head[-2:-1].lower() not in "aeiou":
        head = head[:-1] + "ies"
    else:
        head += "s"
    return f"{count} {head}{match['rest'] or ''}"


def years_and_days(days: int) -> str:
    """A span of days as people say it: "6 years and 6 days (2,196 days)"."""
    years, rest = divmod(days, 365)
    if not years:
        return plural(days, "day")
    said = plural(years, "year") + (f" and {plural(rest, 'day')}" if rest else "")
    return f"{said} ({days:,} days)"


def zone_named(name: str | None) -> ZoneInfo:
    """The time zone called ``name`` (IANA), or UTC when it is empty or unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


# Where the warehouse's days begin unless ``WAREHOUSE_TIME_ZONE`` says otherwise.
DEFAULT_WAREHOUSE_TIME_ZONE = "America/New_York"


def warehouse_zone() -> ZoneInfo:
    """The warehouse's time zone (``WAREHOUSE_TIME_ZONE``): where ship-by dates and the
    dashboard's days begin. The app's setting, or outside the app (a migration run by
    Alembic) the environment's, with the same default as the app's."""
    if has_app_context():
        name = current_app.config.get("WAREHOUSE_TIME_ZONE", DEFAULT_WAREHOUSE_TIME_ZONE)
    else:
        name = os.environ.get("WAREHOUSE_TIME_ZONE", DEFAULT_WAREHOUSE_TIME_ZONE)
    return zone_named(name)


def day_in(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day a moment falls on in ``zone``."""
    return moment.astimezone(zone).date()


# The longest IANA name kept on a user (the column's width).
MAX_TIME_ZONE_LENGTH = 64


def is_time_zone(name: str) -> bool:
    return bool(name) and len(name) <= MAX_TIME_ZONE_LENGTH and name in available_timezones()


def local_datetime(value: datetime | None, zone: ZoneInfo) -> str:
    """A moment as a person in ``zone`` reads it: "2026-11-26 19:05 EST"."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def spreadsheet_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with these would run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_stream(header: list[str], batches: Iterable[list[list]]) -> Iterator[str]:
    """CSV text for a streamed answer: the header line, then each batch of rows as it comes
    (the caller reads a batch from the database while the previous one is being sent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield flush()
    for batch in batches:
        writer.writerows(batch)
        yield flush()
