from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.widgets import NumberInput

from app.inventory.adjustments import MAX_ADJUSTMENT
from app.inventory.models import MAX_LOCATION_NAME_LENGTH, MAX_REFERENCE_LENGTH
from app.inventory.receipts import MAX_RECEIPT_UNITS
from app.validation import MAX_REASON_LENGTH


class CountedReceiptForm(FlaskForm):
    location_id = SelectField("Location", choices=[], validate_choice=False)
    item_id = SelectField("Item", choices=[], validate_choice=False)
    count = StringField("Units received", widget=NumberInput(min=1, max=MAX_RECEIPT_UNITS))
    reference = StringField("Reference (optional)", render_kw={"maxlength": MAX_REFERENCE_LENGTH})


class DeviceReceiptForm(FlaskForm):
    location_id = SelectField("Location", choices=[], validate_choice=False)
    item_id = SelectField("Device item", choices=[], validate_choice=False)
    manifest = TextAreaField(
        "Identifiers",
        render_kw={"rows": 8, "spellcheck": "false", "autocomplete": "off"},
    )
    manifest_file = FileField("Or upload a manifest (a text or CSV file)")
    reference = StringField("Reference (optional)", render_kw={"maxlength": MAX_REFERENCE_LENGTH})


class AdjustmentForm(FlaskForm):
    location_id = SelectField("Location", choices=[], validate_choice=False)
    item_id = SelectField("Item", choices=[], validate_choice=False)
    kind = SelectField(
        "What",
        choices=[
            SelectChoice("adjustment", "Adjust on hand by (+ or −)"),
            SelectChoice("count", "Set on hand to a count"),
        ],
    )
    quantity = StringField("Units", widget=NumberInput(min=-MAX_ADJUSTMENT, max=MAX_ADJUSTMENT))
    reason = StringField("Reason", render_kw={"maxlength": MAX_REASON_LENGTH})


class InspectionForm(FlaskForm):
    note = StringField("Inspection note (optional)", render_kw={"maxlength": MAX_REASON_LENGTH})


class LocationForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": MAX_LOCATION_NAME_LENGTH})
