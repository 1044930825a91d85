"""Staff users and API keys: created, changed and ended by admins, every change recorded."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth import throttle
from app.auth.actor import Actor
from app.auth.models import ROLES, ApiKey, User, UserSignIn, hash_token
from app.auth.scopes import ALL_SCOPES, SCOPES
from app.db.transactions import commit_separately, write_transaction
from app.db.types import utcnow
from app.extensions import db
from app.formats import is_time_zone
from app.history.changes import diff, record_change, snapshot
from app.validation import Checker, Problem, Rejected, get_or_reject

MIN_PASSWORD_LENGTH = 12
# Checked when the email is unknown, so that timing does not tell unknown emails apart.
_DUMMY_PASSWORD_HASH = generate_password_hash(secrets.token_hex(16))
USER_FIELDS = ["email", "first_name", "last_name", "role"]


@dataclass
class UserDraft:
    email: Any = None
    first_name: Any = None
    last_name: Any = None
    role: Any = None


def _check_password(password: Any, check: Checker) -> str | None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        check.add(
            "weak_password",
            f"A password is at least {MIN_PASSWORD_LENGTH} characters; "
            "a few words make a good one.",
            "password",
        )
        return None
    if len(password) > 200:
        check.add("too_long", "A password is at most 200 characters.", "password")
        return None
    return password


def check_user(draft: UserDraft, user_id: int | None = None) -> dict:
    check = Checker()
    values = {
        "email": check.email(draft.email, "email"),
        "first_name": check.text(
            draft.first_name, "firstName", "First name", required=True, max_length=100
        ),
        "last_name": check.text(
            draft.last_name, "lastName", "Last name", required=True, max_length=100
        ),
        "role": check.choice(draft.role, "role", "Role", ROLES),
    }
    if values["email"] is None and not check.problems:
        check.add("required", "Email is required.", "email")
    if values["role"] is None and not any(p.field == "role" for p in check.problems):
        check.add("required", "Choose a role.", "role")
    if values["email"]:
        values["email"] = values["email"].lower()
        holder = db.session.scalar(select(User).where(func.lower(User.email) == values["email"]))
        if holder is not None and holder.id != user_id:
            check.add("duplicate_email", "Another user signs in with this email.", "email")
    return values, check


def authenticate(email: Any, password: Any, origin: throttle.Origin) -> User | None:
    """The active user with this email and password, or None (the same answer for an email
    no account has). Attempts are counted per account and client (app/auth/throttle.py): too
    many raise ``TooManyAttempts`` before the password is checked, whether or not an account
    has the email. On success the user carries its new sign-in's token and the browser's
    device token."""
    email = (email or "").strip().lower()
    password = password or ""
    with write_transaction() as session:
        user = session.scalar(select(User).where(func.lower(User.email) == email))
        user_id = user.id if user else None
        password_hash = user.password_hash if user else _DUMMY_PASSWORD_HASH
        attempt = throttle.start(email, user_id, origin)
    # Checked between the two transactions: the hash is slow on purpose, and no lock is held
    # meanwhile (the attempt already counts as a failure).
    password_ok = check_password_hash(password_hash, password)
    with write_transaction() as session:
        user = session.get(User, user_id) if password_ok and user_id is not None else None
        signed_in = user is not None and user.active
        throttle.finish(attempt, signed_in)
        if not signed_in:
            return None
        sign_in, user.new_sign_in_token = UserSignIn.start(user)
        session.add(sign_in)
    user.new_device_token = attempt.device_token
    return user


# A sign-in's last activity is written at most this often (not on every request).
LAST_SEEN_PRECISION = timedelta(minutes=1)


def signed_in_user(token: str, idle_timeout: timedelta) -> User | None:
    """The active user of an open sign-in with this token, in one query; a sign-in idle
    longer than ``idle_timeout`` is ended instead."""
    if not token:
        return None
    found = db.session.execute(
        select(UserSignIn, User)
        .join(User, UserSignIn.user_id == User.id)
        .where(
            UserSignIn.token_hash == hash_token(token),
            UserSignIn.ended_at.is_(None),
            User.active.is_(True),
        )
    ).first()
    if found is None:
        return None
    sign_in, user = found
    now = utcnow()
    if now - sign_in.last_seen_at > idle_timeout:
        _commit_sign_in_separately(sign_in.id, ended_at=now, end_reason="idle")
        return None
    if now - sign_in.last_seen_at >= LAST_SEEN_PRECISION:
        _commit_sign_in_separately(sign_in.id, last_seen_at=now)
    user.sign_in_record = sign_in
    return user


def _commit_sign_in_separately(sign_in_id: int, **values) -> None:
    """Written on a connection of its own and committed at once: the request's own
    transaction may be rolled back, and its objects stay as they are."""
    with commit_separately() as conn:
        conn.execute(
            update(UserSignIn)
            .where(UserSignIn.id == sign_in_id, UserSignIn.ended_at.is_(None))
            .values(**values)
        )


def sign_out(sign_in_id: int) -> None:
    with write_transaction():
        _end_sign_ins(UserSignIn.id == sign_in_id, "signedOut")


def sign_out_everywhere(user_id: int, actor: Actor) -> int:
    """Ends every open sign-in of the user; answers how many were ended."""
    with write_transaction():
        get_or_reject(User, user_id, "user")
        ended = _end_sign_ins(UserSignIn.user_id == user_id, "signedOutEverywhere")
        record_change("user", user_id, "signedOutEverywhere", actor)
    return ended


def _end_sign_ins(condition, reason: str) -> int:
    result = db.session.execute(
        update(UserSignIn)
        .where(condition, UserSignIn.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    return result.rowcount


def create_user(draft: UserDraft, password: Any, actor: Actor) -> User:
    with write_transaction() as session:
        values, check = check_user(draft)
        password = _check_password(password, check)
        check.raise_if_any()
        user = User(**values)
        user.set_password(password)
        session.add(user)
        session.flush()
        record_change("user", user.id, "created", actor, snapshot(user, USER_FIELDS))
    return user


def update_user(user_id: int, draft: UserDraft, actor: Actor) -> User:
    with write_transaction():
        user = get_or_reject(User, user_id, "user")
        values, check = check_user(draft, user_id)
        if user_id == getattr(actor.user, "id", None) and values["role"] not in (None, "admin"):
            check.add("own_role", "You cannot take away your own admin role.", "role")
        check.raise_if_any()
        before = snapshot(user, USER_FIELDS)
        for name, value in values.items():
            setattr(user, name, value)
        changes = diff(before, snapshot(user, USER_FIELDS))
        if changes:
            record_change("user", user.id, "updated", actor, changes)
    return user


def reset_password(user_id: int, password: Any, actor: Actor) -> User:
    """A new password, and the user's sessions everywhere end."""
    with write_transaction():
        user = get_or_reject(User, user_id, "user")
        check = Checker()
        password = _check_password(password, check)
        check.raise_if_any()
        user.set_password(password)
        throttle.forget_waits(user.email)
        _end_sign_ins(UserSignIn.user_id == user.id, "passwordReset")
        record_change("user", user.id, "passwordReset", actor)
    return user


def set_user_active(user_id: int, active: bool, actor: Actor) -> User:
    with write_transaction():
        user = get_or_reject(User, user_id, "user")
        if not active and user_id == getattr(actor.user, "id", None):
            raise Rejected([Problem("own_account", "You cannot deactivate your own account.")])
        if user.active != active:
            user.active = active
            if not active:
                _end_sign_ins(UserSignIn.user_id == user.id, "deactivated")
            record_change("user", user.id, "activated" if active else "deactivated", actor)
    return user


def create_api_key(name: Any, scopes: Any, actor: Actor) -> tuple[ApiKey, str]:
    """A new key with these scopes; the plain text is answered once and only its hash is
    kept."""
    check = Checker()
    name = check.text(name, "name", "Name", required=True, max_length=100)
    chosen = [s for s in ALL_SCOPES if s in (scopes or [])]  # in the one order of the list
    unknown = [s for s in (scopes or []) if s not in SCOPES]
    if unknown:
        check.add("invalid_scope", "Unknown scope: " + ", ".join(map(str, unknown)) + ".", "scopes")
    elif not chosen:
        check.add("required", "Choose at least one thing the key may do.", "scopes")
    check.raise_if_any()
    with write_transaction() as session:
        api_key, plain = ApiKey.issue(name, chosen, created_by=actor.user)
        session.add(api_key)
        session.flush()
        record_change(
            "apiKey",
            api_key.id,
            "created",
            actor,
            {
                "name": [None, name],
                "prefix": [None, api_key.prefix],
                "scopes": [None, api_key.scopes],
            },
        )
    return api_key, plain


def revoke_api_key(key_id: int, actor: Actor) -> ApiKey:
    with write_transaction():
        api_key = get_or_reject(ApiKey, key_id, "API key")
        if api_key.revoked_at is None:
            api_key.revoked_at = utcnow()
            record_change("apiKey", api_key.id, "revoked", actor)
    return api_key


def set_time_zone(user_id: int, name: Any, only_if_unset: bool = False) -> User:
    """Sets the time zone a user's dates are shown and filtered in. ``only_if_unset``: the
    browser's guess, which never overrides a zone the user chose."""
    if not isinstance(name, str) or not is_time_zone(name):
        raise Rejected(
            [Problem("invalid_time_zone", "Choose a time zone from the list.", "time_zone")]
        )
    with write_transaction():
        user = get_or_reject(User, user_id, "user")
        if not (only_if_unset and user.time_zone):
            user.time_zone = name
    return user
