"""user sites: the clinic sites a staff user works for

Revision ID: d1e4b7c2a9f3
Revises: e7b3f1a9c562
Create Date: 2026-12-06 01:00:00

``user_site``: one row per (user, site) a user works for, set by admins on the user's page; a
coordinator's dashboard shows those sites' figures. Nobody has sites yet.
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "d1e4b7c2a9f3"
down_revision = "e7b3f1a9c562"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_site",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("user_id", "site_id"),
    )
    op.create_index("ix_user_site_site_id", "user_site", ["site_id"])


def downgrade():
    op.drop_index("ix_user_site_site_id", table_name="user_site")
    op.drop_table("user_site")
