"""patient name search keys: "obrien" finds O'Brien

Revision ID: c4a8e1f7d2b5
Revises: c3a8e5f1d720
Create Date: 2026-12-06 22:20:00

Each patient gets ``first_name_key`` and ``last_name_key``: the name in lower case without
accents, apostrophes or hyphens (``app.people.models.name_key``), filled here for the
patients already stored, a batch at a time. They replace the indexes on lower(first_name)
and lower(last_name): PostgreSQL indexes them with text_pattern_ops (``LIKE 'obr%'`` under
any collation); on SQLite the columns are NOCASE, so that its LIKE can use their indexes.
"""

import sqlalchemy as sa
from alembic import op

from app.people.models import name_key

# revision identifiers, used by Alembic.
revision = "c4a8e1f7d2b5"
down_revision = "c3a8e5f1d720"
branch_labels = None
depends_on = None

BATCH = 5000
KEY = sa.String(100).with_variant(sa.String(100, collation="NOCASE"), "sqlite")
patient = sa.table(
    "patient",
    sa.column("id", sa.Integer),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("first_name_key", sa.String),
    sa.column("last_name_key", sa.String),
)


def _fill_keys(conn) -> None:
    """In id order, a batch at a time: many patients never sit in memory at once."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(patient.c.id, patient.c.first_name, patient.c.last_name)
            .where(patient.c.id > last)
            .order_by(patient.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            patient.update()
            .where(patient.c.id == sa.bindparam("row_id"))
            .values(first_name_key=sa.bindparam("first"), last_name_key=sa.bindparam("last")),
            [
                {"row_id": row_id, "first": name_key(first), "last": name_key(last)}
                for row_id, first, last in rows
            ],
        )
        last = rows[-1][0]


def upgrade():
    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    # Not null from the start (SQLite cannot make a column so afterwards without copying the
    # table); the default only serves the rows being filled, and goes on PostgreSQL.
    for name in ("first_name_key", "last_name_key"):
        op.add_column("patient", sa.Column(name, KEY, nullable=False, server_default=""))
    _fill_keys(conn)
    for name in ("first_name", "last_name"):
        op.drop_index(f"ix_patient_lower_{name}", table_name="patient")
        key = f"{name}_key"
        if postgresql:
            op.alter_column("patient", key, server_default=None)
        op.create_index(
            f"ix_patient_{key}", "patient", [key], postgresql_ops={key: "text_pattern_ops"}
        )


def downgrade():
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    for name in ("first_name", "last_name"):
        op.drop_index(f"ix_patient_{name}_key", table_name="patient")
        op.create_index(f"ix_patient_lower_{name}", "patient", [sa.text(f"lower({name}){ops}")])
    op.drop_column("patient", "last_name_key")
    op.drop_column("patient", "first_name_key")
