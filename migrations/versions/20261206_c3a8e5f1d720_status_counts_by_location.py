"""order status counters per fulfillment location too, and an index of orders by location
(the order list's location filter)

Revision ID: c3a8e5f1d720
Revises: c4b8e1f7a352
Create Date: 2026-12-06 22:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a8e5f1d720'
down_revision = 'c4b8e1f7a352'
branch_labels = None
depends_on = None

SITE = "COALESCE(responsible_site_id, 0)"
SHIPPING = "COALESCE(shipping_option, '')"
KIND = "CASE WHEN patient_id IS NOT NULL THEN 'patient' ELSE 'site' END"


def _recreate(with_location: bool):
    # The counters are derived from the orders: the table is made again with its new key
    # and counted again (in this transaction, so no status change is lost meanwhile).
    op.drop_table('order_status_count')
    key = ['current_status', 'site_key', 'shipping_key', 'kind_key']
    columns = [
        sa.Column('current_status', sa.String(length=24), nullable=False),
        sa.Column('site_key', sa.Integer(), nullable=False),
        sa.Column('shipping_key', sa.String(length=10), nullable=False),
        sa.Column('kind_key', sa.String(length=7), nullable=False),
    ]
    counted = ['current_status', SITE, SHIPPING, KIND]
    if with_location:
        columns.append(sa.Column('location_key', sa.Integer(), nullable=False))
        key.append('location_key')
        counted.append('fulfillment_location_id')
    op.create_table(
        'order_status_count',
        *columns,
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )
    grouped = ", ".join(counted)
    op.execute(
        f"INSERT INTO order_status_count ({', '.join(key)}, count) "
        f"SELECT {grouped}, count(*) FROM order_ GROUP BY {grouped}"
    )


def upgrade():
    _recreate(with_location=True)
    op.create_index('ix_order__location_id', 'order_', ['fulfillment_location_id', 'id'])


def downgrade():
    op.drop_index('ix_order__location_id', table_name='order_')
    _recreate(with_location=False)
