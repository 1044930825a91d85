from __future__ import annotations

import unicodedata
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, column, func
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.auth.models import full_name
from app.db.types import UTCDateTime, utcnow
from app.extensions import db

SEXES = ("female", "male", "other", "unknown")
# A delivery note on an address: a sentence or two for the courier.
MAX_ADDRESS_NOTE_LENGTH = 500


# The rules of a person, a site and an address, for the models here and for the read side's
# views of them (app/orders/views.py) alike: small functions of the values, one home each.
# A person's name is auth's ``full_name`` (a user's and a patient's alike).


def patient_usable(archived: bool) -> bool:
    """Whether a patient can receive orders."""
    return not archived


def site_usable(active: bool) -> bool:
    """Whether a site can receive orders."""
    return active


def address_lines(address) -> list[str]:
    """The address (a model's or a view's) as it is written on a label."""
    lines = [address.line_one, address.line_two, address.line_three]
    lines.append(f"{address.city}, {address.state} {address.zip_code}")
    if address.country and address.country != "US":
        lines.append(address.country)
    return [line for line in lines if line]


class Address(db.Model):
    __tablename__ = "address"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_one: Mapped[str] = mapped_column(String(200))
    line_two: Mapped[str | None] = mapped_column(String(200))
    line_three: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))
    zip_code: Mapped[str] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2), default="US")
    note: Mapped[str | None] = mapped_column(Text)

    def lines(self) -> list[str]:
        return address_lines(self)


class Site(db.Model):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    phone_number: Mapped[str | None] = mapped_column(String(20))
    address_id: Mapped[int] = mapped_column(ForeignKey("address.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    address: Mapped[Address] = relationship(lazy="joined")

    @property
    def usable(self) -> bool:
        return site_usable(self.active)


class UserSite(db.Model):
    """A site a staff user works for (``app.people.staff``): a coordinator's dashboard shows
    these sites' figures."""

    __tablename__ = "user_site"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), primary_key=True, index=True)


def name_key(name: str | None) -> str:
    """A name as it is searched: its letters, digits and spaces, in lower case, without
    accents, apostrophes or hyphens. "O'Brien" is "obrien", "Smith-Jones" "smithjones",
    "José" "jose": a coordinator finds them by typing it either way (people.search)."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    kept = "".join(ch for ch in decomposed if ch.isalnum() or ch.isspace())
    return " ".join(kept.casefold().split())[:NAME_LENGTH]


NAME_LENGTH = 100
# A search key is matched by its first letters (``LIKE 'obr%'``): PostgreSQL answers that
# from a text_pattern_ops index; SQLite from an index on a NOCASE column (its LIKE ignores
# case, so only such an index can serve it).
NAME_KEY = String(NAME_LENGTH).with_variant(String(NAME_LENGTH, collation="NOCASE"), "sqlite")


def _key_of(name: str):
    """The key column's default, for inserts that do not name it (a Core insert)."""
    return lambda context: name_key(context.get_current_parameters().get(name))


def _key_index(name: str) -> Index:
    return Index(f"ix_patient_{name}", name, postgresql_ops={name: "text_pattern_ops"})


def _prefix_index(name: str) -> Index:
    """For searches by the first letters of ``name``, whatever their case (people.search).

    text_pattern_ops lets PostgreSQL answer ``lower(name) LIKE 'ada%'`` from the index under
    any collation; SQLite walks the same index by range.
    """
    lowered = f"lower_{name}"
    return Index(
        f"ix_patient_{lowered}",
        func.lower(column(name)).label(lowered),
        postgresql_ops={lowered: "text_pattern_ops"},
    )


class Patient(db.Model):
    __tablename__ = "patient"
    __table_args__ = (
        Index("ix_patient_last_first", "last_name", "first_name"),
        Index("ix_patient_date_of_birth", "date_of_birth"),
        _key_index("first_name_key"),
        _key_index("last_name_key"),
        _prefix_index("external_identifier"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_identifier: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    sex: Mapped[str] = mapped_column(String(10), default="unknown")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    enrolled: Mapped[bool] = mapped_column(Boolean, default=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("address.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # name_key(first_name) and name_key(last_name), kept with every change of the names.
    first_name_key: Mapped[str] = mapped_column(NAME_KEY, default=_key_of("first_name"))
    last_name_key: Mapped[str] = mapped_column(NAME_KEY, default=_key_of("last_name"))

    address: Mapped[Address] = relationship(lazy="joined")
    site: Mapped[Site | None] = relationship()

    @validates("first_name", "last_name")
    def _keep_search_key(self, attribute: str, value: str) -> str:
        setattr(self, f"{attribute}_key", name_key(value))
        return value

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)

    @property
    def usable(self) -> bool:
        return patient_usable(self.archived)


class PatientImport(db.Model):
    """A CSV file of patients, kept between its preview and its import."""

    __tablename__ = "patient_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the import did: {"created": n, "skipped": n, "problems": n}
    result: Mapped[dict | None] = mapped_column(JSON)
