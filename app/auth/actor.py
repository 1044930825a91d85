"""Who is acting: a signed-in user or another system with an API key."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.auth.models import ApiKey, User


@dataclass
class Actor:
    user: User | None = None
    api_key: ApiKey | None = None
    # Their ids, read when the actor is made: a write transaction expires the session's
    # objects first, and reading an id from an expired one costs a statement.
    user_id: int | None = field(init=False)
    api_key_id: int | None = field(init=False)

    def __post_init__(self):
        self.user_id = self.user.id if self.user is not None else None
        self.api_key_id = self.api_key.id if self.api_key is not None else None

    @property
    def scope(self) -> str:
        if self.user is not None:
            return f"user:{self.user_id}"
        if self.api_key is not None:
            return f"api-key:{self.api_key_id}"
        return "system"

    @property
    def role(self) -> str:
        """The user's role; another system acting through the API counts as "api"."""
        if self.user is not None:
            return self.user.role
        return "api" if self.api_key is not None else "system"

    def stamp(self) -> dict:
        return {"actor_user": self.user, "actor_api_key": self.api_key}
