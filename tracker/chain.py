"""The hash chain of the audit trail and of the flag reviews: tamper-evident, not only guarded.

Each row of `audit_event` and of `flag_review` stores `chain_hash`: the SHA-256 of the previous
row's hash (by id; none for the first row) and the canonical JSON of the row's own content
(sorted keys, no spaces, ASCII). `tracker db check` recomputes both chains and names the first
row whose stored hash does not match: a row changed, replaced, removed or put in between.

Rows are written at the end of their transaction (`db.transaction` calls `write_pending`), after every other
write of the command, with the chain's tail read under a lock (PostgreSQL transaction advisory
lock; SQLite writers run one at a time), so two processes appending at once never fork the
chain, and the process that holds the lock takes no other lock before it commits. The store
queues rows with `queue`; nothing else writes these tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa

#: the content each chain hashes, per table (every column but `id` and `chain_hash`)
FIELDS: dict[str, tuple[str, ...]] = {
    "audit_event": ("at", "user", "action", "entity", "entity_id", "patient_id", "reason", "before", "after"),
    "flag_review": ("patient_id", "flag_key", "action", "until", "severity_at_review", "reason", "user", "at"),
}
#: PostgreSQL advisory lock held while a chain's tail is read and appended to
CHAIN_LOCK = 7243003
_PENDING = "tracker_chain_pending"


def utc_naive(at: datetime) -> datetime:
    """A timestamp as the chain hashes it (and as it is stored): UTC, without a zone."""
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo is not None else at


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_naive(value).isoformat(" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def link(previous: str | None, table: str, row: Mapping[str, Any]) -> str:
    """The hash of `row` of `table` following the row whose hash is `previous`."""
    content = json.dumps({f: _canonical(row[f]) for f in FIELDS[table]}, sort_keys=True, separators=(",", ":"),
                         ensure_ascii=True)
    return hashlib.sha256(f"{previous or ''}\n{content}".encode("ascii")).hexdigest()


def table_of(name: str) -> sa.Table:
    """A Core table of the columns the chain reads (independent of the models: migrations use it)."""
    types: dict[str, Any] = {"at": sa.DateTime(timezone=True), "until": sa.Date(), "entity_id": sa.Integer(),
                             "patient_id": sa.Integer()}
    return sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                    *(sa.Column(f, types.get(f, sa.String())) for f in FIELDS[name]),
                    sa.Column("chain_hash", sa.String()))


def walk(conn: sa.Connection, name: str) -> Iterator[tuple[int, str | None, str]]:
    """(id, stored hash, recomputed hash) of every row of the chain `name`, in id order."""
    t = table_of(name)
    previous: str | None = None
    for row in conn.execute(sa.select(t).order_by(t.c.id)).mappings():
        expected = link(previous, name, dict(row))
        yield row["id"], row["chain_hash"], expected
        previous = row["chain_hash"]


def first_break(conn: sa.Connection, name: str) -> int | None:
    """The id of the first row of `name` whose stored hash does not match its content and the
    row before it, or None when the whole chain holds."""
    for row_id, stored, expected in walk(conn, name):
        if stored != expected:
            return row_id
    return None


def head(conn: sa.Connection, name: str) -> str | None:
    """The hash of the newest row of `name` (None when the table is empty)."""
    t = table_of(name)
    return conn.execute(sa.select(t.c.chain_hash).order_by(t.c.id.desc()).limit(1)).scalar()


def queue(conn: sa.Connection, name: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rows of `name` (column dicts with every field of `FIELDS[name]`) to append to the chain
    when the transaction of `conn` commits (`write_pending`)."""
    conn.info.setdefault(_PENDING, []).extend((name, dict(r)) for r in rows)


def append(conn: sa.Connection, name: str, rows: list[dict[str, Any]]) -> None:
    """Append `rows` to the chain `name` now, in this transaction (the caller holds the lock)."""
    previous = head(conn, name)
    for r in rows:
        if r["at"].tzinfo is None:  # stored as UTC: a zone-less time is one already
            r["at"] = r["at"].replace(tzinfo=timezone.utc)
        previous = r["chain_hash"] = link(previous, name, r)
    conn.execute(sa.insert(table_of(name)), rows)


def write_pending(conn: sa.Connection) -> None:
    """Append the rows queued in this transaction, under the chain lock: the last write before
    the commit."""
    pending = conn.info.pop(_PENDING, None)
    if not pending:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK})"))
    for name in FIELDS:
        rows = [r for n, r in pending if n == name]
        if rows:
            append(conn, name, rows)


def drop_pending(info: dict[Any, Any]) -> None:
    """Forget the rows queued in a connection's `info` (a rolled-back transaction: `info`
    outlives it with the pooled connection)."""
    info.pop(_PENDING, None)
