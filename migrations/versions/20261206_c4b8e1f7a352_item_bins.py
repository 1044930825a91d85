"""item bins: where an item sits at each location, for pick lists

Revision ID: c4b8e1f7a352
Revises: e8b1d3f6a925
Create Date: 2026-12-06 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c4b8e1f7a352"
down_revision = "e8b1d3f6a925"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "item_bin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("bin", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_item_bin_item_id_item")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["stock_location.id"],
            name=op.f("fk_item_bin_location_id_stock_location"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_bin")),
        sa.UniqueConstraint("location_id", "item_id", name=op.f("uq_item_bin_location_id")),
    )
    op.create_index(op.f("ix_item_bin_item_id"), "item_bin", ["item_id"])


def downgrade():
    op.drop_index(op.f("ix_item_bin_item_id"), table_name="item_bin")
    op.drop_table("item_bin")
