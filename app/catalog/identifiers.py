"""Device identifiers: how each type is written, checked and normalised.

The packing bench scans a value without saying what it is, so the first step is always
``classify(value)``: what the value looks like by its format alone, before anything is
looked up. The public API of this module, used by packing and by inventory:

- ``classify(value) -> Classification``: the kind (``imei``, ``iccid``, ``macAddress``,
  ``serial`` or ``unreadable``), the value normalised as stored, whether it passes the
  kind's checks (and why not), and the identifier types it may be recorded as.
- ``serial_pattern_problem(pattern)``: why a serial pattern cannot be saved on an item.
- ``fits_serial_pattern(pattern, serial)``: whether a serial fits an item's pattern.
- ``normalise(kind, value)`` and ``problem(kind, value)``: the same checks for a value whose
  type is already known (a line that takes an IMEI, the API naming the type).
- ``search_key(value)``: the identifier as searched: its letters and digits only, in
  capitals (stored beside each identifier, so that any part of one is found as typed).

How a value is read, trimmed (only ASCII digits are digits: Arabic-Indic or full-width
digits make a value unreadable, never a number):

- 15 digits (spaces and dashes inside ignored): an IMEI, valid with a right Luhn digit;
  14, 16 or 17 digits not starting with 89: an IMEI that is not valid.
- 89 then 14 to 20 more digits: an ICCID, valid with 19 or 20 digits and a right Luhn digit.
- 12 hex digits, bare, in pairs joined by ``:`` or ``-``, or as ``XXXX.XXXX.XXXX``: a MAC
  address; groups joined by ``:``, hex groups by ``.`` or 5 to 7 hex pairs by ``-`` that
  are not one: a MAC address that is not valid.
- Anything else of ASCII letters, digits and dashes, 4 to 40 long: a serial number.
- Anything else: unreadable.

An ICCID is also what a SIM card's number is: a valid ICCID may be recorded as ``iccid``
or ``simCardNumber``. A value that reads as an IMEI, ICCID or MAC address, valid or not,
is never a serial number: a mistyped IMEI must be refused, not recorded as some serial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABELS = {
    "serial": "Serial number",
    "imei": "IMEI",
    "macAddress": "MAC address",
    "iccid": "ICCID",
    "simCardNumber": "SIM card number",
}

# Every type an identifier is recorded as. A lookup by value names them all, so that it
# reads the (type, value) unique index instead of every identifier.
TYPES = tuple(LABELS)

# Most specific first: a value that fits an earlier type is read as that type.
SPECIFICITY = ["imei", "iccid", "simCardNumber", "macAddress", "serial"]

# The longest value a scan may be (the identifier column's width).
MAX_IDENTIFIER_LENGTH = 64
MAX_SERIAL_LENGTH = 40
# A serial pattern is a regular expression kept short and simple (see serial_pattern_problem).
MAX_SERIAL_PATTERN_LENGTH = 100
MAX_SERIAL_PATTERN_VARIABLE_REPEATS = 3
# Alternatives and repeats multiply the ways a match may be tried: (A|A|A) fourteen times
# is 3^14 tries before a serial is refused. Three free repeats (41^3) fit under this.
MAX_SERIAL_PATTERN_MATCH_WAYS = 100_000

UNREADABLE = "unreadable"

# What the packer records, in a sentence: "1 serial number", "2 IMEIs".
NOUNS = {
    "serial": ("serial number", "serial numbers"),
    "imei": ("IMEI", "IMEIs"),
    "macAddress": ("MAC address", "MAC addresses"),
    "iccid": ("ICCID", "ICCIDs"),
    "simCardNumber": ("SIM card number", "SIM card numbers"),
}

# What a value looks like, in a sentence: "This looks like an IMEI."
DESCRIPTIONS = {
    "imei": "an IMEI",
    "iccid": "an ICCID",
    "macAddress": "a MAC address",
    "serial": "a serial number",
    UNREADABLE: "no device identifier",
}

# The identifier types a valid value of each kind may be stored as.
RECORDABLE_AS = {
    "imei": ("imei",),
    "iccid": ("iccid", "simCardNumber"),
    "macAddress": ("macAddress",),
    "serial": ("serial",),
    UNREADABLE: (),
}

# The kind of value each identifier type takes.
KIND_OF_TYPE = {
    "imei": "imei",
    "iccid": "iccid",
    "simCardNumber": "iccid",
    "macAddress": "macAddress",
    "serial": "serial",
}

_DIGITS = re.compile(r"[0-9]+")
_NUMBER_SEPARATORS = re.compile(r"[ \t-]")
_HEX12 = re.compile(r"[0-9A-F]{12}")
_MAC_SPELLINGS = re.compile(
    r"[0-9A-F]{12}"
    r"|[0-9A-F]{2}(:[0-9A-F]{2}){5}"
    r"|[0-9A-F]{2}(-[0-9A-F]{2}){5}"
    r"|[0-9A-F]{4}\.[0-9A-F]{4}\.[0-9A-F]{4}"
)
# Near misses: groups joined by ":" (no serial has one), hex groups joined by ".", or 5 to 7
# hex pairs joined by "-".
_MAC_ATTEMPT = re.compile(
    r"[0-9A-Z]{1,4}(:[0-9A-Z]{1,4})+|[0-9A-F]{1,4}(\.[0-9A-F]{1,4})+|[0-9A-F]{2}(-[0-9A-F]{2}){4,6}"
)
_SERIAL = re.compile(r"[A-Z0-9][A-Z0-9-]{3,39}")


@dataclass(frozen=True)
class Classification:
    """What a scanned value looks like by its format alone.

    ``kind``: ``imei``, ``iccid``, ``macAddress``, ``serial`` or ``unreadable``.
    ``normalized``: the value as it is stored (digits without spaces, a MAC as
    ``00:1C:05:4A:2B:3C``, a serial in capitals). ``problem``: why it is not a valid
    identifier of its kind (a wrong check digit, a wrong length), or None.
    """

    kind: str
    normalized: str
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def recordable_as(self) -> tuple[str, ...]:
        """The identifier types this value may be recorded as (none when not valid)."""
        return RECORDABLE_AS[self.kind] if self.valid else ()

    @property
    def description(self) -> str:
        """``an IMEI``, ``a MAC address``... for "This looks like ..." messages."""
        return DESCRIPTIONS[self.kind]

    def fits(self, identifier_type: str) -> bool:
        return identifier_type in self.recordable_as


def noun(identifier_type: str, count: int) -> str:
    singular, plural = NOUNS[identifier_type]
    return singular if count == 1 else plural


def article(word: str) -> str:
    """ "an" before IMEI, ICCID and MAC (read as letters), else "a"."""
    return "an" if word[:1].upper() in "AEIOU" or word.startswith(("MAC", "SIM")) else "a"


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


def _ascii_digits(value: str) -> bool:
    # str.isdigit() and \d accept Arabic-Indic and other digits; an identifier never has them.
    return _DIGITS.fullmatch(value) is not None


def _number_kind(digits: str) -> str | None:
    """``imei`` or ``iccid`` when a run of digits reads as one, valid or not."""
    n = len(digits)
    if digits.startswith("89") and 16 <= n <= 22:
        return "iccid"
    if 14 <= n <= 17:
        return "imei"
    return None


def classify(value: str) -> Classification:
    """What ``value`` looks like: see the module's table. Never raises."""
    text = (value or "").strip()
    if not text.isascii() or not text or len(text) > MAX_IDENTIFIER_LENGTH:
        return Classification(
            UNREADABLE,
            text,
            "A device identifier is letters A–Z, digits 0–9 and dashes only."
            if text
            else "Scan or type the device identifier.",
        )
    digits = _NUMBER_SEPARATORS.sub("", text)
    if _ascii_digits(digits):
        kind = _number_kind(digits)
        if kind is not None:
            return Classification(kind, digits, problem(kind, digits))
    upper = text.upper()
    if _MAC_SPELLINGS.fullmatch(upper) or _MAC_ATTEMPT.fullmatch(upper):
        mac = normalise("macAddress", upper)
        return Classification("macAddress", mac, problem("macAddress", mac))
    if _SERIAL.fullmatch(upper):
        return Classification("serial", upper)
    return Classification(
        UNREADABLE,
        upper,
        "This is not a device identifier: a serial number is 4 to 40 letters, digits or dashes.",
    )


def normalise(kind: str, raw: str) -> str:
    """The identifier as stored: scanners add spaces and dashes, MACs come in several spellings."""
    value = raw.strip()
    if kind in ("imei", "iccid", "simCardNumber"):
        return _NUMBER_SEPARATORS.sub("", value)
    if kind == "macAddress":
        upper = value.upper()
        if value.isascii() and _MAC_SPELLINGS.fullmatch(upper):
            hex_digits = re.sub(r"[:.-]", "", upper)
            return ":".join(hex_digits[i : i + 2] for i in range(0, 12, 2))
        return upper
    return value.upper() if value.isascii() else value


_NOT_SEARCHED = re.compile(r"[^A-Z0-9]+")


def search_key(value: str) -> str:
    """``value`` as the device finder compares it, whatever its kind: ASCII letters and
    digits only, in capitals. Separators (spaces, dashes, a MAC's colons and dots) and case
    never tell two identifiers apart in a search: ``bp7450 01317086`` is ``BP745001317086``,
    a part of the serial ``BP7450-01317086``'s key."""
    return _NOT_SEARCHED.sub("", (value or "").upper())


def problem(kind: str, value: str) -> str | None:
    """Why a (normalised) identifier is not valid for its type, or None if it is."""
    if kind == "imei":
        if not (_ascii_digits(value) and len(value) == 15):
            return "An IMEI is 15 digits."
        if not _luhn_ok(value):
            return "This IMEI's check digit is wrong; check for a mistyped digit."
    elif kind in ("iccid", "simCardNumber"):
        if not (_ascii_digits(value) and value.startswith("89") and 19 <= len(value) <= 20):
            name = "An ICCID" if kind == "iccid" else "A SIM card number"
            return f"{name} is 19 or 20 digits starting with 89."
        if not _luhn_ok(value):
            return "The check digit is wrong; check for a mistyped digit."
    elif kind == "macAddress":
        if not re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", value):
            return "A MAC address is 12 hexadecimal digits, like 00:1C:05:4A:2B:3C."
    elif kind == "serial":
        if not (value.isascii() and _SERIAL.fullmatch(value)):
            return "A serial number is 4 to 40 letters, digits or dashes."
    else:
        return f"Unknown identifier type {kind}."
    return None


def looks_like(kind: str, raw: str) -> bool:
    return problem(kind, normalise(kind, raw)) is None


# --- Serial patterns ---------------------------------------------------------------------

# Python's re has no time limit, so a pattern is held to a form that cannot backtrack
# badly: what repeats is one character (a literal, a class, a digit...), never a group,
# and at most a few repeats vary in length. With serials of at most 40 characters the
# slowest match is then a few tens of thousands of steps.
_SINGLE_CHARACTER = {"LITERAL", "NOT_LITERAL", "IN", "ANY", "CATEGORY"}
_ALLOWED = _SINGLE_CHARACTER | {"MAX_REPEAT", "MIN_REPEAT", "SUBPATTERN", "BRANCH", "AT"}


def _pattern_parts(pattern: str):
    try:
        from re import _parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    return sre_parse.parse(pattern, re.ASCII | re.IGNORECASE)


def _shape_problem(parsed, counter: list[int]) -> str | None:
    for op, arg in parsed:
        name = str(op)
        if name not in _ALLOWED:
            return "Use only letters, digits, character classes, groups, | and repeats."
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high, body = arg
            if len(body) != 1 or str(body[0][0]) not in _SINGLE_CHARACTER:
                return "Repeat only single characters or classes, like [0-9]{6}, not groups."
            if low != high:
                counter[0] += 1
        elif name == "SUBPATTERN":
            inner = _shape_problem(arg[-1], counter)
            if inner:
                return inner
        elif name == "BRANCH":
            for branch in arg[1]:
                inner = _shape_problem(branch, counter)
                if inner:
                    return inner
    return None


def _match_ways(parsed) -> int:
    """How many ways at most the regex engine may try to match a serial: one per
    alternative, one per length a repeat may take, multiplied along the pattern."""
    ways = 1
    for op, arg in parsed:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high = min(arg[0], MAX_SERIAL_LENGTH), min(arg[1], MAX_SERIAL_LENGTH)
            ways *= high - low + 1
        elif name == "SUBPATTERN":
            ways *= _match_ways(arg[-1])
        elif name == "BRANCH":
            ways *= sum(_match_ways(branch) for branch in arg[1])
    return ways


def serial_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an item's serial pattern, or None if it can.

    A serial pattern is a regular expression the whole serial number must match (letters
    match either case), e.g. ``BP7450-[0-9A-Z]{4,8}``; a prefix is written ``BP7450-.*``.
    """
    if len(pattern) > MAX_SERIAL_PATTERN_LENGTH:
        return f"A serial pattern is at most {MAX_SERIAL_PATTERN_LENGTH} characters."
    if not pattern.isascii():
        return "A serial pattern uses ASCII characters only."
    try:
        re.compile(pattern, re.ASCII | re.IGNORECASE)
        parsed = _pattern_parts(pattern)
    except re.error as error:
        return f"This is not a valid regular expression: {error.msg}."
    except (RecursionError, OverflowError):
        return "This regular expression is too deeply nested or too large."
    variable = [0]
    shape = _shape_problem(parsed, variable)
    if shape:
        return shape
    if variable[0] > MAX_SERIAL_PATTERN_VARIABLE_REPEATS:
        return (
            f"At most {MAX_SERIAL_PATTERN_VARIABLE_REPEATS} repeats of varying length "
            "(*, +, ?, {2,5}); fix the others to a count, like {6}."
        )
    if _match_ways(parsed) > MAX_SERIAL_PATTERN_MATCH_WAYS:
        return (
            "This pattern has too many ways to match (alternatives and repeats multiply): "
            "use fewer | and fixed counts, like [0-9]{6}."
        )
    return None


def fits_serial_pattern(pattern: str | None, serial: str) -> bool:
    """Whether ``serial`` (normalised) fits ``pattern``; an item without a pattern takes any.

    A pattern that ``serial_pattern_problem`` refuses fits nothing: the item cannot take
    serials until the pattern is fixed, rather than taking anything.
    """
    if not pattern:
        return True
    if len(serial) > MAX_SERIAL_LENGTH or serial_pattern_problem(pattern) is not None:
        return False
    return re.fullmatch(pattern, serial, re.ASCII | re.IGNORECASE) is not None
