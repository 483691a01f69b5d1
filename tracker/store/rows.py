"""Writing many rows at once: executemany of value tuples, straight to the SQLite driver.

An import writes hundreds of thousands of rows; on SQLite they go to the driver as tuples,
which skips SQLAlchemy's per-row parameter processing (dates become the ISO text SQLAlchemy's
SQLite DATE and DATETIME types store, through the adapters registered here); on PostgreSQL
through SQLAlchemy Core.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa


def next_id(conn: sa.Connection, table: sa.Table) -> int:
    """The id SQLite gives the next row of `table` (the transaction holds the write lock)."""
    return int(conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}").scalar() or 1)


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *,
                skip_duplicates: bool = False) -> None:
    """executemany of rows given as dicts (all with the same keys); see `insert_rows`."""
    if rows:
        cols = tuple(rows[0])
        get = itemgetter(*cols)
        insert_rows(conn, table, cols, [get(r) for r in rows] if len(cols) > 1 else [(get(r),) for r in rows],
                    skip_duplicates=skip_duplicates)


def insert_rows(conn: sa.Connection, table: sa.Table, cols: Sequence[str], rows: Sequence[Sequence[Any]], *,
                skip_duplicates: bool = False) -> None:
    """executemany of rows given as value tuples for `cols`; `skip_duplicates` leaves a row that
    clashes with a unique key as it is stored."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        dicts = [dict(zip(cols, r, strict=True)) for r in rows]
        if skip_duplicates:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(table).on_conflict_do_nothing(), dicts)
        else:
            conn.execute(sa.insert(table), dicts)
        return
    verb = "INSERT OR IGNORE" if skip_duplicates else "INSERT"
    sql = (f'{verb} INTO {table.name} ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) '
           f'VALUES ({", ".join("?" * len(cols))})')
    conn.exec_driver_sql(sql, rows)  # dates become text through the adapters below


#: How SQLAlchemy's SQLite DATE and DATETIME types store values; rows written straight to the
#: driver by `insert_rows` are adapted the same way (SQLAlchemy's own statements hand the driver
#: text already, so these adapters never change what it writes).
sqlite3.register_adapter(date, date.isoformat)
sqlite3.register_adapter(datetime, lambda v: v.replace(tzinfo=None).isoformat(" ", timespec="microseconds"))
