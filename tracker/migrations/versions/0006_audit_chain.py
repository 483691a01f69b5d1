"""Tamper-evident audit trail: a hash chain over audit events and flag reviews, and more guards.

- `chain_hash` on `audit_event` and `flag_review`: SHA-256 of the previous row's hash and the
  row's canonical content (`tracker.chain`), built here for the rows already stored.
- SQLite: `<table>_no_replace` refuses an INSERT that would replace a row (`INSERT OR REPLACE`
  deletes the old row without firing the DELETE trigger) or that has no hash.
- PostgreSQL: `<table>_no_truncate`, statement-level guards against TRUNCATE (row triggers do
  not fire for it), and `chain_hash` NOT NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tracker import chain

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("audit_event", "flag_review")


def _build_chain(conn: sa.Connection, name: str) -> None:
    t = chain.table_of(name)
    previous: str | None = None
    rows = conn.execute(sa.select(t).order_by(t.c.id)).mappings().all()
    for row in rows:
        previous = chain.link(previous, name, dict(row))
        conn.execute(sa.update(t).where(t.c.id == row["id"]).values(chain_hash=previous))


def upgrade() -> None:
    conn = op.get_bind()
    dialect = conn.dialect.name
    for table in _TABLES:
        op.add_column(table, sa.Column("chain_hash", sa.String(), nullable=True))
        # the append-only guard refuses the UPDATE that fills the new column: lifted for it alone
        if dialect == "postgresql":
            op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_update")
            _build_chain(conn, table)
            op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_update")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN chain_hash SET NOT NULL")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION tracker_append_only()")
        else:
            op.execute(f"DROP TRIGGER {table}_no_update")
            _build_chain(conn, table)
            op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
            op.execute(f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                       f"WHEN NEW.chain_hash IS NULL OR EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in _TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_replace")
        op.drop_column(table, "chain_hash")
