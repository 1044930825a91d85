"""The packing queue's web door: "Next order" (fulfilment's home page, and a button in the
header), and taking over or releasing a claim from the order page. The rules are
``app.orders.claims``'s."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from app.auth.access import role_required, signed_in_actor
from app.orders import claims
from app.orders.web import bp
from app.validation import NOT_FOUND, Rejected


@bp.get("/next")
@role_required("fulfillment")
def next_order_page():
    """Fulfilment's home page: one button that opens the most urgent order nobody packs,
    and the order the packer is working on, if any."""
    return render_template("orders/next.html", current=claims.held_by(current_user.id))


@bp.post("/next")
@role_required("fulfillment")
def take_next_order():
    order_id = claims.next_order(signed_in_actor())
    if order_id is None:
        flash("No order is waiting to be packed: every one is packed or being packed.", "info")
        return redirect(url_for("orders.next_order_page"), code=303)
    return redirect(url_for("orders.show_order", order_id=order_id), code=303)


@bp.post("/<int:order_id>/take-over")
@role_required("fulfillment")
def take_over(order_id: int):
    try:
        claims.take_over(order_id, signed_in_actor())
    except Rejected as refused:
        if refused.kind == NOT_FOUND:
            return redirect(url_for("orders.list_orders"), code=303)
        flash(refused.message, "error")
    return redirect(url_for("orders.show_order", order_id=order_id), code=303)


@bp.post("/<int:order_id>/release")
@role_required("fulfillment")
def release(order_id: int):
    try:
        released = claims.release(order_id, signed_in_actor())
    except Rejected as refused:
        if refused.kind == NOT_FOUND:
            return redirect(url_for("orders.list_orders"), code=303)
        flash(refused.message, "error")
        return redirect(url_for("orders.show_order", order_id=order_id), code=303)
    if not released:
        flash(f"Order {order_id} is not yours to release: nothing changed.", "info")
        return redirect(url_for("orders.show_order", order_id=order_id), code=303)
    flash(f"Order {order_id} is back in the queue for anyone to pack.", "success")
    return redirect(url_for("orders.next_order_page"), code=303)
