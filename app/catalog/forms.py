from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, SelectChoice, SelectField, StringField
from wtforms.widgets import NumberInput

from app.catalog.identifiers import LABELS, MAX_SERIAL_PATTERN_LENGTH
from app.catalog.models import SIZE_LABELS, SIZES

IDENTIFIER_CHOICES = [SelectChoice("", "None: a consumable")] + [
    SelectChoice(k, v) for k, v in LABELS.items()
]
SIZE_CHOICES = [SelectChoice("", "No size")] + [SelectChoice(s, SIZE_LABELS[s]) for s in SIZES]


class ItemForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 200, "autocomplete": "off"})
    sku = StringField(
        "SKU", render_kw={"maxlength": 64, "autocomplete": "off", "spellcheck": "false"}
    )
    model = StringField("Model (optional)", render_kw={"maxlength": 100})
    manufacturer = StringField("Manufacturer (optional)", render_kw={"maxlength": 200})
    device_identifier_type = SelectField("Device identifier", choices=IDENTIFIER_CHOICES)
    serial_pattern = StringField(
        "Serial pattern (optional)",
        render_kw={
            "maxlength": MAX_SERIAL_PATTERN_LENGTH,
            "autocomplete": "off",
            "spellcheck": "false",
        },
    )
    size = SelectField("Size", choices=SIZE_CHOICES)
    orderable = BooleanField("Can be ordered", default=True)
    reorder_point = StringField("Reorder point", default="0", widget=NumberInput(min=0))
    accept_unreceived_devices = BooleanField(
        "Accept devices not yet received (scanning one receives it)", default=False
    )


class KitLineForm(Form):
    item_id = SelectField("Item", choices=[], validate_choice=False)
    count = StringField("Count", default="1", widget=NumberInput(min=1, max=99))


class KitForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 200, "autocomplete": "off"})
    lines = FieldList(FormField(KitLineForm), max_entries=100)
