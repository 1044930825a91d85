"""What every form shares: putting a service's problems next to the fields they concern."""

from __future__ import annotations

import re

from app.validation import Problem


def snake(path: str) -> str:
    """``address.zipCode`` -> ``zip_code``; ``site.id`` -> ``site_id``."""
    path = path.removeprefix("address.")
    if path.endswith(".id"):
        path = path[: -len(".id")] + "_id"
    return re.sub(r"(?<!^)([A-Z])", r"_\1", path).lower()


def put_problems_on_fields(form, problems: list[Problem], aliases: dict | None = None) -> list[str]:
    """Each problem next to its field (by its API path, spelt the Python way); answers the
    messages no field shown takes, for the top of the form."""
    general = []
    for problem in problems:
        name = (aliases or {}).get(problem.field, snake(problem.field or ""))
        field = form._fields.get(name) if name else None
        if field is None:
            general.append(problem.message)
        else:
            field.errors = [*field.errors, problem.message]
    return general
