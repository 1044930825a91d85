"""Turning a JSON request into an OrderDraft.

Only the shape is checked here (an object where an object belongs, a list where a
list belongs); the values go to the order service unchecked, where the rules live.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from app.api.errors import ApiError
from app.orders.service import NOT_GIVEN, LineRequest, OrderDraft
from app.validation import parse_int

MAX_IDEMPOTENCY_KEY_LENGTH = 255


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_body() -> Any:
    """The request body as JSON, or an ApiError that says what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = request.get_data(cache=False)  # raises 413 when the body is over the limit
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if "\x00" in text or "\\u0000" in text.lower():
        # PostgreSQL cannot store it in text; no field of ours has a use for it.
        raise ApiError(400, "invalid_json", "Text in the body cannot contain the NUL character.")
    return body


def object_at(value: Any, where: str, required: bool = False) -> dict | None:
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_type", f"{where} must be an object.", where)
    return value


def list_at(body: dict, key: str, within: str | None = None) -> list:
    value = body.get(key)
    if value is None:
        return []
    where = f"{within}.{key}" if within else key
    if not isinstance(value, list):
        raise ApiError(400, "invalid_type", f"{where} must be a list.", where)
    return value


def ref_id(value: Any, where: str) -> Any:
    ref = object_at(value, where, required=True)
    if "id" not in ref or ref["id"] is None:
        raise ApiError(400, "missing_id", f"{where}.id is required.", f"{where}.id")
    return ref["id"]


def _lines(body: dict, key: str, noun: str) -> list[LineRequest]:
    lines = []
    for i, line in enumerate(list_at(body, key)):
        where = f"{key}[{i}]"
        line = object_at(line, where, required=True)
        lines.append(
            LineRequest(ref=ref_id(line.get(noun), f"{where}.{noun}"), count=line.get("count"))
        )
    return lines


def _recipient_id(body: dict, key: str) -> Any:
    recipient = object_at(body.get(key), key)
    return None if recipient is None else ref_id(recipient, key)


def order_draft(body: Any) -> OrderDraft:
    body = object_at(body, "The request body", required=True)
    notes = []
    for i, note in enumerate(list_at(body, "orderNotes")):
        notes.append(object_at(note, f"orderNotes[{i}]", required=True).get("note"))
    return OrderDraft(
        patient_id=_recipient_id(body, "patient"),
        site_id=_recipient_id(body, "site"),
        items=_lines(body, "orderItems", "item"),
        kits=_lines(body, "orderKits", "kit"),
        return_items=_lines(body, "returnItems", "item"),
        return_device_ids=[
            ref_id(d, f"returnDevices[{i}]") for i, d in enumerate(list_at(body, "returnDevices"))
        ],
        return_packed_kit_ids=[
            ref_id(k, f"returnPackedKits[{i}]")
            for i, k in enumerate(list_at(body, "returnPackedKits"))
        ],
        external_order_ids=list_at(body, "externalOrderIds"),
        shipping_option=body.get("shippingOption", NOT_GIVEN),
        email_label=body.get("emailLabel", False),
        notes=notes,
        location_id=(
            None
            if body.get("fulfillmentLocation") is None
            else ref_id(body["fulfillmentLocation"], "fulfillmentLocation")
        ),
    )


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters.",
        )
    return key


def positive_int_arg(name: str, default: int | None = None, maximum: int | None = None):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    number = parse_int(raw, 10)
    if number is None or not 1 <= number <= (maximum or 2**31 - 1):
        limit = f" from 1 to {maximum}" if maximum else ""
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number{limit}.", name)
    return number
