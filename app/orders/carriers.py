"""Carriers and their tracking numbers: formats and check digits checked, links to the
carrier's tracking page.

Check digits are verified where the carrier's rule is public (one function each, below):

- UPS ``1Z`` numbers: the 18th character, from the 15 after ``1Z`` (UPS's published rule).
- USPS: IMpb numbers (``91``-``95``, 20-22 digits) by USPS Publication 199's Mod 10; the
  international ``AA123456785US`` form by the UPU S10 standard's mod 11.
- FedEx: 12-digit (Express) numbers, mod 11. FedEx's 15-, 20- and 22-digit forms are
  checked for their format only: their rules differ by service and the number alone does
  not say which applies.
- DHL: format only. DHL publishes no check-digit rule for its numbers.

A mistyped character is then caught when it is typed (a wrong number is otherwise linked
and shown as the parcel's); a number entered wrongly anyway can be removed, with a reason
(``lifecycle.remove_tracking_number``).
"""

from __future__ import annotations

import re
from urllib.parse import quote


def ups_check_digit(body: str) -> int:
    """UPS: the 15 characters after ``1Z``; letters count as their position in the
    alphabet plus one, last digit only (A=2, B=3, ... I=0 ... Z=7). Characters in odd
    places count once, in even places twice; the check digit brings the sum to a multiple
    of 10."""
    total = 0
    for place, char in enumerate(body, start=1):
        value = int(char) if char.isdigit() else (ord(char) - ord("A") + 2) % 10
        total += value if place % 2 else 2 * value
    return (10 - total % 10) % 10


def mod10_check_digit(body: str) -> int:
    """USPS Publication 199 (Intelligent Mail package barcode), the Mod 10 check digit:
    from the rightmost digit leftwards, digits weighted 3, 1, 3, 1, ...; the check digit
    brings the sum to a multiple of 10."""
    total = sum(int(digit) * (3 if n % 2 == 0 else 1) for n, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def s10_check_digit(serial: str) -> int:
    """UPU S10 (international item identifiers, ``AA123456785US``): the 8 serial digits
    weighted 8, 6, 4, 2, 3, 5, 9, 7; the check digit is 11 less the remainder mod 11,
    except 10 becomes 0 and 11 becomes 5."""
    remainder = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    return {0: 5, 1: 0}.get(remainder, 11 - remainder)


def fedex12_check_digit(body: str) -> int:
    """FedEx Express 12-digit numbers: the first 11 digits weighted 3, 1, 7, 3, 1, 7, ...
    from the left; the check digit is the sum mod 11, and 10 counts as 0."""
    weights = (3, 1, 7)
    return sum(int(d) * weights[n % 3] for n, d in enumerate(body)) % 11 % 10


def _checks(value: str) -> bool:
    """The check digit rule of a number whose format says which rule applies."""
    # Compared as text: a UPS number may end in a letter, which is never a check digit.
    if value.startswith("1Z"):
        return str(ups_check_digit(value[2:-1])) == value[-1]
    if re.fullmatch(r"9[1-5][0-9]{18,20}", value):
        return str(mod10_check_digit(value[:-1])) == value[-1]
    if re.fullmatch(r"[A-Z]{2}[0-9]{9}US", value):
        return str(s10_check_digit(value[2:10])) == value[10]
    if re.fullmatch(r"[0-9]{12}", value):
        return str(fedex12_check_digit(value[:11])) == value[11]
    return True


CARRIERS = {
    "UPS": {
        "patterns": [r"1Z[0-9A-Z]{16}"],
        "checked": [r"1Z[0-9A-Z]{16}"],
        "hint": "1Z followed by 16 letters or digits",
        "url": "https://www.ups.com/track?tracknum={}",
    },
    "FedEx": {
        "patterns": [r"[0-9]{12}", r"[0-9]{15}", r"[0-9]{20}", r"[0-9]{22}"],
        "checked": [r"[0-9]{12}"],
        "hint": "12, 15, 20 or 22 digits",
        "url": "https://www.fedex.com/fedextrack/?trknbr={}",
    },
    "USPS": {
        "patterns": [r"9[1-5][0-9]{18,20}", r"[A-Z]{2}[0-9]{9}US"],
        "checked": [r"9[1-5][0-9]{18,20}", r"[A-Z]{2}[0-9]{9}US"],
        "hint": "20 to 22 digits starting with 91-95, or like EC123456785US",
        "url": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    },
    "DHL": {
        "patterns": [r"[0-9]{10}", r"JJD[0-9]{18,20}"],
        "checked": [],
        "hint": "10 digits, or JJD followed by 18 to 20 digits",
        "url": "https://www.dhl.com/us-en/home/tracking.html?tracking-id={}",
    },
}


def normalise(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "").upper()


def problem(carrier: str, value: str) -> str | None:
    """Why a (normalised) tracking number is not one of the carrier's, or None if it is."""
    spec = CARRIERS.get(carrier)
    if spec is None:
        return "Choose the carrier: " + ", ".join(CARRIERS) + "."
    if not value:
        return "Enter the tracking number."
    if not any(re.fullmatch(p, value) for p in spec["patterns"]):
        return f"A {carrier} tracking number is {spec['hint']}."
    if any(re.fullmatch(p, value) for p in spec["checked"]) and not _checks(value):
        return (
            f"This is not a valid {carrier} tracking number: its check digit does not match. "
            "Check it for a mistyped or swapped character."
        )
    return None


def tracking_url(carrier: str, value: str) -> str | None:
    spec = CARRIERS.get(carrier)
    return spec["url"].format(quote(value)) if spec else None


def recognise(value: str) -> str | None:
    """The carrier whose format (and check digit, where it has one) the tracking number
    fits; None when none does, or several do alike. A 20- or 22-digit number starting 91-95
    fits FedEx's format and USPS's too: the carrier whose check digit it passes wins."""
    value = normalise(value)
    fitting = [carrier for carrier in CARRIERS if problem(carrier, value) is None]
    if len(fitting) > 1:
        fitting = [
            carrier
            for carrier in fitting
            if any(re.fullmatch(p, value) for p in CARRIERS[carrier]["checked"])
        ]
    return fitting[0] if len(fitting) == 1 else None
