"""The staff web UI for orders. Views are thin: read the form, call the service, render.

Every edit of the new-order page is a plain form submission that re-renders the page
(so it works without JavaScript); with htmx, the same edits post to fragment endpoints
that re-render only the part that changed, from the same partial templates.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from flask import (
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from app.auth.access import role_required, signed_in_actor
from app.catalog.search import (
    item_label,
)
from app.forms import put_problems_on_fields
from app.history.patient_access import VIEWED, note_patient_access
from app.inventory.locations import all_locations
from app.orders import claims, listing, lookups, owed, service, statuses
from app.orders.ordered_catalog import find_items_to_order, find_kits_to_order
from app.orders.web import bp, csv_export
from app.orders.web.forms import OrderForm
from app.orders.web.new_order import (
    PLACE,
    LineStock,
    OrderEntry,
    available_to_order,
    lines_context,
    put_problems_on_order_form,
)
from app.orders.web.order_detail import NEXT_STEP
from app.people import service as people_service
from app.people import staff
from app.people.forms import PatientForm, patient_draft, site_choices
from app.validation import MAX_ACTION_LENGTH, MAX_SEARCH_LENGTH, Rejected, parse_int

ROW_ID = re.compile(r"^(items|kits|return_items)-[0-9]{1,3}$")


@bp.get("/")
@role_required("coordinator", "fulfillment")
def list_orders():
    """The order list. htmx (filters, search, tabs, pages) gets the results part alone."""
    query = listing.OrderQuery.from_args(
        request.args, zone=current_user.zone, user_id=current_user.id
    )
    # Enter (or Apply) on a search that is exactly an order number, as a summary's barcode
    # types it, opens that order; searching as you type never jumps away.
    if request.args.get(listing.SUBMITTED) and query.q:
        order_id = lookups.order_number_in(query.q)
        if order_id is not None:
            return _open_order(order_id, focus=NEXT_STEP)
    results_only = request.htmx and not request.htmx.history_restore_request
    page = listing.list_page(query)
    # The locations name each row's warehouse and make the filter's choices (one statement).
    locations = all_locations()
    context = {
        "query": query,
        "locations": locations,
        "location_names": {location.id: location.name for location in locations},
        "page": page,
        # Who is packing which of these orders (app/orders/claims.py), in one statement.
        "claims": claims.claims_of([o.id for o in page.orders]),
        "counts": listing.status_counts(query),
        # Names for the filter form's site choice (not in the results part), as plain rows.
        # and which of them are the user's ("My sites").
        "sites": [] if results_only else staff.site_choices(current_user.id),
        "my_sites": listing.MY_SITES,
        "statuses": statuses,
        "sorts": listing.SORTS,
        "due_choices": listing.DUE,
        "page_sizes": listing.PAGE_SIZES,
        "count_cap": listing.COUNT_CAP,
        "search_cap": listing.SEARCH_CAP,
        "submitted": listing.SUBMITTED,
        "overdue_days": owed.overdue_days(),
    }
    if results_only:
        return render_template("orders/_list_results.html", **context)
    return render_template("orders/list.html", **context)


def _open_order(order_id: int, focus: str | None = None):
    """To the order's page: an htmx request is told to go there, a plain one redirected.
    Opened by its number (``focus``), the page gives the keyboard to the next step."""
    target = url_for("orders.show_order", order_id=order_id, focus=focus)
    if request.htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


@bp.get("/go")
@role_required("coordinator", "fulfillment")
def go_to_order():
    """The header's "Go to order" field: an order number (typed or scanned) opens it."""
    text = request.args.get("number", "").strip()[:MAX_SEARCH_LENGTH]
    order_id = lookups.order_number_in(text)
    if order_id is not None:
        return _open_order(order_id, focus=NEXT_STEP)
    flash(
        f"There is no order “{text}”: an order number is digits only, as on its packing summary."
        if text
        else "Type or scan an order number to open the order.",
        "error",
    )
    return redirect(url_for("orders.list_orders", q=text or None), code=303)


@bp.get("/export.csv")
@role_required("coordinator", "fulfillment")
def export_orders():
    """Every order the current filters select, as CSV, streamed in keyset batches."""
    query = listing.OrderQuery.from_args(
        request.args, zone=current_user.zone, user_id=current_user.id
    )
    names = {location.id: location.name for location in all_locations()}
    response = Response(stream_with_context(csv_export.rows(query, names)), mimetype="text/csv")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    return response


def _entry_from_request() -> tuple[OrderEntry, str]:
    """The entry as submitted, and the action the pressed button asks for."""
    action = request.form.get("action", PLACE)[:MAX_ACTION_LENGTH]
    return OrderEntry.from_form(OrderForm()), action


def _note_recipients_shown(entry: OrderEntry, recipient, results, order_id=None) -> None:
    """The PHI access log: the chosen patient (their address and phone are shown), and every
    patient a recipient search shows (name, birth date, identifier, address)."""
    if entry.recipient_kind != "patient":
        return
    if recipient is not None:
        note_patient_access("newOrder", VIEWED, [(recipient.id, order_id)])
    note_patient_access("recipientSearch", VIEWED, [(p.id, None) for p in results])


def _render_new(
    entry: OrderEntry,
    form: OrderForm | None = None,
    focus: str | None = None,
    problems: list[tuple[str, str]] | None = None,
    status: int = 200,
    patient_form=None,
    patient_problems: list[str] | None = None,
    again: int | None = None,
):
    stock = LineStock(entry)
    form = form or entry.to_form()
    recipient, results = entry.recipient(), entry.search_results()
    _note_recipients_shown(entry, recipient, results, again)
    response = make_response(
        render_template(
            "orders/new.html",
            form=form,
            entry=entry,
            recipient=recipient,
            results=results,
            focus=focus,
            **lines_context(entry, stock),
            problems=problems or [],
            patient_form=patient_form
            or (_new_patient_form(None) if entry.creating_patient else None),
            patient_problems=patient_problems or [],
        ),
        status,
    )
    return response


def _new_patient_form(formdata):
    """The new-patient fields inside the order form (no CSRF of their own: the order form's)."""
    form = PatientForm(formdata=formdata, prefix="new_patient", meta={"csrf": False})
    form.site_id.choices = site_choices()
    return form


def _edit_recipient(entry: OrderEntry, action: str):
    """Applies a recipient action; answers (focus, new-patient form, its problems, status).

    "create-patient" adds the patient through the people service (the same rules as the
    patient pages) and, when that works, makes them the recipient.
    """
    if action != "create-patient":
        focus = entry.apply(action)
        return focus, (_new_patient_form(None) if entry.creating_patient else None), [], 200
    form = _new_patient_form(request.form)
    try:
        patient = people_service.create_patient(patient_draft(form), signed_in_actor())
    except Rejected as rejected:
        put_problems_on_fields(form, rejected.problems)
        entry.creating_patient = True
        return None, form, [p.message for p in rejected.problems], 422
    entry.recipient_kind, entry.recipient_id, entry.creating_patient = "patient", patient.id, False
    return "change-recipient", None, [], 200


@bp.get("/new")
@role_required("coordinator")
def new_order():
    """A blank order; ``?patient=<id>`` (from a patient's page) starts it for that patient;
    ``?again=<order id>`` ("Order again") fills it with what that order had. Nothing is
    placed until the coordinator places it."""
    entry = OrderEntry.blank()
    patient = request.args.get("patient", "")
    again = parse_int(request.args.get("again", ""))
    if again:
        order = lookups.get_order(again)
        if order is None:
            abort(404)
        entry = OrderEntry.again(order)
    elif parse_int(patient):
        entry.recipient_id = parse_int(patient)
    if entry.recipient_id is not None and entry.recipient() is None:
        entry.recipient_id = None
    if again:
        focus = "place-order" if entry.recipient_id else "recipient-query"
    else:
        focus = entry.first_line_field() if entry.recipient_id else "recipient-query"
    return _render_new(entry, focus=focus, again=again)


@bp.post("/new")
@role_required("coordinator")
def place_order():
    entry, action = _entry_from_request()
    if action != PLACE:
        # Without JavaScript every button lands here: apply the edit, show the page again.
        focus, patient_form, patient_problems, status = _edit_recipient(entry, action)
        return _render_new(
            entry,
            focus=focus,
            status=status,
            patient_form=patient_form,
            patient_problems=patient_problems,
        )

    entry.drop_empty_rows()
    stock = LineStock(entry)
    draft = entry.draft(stock)
    try:
        placed = service.place_order(draft, signed_in_actor(), submission_key=entry.token)
    except service.OrderRejected as rejected:
        form = entry.to_form()
        problems = put_problems_on_order_form(form, rejected.problems)
        return _render_new(entry, form=form, problems=problems, status=422)

    if placed.replayed and not placed.same_request:
        flash(
            f"This form had already placed order {placed.order.id}. The changes made after that "
            "were not placed: check the order below, and start a new order if something is "
            "missing.",
            "error",
        )
    elif placed.replayed:
        flash(f"Order {placed.order.id} had already been placed; nothing new was placed.", "info")
    else:
        flash(f"Order {placed.order.id} placed.", "success")
    return _open_order(placed.order.id)


@bp.post("/new/lines")
@role_required("coordinator")
def new_order_lines():
    """htmx: add, remove or refresh rows; answers the lines section alone."""
    entry, action = _entry_from_request()
    focus = entry.apply(action)
    return render_template(
        "orders/_lines.html",
        # Send to many shows the same rows, without the returns.
        lines_only=request.form.get("lines_only") == "1",
        form=entry.to_form(),
        focus=focus,
        **lines_context(entry, LineStock(entry)),
    )


@bp.get("/new/options")
@role_required("coordinator")
def new_order_options():
    """htmx: the options of one item or kit box, matching every word typed in it."""
    kind = "kit" if request.args.get("kind") == "kit" else "item"
    row = request.args.get("row", "")
    if not ROW_ID.match(row):
        abort(404)
    text = request.args.get(f"{row}-ref", "")[:MAX_SEARCH_LENGTH]
    find = find_kits_to_order if kind == "kit" else find_items_to_order
    options = find(text)
    return render_template(
        "orders/_options.html",
        options=options,
        kind=kind,
        row=row,
        catalog_label=item_label,
        available=available_to_order(
            [o.id for o in options], request.args.get("fulfillment_location", "")[:20]
        )
        if kind == "item"
        else None,
    )


@bp.post("/new/recipient")
@role_required("coordinator")
def new_order_recipient():
    """htmx: search, choose or change the recipient; answers the recipient section alone.

    A search answers only the results, so that what the coordinator keeps typing in the
    search box is never replaced.
    """
    entry, action = _entry_from_request()
    if action == "search":
        results = entry.search_results()
        _note_recipients_shown(entry, None, results)
        return render_template("orders/_recipient_results.html", entry=entry, results=results)
    focus, patient_form, patient_problems, status = _edit_recipient(entry, action)
    form = entry.to_form()
    recipient, results = entry.recipient(), entry.search_results()
    _note_recipients_shown(entry, recipient, results)
    html = render_template(
        "orders/_recipient.html",
        form=form,
        entry=entry,
        recipient=recipient,
        results=results,
        focus=focus,
        patient_form=patient_form,
        patient_problems=patient_problems,
    )
    # Another recipient has other devices to return: the lines are drawn again beside.
    html += render_template(
        "orders/_lines.html",
        form=form,
        focus=None,
        oob=True,
        **lines_context(entry, LineStock(entry)),
    )
    response = make_response(html, status)
    if focus and not focus.startswith(("recipient", "change", "new_patient")):
        # The field to go on with is outside the part redrawn: the script moves there.
        response.headers["HX-Trigger-After-Settle"] = json.dumps({"orderly:focus": focus})
    return response
