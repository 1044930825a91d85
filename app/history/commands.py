"""History's command-line commands (the PHI access log), registered by the app factory."""

from __future__ import annotations

import click
from flask import current_app

from app.history.patient_access import prune


def register(app) -> None:
    @app.cli.group("phi-access")
    def group():
        """The PHI access log."""

    @group.command("prune")
    def prune_command():
        """Remove entries older than the retention (PHI_ACCESS_RETENTION_DAYS)."""
        removed = prune()
        days = current_app.config["PHI_ACCESS_RETENTION_DAYS"]
        click.echo(f"Removed {removed} entries older than {days} days.")
