"""device finder: identifiers searched by any part (search_key), the shelf per item, devices
of an order

Revision ID: 5d7e2a9c4f18
Revises: 3e1f7c2a9b60
Create Date: 2026-12-05 19:40:00

Each device identifier gets ``search_key``: its letters and digits in capitals
(``app.catalog.identifiers.search_key``), filled here for the rows already stored. On
PostgreSQL it is indexed with a trigram index (the pg_trgm extension, created here when the
database allows it), which answers ``search_key LIKE '%0131%'`` from the index; where the
extension cannot be created the index is a plain one and a part is found by reading the
identifiers (the log says so). SQLite has a plain index.
"""

import logging

import sqlalchemy as sa
from alembic import op

from app.catalog.identifiers import search_key

# revision identifiers, used by Alembic.
revision = "5d7e2a9c4f18"
down_revision = "3e1f7c2a9b60"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

BATCH = 5000
identifier = sa.table(
    "device_identifier",
    sa.column("id", sa.Integer),
    sa.column("value", sa.String),
    sa.column("search_key", sa.String),
)


def _fill_search_keys(conn) -> None:
    """In id order, a batch at a time: a million identifiers never sit in memory at once."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(identifier.c.id, identifier.c.value)
            .where(identifier.c.id > last)
            .order_by(identifier.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            identifier.update()
            .where(identifier.c.id == sa.bindparam("row_id"))
            .values(search_key=sa.bindparam("key")),
            [{"row_id": row_id, "key": search_key(value)} for row_id, value in rows],
        )
        last = rows[-1][0]


def _trigrams_available(conn) -> bool:
    """pg_trgm, created if the database allows it (a trusted extension since PostgreSQL 13:
    the database's owner may create it). A refusal leaves the migration's transaction usable."""
    if conn.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")):
        return True
    try:
        with conn.begin_nested():
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as error:
        log.warning(
            "pg_trgm could not be created (%s): the device finder's search by part of an "
            "identifier reads every identifier. Create the extension and run "
            "CREATE INDEX ... USING gin (search_key gin_trgm_ops) to make it fast.",
            error.orig.__class__.__name__,
        )
        return False
    return True


def upgrade():
    conn = op.get_bind()
    with op.batch_alter_table("device_identifier") as batch_op:
        batch_op.add_column(sa.Column("search_key", sa.String(length=64), nullable=True))
    _fill_search_keys(conn)
    with op.batch_alter_table("device_identifier") as batch_op:
        batch_op.alter_column("search_key", existing_type=sa.String(length=64), nullable=False)
    if conn.dialect.name == "postgresql" and _trigrams_available(conn):
        op.create_index(
            "ix_device_identifier_search_key",
            "device_identifier",
            ["search_key"],
            postgresql_using="gin",
            postgresql_ops={"search_key": "gin_trgm_ops"},
        )
    else:
        op.create_index("ix_device_identifier_search_key", "device_identifier", ["search_key"])
    op.create_index(
        "ix_device_location_status_item",
        "device",
        ["location_id", "current_status", "item_id", "id"],
    )
    op.create_index("ix_device_event_order_id", "device_event", ["order_id", "device_id"])


def downgrade():
    op.drop_index("ix_device_event_order_id", table_name="device_event")
    op.drop_index("ix_device_location_status_item", table_name="device")
    op.drop_index("ix_device_identifier_search_key", table_name="device_identifier")
    with op.batch_alter_table("device_identifier") as batch_op:
        batch_op.drop_column("search_key")
