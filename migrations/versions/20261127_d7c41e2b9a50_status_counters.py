"""order status counters, site + shipping + status index

Revision ID: d7c41e2b9a50
Revises: 719b4e6721e1
Create Date: 2026-11-27 05:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7c41e2b9a50'
down_revision = '719b4e6721e1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'order_status_count',
        sa.Column('current_status', sa.String(length=24), nullable=False),
        sa.Column('site_key', sa.Integer(), nullable=False),
        sa.Column('shipping_key', sa.String(length=10), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('current_status', 'site_key', 'shipping_key'),
    )
    # The counters start from the orders already there.
    op.execute(
        "INSERT INTO order_status_count (current_status, site_key, shipping_key, count) "
        "SELECT current_status, COALESCE(responsible_site_id, 0), COALESCE(shipping_option, ''), "
        "count(*) FROM order_ "
        "GROUP BY current_status, COALESCE(responsible_site_id, 0), COALESCE(shipping_option, '')"
    )
    with op.batch_alter_table('order_', schema=None) as batch_op:
        batch_op.create_index(
            'ix_order__site_shipping_status_id',
            ['responsible_site_id', 'shipping_option', 'current_status', 'id'],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table('order_', schema=None) as batch_op:
        batch_op.drop_index('ix_order__site_shipping_status_id')
    op.drop_table('order_status_count')
