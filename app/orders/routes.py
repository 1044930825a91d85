"""The staff web UI for orders. Views are thin: parse the form, call the service, render."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.auth.routes import role_required

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("/")
@role_required("coordinator", "fulfillment")
def list_orders():
    return render_template("orders/list.html")


@bp.route("/new", methods=["GET", "POST"])
@role_required("coordinator")
def new_order():
    return render_template("orders/new.html")
