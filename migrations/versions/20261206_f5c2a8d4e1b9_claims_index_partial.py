"""packing claims' index holds only the claimed orders

Revision ID: f5c2a8d4e1b9
Revises: d1e4b7c2a9f3
Create Date: 2026-12-06 04:20:00

``ix_order__claimed_by_id`` becomes partial (``claimed_by_id IS NOT NULL``): the packers'
claims are found there as before (``claimed_by_id = ?`` implies the condition, on SQLite and
PostgreSQL), and placing an order, which is never claimed, no longer writes an entry in it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f5c2a8d4e1b9"
down_revision = "d1e4b7c2a9f3"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_order__claimed_by_id", table_name="order_")
    op.create_index(
        "ix_order__claimed_by_id",
        "order_",
        ["claimed_by_id"],
        sqlite_where=sa.text("claimed_by_id IS NOT NULL"),
        postgresql_where=sa.text("claimed_by_id IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_order__claimed_by_id", table_name="order_")
    op.create_index("ix_order__claimed_by_id", "order_", ["claimed_by_id"])
