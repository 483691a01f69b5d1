"""patient.synthetic: the patient's record is made-up data (an import document's
`"synthetic": true`, `tracker synth`, the demo). Reports and plots say "synthetic" only then.
Existing patients are real (false): only the patient table changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("patient", sa.Column("synthetic", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose the cache triggers of 0003
    op.execute("ALTER TABLE patient DROP COLUMN synthetic")
