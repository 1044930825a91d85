"""item serial pattern

Revision ID: c3a9e1d4b7f2
Revises: 69272f2f0f0b
Create Date: 2026-11-27 04:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a9e1d4b7f2'
down_revision = '69272f2f0f0b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('serial_pattern', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_column('serial_pattern')
