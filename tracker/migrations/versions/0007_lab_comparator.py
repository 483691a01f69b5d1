"""lab_result.comparator: a result given as below or above a number ("< 5", "> 1000").

Empty for a result that is the number itself (every result stored before this revision).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lab_result", sa.Column("comparator", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("lab_result", "comparator")
