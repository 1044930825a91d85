"""What every form shares: putting a service's problems next to the fields they concern."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField

from app.extensions import db
from app.validation import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    MAX_DB_ID,
    NOT_FOUND,
    Problem,
    Rejected,
    parse_int,
)

# The status code a page answers a refusal with, by its kind (validation.Rejected.kind): the
# page is shown again with the message (422 lets htmx swap it in, see templating).
REFUSAL_STATUS = {INVALID: 422, CONFLICT: 409, FORBIDDEN: 403, NOT_FOUND: 404}
# How much of a value sent for a choice is kept to be shown back (a choice is a short id).
MAX_CHOICE_SHOWN = 40


class ActionForm(FlaskForm):
    """A button that changes a record (archive, restore, activate, ...): only its CSRF token."""


def snake(path: str) -> str:
    """``address.zipCode`` -> ``zip_code``; ``site.id`` -> ``site_id``."""
    path = path.removeprefix("address.")
    if path.endswith(".id"):
        path = path[: -len(".id")] + "_id"
    return re.sub(r"(?<!^)([A-Z])", r"_\1", path).lower()


def chosen_id(value: str | None) -> int | str | None:
    """What a chooser (a select, or a hidden id a search filled in) sent, for a service to
    check: None when nothing was chosen, the id when it is a plain number, else the text as
    sent. Never None for something sent: services take None for "the default" (a location)
    or "none" (a site), so ``abc``, ``٢`` or ``2147483648`` must reach them to be refused at
    the field rather than quietly become the default."""
    text = (value or "").strip()
    if not text:
        return None
    number = parse_int(text)
    return number if number is not None else text[:MAX_CHOICE_SHOWN]


def keep_sent_choice(select) -> None:
    """A select sent a value that is none of its options: it keeps it, as one more option
    (selected, marked not valid), so the page shows what was sent next to the field's
    error. Otherwise the browser shows the first option as chosen, and sending the form
    again would quietly choose that."""
    sent = (select.data or "")[:MAX_CHOICE_SHOWN]
    if not sent:
        return
    offered = [SelectChoice.from_input(choice) for choice in select.choices or []]
    if all(choice.value != sent for choice in offered):
        select.choices = [*offered, SelectChoice(sent, f"{sent} (not valid)")]
        select.data = sent


def put_problems_on_fields(form, problems: list[Problem], aliases: dict | None = None) -> list[str]:
    """Each problem next to its field (by its API path, spelt the Python way); answers the
    messages no field shown takes, for the top of the form."""
    general = []
    for problem in problems:
        name = (aliases or {}).get(problem.field, snake(problem.field or ""))
        field = form[name] if name and name in form else None
        if field is None:
            general.append(problem.message)
        else:
            field.errors = [*field.errors, problem.message]
    return general


def form_page(form, template: str, save, done, clear=(), **context):
    """A record's form page, for every area.

    On POST, ``save()`` goes through the area's service: its problems go next to their
    fields (422, everything typed kept); success flashes ``done(record)[0]`` and redirects
    (303) to ``done(record)[1]``. Fields named in ``clear`` (passwords) are never sent back.
    """
    problems = []
    if request.method == "POST":
        try:
            record = save()
        except Rejected as rejected:
            problems = put_problems_on_fields(form, rejected.problems)
            for select in form:
                if isinstance(select, SelectField):
                    keep_sent_choice(select)
        else:
            message, target = done(record)
            flash(message, "success")
            return redirect(target, code=303)
    for name in clear:
        form[name].data = ""
    status = 422 if request.method == "POST" else 200
    return render_template(template, form=form, problems=problems, **context), status


def record_or_404(model, record_id: int):
    """The record, or the Not Found page (ids beyond the column's range match nothing)."""
    record = db.session.get(model, record_id) if record_id <= MAX_DB_ID else None
    if record is None:
        abort(404)
    return record
