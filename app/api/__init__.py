"""The v3 JSON API: the door other systems use, in the public v3 order API's shapes."""

from flask import Blueprint, request

from app.extensions import limiter

bp = Blueprint("api", __name__, url_prefix="/api/v3")


@limiter.request_filter
def _counted_by_the_api() -> bool:
    """The API counts its calls itself (app.api.throttle), on the limiter's storage: the
    limiter skips its calls at once (exempting the blueprint still resolved every limit)."""
    return request.blueprint == "api"


from app.api import errors, inventory, openapi, orders, people, throttle, webhooks  # noqa: E402,F401  (routes register on bp)

bp.after_request(throttle.api_call_answered)
