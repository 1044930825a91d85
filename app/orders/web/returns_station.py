"""The returns station page of one order: what it asks back, checked in by scan.

The rules are ``orders.returns_station``'s; this door parses, calls it and renders. Each form
posts; with htmx the station's live part is re-rendered in place and the scan box has the
focus again; without JavaScript the page is shown again (303 after a change).
"""

from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import role_required, signed_in_actor
from app.catalog import identifiers
from app.forms import REFUSAL_STATUS
from app.history.patient_access import VIEWED, note_patient_access
from app.orders import events, read_model, return_progress
from app.orders import returns_station as station
from app.orders.web import bp
from app.orders.web.forms import (
    CloseReturnForm,
    ReturnCountForm,
    ReturnScanForm,
    UnexpectedArrivalForm,
)
from app.validation import MAX_REASON_LENGTH, NOT_FOUND, Rejected, parse_int

VIEWERS = ("coordinator", "fulfillment")
STATION_EVENTS = (
    events.RETURN_RECEIVED,
    events.UNEXPECTED_DEVICE_RECEIVED,
    events.RETURN_CLOSED,
)


def _last_step(order) -> str | None:
    """What the station last did, from the order's own events (the same after a reload)."""
    last = next((e for e in reversed(order.events) if e.name in STATION_EVENTS), None)
    if last is None:
        return None
    if last.name == events.RETURN_RECEIVED:
        return last.note
    return f"{events.label(last.name)}: {last.note}"


def render_station(
    order_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    error_field: str | None = None,
    forms: dict | None = None,
    refused_scan: str | None = None,
    seen=None,
):
    """The station page, or (for htmx) its live part. ``seen``: where a scanned device that
    the order does not expect belongs (the unexpected-arrival form is offered with it)."""
    order = read_model.load_one(order_id)
    if order is None or not order.has_return_lines:
        abort(404)
    note_patient_access("returnsStation", VIEWED, [(order.patient_id, order.id)])
    forms = forms or {}
    unexpected_form = forms.get("unexpected") or UnexpectedArrivalForm(formdata=None)
    if seen is not None:
        unexpected_form.identifier.data = seen.identifier
        unexpected_form.item.choices = [("", "Choose…")] + [
            (str(item.id), item.name) for item in seen.items
        ]
    context = {
        "order": order,
        "progress": return_progress.progress(order),
        "may_check_in": station.may_check_in(order, current_user.role),
        "scan_form": forms.get("scan") or ReturnScanForm(formdata=None),
        "count_form": forms.get("count") or ReturnCountForm(formdata=None),
        "unexpected_form": unexpected_form,
        "close_form": forms.get("close") or CloseReturnForm(formdata=None),
        "error": error,
        "error_field": error_field,
        "refused_scan": refused_scan,
        "seen": seen,
        "last_step": _last_step(order),
        "max_identifier_length": identifiers.MAX_IDENTIFIER_LENGTH,
        "max_reason_length": MAX_REASON_LENGTH,
    }
    template = "orders/_returns_live.html" if request.htmx else "orders/returns_station.html"
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _done(order_id: int):
    if request.htmx:
        return render_station(order_id)
    return redirect(url_for("orders.returns_station", order_id=order_id), code=303)


def _refused(order_id: int, refused: Rejected, error_field: str | None = None, **kwargs):
    if refused.kind == NOT_FOUND:
        abort(404)
    return render_station(
        order_id,
        status=REFUSAL_STATUS[refused.kind],
        error=refused.message,
        error_field=error_field,
        **kwargs,
    )


@bp.get("/<int:order_id>/returns")
@role_required(*VIEWERS)
def returns_station(order_id: int):
    return render_station(order_id)


@bp.post("/<int:order_id>/returns/scan")
@role_required("fulfillment")
def check_in_scan(order_id: int):
    form = ReturnScanForm()
    scanned = (form.identifier.data or "").strip()[: identifiers.MAX_IDENTIFIER_LENGTH]
    try:
        station.check_in_device(order_id, scanned, signed_in_actor())
    except Rejected as refused:
        # The box is emptied for the next scan; the message quotes what was refused.
        seen = None
        if refused.code == "device_not_expected":
            seen = station.identify(order_id, scanned)
        return _refused(order_id, refused, refused_scan=scanned or None, seen=seen)
    return _done(order_id)


@bp.post("/<int:order_id>/returns/count")
@role_required("fulfillment")
def check_in_count(order_id: int):
    form = ReturnCountForm()
    try:
        station.check_in_items(
            order_id, parse_int(form.item.data), parse_int(form.count.data), signed_in_actor()
        )
    except Rejected as refused:
        form.count.errors = [refused.message]
        return _refused(order_id, refused, "count", forms={"count": form})
    return _done(order_id)


@bp.post("/<int:order_id>/returns/unexpected")
@role_required("fulfillment")
def record_unexpected(order_id: int):
    form = UnexpectedArrivalForm()
    scanned = (form.identifier.data or "")[: identifiers.MAX_IDENTIFIER_LENGTH]
    try:
        station.record_unexpected(
            order_id, scanned, form.reason.data, signed_in_actor(), parse_int(form.item.data)
        )
    except Rejected as refused:
        target = refused.field if refused.field in ("reason", "item") else None
        if target:
            getattr(form, target).errors = [refused.message]
        return _refused(
            order_id,
            refused,
            target,
            forms={"unexpected": form},
            refused_scan=scanned or None,
            seen=station.identify(order_id, scanned),
        )
    return _done(order_id)


@bp.post("/<int:order_id>/returns/close")
@role_required("fulfillment")
def close_return(order_id: int):
    form = CloseReturnForm()
    try:
        station.close_return(order_id, form.reason.data, signed_in_actor())
    except Rejected as refused:
        if refused.field == "reason":
            form.reason.errors = [refused.message]
        return _refused(order_id, refused, refused.field, forms={"close": form})
    return _done(order_id)
