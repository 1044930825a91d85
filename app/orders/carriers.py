"""Carriers and their tracking numbers: formats checked, links to the carrier's tracking page."""

from __future__ import annotations

import re
from urllib.parse import quote

CARRIERS = {
    "UPS": {
        "patterns": [r"1Z[0-9A-Z]{16}"],
        "hint": "1Z followed by 16 letters or digits",
        "url": "https://www.ups.com/track?tracknum={}",
    },
    "FedEx": {
        "patterns": [r"[0-9]{12}", r"[0-9]{15}", r"[0-9]{20}", r"[0-9]{22}"],
        "hint": "12, 15, 20 or 22 digits",
        "url": "https://www.fedex.com/fedextrack/?trknbr={}",
    },
    "USPS": {
        "patterns": [r"9[1-5][0-9]{18,20}", r"[A-Z]{2}[0-9]{9}US"],
        "hint": "20 to 22 digits starting with 91-95, or like EC123456789US",
        "url": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    },
    "DHL": {
        "patterns": [r"[0-9]{10}", r"JJD[0-9]{18,20}"],
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
    return None


def tracking_url(carrier: str, value: str) -> str | None:
    spec = CARRIERS.get(carrier)
    return spec["url"].format(quote(value)) if spec else None
