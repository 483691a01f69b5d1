"""calendar_event: what each calendar feed was last given.

A calendar export (`schedule PATIENT --format ics`, `worklist --format ics`) compares each event
with what the same feed was given last: SEQUENCE goes up only for an event whose content changed,
and an event no longer in the feed is exported again as cancelled (tracker/ics.py). A feed is
"worklist" or "schedule:<patient id>". It holds labels, dates and item names only, no values.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_event",
        sa.Column("feed", sa.String(), primary_key=True),
        sa.Column("uid", sa.String(), primary_key=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("dtstart", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("calendar_event")
