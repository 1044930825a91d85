"""``flask check-dashboard-counts``: recounts the dashboard's summary tables from the orders,
their events and the stock ledger, and says which drifted."""

from __future__ import annotations

import click

from app.extensions import db
from app.inventory import usage
from app.orders import daily_counts


def register(app) -> None:
    @app.cli.command("check-dashboard-counts")
    @click.option("--fix", is_flag=True, help="Rewrite the counts from the orders and ledger.")
    def check_dashboard_counts(fix: bool):
        """Recount orders placed and shipped per day and units used per day; report counts
        that drifted (exit 1), or rewrite them with --fix."""
        orders = daily_counts.drift()
        units = usage.drift()
        for table, key, stored, counted in orders:
            day, site, *what = key
            click.echo(
                f"{table} {day} / site {site or '-'} / {' / '.join(map(_said, what))}: "
                f"counter {stored:,}, orders {counted:,}"
            )
        for (day, location, item), stored, counted in units:
            click.echo(
                f"used {day} / location {location} / item {item}: counter {stored:,}, "
                f"ledger {counted:,}"
            )
        wrong = len(orders) + len(units)
        if not wrong:
            click.echo("The dashboard's counts match the orders and the stock ledger.")
        elif fix:
            daily_counts.rebuild()
            usage.rebuild()
            db.session.commit()
            click.echo(f"Rewrote the dashboard's counts ({wrong} were wrong).")
        else:
            db.session.rollback()
            raise click.ClickException(
                f"{wrong} of the dashboard's counts differ from the orders and the ledger; "
                "run again with --fix."
            )


def _said(part) -> str:
    """A key part as the report says it: a status, an hours bucket, on time or late."""
    if isinstance(part, bool):
        return "on time" if part else "late"
    return str(part)
