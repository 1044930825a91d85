"""The staff web door for orders: the list, the new-order page, one order's page, sending
to many, packing summaries, pick lists and the CSV export, on one blueprint.

The page modules add their views to ``bp``; they are imported here, after it exists, so
that registering the blueprint brings every view with it.
"""

from flask import Blueprint

bp = Blueprint("orders", __name__, url_prefix="/orders")

from app.orders.web import (  # noqa: E402,F401
    order_detail,
    packing_queue,
    packing_summary,
    pick_list,
    returns_station,
    routes,
    send_to_many,
)
