"""``flask stock-check``: recomputes every balance from the ledger and says where they differ."""

from __future__ import annotations

import click

from app.inventory.ledger import balance_mismatches


def register(app) -> None:
    @app.cli.command("stock-check")
    def stock_check():
        """Recompute on hand and reserved from the stock ledger; exit 1 on any difference."""
        mismatches = balance_mismatches()
        for (item_id, location_id), balance, ledger in mismatches:
            click.echo(
                f"item {item_id} at location {location_id}: balance on hand/reserved "
                f"{balance[0]}/{balance[1]}, ledger says {ledger[0]}/{ledger[1]}"
            )
        if mismatches:
            raise SystemExit(1)
        click.echo("Every balance equals the sums of its ledger rows.")
