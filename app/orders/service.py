"""The order rules. Both doors, the staff web UI and the JSON API, come through here.

Nothing in this module knows about HTTP. A door turns its request into an
``OrderDraft`` of the values as the client gave them (still unchecked: a count may
be a string, an id may be null) and this module decides. Problems are reported with
the field path of the v3 API (``orderItems[2].count``); the web form maps those
paths onto its own fields.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app.auth.actor import Actor
from app.catalog.models import Item, Kit
from app.catalog.views import device_view
from app.db.fast_path import direct_insert
from app.db.transactions import write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.inventory import locations, reservations
from app.orders import (
    daily_counts,
    demand,
    read_model,
    returns,
    ship_by,
    statuses,
)
from app.orders.events import insert_event, with_first_event
from app.orders.models import (
    MAX_LINE_COUNT,
    Order,
    OrderExternalId,
    OrderItem,
    OrderKit,
    OrderNote,
    ReturnDevice,
    ReturnItem,
    ReturnPackedKit,
    SubmissionKey,
    has_return_lines,
)
from app.orders.views import (
    AuthorView,
    EventView,
    ItemLineView,
    KitLineView,
    NewOrder,
    OrderView,
    ReturnDeviceView,
    ReturnPackedKitView,
)
from app.people.models import Patient, Site
from app.people.views import PatientView, SiteView
from app.validation import (
    Checker,
    Problem,
    Rejected,
    is_whole_number,
)

SHIPPING_OPTIONS = ("standard", "overnight")
DEFAULT_SHIPPING_OPTION = "standard"
MAX_EXTERNAL_ID_LENGTH = 64
MAX_EXTERNAL_IDS = 20
MAX_LINES = 200
MAX_NOTE_LENGTH = 2000
MAX_NOTES = 20
NOT_GIVEN: Any = "__not_given__"
ORDERS = Order.__table__
# Placing's inserts, built once and run on the fast path (fast_path.DirectStatement).
_ORDER_COLUMNS = (
    "patient_id",
    "site_id",
    "responsible_site_id",
    "current_status",
    "shipping_option",
    "email_label",
    "has_returns",
    "ship_by",
    "created_at",
    "updated_at",
    "placed_by_user_id",
    "placed_by_api_key_id",
    "fulfillment_location_id",
    "version",
)
_INSERT_ORDER = direct_insert(ORDERS, _ORDER_COLUMNS, returning=ORDERS.c.id)
# PostgreSQL's: the order with its first event and outbox entry, one round trip.
_INSERT_ORDER_AND_EVENT = with_first_event(_INSERT_ORDER.statement, statuses.CREATED)
_INSERT_LINES = {
    model: direct_insert(model.__table__, ("order_id", *columns))
    for model, columns in (
        (OrderExternalId, ("value",)),
        (OrderItem, ("item_id", "count")),
        (OrderKit, ("kit_id", "count")),
        (ReturnItem, ("item_id", "count")),
        (ReturnDevice, ("device_id",)),
        (ReturnPackedKit, ("packed_kit_id",)),
        (OrderNote, ("note", "created_at", "created_by_id", "created_by_api_key_id")),
    )
}


class OrderRejected(Rejected):
    """The order breaks one or more rules; nothing was stored."""


@dataclass
class LineRequest:
    """One line as the client gave it: the id of an item or kit, and a count."""

    ref: Any
    count: Any


@dataclass
class OrderDraft:
    patient_id: Any = None
    site_id: Any = None
    items: list[LineRequest] = field(default_factory=list)
    kits: list[LineRequest] = field(default_factory=list)
    return_items: list[LineRequest] = field(default_factory=list)
    return_device_ids: list[Any] = field(default_factory=list)
    return_packed_kit_ids: list[Any] = field(default_factory=list)
    external_order_ids: list[Any] = field(default_factory=list)
    shipping_option: Any = NOT_GIVEN
    email_label: Any = False
    notes: list[Any] = field(default_factory=list)
    # The id of the warehouse that fulfils the order; None for the default one.
    location_id: Any = None

    def fingerprint(self) -> str:
        """A hash of the request, to tell a retry from a different order."""
        canonical = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class PlacedOrder:
    # A new order as written, or the earlier order (the ORM's: only its id is read) when
    # ``replayed``.
    order: OrderView | Order
    # True when a submission key had been used before: ``order`` is the first order.
    replayed: bool = False
    # With ``replayed``: whether the earlier submission asked for the very same order.
    same_request: bool = True


class _Checker(Checker):
    def count(self, value: Any, field_path: str) -> None:
        if not (is_whole_number(value) and 1 <= value <= MAX_LINE_COUNT):
            self.add(
                "invalid_count",
                f"Count must be a whole number from 1 to {MAX_LINE_COUNT}.",
                field_path,
            )


def patient_problems(patient: Patient) -> list[Problem]:
    """Why this patient cannot receive an order now (none: they can). Whether they can is
    the model's ``usable`` (not archived); this says why not, for a door to show."""
    if not patient.usable:
        return [
            Problem(
                "patient_archived",
                f"{patient.full_name} is archived and cannot receive orders.",
                "patient.id",
            )
        ]
    return []


def site_problems(site: Site) -> list[Problem]:
    """Why this site cannot receive an order now (none: it can): it is not ``usable``
    (inactive)."""
    if not site.usable:
        return [
            Problem(
                "site_inactive", f"{site.name} is inactive and cannot receive orders.", "site.id"
            )
        ]
    return []


def _check_recipient(draft: OrderDraft, check: _Checker) -> PatientView | SiteView | None:
    if draft.patient_id is None and draft.site_id is None:
        check.add("recipient_required", "Choose a patient or a site to ship to.", "patient")
        return None
    if draft.patient_id is not None and draft.site_id is not None:
        check.add(
            "recipient_conflict",
            "An order goes to a patient or to a site, not both.",
            "site",
        )
        return None
    if draft.patient_id is not None:
        ref = check.id_of(draft.patient_id, "patient.id", "patient")
        patient = read_model.by_id(Patient, {ref}).get(ref) if ref else None
        if ref and patient is None:
            check.add("patient_not_found", f"There is no patient with id {ref}.", "patient.id")
        elif patient is not None:
            for problem in patient_problems(patient):
                check.add(problem.code, problem.message, problem.field)
        return patient
    ref = check.id_of(draft.site_id, "site.id", "site")
    site = read_model.by_id(Site, {ref}).get(ref) if ref else None
    if ref and site is None:
        check.add("site_not_found", f"There is no site with id {ref}.", "site.id")
    elif site is not None:
        for problem in site_problems(site):
            check.add(problem.code, problem.message, problem.field)
    return site


def _check_lines(
    lines: list[LineRequest],
    section: str,
    model,
    noun: str,
    check: _Checker,
) -> list[tuple[Any, int]]:
    """Checks one list of lines; answers (catalog row, count) for the good ones."""
    if len(lines) > MAX_LINES:
        check.add("too_many_lines", f"An order holds at most {MAX_LINES} {noun} lines.", section)
        return []
    refs = [
        check.id_of(line.ref, f"{section}[{i}].{noun}.id", noun) for i, line in enumerate(lines)
    ]
    found = read_model.by_id(model, {r for r in refs if r})
    seen: dict[int, int] = {}
    good = []
    for i, (line, ref) in enumerate(zip(lines, refs, strict=True)):
        where = f"{section}[{i}]"
        check.count(line.count, f"{where}.count")
        if ref is None:
            continue
        row = found.get(ref)
        if row is None:
            check.add(
                f"{noun}_not_found", f"There is no {noun} with id {ref}.", f"{where}.{noun}.id"
            )
            continue
        if ref in seen:
            check.add(
                f"duplicate_{noun}",
                f"{row.name} is already on line {seen[ref] + 1}; change that line's count instead.",
                f"{where}.{noun}.id",
            )
            continue
        seen[ref] = i
        if model is Item and not row.orderable and section != "returnItems":
            check.add("item_not_orderable", f"{row.name} cannot be ordered.", f"{where}.item.id")
        elif model is Kit and row.archived:
            check.add("kit_archived", f"The kit {row.name} is archived.", f"{where}.kit.id")
        elif is_whole_number(line.count) and 1 <= line.count <= MAX_LINE_COUNT:
            good.append((row, line.count))
    return good


def _check_return_devices(draft: OrderDraft, check: _Checker, placing: bool = False):
    for name, given in (
        ("returnDevices", draft.return_device_ids),
        ("returnPackedKits", draft.return_packed_kit_ids),
    ):
        if len(given) > MAX_LINES:
            check.add("too_many_lines", f"An order lists at most {MAX_LINES} {name}.", name)
            return [], []
    return returns.check_returned(
        draft.return_device_ids, draft.return_packed_kit_ids, check, placing
    )


def _check_external_ids(values: list[Any], check: _Checker) -> list[str]:
    if len(values) > MAX_EXTERNAL_IDS:
        check.add(
            "too_many_external_order_ids",
            f"An order carries at most {MAX_EXTERNAL_IDS} external order ids.",
            "externalOrderIds",
        )
        return []
    good: list[str] = []
    for i, value in enumerate(values):
        where = f"externalOrderIds[{i}]"
        # In the one spelling of identifiers: "EHR-１２３" and "EHR-١٢٣" are "EHR-123".
        one = Checker()
        identifier = one.identifier(
            value, where, "An external order id", required=True, max_length=MAX_EXTERNAL_ID_LENGTH
        )
        if one.problems:
            problem = one.problems[0]
            empty = problem.code in ("required", "invalid_type")
            message = "An external order id must be a non-empty text." if empty else problem.message
            check.add("invalid_external_order_id", message, where)
        elif identifier in good:
            check.add("duplicate_external_order_id", f"“{identifier}” is listed twice.", where)
        else:
            good.append(identifier)
    return good


def _check_shipping(
    draft: OrderDraft, has_returns: bool, check: _Checker
) -> tuple[str | None, bool]:
    email_label = draft.email_label
    if email_label is None:
        email_label = False
    if not isinstance(email_label, bool):
        check.add("invalid_email_label", "emailLabel must be true or false.", "emailLabel")
        email_label = False
    elif email_label and not has_returns:
        check.add(
            "email_label_without_returns",
            "An emailed return label needs at least one return line.",
            "emailLabel",
        )

    option = draft.shipping_option
    if option is NOT_GIVEN:
        return DEFAULT_SHIPPING_OPTION, email_label
    if option is None:
        # The public rule: a return shipped back with a physical label needs a shipping option.
        # Only an order with nothing going out whose label is emailed may go without one.
        if has_returns and email_label and not _has_outbound(draft):
            return None, email_label
        check.add(
            "shipping_option_required",
            "Choose how the order ships: standard or overnight.",
            "shippingOption",
        )
        return None, email_label
    if option not in SHIPPING_OPTIONS:
        check.add(
            "invalid_shipping_option",
            "Shipping option must be “standard” or “overnight”.",
            "shippingOption",
        )
    return option, email_label


def _has_outbound(draft: OrderDraft) -> bool:
    return bool(draft.items or draft.kits)


def check_note(
    value: Any, check: Checker, field_path: str, label: str = "A note", required: bool = False
) -> str | None:
    """The one rule for a note on an order, written when placing it or added later: text, by
    the free-text rules (line breaks and tabs, no other control character: ``text_problem``),
    with a visible character, at most MAX_NOTE_LENGTH characters. An empty note is no note:
    placing leaves it out; adding one (``required``) asks for it. Answers the trimmed text,
    or None (with the problem on ``check``: "invalid_note", or "note_required")."""
    if not isinstance(value, str):
        check.add("invalid_note", f"{label} must be text.", field_path)
        return None
    one = Checker()
    text = one.text(
        value, field_path, label, required=required, max_length=MAX_NOTE_LENGTH, free_text=True
    )
    for problem in one.problems:
        if problem.code == "required":
            check.add("note_required", "Write the note.", field_path)
        else:
            check.add("invalid_note", problem.message, field_path)
    return None if one.problems else text


def _check_notes(notes: list[Any], check: _Checker) -> list[str]:
    if len(notes) > MAX_NOTES:
        check.add(
            "too_many_notes", f"An order is placed with at most {MAX_NOTES} notes.", "orderNotes"
        )
        return []
    good = []
    for i, note in enumerate(notes):
        text = check_note(note, check, f"orderNotes[{i}].note")
        if text is not None:
            good.append(text)
    return good


def check_draft(draft: OrderDraft, *, placing: bool = False) -> tuple[NewOrder, list[Problem]]:
    """Builds the order a draft asks for and lists every rule it breaks (adds nothing).

    The order is a ``NewOrder``, made of the views the check read (``read_model.by_id``):
    what placing writes and answers.
    ``placing`` (in placing's write transaction) holds the rows the order then depends on:
    its stock location, shared, so that it cannot go inactive before the order commits, and
    the devices it asks back, so that no other order asks for them meanwhile."""
    check = _Checker()
    # The location first, when placing: the lock order (app.db.transactions.write_transaction).
    location, location_problems = locations.resolve_location(
        draft.location_id, "fulfillmentLocation.id", lock=placing
    )
    recipient = _check_recipient(draft, check)
    has_returns = bool(draft.return_items or draft.return_device_ids or draft.return_packed_kit_ids)
    if not (_has_outbound(draft) or has_returns):
        check.add(
            "lines_required",
            "Order must contain at least one of: orderItems, orderKits, returnItems, "
            "returnDevices, or returnPackedKits.",
            "orderItems",
        )
    items = _check_lines(draft.items, "orderItems", Item, "item", check)
    kits = _check_lines(draft.kits, "orderKits", Kit, "kit", check)
    return_items = _check_lines(draft.return_items, "returnItems", Item, "item", check)
    return_devices, return_kits = _check_return_devices(draft, check, placing)
    external_ids = _check_external_ids(draft.external_order_ids, check)
    shipping_option, email_label = _check_shipping(draft, has_returns, check)
    notes = _check_notes(draft.notes, check)
    check.problems.extend(location_problems)

    patient = recipient if isinstance(recipient, PatientView) else None
    order = NewOrder(
        fulfillment_location=location,
        patient=patient,
        site=None if patient is not None else recipient,
        shipping_option=shipping_option,
        email_label=email_label,
        external_ids=external_ids,
        items=[ItemLineView(None, count, item) for item, count in items],
        kits=[KitLineView(None, count, kit) for kit, count in kits],
        return_items=[ItemLineView(None, count, item) for item, count in return_items],
        return_devices=[ReturnDeviceView(device_view(d)) for d in return_devices],
        return_packed_kits=[
            ReturnPackedKitView(read_model.packed_kit_view(pk)) for pk in return_kits
        ],
        notes=notes,
    )
    return order, check.problems


def place_order(draft: OrderDraft, actor: Actor, submission_key: str | None = None) -> PlacedOrder:
    """Places the order a draft asks for, with its lines and its first event, or nothing.

    The rules are checked once, under the write lock, on the rows as they are then. The
    order comes back as it was written (an ``OrderView``, as ``read_model`` reads one), so
    that describing it reads nothing more.

    With a ``submission_key`` the call is safe to repeat: a key already used answers
    the order it placed then (``replayed``) instead of placing another.
    """
    fingerprint = draft.fingerprint() if submission_key is not None else None
    # Read before the transaction expires the actor's objects (reloading them costs a
    # statement each).
    who = _Who.of(actor)
    try:
        with write_transaction():
            if submission_key is not None:
                earlier = _order_for_key(actor.scope, submission_key, fingerprint)
                if earlier is not None:
                    return earlier
            new, problems = check_draft(draft, placing=True)
            if problems:
                raise OrderRejected(problems)
            order = _write(new, who, utcnow())
            # The balances before the status counters: the lock order every change keeps
            # (app.db.transactions.write_transaction). A cancel releasing the same item takes
            # them in that order too; the other way round the two deadlocked on PostgreSQL.
            _reserve(order, actor)
            daily_counts.record_placed(new, order.created_at)
            if submission_key is not None:
                db.session.connection().execute(
                    insert(SubmissionKey.__table__),
                    {
                        "scope": actor.scope,
                        "key": submission_key,
                        "request_hash": fingerprint,
                        "order_id": order.id,
                    },
                )
        return PlacedOrder(order)
    except IntegrityError:
        # Another request with the same submission key committed first: answer its order.
        if submission_key is None:
            raise
        earlier = _order_for_key(actor.scope, submission_key, fingerprint)
        if earlier is None:
            raise
        return earlier


@dataclass
class _Who:
    """Who places an order, as it is written: the actor (with its ids), the name its first
    event shows, and the notes' author."""

    actor: Actor
    name: str
    # The notes' author as an answer shows them: a user's id, names and email.
    author: AuthorView | None

    @classmethod
    def of(cls, actor: Actor) -> _Who:
        user = actor.user
        return cls(
            actor,
            actor.name,
            None
            if user is None
            else AuthorView(user.id, user.first_name, user.last_name, user.email),
        )


def _write(order: NewOrder, who: _Who, now) -> OrderView:
    """Writes a checked new order with plain inserts: the order, its first event (and
    outbox entry; on PostgreSQL the three in one statement), and each kind of line in one
    statement however many lines there are.
    The ORM's unit of work took most of placing's time to learn ids nothing needs. Answers
    the order as written: with its id, its times and its first event."""
    connection = db.session.connection()
    user_id, api_key_id = who.actor.user_id, who.actor.api_key_id
    ship_by_day = ship_by.ship_by_date(order.shipping_option, now, ship_by.rules())
    written = {
        "patient_id": order.patient_id,
        "site_id": order.site_id,
        "responsible_site_id": order.responsible_site_id,
        "current_status": order.current_status,
        "shipping_option": order.shipping_option,
        "email_label": order.email_label,
        "has_returns": has_return_lines(order),
        "ship_by": ship_by_day,
        "created_at": now,
        "updated_at": now,
        "placed_by_user_id": user_id,
        "placed_by_api_key_id": api_key_id,
        "fulfillment_location_id": order.fulfillment_location_id,
        "version": order.version,
    }
    if connection.dialect.name == "postgresql":
        order_id, event_id = _INSERT_ORDER_AND_EVENT.first(connection, written)
    else:
        # SQLite has no INSERT inside WITH.
        order_id = _INSERT_ORDER.scalar(connection, written)
        event_id = insert_event(order_id, statuses.CREATED, user_id, api_key_id, now, connection)
    lines = {
        OrderExternalId: [{"value": value} for value in order.external_ids],
        OrderItem: [{"item_id": x.item_id, "count": x.count} for x in order.items],
        OrderKit: [{"kit_id": x.kit_id, "count": x.count} for x in order.kits],
        ReturnItem: [{"item_id": x.item_id, "count": x.count} for x in order.return_items],
        ReturnDevice: [{"device_id": x.device_id} for x in order.return_devices],
        ReturnPackedKit: [{"packed_kit_id": x.packed_kit_id} for x in order.return_packed_kits],
        OrderNote: [
            {
                "note": note,
                "created_at": now,
                "created_by_id": user_id,
                "created_by_api_key_id": api_key_id,
            }
            for note in order.notes
        ],
    }
    for model, rows in lines.items():
        if rows:
            _INSERT_LINES[model].run_many(
                connection, [{"order_id": order_id, **row} for row in rows]
            )
    first_event = EventView(event_id, statuses.CREATED, now, None, who.name)
    return order.written(order_id, now, ship_by_day, first_event, who.author)


def _reserve(order: OrderView, actor: Actor) -> None:
    try:
        reservations.reserve(
            order.id, order.fulfillment_location_id, demand.demand_lines(order), actor
        )
    except reservations.InsufficientInventory as short:
        raise OrderRejected(short.problems) from None


def _order_for_key(scope: str, key: str, fingerprint: str) -> PlacedOrder | None:
    used = db.session.scalar(
        select(SubmissionKey).where(SubmissionKey.scope == scope, SubmissionKey.key == key)
    )
    if used is None:
        return None
    order = db.session.get(Order, used.order_id)
    return PlacedOrder(order, replayed=True, same_request=used.request_hash == fingerprint)
