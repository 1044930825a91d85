from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField, StringField, URLField, widgets

from app.webhooks.models import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH, TYPES

TYPE_LABELS = {
    "order.status": "order.status: the order id and the event",
    "order.statusFull": "order.statusFull: the whole order, as the API answers it",
    "order.returnReceived": "order.returnReceived: the order id and what came back",
}


class SubscriptionForm(FlaskForm):
    url = URLField(
        "URL that receives the events",
        render_kw={"maxlength": MAX_URL_LENGTH, "placeholder": "https://example.org/hooks"},
    )
    types = SelectMultipleField(
        "Send",
        choices=[SelectChoice(t, TYPE_LABELS[t]) for t in TYPES],
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validate_choice=False,  # the service checks the types, for the API and this form alike
    )
    description = StringField(
        "Description (optional)",
        render_kw={"maxlength": MAX_DESCRIPTION_LENGTH, "placeholder": "e.g. EHR integration"},
    )
