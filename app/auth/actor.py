"""Who is acting: a signed-in user or another system with an API key."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.auth.models import ApiKey, User

# Who a change is by when neither a person nor another system made it (a command, a worker).
SYSTEM_NAME = "System"


def actor_name(user_name: str | None, api_key_name: str | None) -> str:
    """Who a change or an event names as its actor: the person, else the API key, else the
    system. The one spelling for the timeline, the history and the webhooks' messages."""
    if user_name is not None:
        return user_name
    if api_key_name is not None:
        return f"API key “{api_key_name}”"
    return SYSTEM_NAME


@dataclass
class Actor:
    user: User | None = None
    api_key: ApiKey | None = None
    # Their ids and the user's role, read when the actor is made: a write transaction
    # expires the session's objects first, and reading from an expired one costs a statement.
    user_id: int | None = field(init=False)
    api_key_id: int | None = field(init=False)
    user_role: str | None = field(init=False)

    def __post_init__(self):
        self.user_id = self.user.id if self.user is not None else None
        self.api_key_id = self.api_key.id if self.api_key is not None else None
        self.user_role = self.user.role if self.user is not None else None

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
            return self.user_role
        return "api" if self.api_key is not None else "system"

    @property
    def name(self) -> str:
        return actor_name(
            self.user.full_name if self.user is not None else None,
            self.api_key.name if self.api_key is not None else None,
        )

    def stamp(self) -> dict:
        """Who made a row, by id (an event's actor)."""
        return {"actor_user_id": self.user_id, "actor_api_key_id": self.api_key_id}
