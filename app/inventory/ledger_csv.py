"""The stock ledger as CSV: the filtered rows, streamed in keyset batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from app.extensions import db
from app.formats import csv_stream, spreadsheet_cell, timestamp
from app.inventory.models import MOVEMENT_LABELS
from app.inventory.queries import MAX_LEDGER_EXPORT_ROWS, LedgerFilter, ledger_rows

LEDGER_HEADER = [
    "Row",
    "When (UTC)",
    "Kind",
    "Item",
    "SKU",
    "Location",
    "On hand change",
    "Reserved change",
    "Order",
    "Receipt",
    "Reason",
    "By",
]
EXPORT_BATCH = 500


def ledger_csv(filters: LedgerFilter) -> Iterator[str]:
    return csv_stream(LEDGER_HEADER, _batches(filters))


def _batches(filters: LedgerFilter) -> Iterator[list[list]]:
    sent = 0
    while sent < MAX_LEDGER_EXPORT_ROWS:
        rows = ledger_rows(filters, limit=EXPORT_BATCH)
        if not rows:
            break
        batch = []
        for row in rows:
            by = (
                row.actor_user.full_name
                if row.actor_user
                else (row.actor_api_key.name if row.actor_api_key else "")
            )
            batch.append(
                [
                    row.id,
                    timestamp(row.created_at),
                    MOVEMENT_LABELS.get(row.kind, row.kind),
                    spreadsheet_cell(row.item.name),
                    spreadsheet_cell(row.item.sku),
                    spreadsheet_cell(row.location.name),
                    row.on_hand_change,
                    row.reserved_change,
                    row.order_id or "",
                    row.receipt_id or "",
                    spreadsheet_cell(row.reason),
                    spreadsheet_cell(by),
                ]
            )
        sent += len(rows)
        filters = replace(filters, before=rows[-1].id)
        db.session.expunge_all()
        yield batch
