"""What every area's rules share: a problem with a field path, and the refusal that carries them.

Each domain service (orders, people, catalog, auth) checks its input and reports every
problem at once, with the field path in the API's own spelling (``address.zipCode``,
``orderItems[2].count``); a door maps the paths onto its own fields.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU AS MP AA AE AP".split()
)
ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")
# Dates in JSON and forms are written one way only: date.fromisoformat alone also takes
# "19800203" and "1980-W01-1" and reads them as other days.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_DATE_HINT = "YYYY-MM-DD"
# Bidirectional controls reorder how text is shown (a name or id could read as another).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def normalised_identifier(text: str) -> str:
    """The one spelling in which an identifier (a patient's MRN, an order's external id) is
    stored and compared, so that what looks the same is the same: NFKC (full-width and other
    compatibility forms become plain: "ＭＲＮ１" is "MRN1", "①" is "1"), format characters
    removed (zero-width space, word joiner, soft hyphen, byte order mark), every dash and the
    minus sign a hyphen-minus ("MRN‑1" with U+2011 is "MRN-1"), every decimal digit an ASCII
    one ("١٢٣" is "123"), and spaces one plain space. Letters keep their case and script."""
    kept = []
    for ch in unicodedata.normalize("NFKC", text):
        kind = unicodedata.category(ch)
        if kind == "Cf":
            continue
        if kind == "Pd" or ch == "\u2212":
            ch = "-"
        elif kind == "Nd":
            ch = str(unicodedata.decimal(ch))
        kept.append(ch)
    return " ".join("".join(kept).split())


def is_invisible(text: str) -> bool:
    """True when nothing in the text shows: only spaces and format characters (zero-width
    space, word joiner, ...)."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Zs", "Cc") for ch in text)


# Control characters: C0, DEL and C1. Free text may hold tabs and line breaks (\t \n \r).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A one-line text holds none of them, nor a line break of any kind.
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x85\u2028\u2029]")
_ONE_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def storable_problem(text: str) -> str | None:
    """Why no database can store a text (a lone surrogate, NUL), or None."""
    if _SURROGATES.search(text):
        return "holds a broken character (a lone surrogate)"
    if "\x00" in text:
        return "cannot contain the NUL character"
    return None


def text_problem(text: str, free_text: bool = False) -> str | None:
    """Why a text cannot be stored, or None.

    A one-line text (a name, an identifier, an address line) holds no control character, no
    line break and no bidirectional control. Free text (a note, a reason) may hold tabs and
    line breaks, and bidirectional controls, since right-to-left writing uses them; no other
    control character (an escape sequence, a form feed) is text anyone typed."""
    problem = storable_problem(text)
    if problem:
        return problem
    if free_text:
        control = _CONTROLS.search(text)
    else:
        if any(ch in BIDI_CONTROLS for ch in text):
            return "cannot hold characters that reverse the text's direction"
        if _LINE_BREAKS.search(text):
            return "must be on one line"
        control = _ONE_LINE_CONTROLS.search(text)
    if control:
        return f"cannot hold control characters (it holds U+{ord(control.group()):04X})"
    return None


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    field: str | None = None


# What kind of refusal a Rejected is, for a door choosing its status code: bad input, a
# state that does not allow the change, a role that does not, or no such record.
INVALID, CONFLICT, FORBIDDEN, NOT_FOUND = "invalid", "conflict", "forbidden", "not_found"
KINDS = (INVALID, CONFLICT, FORBIDDEN, NOT_FOUND)


class Rejected(Exception):
    """The request breaks one or more rules; nothing was stored.

    ``kind`` (one of KINDS) tells a door how to answer; each door maps kinds to its status
    codes in one place (``app.forms.REFUSAL_STATUS``, ``app.api.errors.REFUSAL_STATUS``)."""

    def __init__(self, problems: list[Problem], kind: str = INVALID):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems
        self.kind = kind

    # A refusal of one change usually has one problem: the first one, for a door that
    # shows one message.
    @property
    def code(self) -> str:
        return self.problems[0].code

    @property
    def message(self) -> str:
        return self.problems[0].message

    @property
    def field(self) -> str | None:
        return self.problems[0].field


def refusal(code: str, message: str, kind: str = CONFLICT, field: str | None = None) -> Rejected:
    """A refusal with one problem, to raise: ``raise refusal("order_changed", "...")``."""
    return Rejected([Problem(code, message, field)], kind)


MAX_DB_ID = 2**31 - 1
# What any search box reads of the text typed in it: no name, identifier or order number is
# longer, and a longer text only costs more to match.
MAX_SEARCH_LENGTH = 100
# What a person writes to say why (an order held or cancelled, a tracking number removed,
# a stock adjustment): a sentence or two; the stock ledger's column holds that many.
MAX_REASON_LENGTH = 500
# What a form's "action" button value (or a similar choice) is read to: every real one
# ("remove-return-item:12", "pick-kit:3:123") is shorter.
MAX_ACTION_LENGTH = 40


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards made plain, for ``.like(..., escape="\\")``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_DIGITS = re.compile(r"[0-9]+")


def parse_int(text: str | None, max_digits: int = 9) -> int | None:
    """The number a text of plain ASCII digits names, else None.

    Not ``str.isdigit``: it says yes to "²" and other digits ``int`` refuses.
    """
    if text and len(text) <= max_digits and _DIGITS.fullmatch(text):
        return int(text)
    return None


def is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_id(value: Any) -> int | None:
    """The id if it is a positive whole number, else None. Huge ids simply match nothing."""
    if is_whole_number(value) and value >= 1:
        return value
    return None


def fetch_by_id(model, ids: set[int], *options) -> dict[int, Any]:
    """Rows of ``model`` by id, in one query (and one per eager loader ``options``); ids too
    large for the column match nothing."""
    from app.extensions import db

    wanted = {i for i in ids if i and i <= MAX_DB_ID}
    if not wanted:
        return {}
    query = select(model).where(model.id.in_(wanted)).options(*options)
    return {row.id: row for row in db.session.scalars(query)}


def get_or_reject(model, record_id: int, what: str):
    """The record, or Rejected ("patient_not_found", ...) when there is none."""
    from app.extensions import db

    record = db.session.get(model, record_id) if 1 <= record_id <= MAX_DB_ID else None
    if record is None:
        raise Rejected(
            [
                Problem(
                    f"{what.replace(' ', '_')}_not_found",
                    f"There is no {what} with id {record_id}.",
                )
            ]
        )
    return record


class Checker:
    """Collects every problem, so that a form can show them all at once."""

    def __init__(self):
        self.problems: list[Problem] = []

    def add(self, code: str, message: str, field_path: str | None = None) -> None:
        self.problems.append(Problem(code, message, field_path))

    def raise_if_any(self) -> None:
        if self.problems:
            raise Rejected(self.problems)

    def id_of(self, value: Any, field_path: str, what: str) -> int | None:
        if value is None:
            self.add("missing_id", f"Choose the {what}.", field_path)
            return None
        ref = as_id(value)
        if ref is None:
            self.add("invalid_id", f"The {what} id must be a positive whole number.", field_path)
        return ref

    def text(
        self,
        value: Any,
        field_path: str,
        label: str,
        *,
        required: bool,
        max_length: int,
        free_text: bool = False,
    ) -> str | None:
        """A trimmed text, or None when it is empty and allowed to be. One line unless it is
        ``free_text`` (see text_problem); "required" means a visible character."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add("required", f"{label} is required.", field_path)
            return None
        if not isinstance(value, str):
            self.add("invalid_type", f"{label} must be text.", field_path)
            return None
        value = value.strip()
        problem = text_problem(value, free_text)
        if problem:
            self.add("invalid_text", f"{label} {problem}.", field_path)
            return None
        if is_invisible(value):
            if required:
                self.add(
                    "required",
                    f"{label} is required (it has only invisible characters).",
                    field_path,
                )
            else:
                self.add("invalid_text", f"{label} has only invisible characters.", field_path)
            return None
        if len(value) > max_length:
            self.add("too_long", f"{label} is at most {max_length} characters.", field_path)
        return value

    def identifier(
        self, value: Any, field_path: str, label: str, *, required: bool, max_length: int
    ) -> str | None:
        """A one-line text in its one spelling (normalised_identifier), or None when it is
        empty and allowed to be."""
        text = self.text(value, field_path, label, required=required, max_length=max_length)
        if text is None:
            return None
        identifier = normalised_identifier(text)
        if len(identifier) > max_length and len(text) <= max_length:
            self.add("too_long", f"{label} is at most {max_length} characters.", field_path)
        return identifier

    def choice(self, value: Any, field_path: str, label: str, choices, default=None):
        if value is None or value == "":
            return default
        if value not in choices:
            self.add("invalid_choice", f"{label} must be one of: {', '.join(choices)}.", field_path)
            return default
        return value

    def boolean(self, value: Any, field_path: str, label: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add("invalid_type", f"{label} must be true or false.", field_path)
            return default
        return value

    def email(self, value: Any, field_path: str) -> str | None:
        text = self.text(value, field_path, "Email", required=False, max_length=254)
        if text is None:
            return None
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            self.add("invalid_email", "Enter an email address like name@example.com.", field_path)
            return text

    def phone(self, value: Any, field_path: str) -> str | None:
        """A phone number in E.164 (+16145550101); US numbers may be typed without +1."""
        text = self.text(value, field_path, "Phone number", required=False, max_length=40)
        if text is None:
            return None
        try:
            number = phonenumbers.parse(text, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            self.add(
                "invalid_phone", "Enter a valid phone number, like (614) 555-0101.", field_path
            )
            return text
        if number.extension:
            # E.164 has no extension: storing the number alone would silently drop it.
            self.add(
                "invalid_phone",
                f"A phone number is stored without an extension: leave out "
                f"“{number.extension}” (put it in the delivery note).",
                field_path,
            )
            return text
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def past_date(self, value: Any, field_path: str, label: str) -> date | None:
        if value is None or value == "":
            return None
        if isinstance(value, date):
            parsed = value
        else:
            try:
                parsed = (
                    date.fromisoformat(value)
                    if isinstance(value, str) and ISO_DATE.fullmatch(value)
                    else None
                )
            except ValueError:
                parsed = None
        if parsed is None:
            self.add(
                "invalid_date",
                f"{label} must be a date written {ISO_DATE_HINT}, like 1950-12-31.",
                field_path,
            )
            return None
        if parsed > date.today():
            self.add("date_in_future", f"{label} cannot be in the future.", field_path)
        elif parsed.year < 1900:
            self.add("invalid_date", f"{label} is before 1900.", field_path)
        return parsed

    def us_state(self, value: Any, field_path: str) -> str | None:
        text = self.text(value, field_path, "State", required=True, max_length=2)
        if text is None:
            return None
        text = text.upper()
        if text not in US_STATES:
            self.add("invalid_state", "Enter a US state as two letters, like OH.", field_path)
        return text

    def zip_code(self, value: Any, field_path: str) -> str | None:
        text = self.text(value, field_path, "ZIP code", required=True, max_length=10)
        if text is None:
            return None
        if not ZIP.fullmatch(text):
            self.add("invalid_zip", "Enter a ZIP code like 43215 or 43215-1234.", field_path)
        return text
