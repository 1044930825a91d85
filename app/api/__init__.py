"""The v3 JSON API: the door other systems use, in the public v3 order API's shapes."""

from flask import Blueprint

from app.auth import throttle

bp = Blueprint("api", __name__, url_prefix="/api/v3")
throttle.api_per_key(bp)
throttle.api_failed_keys_per_address(bp)

from app.api import errors, inventory, openapi, orders, people, webhooks  # noqa: E402,F401  (routes register on bp)
