"""order status counters per recipient kind too

Revision ID: f2c6d9e4a1b7
Revises: e5b8a3f1c920
Create Date: 2026-11-27 07:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2c6d9e4a1b7'
down_revision = 'e5b8a3f1c920'
branch_labels = None
depends_on = None

COUNTED = (
    "SELECT current_status, COALESCE(responsible_site_id, 0), COALESCE(shipping_option, ''), "
    "{kind}count(*) FROM order_ "
    "GROUP BY current_status, COALESCE(responsible_site_id, 0), COALESCE(shipping_option, '')"
    "{group_kind}"
)
KIND = "CASE WHEN patient_id IS NOT NULL THEN 'patient' ELSE 'site' END"


def _recreate(with_kind: bool):
    # The counters are derived from the orders: the table is made again with its new key
    # and counted again (in this transaction, so no status change is lost meanwhile).
    op.drop_table('order_status_count')
    columns = [
        sa.Column('current_status', sa.String(length=24), nullable=False),
        sa.Column('site_key', sa.Integer(), nullable=False),
        sa.Column('shipping_key', sa.String(length=10), nullable=False),
    ]
    key = ['current_status', 'site_key', 'shipping_key']
    if with_kind:
        columns.append(sa.Column('kind_key', sa.String(length=7), nullable=False))
        key.append('kind_key')
    op.create_table(
        'order_status_count',
        *columns,
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )
    op.execute(
        f"INSERT INTO order_status_count ({', '.join(key)}, count) "
        + COUNTED.format(
            kind=f"{KIND}, " if with_kind else "", group_kind=f", {KIND}" if with_kind else ""
        )
    )


def upgrade():
    _recreate(with_kind=True)


def downgrade():
    _recreate(with_kind=False)
