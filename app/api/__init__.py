"""The v3 JSON API: the door other systems use, in the public v3 order API's shapes."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v3")

from app.api import errors, inventory, openapi, orders, people, throttle, webhooks  # noqa: E402,F401  (routes register on bp)

bp.after_request(throttle.api_call_answered)
