"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import UTC, datetime

from app.catalog import identifiers
from app.orders import statuses

EVENT_LABELS = {
    "packingSummaryPrinted": "Packing summary printed",
    "trackingNumberAdded": "Tracking number added",
    "deviceRecorded": "Device recorded",
    "deviceRemoved": "Device removed",
}


def format_datetime(value: datetime | None) -> str:
    """Absolute time in UTC; the browser shows it in local time too (static/js/app.js)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def event_label(name: str) -> str:
    return EVENT_LABELS.get(name) or statuses.label(name)


HISTORY_ACTIONS = {
    "created": "Created",
    "updated": "Changed",
    "archived": "Archived",
    "restored": "Restored",
    "activated": "Activated",
    "deactivated": "Deactivated",
    "passwordReset": "Password reset",
    "revoked": "Revoked",
    "imported": "Imported",
    "enabled": "Enabled",
    "disabled": "Disabled",
    "secretRotated": "Secret rotated",
    "deleted": "Deleted",
}


def field_label(name: str) -> str:
    """``address.zip_code`` -> "Address: zip code"."""
    prefix, _, rest = name.rpartition(".")
    label = rest.replace("_id", "").replace("_", " ")
    return f"{prefix.title()}: {label}" if prefix else label.capitalize()


def register(app) -> None:
    app.jinja_env.filters["history_action"] = lambda action: HISTORY_ACTIONS.get(action, action)
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.globals["status_label"] = statuses.label
    app.jinja_env.globals["event_label"] = event_label
    app.jinja_env.globals["ident_label"] = lambda kind: identifiers.LABELS.get(kind, kind)
