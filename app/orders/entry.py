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

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import FieldList, FormField

from app.catalog.models import Item, Kit, KitItem
from app.extensions import db
from app.orders.forms import OrderForm
from app.orders.service import LineRequest, OrderDraft, Problem
from app.people.models import Patient, Site
from app.people.search import find_patients, find_sites
from app.validation import parse_int


class Catalog:
    """What can be put on a new order: orderable items and kits that are not archived."""

    def __init__(self):
        self.items = list(
            db.session.scalars(select(Item).where(Item.orderable).order_by(Item.name))
        )
        self.kits = list(
            db.session.scalars(
                select(Kit)
                .where(Kit.archived.is_(False))
                .options(selectinload(Kit.kit_items).joinedload(KitItem.item))
                .order_by(Kit.name)
            )
        )
        self._items = self._index(self.items, with_sku=True)
        self._kits = self._index(self.kits, with_sku=False)

    @staticmethod
    def item_label(item: Item) -> str:
        return f"{item.name} ({item.sku})"

    @staticmethod
    def _index(rows, with_sku: bool) -> dict[str, object]:
        index = {}
        for row in rows:
            index[row.name.lower()] = row
            if with_sku:
                index[row.sku.lower()] = row
                index[Catalog.item_label(row).lower()] = row
        return index

    def item(self, text: str) -> Item | None:
        return self._items.get(text.strip().lower())

    def kit(self, text: str) -> Kit | None:
        return self._kits.get(text.strip().lower())


@dataclass
class LineRow:
    ref: str = ""
    count: str = "1"


@dataclass
class OrderEntry:
    token: str = ""
    recipient_kind: str = "patient"
    recipient_query: str = ""
    recipient_id: int | None = None
    # The coordinator is adding a new patient, in a small form inside this one.
    creating_patient: bool = False
    items: list[LineRow] = field(default_factory=list)
    kits: list[LineRow] = field(default_factory=list)
    external_order_ids: str = ""
    shipping_option: str = "standard"
    note: str = ""

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

        recipient_id = form.recipient_id.data or ""
        return cls(
            token=(form.submission_token.data or "")[:64] or secrets.token_urlsafe(16),
            recipient_kind=form.recipient_kind.data
            if form.recipient_kind.data == "site"
            else "patient",
            recipient_query=(form.recipient_query.data or "")[:100],
            recipient_id=parse_int(recipient_id),
            creating_patient=form.creating_patient.data == "1",
            items=rows(form.items),
            kits=rows(form.kits),
            external_order_ids=(form.external_order_ids.data or "")[:2000],
            shipping_option=form.shipping_option.data or "",
            note=(form.note.data or "")[:5000],
        )

    def to_form(self) -> OrderForm:
        return OrderForm(
            formdata=None,
            data={
                "submission_token": self.token,
                "recipient_kind": self.recipient_kind,
                "recipient_query": self.recipient_query,
                "recipient_id": str(self.recipient_id or ""),
                "creating_patient": "1" if self.creating_patient else "",
                "items": [{"ref": r.ref, "count": r.count} for r in self.items],
                "kits": [{"ref": r.ref, "count": r.count} for r in self.kits],
                "external_order_ids": self.external_order_ids,
                "shipping_option": self.shipping_option,
                "note": self.note,
            },
        )

    # --- Changes, one per button ----------------------------------------------------------

    def apply(self, action: str) -> str | None:
        """Applies an edit named by a button; answers the id of the field to focus next."""
        kind, _, arg = action.partition(":")
        if kind == "add-item" and len(self.items) < 200:
            self.items.append(LineRow())
            return f"items-{len(self.items) - 1}-ref"
        if kind == "add-kit" and len(self.kits) < 200:
            self.kits.append(LineRow())
            return f"kits-{len(self.kits) - 1}-ref"
        if kind in ("remove-item", "remove-kit") and parse_int(arg) is not None:
            rows = self.items if kind == "remove-item" else self.kits
            index = parse_int(arg)
            if index < len(rows):
                del rows[index]
            return "add-item" if kind == "remove-item" else "add-kit"
        if kind == "choose" and parse_int(arg):
            self.recipient_id = parse_int(arg)
            return "change-recipient"
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

    # --- Reading what the entry refers to -------------------------------------------------

    def recipient(self) -> Patient | Site | None:
        if self.recipient_id is None:
            return None
        model = Site if self.recipient_kind == "site" else Patient
        return db.session.get(model, self.recipient_id)

    def search_results(self) -> list[Patient] | list[Site]:
        if self.recipient_id is not None:
            return []
        if self.recipient_kind == "site":
            return find_sites(self.recipient_query)
        return find_patients(self.recipient_query)

    def summary(self, catalog: Catalog) -> dict:
        lines = units = 0
        for row in self.items:
            item = catalog.item(row.ref)
            count = parse_int(row.count, 6)
            if item and count is not None:
                lines += 1
                units += count
        for row in self.kits:
            kit = catalog.kit(row.ref)
            count = parse_int(row.count, 6)
            if kit and count is not None:
                lines += 1
                units += count * sum(ki.count for ki in kit.kit_items)
        return {"lines": lines, "units": units}

    def draft(self, catalog: Catalog) -> OrderDraft:
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

        external_ids = [v.strip() for v in re.split(r"[,\n]", self.external_order_ids) if v.strip()]
        return OrderDraft(
            patient_id=self.recipient_id if self.recipient_kind == "patient" else None,
            site_id=self.recipient_id if self.recipient_kind == "site" else None,
            items=[LineRequest(ref(r, catalog.item(r.ref)), count(r)) for r in self.items],
            kits=[LineRequest(ref(r, catalog.kit(r.ref)), count(r)) for r in self.kits],
            external_order_ids=external_ids,
            shipping_option=self.shipping_option or None,
            notes=[self.note] if self.note.strip() else [],
        )


_LINE_PATH = re.compile(r"^(orderItems|orderKits)\[([0-9]+)\]\.(count|item\.id|kit\.id)$")
_FRIENDLY = {
    "missing_id": "Choose {what} from the list.",
    "invalid_id": "Nothing on offer matches “{text}”: choose {what} from the list.",
}


def put_problems_on_order_form(form: OrderForm, problems: list[Problem]) -> list[tuple[str, str]]:
    """Puts each problem next to its field, and answers (field id, message) for the summary
    at the top of the form. Problems about the lines as a whole go to ``form.line_errors``,
    any other to ``form.general_errors``."""
    form.line_errors, form.general_errors = [], []
    summary: list[tuple[str, str]] = []
    for problem in problems:
        path = problem.field or ""
        line = _LINE_PATH.match(path)
        if line:
            section, index, attr = line.group(1), int(line.group(2)), line.group(3)
            rows = form.items if section == "orderItems" else form.kits
            if index < len(rows):
                sub = rows[index]
                target = sub.count if attr == "count" else sub.ref
                message = problem.message
                if problem.code in _FRIENDLY and attr != "count":
                    what = "an item" if section == "orderItems" else "a kit"
                    message = _FRIENDLY[problem.code].format(what=what, text=sub.ref.data)
                _add_error(target, message)
                # The summary names the row: "Count must be ..." alone could be any row's.
                row = "Item" if section == "orderItems" else "Kit"
                summary.append((target.id, f"{row} {index + 1}: {message}"))
                continue
        if path in ("patient", "patient.id", "site", "site.id"):
            target = form.recipient_query
        elif path.startswith("externalOrderIds"):
            target = form.external_order_ids
        elif path == "shippingOption":
            target = form.shipping_option
        elif path.startswith("orderNotes"):
            target = form.note
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
            if isinstance(form_field, FieldList | FormField):
                walk(form_field)  # the rows, or a form inside the form
            else:
                ids.append(form_field.id)

    walk(form)
    return {field_id: position for position, field_id in enumerate(ids)}
