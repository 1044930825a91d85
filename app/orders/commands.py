"""Orders' command-line commands, registered by the app factory."""

from __future__ import annotations

import click

from app.extensions import db
from app.orders.status_counters import drift, rebuild


def register(app) -> None:
    @app.cli.command("check-status-counts")
    @click.option("--fix", is_flag=True, help="Rewrite the counters from the orders.")
    def check_status_counts(fix: bool):
        """Recount orders per status, site, shipping option, recipient kind and location;
        report counters that drifted."""
        found = drift()
        for (status, site, shipping, kind, location), stored, counted in found:
            click.echo(
                f"{status} / site {site or '-'} / {shipping or '-'} / {kind} / "
                f"location {location}: "
                f"counter {stored:,}, orders {counted:,}"
            )
        if not found:
            click.echo("The status counters match the orders.")
        elif fix:
            rebuild()
            db.session.commit()
            click.echo(f"Rewrote the status counters ({len(found)} were wrong).")
        else:
            db.session.rollback()
            raise click.ClickException(
                f"{len(found)} status counters differ from the orders; run again with --fix."
            )
