"""dashboard: orders placed per day by status, shipped per day by time to ship, units used
per day

Revision ID: 8c4f1e6a2d37
Revises: c4a8e1f7d2b5
Create Date: 2026-12-06 22:30:00

Three summary tables the dashboard reads instead of the orders and the ledger
(app.orders.daily_counts, app.inventory.usage), counted here from the orders, their events
and the ledger by the same functions `flask check-dashboard-counts --fix` runs, in this
migration's transaction. Days are the warehouse's (WAREHOUSE_TIME_ZONE, UTC by default).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from app.inventory import usage
from app.orders import daily_counts

# revision identifiers, used by Alembic.
revision = "8c4f1e6a2d37"
down_revision = "c4a8e1f7d2b5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "order_day_count",
        sa.Column("placed_day", sa.Date(), nullable=False),
        sa.Column("site_key", sa.Integer(), nullable=False),
        sa.Column("current_status", sa.String(length=24), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("placed_day", "site_key", "current_status"),
    )
    op.create_index(
        "ix_order_day_count_live",
        "order_day_count",
        ["current_status", "placed_day"],
        sqlite_where=sa.text("count <> 0"),
        postgresql_where=sa.text("count <> 0"),
    )
    op.create_table(
        "order_shipped_count",
        sa.Column("shipped_day", sa.Date(), nullable=False),
        sa.Column("site_key", sa.Integer(), nullable=False),
        sa.Column("hours_bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("shipped_day", "site_key", "hours_bucket"),
    )
    op.create_table(
        "stock_use_count",
        sa.Column("used_day", sa.Date(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("used_day", "location_id", "item_id"),
    )
    # The backfill, on the migration's own connection and in its transaction.
    session = Session(bind=op.get_bind())
    daily_counts.rebuild_placed(session)
    # order_shipped_count is counted by d2a5c8e1f304, which gives it its on-time key part
    # (today's code counts it with that part).
    usage.rebuild(session)
    session.close()


def downgrade():
    op.drop_table("stock_use_count")
    op.drop_index("ix_order_day_count_live", table_name="order_day_count")
    op.drop_table("order_day_count")
    op.drop_table("order_shipped_count")
