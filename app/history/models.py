from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.actor import actor_name
from app.auth.models import ApiKey, User
from app.db.types import UTCDateTime, utcnow
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
        return actor_name(
            self.actor_user.full_name if self.actor_user is not None else None,
            self.actor_api_key.name if self.actor_api_key is not None else None,
        )


class PatientDataAccess(db.Model):
    """One look at one patient's data: who (a user or an API key), what (a patient page, an
    order, a packing summary, a CSV export, an API read) and when. Only ever appended; the
    only removal is the retention prune (``flask phi-access prune``)."""

    __tablename__ = "patient_data_access"
    __table_args__ = (
        Index("ix_patient_data_access_patient", "patient_id", "id"),
        Index("ix_patient_data_access_user", "user_id", "id"),
        Index("ix_patient_data_access_api_key", "api_key_id", "id"),
        Index("ix_patient_data_access_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No foreign key to patient: the log outlives what it names, and costs no lookups.
    patient_id: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int | None] = mapped_column(Integer)
    # "viewed", "printed", "exported"
    action: Mapped[str] = mapped_column(String(20))
    # What was looked at: "patientPage", "patientEdit", "patientSearch", "orderPage",
    # "newOrder" (its chosen patient), "recipientSearch", "sendToMany", "packingSummary",
    # "ordersCsv",
    # "apiOrder" (read, placed or cancelled), "apiPatient"
    source: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    api_key: Mapped[ApiKey | None] = relationship(foreign_keys=[api_key_id])

    @property
    def actor_name(self) -> str:
        return actor_name(
            self.user.full_name if self.user is not None else None,
            self.api_key.name if self.api_key is not None else None,
        )
