"""The "Send to many" pages: choose patients, one set of lines, a preview, then one order
per patient (see batch.py for the rules). Every step is a plain form submission, so the
pages work without JavaScript; the line rows are the new-order page's, combobox and all.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for

from app.auth.access import role_required, signed_in_actor
from app.formats import plural
from app.history.patient_access import VIEWED, note_patient_access
from app.orders import batch, service
from app.orders.web import bp
from app.orders.web.forms import OrderForm
from app.orders.web.new_order import PLACE, SUBMISSION_TOKEN, LineStock, OrderEntry, lines_context
from app.people.search import find_patients, patients_for_batch
from app.validation import MAX_ACTION_LENGTH, MAX_SEARCH_LENGTH, parse_int

MAX_UPLOAD_BYTES = 256 * 1024


def _chosen_ids() -> list[int]:
    ids = [parse_int(v) for v in request.form.getlist("patient_ids")[: batch.MAX_PATIENTS + 1]]
    return list(dict.fromkeys(i for i in ids if i))


def _identifiers_text() -> str:
    """Pasted identifiers, with those of an uploaded file added (kept in the box after)."""
    text = request.form.get("identifiers", "")[: batch.MAX_IDENTIFIERS_TEXT]
    upload = request.files.get("identifiers_file")
    if upload and upload.filename:
        values = batch.identifiers_in_file(upload.read(MAX_UPLOAD_BYTES))
        text = "\n".join(v for v in [text.strip(), *values] if v)[: batch.MAX_IDENTIFIERS_TEXT]
    return text


def _render(entry: OrderEntry, query: str, chosen_ids, identifiers: str, **extra):
    stock = LineStock(entry)
    chosen, _ = patients_for_batch(chosen_ids, [])
    results = [p for p in find_patients(query) if p not in chosen] if query.strip() else []
    # The PHI access log: every patient the page shows (found, chosen, in the preview with
    # their address), in the one insert of the request.
    preview = extra.get("preview")
    previewed = [line.patient for line in preview.lines] if preview else []
    shown = [*results, *chosen, *previewed]
    note_patient_access("sendToMany", VIEWED, [(p.id, None) for p in shown])
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
        **{**lines_context(entry, stock), **extra},
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
    action = request.form.get("action", "preview")[:MAX_ACTION_LENGTH]
    query = request.form.get("patient_query", "")[:MAX_SEARCH_LENGTH]
    chosen_ids = _chosen_ids()
    identifiers = _identifiers_text()
    if action == "search":
        return _render(entry, query, chosen_ids, identifiers, focus="patient-query")
    if action not in ("preview", PLACE):
        focus = entry.apply(action)
        return _render(entry, query, chosen_ids, identifiers, focus=focus)

    entry.drop_empty_rows()
    draft = entry.draft(LineStock(entry))
    id_list = batch.split_identifiers(identifiers)
    if action == "preview":
        preview = batch.preview_batch(draft, chosen_ids, id_list)
        return _render(entry, query, chosen_ids, identifiers, preview=preview, focus="preview")

    actor = signed_in_actor()
    orders, preview = batch.place_batch(draft, chosen_ids, id_list, actor, entry.token)
    if not orders:
        status = 422
        return _render(
            entry, query, chosen_ids, identifiers, preview=preview, focus="preview", status=status
        )
    refused = [line for line in preview.lines if not line.good]
    _say_what_was_placed(orders, refused)
    _remember_refused(entry.token, refused)
    return redirect(url_for("orders.batch_result", token=entry.token), code=303)


def _say_what_was_placed(placed: list[service.PlacedOrder], refused: list) -> None:
    """New orders, or, for the same batch submitted again, that nothing new was placed."""
    new = [p for p in placed if not p.replayed]
    if new:
        flash(
            f"{plural(len(new), 'order')} placed"
            + (f"; {plural(len(refused), 'patient')} refused." if refused else "."),
            "success",
        )
    if any(p.replayed and not p.same_request for p in placed):
        flash(
            "This batch had already placed its orders. The changes made after that were not "
            "placed: check the orders below, and send to the patients again if something is "
            "missing.",
            "error",
        )
    elif not new:
        flash(
            f"This batch had already placed these {plural(len(placed), 'order')}; "
            "nothing new was placed.",
            "info",
        )


# The patients the last batch placed no order for, and why, for its result page: their ids
# and the reasons (which never name them), in the session; the names are read again there.
REFUSED = "batch_refused"


def _remember_refused(token: str, refused: list[batch.BatchLine]) -> None:
    if not refused:
        session.pop(REFUSED, None)
        return
    reasons = list(dict.fromkeys(" ".join(line.problems) for line in refused))
    session[REFUSED] = {
        "token": token,
        "reasons": reasons,
        "patients": [[line.patient.id, reasons.index(" ".join(line.problems))] for line in refused],
    }


def _refused_in(token: str) -> list[tuple]:
    """(patient, why) for each patient the batch ``token`` refused when it was placed."""
    kept = session.get(REFUSED)
    if not kept or kept.get("token") != token:
        return []
    why = dict(kept["patients"])
    patients, _ = patients_for_batch(list(why), [])
    return [(p, kept["reasons"][why[p.id]]) for p in patients]


@bp.get("/batch/<token>")
@role_required("coordinator")
def batch_result(token: str):
    if not SUBMISSION_TOKEN.fullmatch(token):
        abort(404)
    orders = batch.orders_of_batch(token, signed_in_actor())
    if not orders:
        flash("This batch placed no orders.", "info")
        return redirect(url_for("orders.send_to_many"), code=303)
    refused = _refused_in(token)
    note_patient_access(
        "sendToMany",
        VIEWED,
        [(o.patient_id, o.id) for o in orders] + [(p.id, None) for p, _ in refused],
    )
    return render_template("orders/batch_result.html", orders=orders, refused=refused, token=token)
