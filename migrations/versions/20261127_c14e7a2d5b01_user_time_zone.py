"""user time zone

Revision ID: c14e7a2d5b01
Revises: c3a9e1d4b7f2
Create Date: 2026-11-27 04:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c14e7a2d5b01'
down_revision = 'c3a9e1d4b7f2'
branch_labels = None
depends_on = None


def upgrade():
    # The IANA name ("America/New_York"); empty until the browser tells it or the user sets it.
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
