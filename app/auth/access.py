"""The role check every view uses, and the signed-in user as the actor of a change: one
home, so that no area imports another's routes."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from app.auth.actor import Actor


def role_required(*roles: str):
    """The view is for signed-in users with one of these roles (admins may do everything)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles
        return wrapped

    return decorator


def signed_in_actor() -> Actor:
    """The signed-in user, as the actor a page's change is made by."""
    return Actor(user=current_user)
