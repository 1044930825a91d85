"""packing claims: the packer working on an order (order_.claimed_by_id) and since when

Revision ID: e8b1d3f6a925
Revises: c4a7f2e9d831
Create Date: 2026-12-06 10:00:00

No order is claimed when this runs: claims start with the next "Next order" or "Start
processing" (app/orders/claims.py).
"""

import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e8b1d3f6a925"
down_revision = "c4a7f2e9d831"
branch_labels = None
depends_on = None


@contextmanager
def _orders():
    """A batch of changes to ``order_`` (SQLite rebuilds it: see the ship-by migration)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("order_") as batch_op:
            yield batch_op


def upgrade():
    with _orders() as batch_op:
        batch_op.add_column(sa.Column("claimed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_order__claimed_by_id_user_account"),
            "user_account",
            ["claimed_by_id"],
            ["id"],
        )
        batch_op.create_index("ix_order__claimed_by_id", ["claimed_by_id"])


def downgrade():
    with _orders() as batch_op:
        batch_op.drop_index("ix_order__claimed_by_id")
        batch_op.drop_constraint(
            batch_op.f("fk_order__claimed_by_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by_id")
