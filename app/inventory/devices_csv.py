"""The device finder as CSV: every device the filters select, streamed in keyset batches.

No patient data: a device's order is named by its number only (never its recipient), so
the export is not a door to patient data and writes nothing to the PHI access log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from app.catalog.identifiers import LABELS
from app.formats import csv_stream, spreadsheet_cell, timestamp
from app.inventory.devices import device_status_label
from app.inventory.finder import MAX_EXPORT_ROWS, DeviceQuery, device_page

HEADER = [
    "Device",
    "Item",
    "SKU",
    "Identifiers",
    "Status",
    "Location",
    "Last order",
    "Received (UTC)",
]
BATCH = 500


def devices_csv(query: DeviceQuery) -> Iterator[str]:
    return csv_stream(HEADER, _batches(query))


def _batches(query: DeviceQuery) -> Iterator[list[list]]:
    batch = replace(query, size=BATCH, before=None, after=None)
    sent = 0
    while sent < MAX_EXPORT_ROWS:
        page = device_page(batch)
        yield [
            [
                row.id,
                spreadsheet_cell(row.item_name),
                spreadsheet_cell(row.sku),
                spreadsheet_cell(" ".join(f"{LABELS.get(k, k)} {v}" for k, v in row.identifiers)),
                device_status_label(row.status),
                spreadsheet_cell(row.location_name or ""),
                row.last_order_id or "",
                timestamp(row.received_at),
            ]
            for row in page.rows
        ]
        sent += len(page.rows)
        if page.next_before is None:
            return
        batch = replace(batch, before=page.next_before)
