"""One order's page (the order page): the timeline, and the actions the status and the
user's role allow. A page of orders is the order list's (``routes``, ``listing``).

Each action is a small form. With htmx it posts and the live part of the page is
re-rendered in place; without JavaScript it posts, and the page is shown again.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import role_required, signed_in_actor
from app.catalog import identifiers
from app.forms import REFUSAL_STATUS
from app.history.patient_access import VIEWED, note_patient_access
from app.orders import (
    carriers,
    claims,
    events,
    lifecycle,
    lookups,
    packing,
    read_model,
    return_progress,
    statuses,
)
from app.orders.web import bp
from app.orders.web.forms import (
    DeviceForm,
    NoteForm,
    StatusForm,
    TrackingForm,
    TrackingRemovalForm,
)
from app.validation import MAX_ACTION_LENGTH, MAX_REASON_LENGTH, NOT_FOUND, Rejected, parse_int

VIEWERS = ("coordinator", "fulfillment")
# The carrier choosers of the order page (the Mark shipped form's, the Add tracking number
# form's): the ids their numbers' boxes name.
CARRIER_CHOOSERS = ("ship-carrier", "carrier")
# How often an open order page asks whether the order changed (app config ORDER_POLL_SECONDS).
POLL_SECONDS = 10

# What each move is called on its button.
MOVE_LABELS = {
    statuses.PROCESSING: "Start processing",
    statuses.PACKED: "Mark packed",
    statuses.AVAILABLE_FOR_PICKUP: "Ready for pickup",
    statuses.SHIPPED: "Mark shipped",
    statuses.DELIVERED: "Mark delivered",
    statuses.DELIVERY_EXCEPTION: "Report delivery exception",
    statuses.RETURNED: "Mark returned",
    statuses.AWAITING_RETURN: "Return label sent",
    statuses.ON_HOLD: "Put on hold",
    statuses.CANCELLED: "Cancel order",
}


# The obvious next step of each status: its button is the primary one. Hold, cancel, ready
# for pickup and returned are always secondary; coordinators have no primary status move.
PRIMARY_MOVES = {
    statuses.CREATED: statuses.PROCESSING,
    statuses.PROCESSING: statuses.PACKED,
    statuses.PACKED: statuses.SHIPPED,
    statuses.SHIPPED: statuses.DELIVERED,
    statuses.DELIVERY_EXCEPTION: statuses.DELIVERED,
}


@dataclass
class LastScan:
    """What the last scan on the order did, said right under the scan box."""

    text: str
    undo_id: int | None = None  # the recorded device an Undo removes


def last_scan(order, plan: packing.PackingPlan) -> LastScan | None:
    """From the order itself (its last device event and newest device), so that it is the
    same after a redirect, a reload or a refresh."""
    last = next(
        (
            e
            for e in reversed(order.events)
            if e.name in (events.DEVICE_RECORDED, events.DEVICE_REMOVED)
        ),
        None,
    )
    if last is None:
        return None
    progress = f"{plan.recorded} of {len(plan.slots)} recorded."
    if last.name == events.DEVICE_REMOVED:
        return LastScan(f"Removed {last.note}. {progress}")
    newest = max(order.devices, key=lambda od: od.id, default=None)
    slot = plan.slot_of(newest.id) if newest is not None else None
    if slot is None:
        return None
    values = ", ".join(
        f"{identifiers.LABELS[i.type]} {i.value}" for i in slot.filled.device.identifiers
    )
    return LastScan(f"Recorded {values} for {slot.label}. {progress}", newest.id)


def _timeline(order) -> list[dict]:
    """Events and notes together, oldest first: the story of the order."""
    entries = [
        {
            "kind": "event",
            "at": e.event_timestamp,
            "name": e.name,
            "who": e.actor_name,
            "note": e.note,
            "id": e.id,
        }
        for e in order.events
    ]
    entries += [
        {
            "kind": "note",
            "at": n.created_at,
            "name": "note",
            "who": n.created_by.full_name if n.created_by else "API",
            "note": n.note,
            "id": n.id,
        }
        for n in order.notes
    ]
    return sorted(entries, key=lambda e: (e["at"], e["kind"] == "note", e["id"]))


def _move_forms(order, role: str, failed: tuple[str, StatusForm] | None = None) -> list[dict]:
    forms = []
    primary = PRIMARY_MOVES.get(order.current_status) if role != "coordinator" else None
    if not lifecycle.ships_out(order) and order.current_status == statuses.CREATED:
        primary = statuses.AWAITING_RETURN  # a return-only order's one step before the return
    for to_status in lifecycle.next_moves(order, role):
        if failed and failed[0] == to_status:
            form = failed[1]
        else:
            form = StatusForm(
                formdata=None, data={"to_status": to_status, "from_status": order.current_status}
            )
        resuming = order.current_status == statuses.ON_HOLD and to_status == order.held_from_status
        label = f"Resume ({statuses.label(to_status)})" if resuming else MOVE_LABELS[to_status]
        forms.append(
            {
                "to": to_status,
                "form": form,
                "label": label,
                "needs_reason": to_status in lifecycle.NEEDS_REASON,
                "takes_note": to_status in (statuses.DELIVERY_EXCEPTION, statuses.RETURNED),
                "takes_tracking": to_status == statuses.SHIPPED,
                "danger": to_status == statuses.CANCELLED,
                "primary": to_status == primary,
            }
        )
    return forms


def render_order(
    order_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    error_field: str | None = None,
    forms: dict | None = None,
    polled: bool = False,
    refused_scan: str | None = None,
    focus: str | None = None,
):
    """The order page, or (for htmx) its live part, from one template.

    ``focus`` (NEXT_STEP or NEXT_FIELD) asks for the keyboard on the next step (see
    ``_next_focus``).

    ``error_field`` names the field that shows ``error`` (it takes the focus); ``polled``
    marks a refresh the person did not ask for, which must not move their focus;
    ``refused_scan`` is a scanned value that was refused: the scan box is emptied for the
    next scan and the message quotes it.
    """
    # Read with plain statements: the page only shows the order (changes load it whole,
    # locked, in lifecycle).
    order = read_model.load_one(order_id)
    if order is None:
        abort(404)
    if not polled:  # a refresh the person did not ask for is not another look
        note_patient_access("orderPage", VIEWED, [(order.patient_id, order.id)])
    forms = forms or {}
    role = current_user.role
    plan = packing.packing_plan(order)
    may_pack = packing.may_pack(order, role)
    moves = _move_forms(order, role, forms.get("status"))
    may_add_tracking = lifecycle.may_add_tracking(order, role)
    # A packed order's tracking number goes in the Mark shipped form: one place to enter it.
    tracking_form_shown = may_add_tracking and not (
        order.current_status == statuses.PACKED and any(m["takes_tracking"] for m in moves)
    )
    context = {
        "order": order,
        "claim": claims.claims_of([order.id]).get(order.id),
        "timeline": _timeline(order),
        "moves": moves,
        "plan": plan,
        "ships_out": lifecycle.ships_out(order),
        "return_progress": return_progress.progress(order) if order.has_return_lines else None,
        "last_scan": last_scan(order, plan) if may_pack else None,
        "refused_scan": refused_scan,
        "may_pack": may_pack,
        "device_form": forms.get("device") or DeviceForm(formdata=None),
        "may_add_tracking": may_add_tracking,
        "tracking_form_shown": tracking_form_shown,
        "tracking_form": forms.get("tracking") or TrackingForm(formdata=None),
        "may_remove_tracking": lifecycle.may_remove_tracking(order, role),
        # The removal refused, if one was: its number's form shows the reason typed.
        "removal_form": forms.get("tracking_removal"),
        "removal_csrf": TrackingRemovalForm(formdata=None),
        "note_form": forms.get("note") or NoteForm(formdata=None),
        "may_add_note": lifecycle.may_add_note(role),
        "error": error,
        "error_field": error_field,
        "polled": polled,
        "poll_seconds": current_app.config.get("ORDER_POLL_SECONDS", POLL_SECONDS),
        "move_labels": MOVE_LABELS,
        "max_identifier_length": identifiers.MAX_IDENTIFIER_LENGTH,
        "max_reason_length": MAX_REASON_LENGTH,
    }
    context["unsaved"] = _unsaved(forms, context)
    context["next_focus"] = None if error or polled else _next_focus(focus, moves, plan, may_pack)
    template = "orders/_order_live.html" if request.htmx else "orders/show.html"
    return make_response(render_template(template, **context), status)


# Where the keyboard goes once an order is opened by its number (Go to order, a summary's
# barcode): the next step, its field to fill or else its button. After a status move: only
# a field to fill (the tracking number once packed); a button there could be pressed by the
# same Enter twice.
NEXT_STEP = "next-step"
NEXT_FIELD = "next-field"


def _next_focus(focus: str | None, moves: list[dict], plan, may_pack: bool):
    """(status, "field" or "button"): the primary move's control that takes the focus, or
    None. Never while devices are being scanned (the scan box has it) or the move waits."""
    if focus not in (NEXT_STEP, NEXT_FIELD):
        return None
    primary = next((m for m in moves if m["primary"]), None)
    scanning = may_pack and plan and plan.slots and not plan.complete
    if primary is None or scanning or (primary["to"] == statuses.PACKED and not plan.complete):
        return None
    if primary["takes_tracking"]:
        return primary["to"], "field"
    return (primary["to"], "button") if focus == NEXT_STEP else None


@dataclass
class Unsaved:
    """Something typed into a form whose action was refused, when the page drawn again no
    longer offers that form (the order moved on meanwhile): shown with the refusal, so
    that nothing typed is lost."""

    label: str
    value: str


REASON_LABELS = {
    statuses.ON_HOLD: "Reason for the hold",
    statuses.CANCELLED: "Reason for cancelling",
}


def _unsaved(forms: dict, context: dict) -> list[Unsaved]:
    """What the refused form held that no form on the page shows again (a form that is
    still offered shows it in its own fields)."""
    typed: list[tuple[str, str | None]] = []
    if "status" in forms:
        to_status, form = forms["status"]
        if all(move["to"] != to_status for move in context["moves"]):
            typed.append((REASON_LABELS.get(to_status, "Note"), form.reason.data))
            typed.append(("Carrier", form.carrier.data))
            typed.append(("Tracking number", form.tracking_number.data))
    if "tracking" in forms and not context["tracking_form_shown"]:
        typed.append(("Carrier", forms["tracking"].carrier.data))
        typed.append(("Tracking number", forms["tracking"].tracking_number.data))
    if "device" in forms and forms["device"].slot.data:
        plan = context["plan"]
        open_slots = {slot.key for slot in plan.slots if slot.filled is None}
        if not (context["may_pack"] and forms["device"].slot.data in open_slots):
            typed.append(("Device identifier", forms["device"].identifier.data))
    if "tracking_removal" in forms:
        removal = forms["tracking_removal"]
        shown = context["may_remove_tracking"] and any(
            (t.carrier, t.value) == (removal.carrier.data, removal.tracking_number.data)
            for t in context["order"].tracking_numbers
        )
        if not shown:
            typed.append(("Reason for removing the tracking number", removal.reason.data))
    if "note" in forms and not context["may_add_note"]:
        typed.append(("Note", forms["note"].note.data))
    return [Unsaved(label, value) for label, value in typed if value and value.strip()]


def _done(order_id: int, focus: str | None = None):
    if request.htmx:
        return render_order(order_id, focus=focus)
    return redirect(url_for("orders.show_order", order_id=order_id, focus=focus), code=303)


def _refused(
    order_id: int,
    refused: Rejected,
    form,
    field_map: dict,
    forms: dict,
    refused_scan: str | None = None,
):
    """Shows the page again with the refusal next to its field, or at the top of the actions."""
    if refused.kind == NOT_FOUND:
        abort(404)
    target = field_map.get(refused.field)
    if target is not None:
        getattr(form, target).errors = [refused.message]
    # Also at the top of the page, where it is seen even if its field is not shown now.
    return render_order(
        order_id,
        status=REFUSAL_STATUS[refused.kind],
        error=refused.message,
        error_field=target,
        forms=forms,
        refused_scan=refused_scan,
    )


@bp.get("/<int:order_id>")
@role_required(*VIEWERS)
def show_order(order_id: int):
    return render_order(order_id, focus=request.args.get("focus"))


@bp.get("/<int:order_id>/carrier")
@role_required("fulfillment")
def recognise_carrier(order_id: int):
    """htmx, as a tracking number is typed: its carrier chooser again, with the carrier the
    number's format names, unless one was chosen by hand (that one stays)."""
    select_id = request.args.get("select", "")
    if select_id not in CARRIER_CHOOSERS:
        abort(404)
    form = TrackingForm(formdata=None)
    chosen = request.args.get("carrier", "")
    recognised = False
    if chosen in carriers.CARRIERS and request.args.get("carrier_recognised") != "1":
        form.carrier.data = chosen
    else:
        number = request.args.get("tracking_number", "")[: identifiers.MAX_IDENTIFIER_LENGTH]
        form.carrier.data = carriers.recognise(number) or ""
        recognised = bool(form.carrier.data)
    return render_template(
        "orders/_carrier_choice.html",
        carrier_field=form.carrier,
        select_id=select_id,
        recognised=recognised,
    )


@bp.get("/<int:order_id>/changes")
@role_required(*VIEWERS)
def order_changes(order_id: int):
    """htmx polls this: nothing (204) while the order is unchanged, else its live part."""
    seen = request.args.get("since", "")
    version = lookups.order_version(order_id)
    if version is None:
        abort(404)
    if parse_int(seen) == version:
        return "", 204
    return render_order(order_id, polled=True)


@bp.post("/<int:order_id>/status")
@role_required(*VIEWERS)
def change_status(order_id: int):
    form = StatusForm()
    tracking = (form.carrier.data or "", form.tracking_number.data or "")
    try:
        lifecycle.change_status(
            order_id,
            (form.to_status.data or "")[:MAX_ACTION_LENGTH],
            signed_in_actor(),
            reason=form.reason.data,
            from_status=form.from_status.data or None,
            # Only the shipping form has tracking fields.
            tracking=tracking
            if any(tracking) and form.to_status.data == statuses.SHIPPED
            else None,
        )
    except Rejected as refused:
        fields = {"reason": "reason", "trackingNumber": "tracking_number", "carrier": "carrier"}
        return _refused(order_id, refused, form, fields, {"status": (form.to_status.data, form)})
    return _done(order_id, focus=NEXT_FIELD)


@bp.post("/<int:order_id>/devices")
@role_required("fulfillment")
def record_device(order_id: int):
    form = DeviceForm()
    try:
        packing.record_device(
            order_id, form.identifier.data or "", signed_in_actor(), slot_key=form.slot.data or None
        )
    except Rejected as refused:
        # Scanners type the next value and Enter into whatever the box holds: the box is
        # emptied (the message quotes what was refused), so the next scan is not appended.
        scanned = (form.identifier.data or "").strip()[: identifiers.MAX_IDENTIFIER_LENGTH]
        return _refused(
            order_id,
            refused,
            form,
            {"identifier": "identifier"},
            {"device": form},
            refused_scan=scanned or None,
        )
    return _done(order_id)


@bp.post("/<int:order_id>/devices/<int:order_device_id>/remove")
@role_required("fulfillment")
def remove_device(order_id: int, order_device_id: int):
    try:
        packing.remove_device(order_id, order_device_id, signed_in_actor())
    except Rejected as refused:
        return _refused(order_id, refused, None, {}, {})
    return _done(order_id)


@bp.post("/<int:order_id>/tracking")
@role_required("fulfillment")
def add_tracking(order_id: int):
    form = TrackingForm()
    try:
        lifecycle.add_tracking_number(
            order_id, form.carrier.data or "", form.tracking_number.data or "", signed_in_actor()
        )
    except Rejected as refused:
        fields = {"carrier": "carrier", "trackingNumber": "tracking_number"}
        return _refused(order_id, refused, form, fields, {"tracking": form})
    return _done(order_id)


@bp.post("/<int:order_id>/tracking/remove")
@role_required("fulfillment")
def remove_tracking(order_id: int):
    form = TrackingRemovalForm()
    try:
        lifecycle.remove_tracking_number(
            order_id,
            form.carrier.data or "",
            form.tracking_number.data or "",
            form.reason.data,
            signed_in_actor(),
        )
    except Rejected as refused:
        return _refused(order_id, refused, form, {"reason": "reason"}, {"tracking_removal": form})
    return _done(order_id)


@bp.post("/<int:order_id>/notes")
@role_required(*VIEWERS)
def add_note(order_id: int):
    form = NoteForm()
    try:
        lifecycle.add_note(order_id, form.note.data or "", signed_in_actor())
    except Rejected as refused:
        return _refused(order_id, refused, form, {"note": "note"}, {"note": form})
    return _done(order_id)
