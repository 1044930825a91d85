"""Clinic sites and the sites a staff user works for, made through the people service."""

from __future__ import annotations

from app.extensions import db
from app.people import service, staff
from tests.helpers.orders import actor


def new_site(app, name: str) -> int:
    """A new active site, added by the admin; answers its id."""
    with app.app_context():
        site = service.create_site(
            service.SiteDraft(
                name=name,
                address=service.AddressDraft(
                    line_one="1 Clinic Way", city="Columbus", state="OH", zip_code="43215"
                ),
            ),
            actor("admin"),
        )
        site_id = site.id
        db.session.remove()
    return site_id


def works_for(app, user_id: int, site_ids) -> None:
    """The admin sets the sites this user works for."""
    with app.app_context():
        staff.set_sites(user_id, list(site_ids), actor("admin"))
        db.session.remove()
