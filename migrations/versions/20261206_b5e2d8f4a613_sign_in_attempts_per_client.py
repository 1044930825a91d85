"""sign-in throttle in the database: attempts, and each client's failures and waits per account

Revision ID: b5e2d8f4a613
Revises: a4d2c7e91b36
Create Date: 2026-12-06 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b5e2d8f4a613"
down_revision = "a4d2c7e91b36"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sign_in_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempt")),
    )
    op.create_index("ix_sign_in_attempt_at", "sign_in_attempt", ["at"])
    op.create_index(
        "ix_sign_in_attempt_account_client", "sign_in_attempt", ["account", "client", "at"]
    )
    op.create_index("ix_sign_in_attempt_address", "sign_in_attempt", ["address", "at"])
    op.create_table(
        "sign_in_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("waits", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_client")),
        sa.UniqueConstraint("account", "client", name=op.f("uq_sign_in_client_account")),
    )
    op.create_index("ix_sign_in_client_last_attempt_at", "sign_in_client", ["last_attempt_at"])
    # The account-wide lock is gone: waits are kept per client.
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_sign_ins")


def downgrade():
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_sign_ins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_sign_in_client_last_attempt_at", table_name="sign_in_client")
    op.drop_table("sign_in_client")
    op.drop_index("ix_sign_in_attempt_address", table_name="sign_in_attempt")
    op.drop_index("ix_sign_in_attempt_account_client", table_name="sign_in_attempt")
    op.drop_index("ix_sign_in_attempt_at", table_name="sign_in_attempt")
    op.drop_table("sign_in_attempt")
