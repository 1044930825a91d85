"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import has_request_context
from flask_login import current_user

from app.catalog import identifiers
from app.catalog.models import SIZE_LABELS
from app.formats import local_datetime, plural, zone_named
from app.orders import events, ship_by, statuses


def reader_zone() -> ZoneInfo:
    """The signed-in user's time zone (UTC for anyone else)."""
    user = current_user if has_request_context() else None
    return zone_named(getattr(user, "time_zone", None) if user is not None else None)


def format_datetime(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """Absolute time in the reader's time zone (``zone`` when a page already knows it: a
    long list looks it up once); the browser adds how long ago it was (static/js/app.js)."""
    return local_datetime(value, zone or reader_zone())


HISTORY_ACTIONS = {
    "created": "Created",
    "updated": "Changed",
    "archived": "Archived",
    "restored": "Restored",
    "activated": "Activated",
    "deactivated": "Deactivated",
    "madeDefault": "Made the default",
    "passwordReset": "Password reset",
    "signedOutEverywhere": "Signed out everywhere",
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
    label = rest.removesuffix("_id").replace("_", " ")
    return f"{prefix.title()}: {label}" if prefix else label.capitalize()


# A history entry keeps values as they were stored; the coded ones are shown in words.
HISTORY_VALUES = {"device_identifier_type": identifiers.LABELS, "size": SIZE_LABELS}


def history_value(value, name: str):
    """A recorded value as people read it: "SIM card number", not "simCardNumber"; "Yes"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return HISTORY_VALUES.get(name, {}).get(value, value)


def register(app) -> None:
    app.jinja_env.filters["history_action"] = lambda action: HISTORY_ACTIONS.get(action, action)
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["datetime"] = format_datetime
    # A day as the warehouse reads it: "Mon 2026-12-07" (a ship-by date).
    # The time of day in the reader's zone: "10:42" (since when someone packs an order).
    app.jinja_env.filters["clock"] = lambda value, zone=None: value.astimezone(
        zone or reader_zone()
    ).strftime("%H:%M")
    app.jinja_env.filters["weekday_date"] = lambda day: day.strftime("%a %Y-%m-%d") if day else ""
    # The proxy: a template that never asks who is signed in does not load the user.
    app.jinja_env.globals["current_user"] = current_user
    app.jinja_env.globals["status_label"] = statuses.label
    app.jinja_env.globals["ship_by_standing"] = ship_by.standing
    app.jinja_env.globals["warehouse_today"] = ship_by.warehouse_today
    app.jinja_env.globals["event_label"] = events.label
    app.jinja_env.globals["ident_label"] = lambda kind: identifiers.LABELS.get(kind, kind)
    app.jinja_env.globals["plural"] = plural
    app.jinja_env.globals["size_label"] = lambda size: SIZE_LABELS.get(size, size)
    app.jinja_env.filters["history_value"] = history_value
