"""What an API key may do: its scopes, chosen when the key is made and checked per route.

Every API route declares the one scope it needs with ``@scope_required(...)``;
``tests/test_scopes.py`` fails when a route declares none. New areas add their scopes here
(one list, so that the keys page, the CLI and the checks agree).
"""

from __future__ import annotations

from functools import wraps

from flask import g

ORDERS_READ = "orders:read"
ORDERS_WRITE = "orders:write"
PATIENTS_READ = "patients:read"
PATIENTS_WRITE = "patients:write"
INVENTORY_READ = "inventory:read"
INVENTORY_WRITE = "inventory:write"
WEBHOOKS_MANAGE = "webhooks:manage"

# Each scope and what it lets a key do, in the words of the keys page.
SCOPES = {
    ORDERS_READ: "Read orders",
    ORDERS_WRITE: "Place and cancel orders, record what came back",
    PATIENTS_READ: "Read patients and sites",
    PATIENTS_WRITE: "Enrol patients",
    INVENTORY_READ: "Read stock and devices",
    INVENTORY_WRITE: "Receive, move and adjust stock",
    WEBHOOKS_MANAGE: "Manage webhook subscriptions",
}
ALL_SCOPES = tuple(SCOPES)


class InsufficientScope(Exception):
    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


def granted(scope: str) -> bool:
    """Whether the request's API key holds ``scope``: for what a route answers beyond its own
    scope (an order's patient details need patients:read)."""
    return scope in g.api_key.scope_list


def scope_required(scope: str):
    """The API view needs a key holding ``scope`` (the key itself is checked before, by the
    API's authentication); a key without it is refused with 403 ``insufficient_scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: add it to app/auth/scopes.py")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if scope not in g.api_key.scope_list:
                raise InsufficientScope(scope)
            return view(*args, **kwargs)

        wrapped.required_scope = scope
        return wrapped

    return decorator
