"""Webhooks' command-line commands (the delivery worker), registered by the app factory."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.webhooks.worker import run


def register(app) -> None:
    group = AppGroup("webhooks", help="Webhook deliveries.")

    @group.command("work")
    @click.option(
        "--exit-with-parent", is_flag=True, help="Stop when the process that started it ends."
    )
    def work(exit_with_parent: bool):
        """Deliver webhooks until stopped (Ctrl+C or SIGTERM). Run as many as you like."""
        click.echo("Delivering webhooks (Ctrl+C stops)")
        run(app, exit_with_parent)

    app.cli.add_command(group)
