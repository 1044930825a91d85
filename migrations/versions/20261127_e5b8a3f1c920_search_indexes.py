"""search: patients by the first letters of a name or identifier, in any case

Revision ID: e5b8a3f1c920
Revises: d7c41e2b9a50
Create Date: 2026-11-27 07:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b8a3f1c920'
down_revision = 'd7c41e2b9a50'
branch_labels = None
depends_on = None

SEARCHED = ('first_name', 'last_name', 'external_identifier')


def upgrade():
    # text_pattern_ops: PostgreSQL answers lower(x) LIKE 'ada%' from the index under any
    # collation. SQLite has no operator classes; it walks the index by range.
    ops = ' text_pattern_ops' if op.get_bind().dialect.name == 'postgresql' else ''
    for name in SEARCHED:
        op.create_index(f'ix_patient_lower_{name}', 'patient', [sa.text(f'lower({name}){ops}')])


def downgrade():
    for name in SEARCHED:
        op.drop_index(f'ix_patient_lower_{name}', table_name='patient')
