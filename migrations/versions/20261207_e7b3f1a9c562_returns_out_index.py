"""returns out: order_.has_returns, and a partial index of the orders whose return is out

Revision ID: e7b3f1a9c562
Revises: d2a5c8e1f304
Create Date: 2026-12-07 01:30:00

``order_.has_returns``: whether the order asks anything back (it has return lines, which
never change once it is placed), filled here from the return lines. ``ix_order__returns_out``
holds only the orders that ask something back and are in a status where the return is out
(``statuses.RETURN_OUT``): the dashboard's returns outstanding and the order list's overdue
filter read them there, however many orders there are.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e7b3f1a9c562"
down_revision = "d2a5c8e1f304"
branch_labels = None
depends_on = None

# statuses.RETURN_OUT when this was written.
OUT = "'shipped', 'deliveryException', 'delivered', 'awaitingReturn', 'partlyReturned'"


def upgrade():
    op.add_column(
        "order_",
        sa.Column("has_returns", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        "UPDATE order_ SET has_returns = "
        + ("true" if op.get_bind().dialect.name == "postgresql" else "1")
        + " WHERE EXISTS (SELECT 1 FROM return_item r WHERE r.order_id = order_.id)"
        " OR EXISTS (SELECT 1 FROM return_device r WHERE r.order_id = order_.id)"
        " OR EXISTS (SELECT 1 FROM return_packed_kit r WHERE r.order_id = order_.id)"
    )
    op.create_index(
        "ix_order__returns_out",
        "order_",
        ["responsible_site_id", "current_status"],
        sqlite_where=sa.text(f"has_returns = 1 AND current_status IN ({OUT})"),
        postgresql_where=sa.text(f"has_returns AND current_status IN ({OUT})"),
    )


def downgrade():
    op.drop_index("ix_order__returns_out", table_name="order_")
    # Plain ALTER TABLE (SQLite 3.35+ and PostgreSQL), as c3a8e5d1f207 does.
    op.execute("ALTER TABLE order_ DROP COLUMN has_returns")
