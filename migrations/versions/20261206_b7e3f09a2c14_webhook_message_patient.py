"""webhook messages name the patient whose details they carry (for the PHI access log)

Revision ID: b7e3f09a2c14
Revises: b5e2d8f4a613
Create Date: 2026-12-06 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7e3f09a2c14"
down_revision = "b5e2d8f4a613"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhook_message") as batch:
        batch.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
    # Until now every order.statusFull body carried the whole patient of a patient's order.
    op.execute(
        "UPDATE webhook_message SET patient_id = "
        "(SELECT order_.patient_id FROM order_ WHERE order_.id = webhook_message.order_id) "
        "WHERE type = 'order.statusFull'"
    )


def downgrade():
    with op.batch_alter_table("webhook_message") as batch:
        batch.drop_column("patient_id")
