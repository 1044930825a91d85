"""identifiers in their one spelling: patients' external identifiers and orders' external ids
(NFKC, format characters removed, dashes and digits made ASCII; app.validation)

Revision ID: 3e1f7c2a9b60
Revises: b7e3f09a2c14
Create Date: 2026-12-05 16:00:00

Rows stored before the rule are brought to it, so that "MRN‑１００２００" on record is found,
and refused as a duplicate, as "MRN-100200". Two spellings of one external id on one order are
one id: the second row is removed. A patient whose identifier, in its one spelling, is
another patient's keeps it as stored (nobody can say which of the two is right, or whether
they are one person): the log names both patients' ids, to be resolved by hand (correct the
identifier, or archive one of them); editing that patient then asks for a free identifier.
"""

import logging

import sqlalchemy as sa
from alembic import op

from app.validation import normalised_identifier

# revision identifiers, used by Alembic.
revision = "3e1f7c2a9b60"
down_revision = "b7e3f09a2c14"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

patient = sa.table(
    "patient", sa.column("id", sa.Integer), sa.column("external_identifier", sa.String)
)
external_id = sa.table(
    "order_external_id",
    sa.column("id", sa.Integer),
    sa.column("order_id", sa.Integer),
    sa.column("value", sa.String),
)


def _changed(conn, table, *columns):
    """(row..., new spelling) of the rows whose last column is not in its one spelling; read
    in batches, changed afterwards (few rows are)."""
    changed = []
    query = sa.select(*columns).order_by(columns[0]).execution_options(yield_per=2000)
    for row in conn.execute(query):
        new = normalised_identifier(row[-1])
        if new != row[-1]:
            changed.append((*row, new))
    return changed


def upgrade():
    conn = op.get_bind()
    for patient_id, old, new in _changed(conn, patient, patient.c.id, patient.c.external_identifier):
        holder = conn.scalar(
            sa.select(patient.c.id).where(
                sa.func.lower(patient.c.external_identifier) == new.lower(),
                patient.c.id != patient_id,
            )
        )
        if holder is not None:
            log.warning(
                "Patient %s keeps its external identifier as stored: in its one spelling it is "
                "patient %s's. Correct one of them, or archive one.",
                patient_id,
                holder,
            )
            continue
        conn.execute(
            patient.update().where(patient.c.id == patient_id).values(external_identifier=new)
        )

    for row_id, order_id, old, new in _changed(
        conn, external_id, external_id.c.id, external_id.c.order_id, external_id.c.value
    ):
        twin = conn.scalar(
            sa.select(external_id.c.id).where(
                external_id.c.order_id == order_id, external_id.c.value == new
            )
        )
        if twin is not None:
            conn.execute(external_id.delete().where(external_id.c.id == row_id))
        else:
            conn.execute(external_id.update().where(external_id.c.id == row_id).values(value=new))


def downgrade():
    # The spellings replaced are not kept: every one of them named the same identifier.
    pass
