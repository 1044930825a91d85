from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import ApiKey, User
from app.database import UTCDateTime, utcnow
from app.extensions import db


class RecordChange(db.Model):
    """One change to one record: appended, never edited."""

    __tablename__ = "record_change"
    __table_args__ = (Index("ix_record_change_record", "record_type", "record_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    # {"field": [old, new], ...}, values as shown to people; secrets never appear here.
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    actor_user: Mapped[User | None] = relationship(foreign_keys=[actor_user_id])
    actor_api_key: Mapped[ApiKey | None] = relationship(foreign_keys=[actor_api_key_id])

    @property
    def actor_name(self) -> str:
        if self.actor_user is not None:
            return self.actor_user.full_name
        if self.actor_api_key is not None:
            return f"API key “{self.actor_api_key.name}”"
        return "System"
