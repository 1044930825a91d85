"""stock page: devices on the shelf at a location, newest first, through one index

Revision ID: a4d2c7e91b36
Revises: f2c6d9e4a1b7
Create Date: 2026-11-27 09:15:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a4d2c7e91b36"
down_revision = "f2c6d9e4a1b7"
branch_labels = None
depends_on = None


def upgrade():
    # (location, status, id) answers "in stock here, newest first" without walking every
    # shipped device; it also serves what the location-only index did.
    op.create_index("ix_device_location_status", "device", ["location_id", "current_status", "id"])
    op.drop_index("ix_device_location_id", table_name="device")


def downgrade():
    op.create_index("ix_device_location_id", "device", ["location_id"])
    op.drop_index("ix_device_location_status", table_name="device")
