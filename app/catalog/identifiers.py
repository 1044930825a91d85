"""Device identifiers: how each type is written, checked and normalised."""

from __future__ import annotations

import re

LABELS = {
    "serial": "Serial number",
    "imei": "IMEI",
    "macAddress": "MAC address",
    "iccid": "ICCID",
    "simCardNumber": "SIM card number",
}


# Most specific first: a value that fits an earlier type is read as that type.
SPECIFICITY = ["imei", "iccid", "simCardNumber", "macAddress", "serial"]


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit that completes ``digits`` (used by IMEI and ICCID)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _luhn_ok(digits: str) -> bool:
    return luhn_check_digit(digits[:-1]) == digits[-1]


def normalise(kind: str, raw: str) -> str:
    """The identifier as stored: scanners add spaces and dashes, MACs come in several spellings."""
    value = raw.strip()
    if kind in ("imei", "iccid", "simCardNumber"):
        return re.sub(r"[\s-]", "", value)
    if kind == "macAddress":
        hex_digits = re.sub(r"[\s:.-]", "", value).upper()
        if re.fullmatch(r"[0-9A-F]{12}", hex_digits):
            return ":".join(hex_digits[i : i + 2] for i in range(0, 12, 2))
        return value.upper()
    return value.upper()


def problem(kind: str, value: str) -> str | None:
    """Why a (normalised) identifier is not valid for its type, or None if it is."""
    if kind == "imei":
        if not re.fullmatch(r"[0-9]{15}", value):
            return "An IMEI is 15 digits."
        if not _luhn_ok(value):
            return "This IMEI's check digit is wrong; check for a mistyped digit."
    elif kind in ("iccid", "simCardNumber"):
        if not re.fullmatch(r"89[0-9]{17,18}", value):
            name = "An ICCID" if kind == "iccid" else "A SIM card number"
            return f"{name} is 19 or 20 digits starting with 89."
        if not _luhn_ok(value):
            return "The check digit is wrong; check for a mistyped digit."
    elif kind == "macAddress":
        if not re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", value):
            return "A MAC address is 12 hexadecimal digits, like 00:1C:05:4A:2B:3C."
    elif kind == "serial":
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{3,39}", value):
            return "A serial number is 4 to 40 letters, digits or dashes."
    else:
        return f"Unknown identifier type {kind}."
    return None


def looks_like(kind: str, raw: str) -> bool:
    return problem(kind, normalise(kind, raw)) is None
