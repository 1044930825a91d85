"""Views of patients and sites (``app.views``): what an order's read model, and the API's
answers about people, show of them; and the same views of the ORM's objects."""

from __future__ import annotations

from datetime import date

from app.auth.models import full_name
from app.people.models import Address, Patient, Site, address_lines, patient_usable, site_usable
from app.views import View


class AddressView(View):
    line_one: str
    line_two: str | None
    line_three: str | None
    city: str
    state: str
    zip_code: str
    country: str
    note: str | None

    def lines(self) -> list[str]:
        return address_lines(self)


class SiteView(View):
    id: int
    name: str
    active: bool
    phone_number: str | None
    address: AddressView | None

    @property
    def usable(self) -> bool:
        return site_usable(self.active)


class PatientView(View):
    id: int
    external_identifier: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    email: str | None
    phone_number: str | None
    sex: str
    archived: bool
    enrolled: bool
    address: AddressView | None
    site: SiteView | None

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)

    @property
    def usable(self) -> bool:
        return patient_usable(self.archived)

    @property
    def site_id(self) -> int | None:
        return None if self.site is None else self.site.id


class PatientName(View):
    """A patient as a row of the order list names them."""

    id: int
    first_name: str
    last_name: str
    external_identifier: str

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)


class SiteName(View):
    id: int
    name: str


def address_view(address: Address) -> AddressView:
    return AddressView(
        address.line_one,
        address.line_two,
        address.line_three,
        address.city,
        address.state,
        address.zip_code,
        address.country,
        address.note,
    )


def site_view(site: Site | None) -> SiteView | None:
    if site is None:
        return None
    return SiteView(site.id, site.name, site.active, site.phone_number, address_view(site.address))


def patient_view(patient: Patient) -> PatientView:
    return PatientView(
        patient.id,
        patient.external_identifier,
        patient.first_name,
        patient.last_name,
        patient.date_of_birth,
        patient.email,
        patient.phone_number,
        patient.sex,
        patient.archived,
        patient.enrolled,
        address_view(patient.address),
        site_view(patient.site),
    )
