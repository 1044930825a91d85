from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput, TelInput

from app.extensions import db
from app.forms import chosen_id
from app.people import service
from app.people.importing import ENCODINGS
from app.people.models import MAX_ADDRESS_NOTE_LENGTH, SEXES, Site
from app.validation import US_STATES

STATE_CHOICES = [SelectChoice("", "Choose…")] + [SelectChoice(s, s) for s in sorted(US_STATES)]


class AddressFields:
    """The address part of a patient or a site form (mixed into both)."""

    line_one = StringField("Address line 1", render_kw={"autocomplete": "off", "maxlength": 200})
    line_two = StringField(
        "Address line 2 (optional)", render_kw={"autocomplete": "off", "maxlength": 200}
    )
    line_three = StringField(
        "Address line 3 (optional)", render_kw={"autocomplete": "off", "maxlength": 200}
    )
    city = StringField("City", render_kw={"autocomplete": "off", "maxlength": 100})
    state = SelectField("State", choices=STATE_CHOICES)
    zip_code = StringField(
        "ZIP code", render_kw={"autocomplete": "off", "inputmode": "numeric", "maxlength": 10}
    )
    note = TextAreaField(
        "Delivery note (optional)", render_kw={"rows": 2, "maxlength": MAX_ADDRESS_NOTE_LENGTH}
    )


class PatientForm(AddressFields, FlaskForm):
    external_identifier = StringField(
        "External identifier (MRN)", render_kw={"autocomplete": "off", "maxlength": 64}
    )
    first_name = StringField("First name", render_kw={"autocomplete": "off", "maxlength": 100})
    last_name = StringField("Last name", render_kw={"autocomplete": "off", "maxlength": 100})
    date_of_birth = StringField("Date of birth", widget=DateInput())
    sex = SelectField("Sex", choices=[SelectChoice(s, s.title()) for s in SEXES], default="unknown")
    email = EmailField("Email (optional)", render_kw={"autocomplete": "off"})
    phone_number = StringField(
        "Phone (optional)", widget=TelInput(), render_kw={"autocomplete": "off"}
    )
    site_id = SelectField("Responsible site", choices=[], validate_choice=False)
    enrolled = BooleanField("Enrolled in the monitoring program", default=True)


class SiteForm(AddressFields, FlaskForm):
    name = StringField("Name", render_kw={"autocomplete": "off", "maxlength": 200})
    phone_number = StringField(
        "Phone (optional)", widget=TelInput(), render_kw={"autocomplete": "off"}
    )


class ImportForm(FlaskForm):
    file = FileField(
        "CSV file of patients",
        validators=[
            FileRequired("Choose a CSV file."),
            FileAllowed(["csv", "txt"], "Choose a .csv file."),
        ],
    )
    encoding = SelectField(
        "The file's encoding",
        choices=[SelectChoice(codec, name) for codec, name in ENCODINGS.items()],
        default="utf-8",
    )


# --- From a form to the service's drafts ------------------------------------------------


def address_draft(form) -> service.AddressDraft:
    return service.AddressDraft(
        line_one=form.line_one.data,
        line_two=form.line_two.data,
        line_three=form.line_three.data,
        city=form.city.data,
        state=form.state.data,
        zip_code=form.zip_code.data,
        note=form.note.data,
    )


def patient_draft(form: PatientForm) -> service.PatientDraft:
    return service.PatientDraft(
        external_identifier=form.external_identifier.data,
        first_name=form.first_name.data,
        last_name=form.last_name.data,
        date_of_birth=form.date_of_birth.data or None,
        email=form.email.data,
        phone_number=form.phone_number.data,
        sex=form.sex.data,
        enrolled=bool(form.enrolled.data),
        site_id=chosen_id(form.site_id.data),
        address=address_draft(form),
    )


def site_choices(current_site_id: int | None = None) -> list[tuple[str, str]]:
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    return [("", "No site")] + [
        (str(s.id), s.name + ("" if s.active else " (inactive)"))
        for s in sites
        if s.active or s.id == current_site_id
    ]
