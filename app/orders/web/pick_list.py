"""The pick list page: what to pull from the shelves for the orders ticked on the list, or
for a whole status tab, printed on Letter or A4 like the packing summaries.

No recipient is shown, so the page is not in the PHI access log (see app.orders.pick_list).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request

from app.auth.access import role_required, signed_in_actor
from app.catalog import identifiers
from app.db.types import utcnow
from app.orders import pick_list, statuses
from app.orders.web import bp
from app.orders.web.packing_summary import back_from_form, back_to_list, requested_ids
from app.validation import Rejected


@bp.get("/pick-list")
@role_required("coordinator", "fulfillment")
def pick_list_page():
    """The orders ticked on the list (``?order=1412&order=1415``), or every order in a status
    still to be picked (``?status=created``)."""
    status = request.args.get("status", "")
    if status:
        try:
            picked = pick_list.for_status(status)
        except Rejected as rejected:
            flash(rejected.message, "error")
            return redirect(back_to_list(""), code=303)
        title = f"Pick list: {statuses.label(status)}"
    else:
        picked = pick_list.for_orders(requested_ids())
        title = "Pick list"
    if not picked.order_ids and not picked.left_out:
        flash(
            f"No orders are {statuses.label(status)}: there is nothing to pick."
            if status
            else "No orders were selected: tick the orders to pick first.",
            "error",
        )
        return redirect(back_to_list(status), code=303)
    if picked.more:
        flash(
            f"Only {pick_list.MAX_ORDERS} orders fit on one pick list: print the rest once "
            "these are picked.",
            "info",
        )
    return render_template(
        "orders/pick_list.html",
        pick=picked,
        title=title,
        back=back_to_list(status),
        status_label=statuses.label,
        ident_label=identifiers.LABELS,
        as_of=utcnow(),
        picked_statuses=pick_list.picked_statuses(),
    )


@bp.post("/pick-list/printed")
@role_required("coordinator", "fulfillment")
def record_pick_list_printed():
    """Records on each order that its pick list was printed (the page's script calls this
    after printing; without JavaScript, the Print button posts here)."""
    pick_list.record_printed(requested_ids(), signed_in_actor())
    if request.headers.get("X-Requested-With") == "fetch" or request.htmx:
        return "", 204
    flash("Recorded as printed. Use your browser's Print command (Ctrl+P) to print.", "info")
    return redirect(back_from_form(), code=303)
