"""dashboard: first shipments counted as on time or late against their ship-by date

Revision ID: d2a5c8e1f304
Revises: c3a8e5d1f207
Create Date: 2026-12-07 01:00:00

``order_shipped_count`` gains a key part, ``on_time`` (shipped on or before the order's
ship-by date, in the warehouse's days). The table only holds counts, so it is made anew and
counted again from the orders and their first ``shipped`` events, by the function
`flask check-dashboard-counts --fix` runs, in this migration's transaction.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from app.orders import daily_counts

# revision identifiers, used by Alembic.
revision = "d2a5c8e1f304"
down_revision = "c3a8e5d1f207"
branch_labels = None
depends_on = None


def _create(with_on_time: bool):
    return op.create_table(
        "order_shipped_count",
        sa.Column("shipped_day", sa.Date(), nullable=False),
        sa.Column("site_key", sa.Integer(), nullable=False),
        sa.Column("hours_bucket", sa.Integer(), nullable=False),
        *([sa.Column("on_time", sa.Boolean(), nullable=False)] if with_on_time else []),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shipped_day", "site_key", "hours_bucket", *(["on_time"] if with_on_time else [])
        ),
    )


def upgrade():
    op.drop_table("order_shipped_count")
    _create(with_on_time=True)
    session = Session(bind=op.get_bind())
    daily_counts.rebuild_shipped(session)
    session.close()


def downgrade():
    # The counts without their on-time part: summed over it.
    found = op.get_bind().execute(
        sa.text(
            "SELECT shipped_day, site_key, hours_bucket, SUM(count) AS count "
            "FROM order_shipped_count GROUP BY shipped_day, site_key, hours_bucket"
        )
    )
    rows = [dict(r) for r in found.mappings()]
    op.drop_table("order_shipped_count")
    table = _create(with_on_time=False)
    if rows:
        op.bulk_insert(table, rows)
