"""The order list as CSV: every order the filters select, streamed, never all in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from app.formats import csv_stream, spreadsheet_cell, timestamp
from app.history.patient_access import EXPORTED, note_patient_access
from app.orders import listing, statuses
from app.orders.models import Order

HEADER = [
    "Order",
    "Status",
    "Placed (UTC)",
    "Last change (UTC)",
    "Recipient type",
    "Recipient",
    "Patient identifier",
    "Responsible site",
    "Shipping",
    "Ship by",
    "Fulfilled from",
    "External order ids",
    "Tracking numbers",
]
BATCH = 500


def _row(order: Order, location_names: dict[int, str]) -> list[str]:
    recipient = order.patient.full_name if order.patient else order.site.name
    return [
        spreadsheet_cell(v)
        for v in (
            order.id,
            statuses.label(order.current_status),
            timestamp(order.created_at),
            timestamp(order.updated_at),
            order.recipient_kind,
            recipient,
            order.patient.external_identifier if order.patient else "",
            order.responsible_site.name if order.responsible_site else "",
            order.shipping_option or "",
            order.ship_by.isoformat(),
            location_names.get(order.fulfillment_location_id, ""),
            " ".join(e.value for e in order.external_ids),
            " ".join(f"{t.carrier}:{t.value}" for t in order.tracking_numbers),
        )
    ]


def rows(query: listing.OrderQuery, location_names: dict[int, str]) -> Iterator[str]:
    """The CSV's lines; ``location_names`` names each order's warehouse by its id."""
    return csv_stream(HEADER, _batches(query, location_names))


def _batches(
    query: listing.OrderQuery, location_names: dict[int, str]
) -> Iterator[list[list[str]]]:
    batch = replace(query, size=BATCH, after="", before="")
    while True:
        page = listing.list_page(batch)
        note_patient_access("ordersCsv", EXPORTED, [(o.patient_id, o.id) for o in page.orders])
        yield [_row(order, location_names) for order in page.orders]
        if page.next_cursor is None:
            return
        batch = replace(batch, after=page.next_cursor)
