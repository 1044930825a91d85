"""The "Send to many" pages: choose patients, one set of lines, a preview, then one order
per patient (see batch.py for the rules). Every step is a plain form submission, so the
pages work without JavaScript; the line rows are the new-order page's, combobox and all.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth.access import role_required
from app.orders import batch, service
from app.orders.entry import Catalog, OrderEntry
from app.orders.forms import OrderForm
from app.orders.routes import PLACE, bp, lines_context
from app.people.search import find_patients, patients_for_batch
from app.validation import parse_int

MAX_UPLOAD_BYTES = 256 * 1024


def _chosen_ids() -> list[int]:
    ids = [parse_int(v) for v in request.form.getlist("patient_ids")[: batch.MAX_PATIENTS + 1]]
    return list(dict.fromkeys(i for i in ids if i))


def _identifiers_text() -> str:
    """Pasted identifiers, with those of an uploaded file added (kept in the box after)."""
    text = request.form.get("identifiers", "")[: batch.MAX_IDENTIFIERS_TEXT]
    upload = request.files.get("identifiers_file")
    if upload and upload.filename:
        raw = upload.read(MAX_UPLOAD_BYTES).decode("utf-8-sig", errors="replace")
        values = batch.split_identifiers(raw)
        # A header row ("MRN", "external_identifier"...) is not an identifier.
        if values and not any(ch.isdigit() for ch in values[0]):
            values = values[1:]
        text = "\n".join(v for v in [text.strip(), *values] if v)[: batch.MAX_IDENTIFIERS_TEXT]
    return text


def _render(entry: OrderEntry, query: str, chosen_ids, identifiers: str, **extra):
    catalog = Catalog(entry)
    chosen, _ = patients_for_batch(chosen_ids, [])
    results = [p for p in find_patients(query) if p not in chosen] if query.strip() else []
    return render_template(
        "orders/batch.html",
        form=entry.to_form(),
        entry=entry,
        query=query,
        results=results,
        searched=bool(query.strip()),
        chosen=chosen,
        identifiers=identifiers,
        max_patients=batch.MAX_PATIENTS,
        lines_only=True,
        **{**lines_context(entry, catalog), **extra},
    ), extra.get("status", 200)


@bp.get("/batch")
@role_required("coordinator")
def send_to_many():
    entry = OrderEntry.blank()
    focus = "patient-query"
    return _render(entry, "", [], "", focus=focus)


@bp.post("/batch")
@role_required("coordinator")
def send_to_many_step():
    entry = OrderEntry.from_form(OrderForm())
    action = request.form.get("action", "preview")[:40]
    query = request.form.get("patient_query", "")[:100]
    chosen_ids = _chosen_ids()
    identifiers = _identifiers_text()
    if action == "search":
        return _render(entry, query, chosen_ids, identifiers, focus="patient-query")
    if action not in ("preview", PLACE):
        focus = entry.apply(action)
        return _render(entry, query, chosen_ids, identifiers, focus=focus)

    entry.drop_empty_rows()
    draft = entry.draft(Catalog(entry))
    id_list = batch.split_identifiers(identifiers)
    if action == "preview":
        preview = batch.preview_batch(draft, chosen_ids, id_list)
        return _render(entry, query, chosen_ids, identifiers, preview=preview, focus="preview")

    actor = service.Actor(user=current_user)
    orders, preview = batch.place_batch(draft, chosen_ids, id_list, actor, entry.token)
    if not orders:
        status = 422
        return _render(
            entry, query, chosen_ids, identifiers, preview=preview, focus="preview", status=status
        )
    refused = [line for line in preview.lines if not line.good]
    flash(
        f"{len(orders)} {'order' if len(orders) == 1 else 'orders'} placed"
        + (
            f"; {len(refused)} {'patient' if len(refused) == 1 else 'patients'} refused."
            if refused
            else "."
        ),
        "success",
    )
    return redirect(url_for("orders.batch_result", token=entry.token), code=303)


@bp.get("/batch/<token>")
@role_required("coordinator")
def batch_result(token: str):
    orders = batch.orders_of_batch(token[:64], service.Actor(user=current_user))
    if not orders:
        flash("This batch placed no orders.", "info")
        return redirect(url_for("orders.send_to_many"), code=303)
    return render_template("orders/batch_result.html", orders=orders, token=token)
