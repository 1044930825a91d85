"""returns station: devices checked in on an order, counted return items that arrived

Revision ID: c3a8e5d1f207
Revises: 8c4f1e6a2d37
Create Date: 2026-12-06 22:00:00

``return_check_in``: one row per device checked in at an order's returns station (expected
and arrived, unexpected with a reason, or closed as lost). ``return_item.arrived_count``:
how many of a counted return line have been checked in (0 for the lines already stored).
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "c3a8e5d1f207"
down_revision = "8c4f1e6a2d37"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "return_check_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_api_key_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('arrived', 'unexpected', 'lost')", name="check_in_outcome_known"
        ),
        sa.ForeignKeyConstraint(["actor_api_key_id"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["actor_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["order_.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "device_id"),
    )
    op.create_index("ix_return_check_in_device_id", "return_check_in", ["device_id"])
    op.add_column(
        "return_item", sa.Column("arrived_count", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade():
    # Plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): batch mode would reflect the tables
    # return_item refers to, and SQLite cannot reflect the patients' expression index.
    op.execute("ALTER TABLE return_item DROP COLUMN arrived_count")
    op.drop_index("ix_return_check_in_device_id", table_name="return_check_in")
    op.drop_table("return_check_in")
