"""patient_state: the first as-of date a cached state is valid for.

A state is evaluated from a patient's whole history, so it holds for every as-of date on or
after `valid_from` (their latest active record, or the latest date a flag names; NULL: no
records). The as-of-dependent parts (item windows, overdue flags, snoozes) are recomputed on
read. Rows of the older format (one as-of date) are dropped: it is a cache.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM patient_state")
    op.add_column("patient_state", sa.Column("valid_from", sa.Date(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM patient_state")
    op.drop_column("patient_state", "valid_from")
