from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.auth.models import ROLES
from app.auth.scopes import SCOPES


class UserForm(FlaskForm):
    email = EmailField("Email (signs in with it)", render_kw={"autocomplete": "off"})
    first_name = StringField("First name", render_kw={"maxlength": 100})
    last_name = StringField("Last name", render_kw={"maxlength": 100})
    role = SelectField(
        "Role", choices=[SelectChoice("", "Choose…")] + [SelectChoice(r, r.title()) for r in ROLES]
    )


class NewUserForm(UserForm):
    password = PasswordField("First password", render_kw={"autocomplete": "new-password"})


class PasswordForm(FlaskForm):
    password = PasswordField("New password", render_kw={"autocomplete": "new-password"})


class ApiKeyForm(FlaskForm):
    name = StringField(
        "What uses this key", render_kw={"maxlength": 100, "placeholder": "e.g. EHR integration"}
    )
    # Checked by the service (which names the problem), not by WTForms.
    scopes = SelectMultipleField(
        "What the key may do",
        choices=[SelectChoice(scope, f"{label} ({scope})") for scope, label in SCOPES.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )


class SitesForm(FlaskForm):
    """The sites a user works for; the choices are every site (``choose_from``). Checked by
    the service (which names an id no site has), not by WTForms."""

    sites = SelectMultipleField(
        "Sites this user works for",
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )

    def choose_from(self, sites) -> SitesForm:
        self.sites.choices = [
            SelectChoice(str(s.id), s.name if s.active else f"{s.name} (inactive)") for s in sites
        ]
        return self
