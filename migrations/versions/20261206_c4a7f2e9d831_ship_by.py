"""ship-by dates: order_.ship_by, filled for the orders already placed, and its indexes

Revision ID: c4a7f2e9d831
Revises: 5d7e2a9c4f18
Create Date: 2026-12-06 09:00:00

Each order gets the day it must leave the warehouse (``app.orders.ship_by``), from its
shipping option and when it was placed, by the settings in force when this runs
(WAREHOUSE_TIME_ZONE, OVERNIGHT_CUTOFF, STANDARD_SHIP_DAYS, WAREHOUSE_HOLIDAYS). The date is
the same for every order placed between two moments (a day in the warehouse, or an overnight
cut-off), so the orders are filled a span of placing times at a time, through the index on
``created_at``: a few thousand statements for years of orders, not one per order.
"""

import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op
from flask import current_app

from app.db.types import UTCDateTime
from app.orders.ship_by import OVERNIGHT, ShipByRules, ship_by_date

# revision identifiers, used by Alembic.
revision = "c4a7f2e9d831"
down_revision = "5d7e2a9c4f18"
branch_labels = None
depends_on = None

orders = sa.table(
    "order_",
    sa.column("id", sa.Integer),
    sa.column("shipping_option", sa.String),
    sa.column("created_at", UTCDateTime),
    sa.column("ship_by", sa.Date),
)


def _spans(rules: ShipByRules, first: datetime, last: datetime, overnight: bool) -> list[dict]:
    """(from, to, ship_by) for every placing time from ``first`` to ``last``: each local day,
    split at the cut-off for overnight orders; neighbours with the same date merged."""
    spans: list[dict] = []
    option = OVERNIGHT if overnight else "standard"
    day = rules.local_day(first)
    while day <= rules.local_day(last):
        start = datetime.combine(day, datetime.min.time(), rules.zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), rules.zone)
        cut = datetime.combine(day, rules.overnight_cutoff, rules.zone)
        for a, b in ((start, cut), (cut, end)) if overnight else ((start, end),):
            value = ship_by_date(option, a, rules)
            if spans and spans[-1]["value"] == value:
                spans[-1]["b"] = b
            else:
                spans.append({"a": a, "b": b, "value": value})
        day += timedelta(days=1)
    return spans


def _fill(conn) -> None:
    first, last = conn.execute(
        sa.select(sa.func.min(orders.c.created_at), sa.func.max(orders.c.created_at))
    ).one()
    if first is None:
        return
    rules = ShipByRules.from_config(current_app.config)
    option = orders.c.shipping_option
    for overnight, kind in (
        (True, option == OVERNIGHT),
        (False, sa.or_(option.is_(None), option != OVERNIGHT)),
    ):
        spans = _spans(rules, first, last, overnight)
        conn.execute(
            orders.update()
            .where(
                kind,
                orders.c.created_at >= sa.bindparam("a", type_=UTCDateTime),
                orders.c.created_at < sa.bindparam("b", type_=UTCDateTime),
            )
            .values(ship_by=sa.bindparam("value", type_=sa.Date)),
            spans,
        )


@contextmanager
def _rebuilt_orders():
    """A batch of changes to ``order_``. SQLite rebuilds the table, reading the tables it
    refers to: the patients' indexes on lower(...) cannot be read back, and need not be (they
    are not rebuilt)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("order_") as batch_op:
            yield batch_op


def upgrade():
    with op.batch_alter_table("order_") as batch_op:
        batch_op.add_column(sa.Column("ship_by", sa.Date(), nullable=True))
    _fill(op.get_bind())
    with _rebuilt_orders() as batch_op:
        batch_op.alter_column("ship_by", existing_type=sa.Date(), nullable=False)
    op.create_index("ix_order__ship_by_id", "order_", ["ship_by", "id"])
    op.create_index("ix_order__status_ship_by_id", "order_", ["current_status", "ship_by", "id"])


def downgrade():
    op.drop_index("ix_order__status_ship_by_id", table_name="order_")
    op.drop_index("ix_order__ship_by_id", table_name="order_")
    with _rebuilt_orders() as batch_op:
        batch_op.drop_column("ship_by")
