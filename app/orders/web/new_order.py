"""The order a coordinator is entering in the browser, between requests.

The page is re-rendered by the server after every change (add a row, remove a row,
search, choose a recipient), with or without JavaScript. ``OrderEntry`` is that state
as plain data: read from the submitted form, changed by one action, written back into
a fresh form, so that row numbers are always regenerated. It also turns itself into
an ``OrderDraft`` for the order service, and puts the service's problems back onto
the fields they concern.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from wtforms import FieldList, FormField

from app.catalog.models import Item, Kit
from app.catalog.search import (
    OPTION_CAP,
    item_label,
    orderable_items_named,
    orderable_kits_named,
)
from app.extensions import db
from app.forms import chosen_id
from app.inventory import ledger
from app.inventory.locations import list_locations, resolve_location
from app.orders import lookups
from app.orders.lookups import OutWithRecipient, out_with_recipient
from app.orders.ordered_catalog import find_items_to_order, find_kits_to_order
from app.orders.service import MAX_LINES, LineRequest, OrderDraft, Problem
from app.orders.web.forms import OrderForm
from app.people.models import Patient, Site
from app.people.search import find_patients, find_sites
from app.validation import MAX_ACTION_LENGTH, MAX_SEARCH_LENGTH, parse_int


class LineStock:
    """The items and kits an entry's rows name, and what the chosen location has of them:
    looked up once per request (two queries, however many rows; the catalog itself is never
    loaded whole), with the locations to choose from."""

    def __init__(self, entry: OrderEntry | None = None):
        rows = entry.items + entry.return_items if entry else []
        self._items = orderable_items_named([r.ref for r in rows])
        self._kits = orderable_kits_named([r.ref for r in entry.kits] if entry else [])
        # Where the order is fulfilled from, and what is available there (one query).
        self.locations = list_locations()
        ids = {loc.id for loc in self.locations}
        default = next((loc.id for loc in self.locations if loc.is_default), None)
        chosen = entry.location_id if entry else None
        # A location sent that is none of the active ones (typed by hand, or deactivated
        # since the page was drawn) is shown as sent, and placing refuses it at the field:
        # it never quietly becomes the default.
        self.location_not_valid = None if chosen is None or chosen in ids else str(chosen)
        self.location_id = default if chosen is None else (chosen if chosen in ids else None)
        self.location_name = next(
            (loc.name for loc in self.locations if loc.id == self.location_id), ""
        )
        wanted = {i.id for i in self._items.values()} | {
            ki.item_id for kit in self._kits.values() for ki in kit.kit_items
        }
        self._stock = ledger.available(self.location_id, wanted) if self.location_id else {}

    def available(self, found: Item | Kit) -> int | None:
        """Units (or whole kits) available at the chosen location; None when the item's
        devices are received as they are scanned, so stock does not limit it."""
        if isinstance(found, Item):
            if found.accept_unreceived_devices:
                return None
            return self._stock.get(found.id, 0)
        limits = [
            self._stock.get(ki.item_id, 0) // ki.count
            for ki in found.kit_items
            if not ki.item.accept_unreceived_devices
        ]
        return min(limits) if limits else None

    item_label = staticmethod(item_label)

    def item(self, text: str) -> Item | None:
        return self._items.get((text or "").strip().lower())

    def kit(self, text: str) -> Kit | None:
        return self._kits.get((text or "").strip().lower())


def available_to_order(item_ids: list[int], location_ref: str = "") -> dict[int, int] | None:
    """How many of each item can be ordered now at the location chosen in "Fulfilled from"
    (the default when none is), for the pickers; None when that is no active location."""
    location, problems = resolve_location(chosen_id(location_ref), "fulfillmentLocation.id")
    if problems or location is None or not item_ids:
        return None
    return ledger.available(location.id, item_ids)


@dataclass
class LineRow:
    ref: str = ""
    count: str = "1"


# The new-order form's own button: place the order (every other action edits the form).
PLACE = "place"
# What a form's submission token is (secrets.token_urlsafe): it names a batch in a URL too.
SUBMISSION_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The row lists of the form, by the word their buttons use ("add-item", "find-kit:0").
SECTIONS = {"item": "items", "kit": "kits", "return-item": "return_items"}


@dataclass
class RowMatches:
    """What a "Find" (without JavaScript) found for one row: shown under it as buttons."""

    row: str
    options: list


@dataclass
class OrderEntry:
    token: str = ""
    recipient_kind: str = "patient"
    recipient_query: str = ""
    recipient_id: int | None = None
    # The coordinator is adding a new patient, in a small form inside this one.
    creating_patient: bool = False
    # The location chosen: None for the default; the text as sent when it is not an id.
    location_id: int | str | None = None
    items: list[LineRow] = field(default_factory=list)
    kits: list[LineRow] = field(default_factory=list)
    return_items: list[LineRow] = field(default_factory=list)
    # Ids (as sent) of the devices and packed kits ticked to come back.
    return_devices: list[str] = field(default_factory=list)
    return_packed_kits: list[str] = field(default_factory=list)
    # "Show everything they have" was pressed for this recipient ("patient:12"): all they
    # hold is listed, not only the newest DEVICES_OUT_CAP. Another recipient starts capped again.
    all_held: str = ""
    email_label: bool = False
    external_order_ids: str = ""
    shipping_option: str = "standard"
    note: str = ""
    # Not part of the form: the row whose matches to show, after "Find" without JavaScript.
    finding: str | None = None

    @classmethod
    def blank(cls) -> OrderEntry:
        return cls(token=secrets.token_urlsafe(16), items=[LineRow()])

    @classmethod
    def from_form(cls, form: OrderForm) -> OrderEntry:
        def rows(field_list) -> list[LineRow]:
            return [
                LineRow(ref=(entry.ref.data or "")[:300], count=(entry.count.data or "")[:20])
                for entry in field_list
            ]

        def ids(values) -> list[str]:
            return [str(v)[:20] for v in (values or [])][:MAX_LINES]

        recipient_id = form.recipient_id.data or ""
        token = form.submission_token.data or ""
        return cls(
            token=token if SUBMISSION_TOKEN.fullmatch(token) else secrets.token_urlsafe(16),
            recipient_kind=form.recipient_kind.data
            if form.recipient_kind.data == "site"
            else "patient",
            recipient_query=(form.recipient_query.data or "")[:MAX_SEARCH_LENGTH],
            recipient_id=parse_int(recipient_id),
            creating_patient=form.creating_patient.data == "1",
            location_id=chosen_id(form.fulfillment_location.data),
            items=rows(form.items),
            kits=rows(form.kits),
            return_items=rows(form.return_items),
            return_devices=ids(form.return_devices.data),
            return_packed_kits=ids(form.return_packed_kits.data),
            all_held=(form.all_held.data or "")[:MAX_ACTION_LENGTH],
            email_label=bool(form.email_label.data),
            external_order_ids=(form.external_order_ids.data or "")[:2000],
            shipping_option=form.shipping_option.data or "",
            note=(form.note.data or "")[:5000],
        )

    @classmethod
    def again(cls, order) -> OrderEntry:
        """A new entry with what ``order`` had: its recipient, lines, shipping and the
        prefix of its external ids (the part before the last "_" or "-", which is what
        tells one order of a series from the next). Not its returns or their emailed
        label: what that order asked back has come back, or is on its way."""
        prefixes = []
        for external_id in order.external_ids:
            prefix = re.sub(r"[^_\-]*$", "", external_id.value)
            if prefix and prefix not in prefixes:
                prefixes.append(prefix)
        return cls(
            token=secrets.token_urlsafe(16),
            recipient_kind="site" if order.site_id else "patient",
            recipient_id=order.site_id or order.patient_id,
            items=[LineRow(item_label(line.item), str(line.count)) for line in order.items],
            kits=[LineRow(line.kit.name, str(line.count)) for line in order.kits],
            external_order_ids=", ".join(prefixes),
            shipping_option=order.shipping_option or "standard",
        )

    def to_form(self) -> OrderForm:
        def rows(lines: list[LineRow]) -> list[dict]:
            return [{"ref": r.ref, "count": r.count} for r in lines]

        return OrderForm(
            formdata=None,
            data={
                "submission_token": self.token,
                "recipient_kind": self.recipient_kind,
                "recipient_query": self.recipient_query,
                "recipient_id": str(self.recipient_id or ""),
                "creating_patient": "1" if self.creating_patient else "",
                "fulfillment_location": str(self.location_id or ""),
                "items": rows(self.items),
                "kits": rows(self.kits),
                "return_items": rows(self.return_items),
                "return_devices": self.return_devices,
                "return_packed_kits": self.return_packed_kits,
                "all_held": self.all_held,
                "email_label": self.email_label,
                "external_order_ids": self.external_order_ids,
                "shipping_option": self.shipping_option,
                "note": self.note,
            },
        )

    # --- Changes, one per button ----------------------------------------------------------

    def first_line_field(self) -> str:
        """Where the coordinator goes once the recipient is chosen: the first item box."""
        return "items-0-ref" if self.items else "add-item"

    def rows_of(self, kind: str) -> list[LineRow] | None:
        section = SECTIONS.get(kind)
        return getattr(self, section) if section else None

    def apply(self, action: str) -> str | None:
        """Applies an edit named by a button; answers the id of the field to focus next."""
        kind, _, arg = action.partition(":")
        verb, _, row_kind = kind.partition("-")
        rows = self.rows_of(row_kind)
        if verb == "add" and rows is not None:
            if len(rows) < MAX_LINES:
                rows.append(LineRow())
                return f"{SECTIONS[row_kind]}-{len(rows) - 1}-ref"
            return kind
        if verb == "remove" and rows is not None and parse_int(arg) is not None:
            index = parse_int(arg)
            if index < len(rows):
                del rows[index]
            return f"add-{row_kind}"
        if verb == "find" and rows is not None and parse_int(arg) is not None:
            index = parse_int(arg)
            if index < len(rows):
                self.finding = f"{SECTIONS[row_kind]}-{index}"
                return f"{self.finding}-ref"
            return None
        if verb == "pick" and rows is not None:
            index_text, _, picked = arg.partition(":")
            index, picked_id = parse_int(index_text), parse_int(picked)
            if index is not None and index < len(rows) and picked_id:
                model = Kit if row_kind == "kit" else Item
                found = db.session.get(model, picked_id)
                if found is not None:
                    rows[index].ref = found.name if row_kind == "kit" else item_label(found)
                    return f"{SECTIONS[row_kind]}-{index}-count"
            return None
        if kind == "refresh":
            # Enter in a box, without JavaScript: show the matches of the first row that
            # names nothing yet, and keep the focus in the box that was being typed in.
            return self._find_unresolved()
        if kind == "all-held":
            self.all_held = self._recipient_key()
            return "held-first"
        if kind == "choose" and parse_int(arg):
            self.recipient_id = parse_int(arg)
            return self.first_line_field()
        if kind == "change-recipient":
            self.recipient_id = None
            return "recipient-query"
        if kind == "search":
            return "recipient-query"
        if kind == "kind":
            self.recipient_kind = "site" if arg == "site" else "patient"
            self.recipient_id = None
            self.creating_patient = False
            return "recipient-query"
        if kind == "new-patient":
            self.recipient_kind, self.recipient_id, self.creating_patient = "patient", None, True
            return "new_patient-external_identifier"
        if kind == "cancel-new-patient":
            self.creating_patient = False
            return "recipient-query"
        return None

    def _find_unresolved(self) -> str | None:
        stock = LineStock(self)
        for row_kind, section in SECTIONS.items():
            for index, row in enumerate(getattr(self, section)):
                lookup = stock.kit if row_kind == "kit" else stock.item
                if row.ref.strip() and lookup(row.ref) is None:
                    self.finding = f"{section}-{index}"
                    return f"{self.finding}-ref"
        if self.recipient_id is None and self.recipient_query.strip():
            return "recipient-query"
        return None

    def matches(self) -> RowMatches | None:
        """The options for the row being found (one query, capped), or None."""
        if not self.finding:
            return None
        section, _, index = self.finding.rpartition("-")
        rows = getattr(self, section, None)
        number = parse_int(index)
        if rows is None or number is None or number >= len(rows):
            return None
        find = find_kits_to_order if section == "kits" else find_items_to_order
        return RowMatches(self.finding, find(rows[number].ref))

    # --- Reading what the entry refers to -------------------------------------------------

    def recipient(self) -> Patient | Site | None:
        if self.recipient_id is None:
            return None
        model = Site if self.recipient_kind == "site" else Patient
        return db.session.get(model, self.recipient_id)

    def _recipient_key(self) -> str:
        return f"{self.recipient_kind}:{self.recipient_id}"

    def showing_all_out(self) -> bool:
        """Everything out with the chosen recipient is listed ("Show everything they have")."""
        return self.recipient_id is not None and self.all_held == self._recipient_key()

    def out_with_recipient(self) -> OutWithRecipient:
        """What the chosen recipient has now, that could come back on this order: from
        their newest deliveries only (DEVICES_OUT_CAP of each), unless all were
        asked for."""
        if self.recipient_id is None:
            return OutWithRecipient([], [])
        limit = None if self.showing_all_out() else lookups.DEVICES_OUT_CAP
        if self.recipient_kind == "site":
            return out_with_recipient(site_id=self.recipient_id, limit=limit)
        return out_with_recipient(patient_id=self.recipient_id, limit=limit)

    def search_results(self) -> list[Patient] | list[Site]:
        if self.recipient_id is not None:
            return []
        if self.recipient_kind == "site":
            return find_sites(self.recipient_query)
        return find_patients(self.recipient_query)

    def summary(self, stock: LineStock) -> dict:
        lines = units = 0
        for row in self.items:
            item = stock.item(row.ref)
            count = parse_int(row.count, 6)
            if item and count is not None:
                lines += 1
                units += count
        for row in self.kits:
            kit = stock.kit(row.ref)
            count = parse_int(row.count, 6)
            if kit and count is not None:
                lines += 1
                units += count * sum(ki.count for ki in kit.kit_items)
        returning = sum(
            1 for row in self.return_items if stock.item(row.ref) and parse_int(row.count, 6)
        )
        returning += len(self.return_devices) + len(self.return_packed_kits)
        return {"lines": lines, "units": units, "returning": returning}

    def drop_empty_rows(self) -> None:
        """Rows left empty (no item named, the count untouched) are not lines: dropped
        before placing, so that a return-only order needs no "Remove" of the first row."""

        def kept(rows: list[LineRow]) -> list[LineRow]:
            return [r for r in rows if r.ref.strip() or r.count.strip() not in ("", "1")]

        self.items, self.kits, self.return_items = (
            kept(self.items),
            kept(self.kits),
            kept(self.return_items),
        )

    def has_outbound(self) -> bool:
        return any(r.ref.strip() for r in self.items + self.kits)

    def draft(self, stock: LineStock) -> OrderDraft:
        def ref(row: LineRow, found) -> object:
            # An id when the text names something on offer; else the text itself, which the
            # service refuses as an unknown id (and the form words for people, see below).
            if found is not None:
                return found.id
            return row.ref.strip() or None

        def count(row: LineRow) -> object:
            text = row.count.strip()
            number = parse_int(text, 6)
            return number if number is not None else (text or None)

        def id_or_text(value: str) -> object:
            number = parse_int(value)
            return number if number is not None else value

        external_ids = [v.strip() for v in re.split(r"[,\n]", self.external_order_ids) if v.strip()]
        # Nothing ships out and the label is emailed: then there is no shipment to choose.
        nothing_ships = self.email_label and not self.has_outbound()
        return OrderDraft(
            patient_id=self.recipient_id if self.recipient_kind == "patient" else None,
            site_id=self.recipient_id if self.recipient_kind == "site" else None,
            items=[LineRequest(ref(r, stock.item(r.ref)), count(r)) for r in self.items],
            kits=[LineRequest(ref(r, stock.kit(r.ref)), count(r)) for r in self.kits],
            return_items=[
                LineRequest(ref(r, stock.item(r.ref)), count(r)) for r in self.return_items
            ],
            return_device_ids=[id_or_text(v) for v in self.return_devices],
            return_packed_kit_ids=[id_or_text(v) for v in self.return_packed_kits],
            email_label=self.email_label,
            external_order_ids=external_ids,
            shipping_option=None if nothing_ships else (self.shipping_option or None),
            notes=[self.note] if self.note.strip() else [],
            # As chosen: the service finds the default for None and refuses anything else
            # that is not an active location.
            location_id=self.location_id,
        )


_LINE_PATH = re.compile(
    r"^(orderItems|orderKits|returnItems)\[([0-9]+)\]\.(count|item\.id|kit\.id)$"
)
_ROWS = {
    "orderItems": ("items", "Item", "an item"),
    "orderKits": ("kits", "Kit", "a kit"),
    "returnItems": ("return_items", "Return item", "an item"),
}
_FRIENDLY = {
    "missing_id": "Choose {what} from the list.",
    "invalid_id": "Nothing on offer matches “{text}”: choose {what} from the list.",
}


def put_problems_on_order_form(form: OrderForm, problems: list[Problem]) -> list[tuple[str, str]]:
    """Puts each problem next to its field, and answers (field id, message) for the summary
    at the top of the form. Problems about the lines as a whole go to ``form.line_errors``,
    any other to ``form.general_errors``."""
    form.line_errors, form.general_errors, form.return_errors = [], [], []
    summary: list[tuple[str, str]] = []
    for problem in problems:
        path = problem.field or ""
        line = _LINE_PATH.match(path)
        if line:
            section, index, attr = line.group(1), int(line.group(2)), line.group(3)
            attr_name, row_name, what = _ROWS[section]
            rows = form[attr_name]
            if index < len(rows):
                sub = rows[index]
                target = sub.count if attr == "count" else sub.ref
                message = problem.message
                if problem.code in _FRIENDLY and attr != "count":
                    message = _FRIENDLY[problem.code].format(what=what, text=sub.ref.data)
                _add_error(target, message)
                # The summary names the row: "Count must be ..." alone could be any row's.
                summary.append((target.id, f"{row_name} {index + 1}: {message}"))
                continue
        if path in ("patient", "patient.id", "site", "site.id"):
            target = form.recipient_query
        elif path.startswith("externalOrderIds"):
            target = form.external_order_ids
        elif path == "shippingOption":
            target = form.shipping_option
        elif path.startswith("orderNotes"):
            target = form.note
        elif path == "emailLabel":
            target = form.email_label
        elif path == "fulfillmentLocation.id":
            target = form.fulfillment_location
        elif path.startswith(("returnDevices", "returnPackedKits")):
            form.return_errors.append(problem.message)
            summary.append(("returns-heading", problem.message))
            continue
        elif path in ("orderItems", "orderKits"):
            form.line_errors.append(problem.message)
            summary.append(("add-item", problem.message))
            continue
        else:
            form.general_errors.append(problem.message)
            summary.append(("order-form", problem.message))
            continue
        _add_error(target, problem.message)
        summary.append((target.id, problem.message))
    # In the order of the fields on the page, as a person reads and fixes them.
    positions = _page_positions(form)
    return sorted(summary, key=lambda entry: positions.get(entry[0], len(positions)))


def _add_error(form_field, message: str) -> None:
    form_field.errors = [*form_field.errors, message]


def _page_positions(form: OrderForm) -> dict[str, int]:
    """Field id -> its place on the page (the form declares its fields in page order)."""
    ids = ["order-form"]  # problems with no field are shown first

    def walk(fields) -> None:
        for form_field in fields:
            if form_field.name == "items":
                ids.append("add-item")  # problems with the lines as a whole: above the rows
            if form_field.name == "return_items":
                ids.append("returns-heading")
            if isinstance(form_field, FieldList | FormField):
                walk(form_field)  # the rows, or a form inside the form
            else:
                ids.append(form_field.id)

    walk(form)
    return {field_id: position for position, field_id in enumerate(ids)}


def lines_context(entry: OrderEntry, stock: LineStock) -> dict:
    """What the lines part of the page needs, whether it is drawn alone or in the page."""
    matches = entry.matches()
    return {
        "stock": stock,
        "summary": entry.summary(stock),
        "matches": matches,
        # What the no-JavaScript matches of an item row say is available, as the picker does.
        "available": ledger.available(stock.location_id, [o.id for o in matches.options])
        if matches and matches.options and stock.location_id and not matches.row.startswith("kits")
        else None,
        "option_cap": OPTION_CAP,
        "with_recipient": entry.out_with_recipient(),
        "with_recipient_cap": lookups.DEVICES_OUT_CAP,
        "all_held": entry.showing_all_out(),
        "recipient_chosen": entry.recipient_id is not None,
    }
