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
from app.validation import MAX_DB_ID, parse_int, storable_problem

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Paging of every list the API answers: pages from 1.
MAX_PAGE = 10**6
DEFAULT_PAGE_SIZE = 15
MAX_PAGE_SIZE = 250
# No body of ours nests deeper than this (an order: body, list, line, reference, id).
MAX_JSON_DEPTH = 10


class _DuplicateKey(ValueError):
    pass


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    body = dict(pairs)
    if len(body) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return body


def json_body() -> Any:
    """The request body as JSON, or an ApiError that says what is wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = request.get_data(cache=False)  # raises 413 when the body is over the limit
    try:
        body = json.loads(
            raw.decode("utf-8"),
            parse_constant=_refuse_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except _DuplicateKey as duplicate:
        # Which of two values was meant cannot be known: the last one silently winning
        # would store what the sender may not have meant.
        raise ApiError(
            400, "duplicate_key", f"The key “{duplicate}” appears twice in one object."
        ) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    _check_values(body)
    return body


def _check_values(body: Any) -> None:
    """Refuses nesting deeper than any request of ours, and text no database can store
    (a lone surrogate, NUL). Keys are not checked: unknown keys are ignored, and known keys
    are plain ASCII."""
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiError(
                400,
                "too_deeply_nested",
                f"The body nests more than {MAX_JSON_DEPTH} levels deep.",
                where or None,
            )
        if isinstance(value, str):
            problem = storable_problem(value)
            if problem:
                raise ApiError(400, "invalid_text", f"{where or 'The body'} {problem}.", where)
        elif isinstance(value, dict):
            stack.extend(
                (v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in value.items()
            )
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))


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


# --- Query parameters ----------------------------------------------------------------------
#
# Every API route starts with ``only_args(<the names it takes>)`` (none: ``only_args()``), then
# reads each parameter with one of the readers below. A reader answers None (or its default)
# only when the parameter is left out.


def only_args(*names: str) -> None:
    """Refuses query parameters the operation does not have (a misspelt filter such as
    ``itemid`` would otherwise be ignored, and answer every row), and any parameter given
    twice or without a value: ``?page=`` is not the first page, and of ``?page=1&page=2``
    nobody can say which was meant."""
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise ApiError(
            400,
            "unknown_parameter",
            f"Unknown query parameter: {unknown[0]}."
            + (f" This operation takes: {', '.join(names)}." if names else ""),
            unknown[0],
        )
    for name, values in request.args.lists():
        _one_value(name, values)


def _one_value(name: str, values: list[str]) -> str:
    if len(values) > 1:
        raise ApiError(
            400, "invalid_parameter", f"{name} is given {len(values)} times: give it once.", name
        )
    if not values[0].strip():
        raise ApiError(
            400, "invalid_parameter", f"{name} is empty: give it a value, or leave it out.", name
        )
    return values[0]


def _given(name: str) -> str | None:
    """The parameter's one value, or None when it is left out."""
    values = request.args.getlist(name)
    return _one_value(name, values) if values else None


def positive_int_arg(name: str, default: int | None = None, maximum: int = MAX_DB_ID):
    raw = _given(name)
    if raw is None:
        return default
    number = parse_int(raw, 10)
    if number is None or not 1 <= number <= maximum:
        limit = f" from 1 to {maximum}" if maximum != MAX_DB_ID else ""
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number{limit}.", name)
    return number


def page_args() -> tuple[int, int]:
    """``page`` and ``size`` of a list request."""
    return (
        positive_int_arg("page", default=1, maximum=MAX_PAGE),
        positive_int_arg("size", default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE),
    )


def choice_arg(name: str, choices) -> str | None:
    """One of ``choices``, exactly as written, or None when left out."""
    raw = _given(name)
    if raw is not None and raw not in choices:
        raise ApiError(
            400, "invalid_parameter", f"{name} must be one of: {', '.join(choices)}.", name
        )
    return raw


def text_arg(name: str, max_length: int, required: bool = False) -> str | None:
    """A text of at most ``max_length`` characters, or None when left out (and allowed to be)."""
    raw = _given(name)
    if raw is None:
        if required:
            raise ApiError(400, "invalid_parameter", f"{name} is required.", name)
        return None
    if len(raw) > max_length:
        raise ApiError(
            400, "invalid_parameter", f"{name} is at most {max_length} characters.", name
        )
    return raw


def arrivals(body: Any) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """What ``POST /order/{id}/returns`` says arrived: ``deviceIdentifiers`` (``[{"value"}]``)
    and ``returnItems`` (``[{"item": {"id"}, "count"}]``); the service checks the values."""
    body = object_at(body, "The request body", required=True)
    values = []
    for i, entry in enumerate(list_at(body, "deviceIdentifiers")):
        entry = object_at(entry, f"deviceIdentifiers[{i}]", required=True)
        values.append(entry.get("value"))
    counts = [(line.ref, line.count) for line in _lines(body, "returnItems", "item")]
    return values, counts
