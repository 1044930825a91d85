"""The order entry form. It parses and renders; the rules stay in the order service."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.widgets import NumberInput

from app.orders.carriers import CARRIERS
from app.orders.service import MAX_LINES, MAX_NOTE_LENGTH, SHIPPING_OPTIONS
from app.validation import MAX_REASON_LENGTH

RECIPIENT_KINDS = [SelectChoice("patient", "Patient"), SelectChoice("site", "Site")]


class LineForm(Form):
    """One item or kit row. The count stays text so that whatever was typed is shown again."""

    ref = StringField("Item")
    count = StringField("Count", default="1", widget=NumberInput(min=1, max=999))


class OrderForm(FlaskForm):
    submission_token = HiddenField()
    recipient_kind = RadioField("Ship to", choices=RECIPIENT_KINDS, default="patient")
    recipient_query = StringField("Find", id="recipient-query")
    recipient_id = HiddenField()
    creating_patient = HiddenField()
    # Rendered by the lines section from the catalog's locations; parsed here.
    fulfillment_location = StringField("Fulfilled from")
    items = FieldList(FormField(LineForm), max_entries=MAX_LINES)
    kits = FieldList(FormField(LineForm), max_entries=MAX_LINES)
    return_items = FieldList(FormField(LineForm), max_entries=MAX_LINES)
    # Ticked from what the recipient has now; the service checks each id.
    return_devices = SelectMultipleField(choices=[], validate_choice=False)
    return_packed_kits = SelectMultipleField(choices=[], validate_choice=False)
    # The recipient for whom "Show everything they have" was pressed (OrderEntry.all_held).
    all_held = HiddenField()
    email_label = BooleanField("Email the return label to the recipient")
    external_order_ids = StringField("External order ids")
    shipping_option = RadioField(
        "Shipping",
        choices=[SelectChoice(o, o.title()) for o in SHIPPING_OPTIONS],
        default="standard",
    )
    note = TextAreaField("Note for the packer", render_kw={"maxlength": MAX_NOTE_LENGTH, "rows": 3})


class StatusForm(FlaskForm):
    """One button on the order page: move the order to ``to_status``."""

    to_status = HiddenField()
    # The status the person saw: the change is refused if the order has moved since.
    from_status = HiddenField()
    reason = TextAreaField("Reason", render_kw={"maxlength": MAX_REASON_LENGTH, "rows": 2})
    carrier = SelectField(
        "Carrier",
        choices=[SelectChoice("", "From the number")] + [SelectChoice(c, c) for c in CARRIERS],
    )
    tracking_number = StringField(
        "Tracking number", render_kw={"autocomplete": "off", "spellcheck": "false"}
    )


class DeviceForm(FlaskForm):
    identifier = StringField(
        "Scan or type a device identifier", render_kw={"autocomplete": "off", "spellcheck": "false"}
    )
    slot = HiddenField()


class TrackingForm(FlaskForm):
    carrier = SelectField(
        "Carrier",
        choices=[SelectChoice("", "From the number")] + [SelectChoice(c, c) for c in CARRIERS],
    )
    tracking_number = StringField(
        "Tracking number", render_kw={"autocomplete": "off", "spellcheck": "false"}
    )


class TrackingRemovalForm(FlaskForm):
    """Removes one tracking number (named by its carrier and value) with a reason."""

    carrier = HiddenField()
    tracking_number = HiddenField()
    reason = StringField(
        "Reason", render_kw={"maxlength": MAX_REASON_LENGTH, "autocomplete": "off"}
    )


class NoteForm(FlaskForm):
    note = TextAreaField("Add a note", render_kw={"maxlength": MAX_NOTE_LENGTH, "rows": 2})


class ReturnScanForm(FlaskForm):
    """The returns station's scan box: one device identifier."""

    identifier = StringField(
        "Scan or type a returned device", render_kw={"autocomplete": "off", "spellcheck": "false"}
    )


class ReturnCountForm(FlaskForm):
    """How many of one counted return line came back."""

    item = HiddenField()
    count = StringField("Count", widget=NumberInput(min=1, max=999))


class UnexpectedArrivalForm(FlaskForm):
    """A device the order did not ask back, recorded on it with a reason."""

    identifier = HiddenField()
    reason = StringField(
        "Why record it on this order?",
        render_kw={"maxlength": MAX_REASON_LENGTH, "autocomplete": "off"},
    )
    # Only for a device never received: which item it is (choices from the whereabouts).
    item = SelectField("Which item is it?", choices=[], validate_choice=False)


class CloseReturnForm(FlaskForm):
    reason = TextAreaField(
        "Why is it closed with something missing?",
        render_kw={"maxlength": MAX_REASON_LENGTH, "rows": 2},
    )
