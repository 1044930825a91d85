"""/api/v3/order: place, fetch and list orders."""

from __future__ import annotations

from flask import request, url_for

from app.api import bp, parse, throttle
from app.api.auth import api_actor, authenticate
from app.api.errors import ApiError, problems_response, refusal_error
from app.auth import scopes
from app.auth.scopes import scope_required
from app.db.reading import end_own_reading
from app.history.patient_access import VIEWED, note_patient_access
from app.orders import lifecycle, listing, read_model, returns_station, serialize, service, statuses
from app.validation import Rejected

# The one API call that goes on reading on the connection the key check read on (an order
# read: the fast path, app/db/fast_path.py). Every other call reads through the ORM session,
# so the key check's connection is given back before the session takes one of its own.
READS_ON_THE_KEY_CHECKS_CONNECTION = frozenset({"api.get_order"})


@bp.before_request
def require_api_key():
    """Every API call is counted (and may be refused) first; all but the OpenAPI document
    need a key."""
    throttle.check_api_call()
    if request.endpoint != "api.openapi":
        authenticate()
        if request.endpoint not in READS_ON_THE_KEY_CHECKS_CONNECTION:
            end_own_reading()


def _patient_details() -> bool:
    """An order's patient is answered whole to a key with patients:read, else as {"id"}: the
    key may read orders without reading patients."""
    return scopes.granted(scopes.PATIENTS_READ)


@bp.post("/order")
@scope_required(scopes.ORDERS_WRITE)
def place_order():
    parse.only_args()
    draft = parse.order_draft(parse.json_body())
    key = parse.idempotency_key()
    try:
        placed = service.place_order(draft, api_actor(), submission_key=key)
    except service.OrderRejected as rejected:
        return problems_response(rejected.problems)
    if not placed.same_request:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different order.",
        )
    # A new order is answered as it was written; a replayed one is read again.
    order = read_model.load_one(placed.order.id) if placed.replayed else placed.order
    details = _patient_details()
    if details:
        note_patient_access("apiOrder", VIEWED, [(order.patient_id, order.id)])
    response = serialize.json_response(serialize.order(order, details))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_order", order_id=order.id)
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/order/<int:order_id>")
@scope_required(scopes.ORDERS_READ)
def get_order(order_id: int):
    parse.only_args()
    order = read_model.load_one(order_id)
    if order is None:
        raise ApiError(404, "order_not_found", f"There is no order with id {order_id}.")
    details = _patient_details()
    if details:
        note_patient_access("apiOrder", VIEWED, [(order.patient_id, order.id)])
    return serialize.json_response(serialize.order(order, details))


@bp.get("/order")
@scope_required(scopes.ORDERS_READ)
def list_orders():
    parse.only_args(
        "page", "size", "status", "patientId", "siteId", "responsibleSiteId", "externalOrderId"
    )
    order_filter = listing.OrderFilter(
        status=parse.choice_arg("status", statuses.ALL),
        patient_id=parse.positive_int_arg("patientId"),
        site_id=parse.positive_int_arg("siteId"),
        responsible_site_id=parse.positive_int_arg("responsibleSiteId"),
        external_order_id=parse.text_arg("externalOrderId", service.MAX_EXTERNAL_ID_LENGTH),
    )
    page_number, size = parse.page_args()
    page = listing.page_of_orders(order_filter, page=page_number, size=size)
    details = _patient_details()
    if details:
        note_patient_access("apiOrder", VIEWED, [(o.patient_id, o.id) for o in page.orders])
    return serialize.json_response(serialize.order_page(page, details))


@bp.post("/order/<int:order_id>/cancel")
@scope_required(scopes.ORDERS_WRITE)
def cancel_order(order_id: int):
    """Cancels an order that has not been packed yet; the reason is required."""
    parse.only_args()
    body = parse.json_body()
    if not isinstance(body, dict):
        raise ApiError(
            400, "invalid_type", "The request body must be an object.", "The request body"
        )
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ApiError(400, "invalid_type", "reason must be text.", "reason")
    try:
        lifecycle.change_status(order_id, statuses.CANCELLED, api_actor(), reason=reason)
    except Rejected as refused:
        raise refusal_error(refused) from None
    order = read_model.load_one(order_id)
    details = _patient_details()
    if details:
        note_patient_access("apiOrder", VIEWED, [(order.patient_id, order.id)])
    return serialize.json_response(serialize.order(order, details))


@bp.post("/order/<int:order_id>/returns")
@scope_required(scopes.ORDERS_WRITE)
def record_return_arrivals(order_id: int):
    """Records what came back, by device identifier and counted item, for warehouses that
    scan elsewhere: the returns station's rules, all or nothing."""
    parse.only_args()
    values, counts = parse.arrivals(parse.json_body())
    try:
        returns_station.record_arrivals(order_id, values, counts, api_actor())
    except Rejected as refused:
        raise refusal_error(refused) from None
    order = read_model.load_one(order_id)
    details = _patient_details()
    if details:
        note_patient_access("apiOrder", VIEWED, [(order.patient_id, order.id)])
    return serialize.json_response(serialize.order(order, details))
