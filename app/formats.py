"""How values are written out, wherever they are shown or exported."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as the v3 API writes every time."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 patient", "3 patients", "0 rows": the count with the word in its proper number."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
