"""The database: engine, connection settings, migrations and the one-transaction session.

- SQLite (the default) gets, on every connection: foreign keys on and a busy timeout so that a
  second process waits instead of failing; the first command that writes switches the file to
  the WAL journal (`use_wal`: a read-only command or a refusal never changes the file). Transactions are begun by the
  tool, not the driver: a command that writes begins with `BEGIN IMMEDIATE`, so it reads one
  consistent database and holds the single write lock from its start (writers run one at a time;
  a second waits for the first, up to the busy timeout); a read-only session
  (`transaction(read_only=True)`) begins with `BEGIN`, one consistent snapshot that never waits
  for a writer (WAL). Without this a command's reads were not one snapshot, and a state computed
  from them could be cached after another process had changed the records. A new SQLite file is
  created whole, readable by its owner only (0600), and at the newest schema (`_create_sqlite_file`).
- Opening a database upgrades it with Alembic to the newest revision, after a backup copy of
  a SQLite file that held data. A database written by a newer tracker is refused.
- `transaction()` gives one transaction per command, as a SQLAlchemy Core connection: the audit
  chain's queued rows written last, then commit; roll back on error.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.exc import IntegrityError, OperationalError

from tracker import chain
from tracker.config import Settings
from tracker.errors import ConfigError, ConflictError, DatabaseError

BUSY_TIMEOUT_MS = 30_000
_MIGRATIONS = Path(__file__).with_name("migrations")
_engines: dict[str, Engine] = {}
_wal: set[str] = set()  # databases this process has switched to WAL (`use_wal`)
_LOCKED = "the database stayed locked by another process for 30 s; nothing was written, try again"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # no implicit transactions: _sqlite_on_begin begins them
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


#: execution option of the connections of a read-only transaction (see `transaction`)
READ_ONLY = "tracker_read_only"


def reading(engine: Engine) -> Engine:
    """The engine whose connections begin read-only transactions (a plain `BEGIN` on SQLite)."""
    return engine.execution_options(**{READ_ONLY: True})


def use_wal(engine: Engine) -> None:
    """Switch a SQLite database to the WAL journal (it stays so in the file). Done by the
    commands that write, once the schema is known to be this program's: a read-only command, or
    a refusal (a newer schema), leaves a file in another journal mode byte for byte as it was.
    If another process holds the database, the mode is left as it is (it is only faster)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA journal_mode=WAL").fetchall()
    except sqlite3.OperationalError:
        pass
    finally:
        raw.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite connections get the pragmas above."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "PostgreSQL needs the driver: pip install 'pnet-tracker[postgres]'"
            ) from None
    # hide_parameters: values (patient data) never appear in error messages or logs
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


_REVISION_LINE = re.compile(r"""^(down_)?revision(?:\s*:[^=\n]*)?\s*=\s*(None|'[^'\n]+'|"[^"\n]+")\s*(?:#.*)?$""",
                            re.M)


def parse_revision(text: str) -> tuple[str, str | None] | None:
    """(revision, down revision) of a migration file's text; None unless both lines are a plain
    string (or None for the first migration), as Alembic's template writes them."""
    found = dict(_REVISION_LINE.findall(text))
    if "" not in found or "down_" not in found or found[""] == "None":
        return None
    down = found["down_"]
    return found[""][1:-1], None if down == "None" else down[1:-1]


@cache
def _revisions(folder: Path = _MIGRATIONS) -> dict[str, tuple[str, ...]]:
    """Each migration's revision and the ones it follows, read from the files' `revision` and
    `down_revision` lines: every command checks the schema, and importing Alembic to do it took
    0.2-0.3 s. A file these lines do not describe (a merge, another layout) hands the question to
    Alembic itself; tests check both read the same chain."""
    out: dict[str, tuple[str, ...]] = {}
    for f in sorted((folder / "versions").glob("*.py")):
        if f.name == "__init__.py":
            continue
        parsed = parse_revision(f.read_text(encoding="utf-8"))
        if parsed is None:
            from alembic.script import ScriptDirectory

            return {r.revision: _as_tuple(r.down_revision) for r in ScriptDirectory(str(folder)).walk_revisions()}
        out[parsed[0]] = _as_tuple(parsed[1])
    return out


def _as_tuple(down: str | Sequence[str] | None) -> tuple[str, ...]:
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def head_revision(folder: Path = _MIGRATIONS) -> str:
    """The newest revision: the one no other migration follows."""
    revisions = _revisions(folder)
    heads = set(revisions) - {d for downs in revisions.values() for d in downs}
    assert len(heads) == 1, f"migrations must end in one head; heads: {sorted(heads)}"
    return heads.pop()


def known_revisions() -> set[str]:
    return set(_revisions())


def current_revision(engine: Engine) -> str | None:
    with reading(engine).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _create_sqlite_file(path: Path) -> None:
    """Create a new SQLite database at `path`, whole or not at all: it is built (WAL, every
    migration) in a file of this process's own beside it (`mkstemp`: readable by its owner only,
    a name no other process has), and linked into place only if `path` still does not exist.
    Processes opening a new database at the same moment each build one; the first link wins and
    the others open the winner's. No process ever sees a half-made database or converts a shared
    file to WAL (CI once saw one of four processes opening a new database together fail with
    "locked"). On a file system without hard links the file is renamed into place if the path is
    still free, which leaves a moment in which two such processes could both do it. Never
    `os.close` a descriptor of the live database file here: that drops the POSIX locks SQLite
    holds on it in this process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.new-")
    os.close(fd)  # a file only this process knows
    tmp = Path(name)
    try:
        engine = make_engine(f"sqlite:///{tmp}")
        try:
            use_wal(engine)
            upgrade(engine)
            raw = engine.raw_connection()  # outside a transaction: everything into the main file
            try:
                busy = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                raw.close()
            if busy:  # cannot happen with this process's only connection; never link half a database
                raise DatabaseError(_LOCKED)
        finally:
            engine.dispose()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: theirs is used
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for f in (tmp, *(tmp.with_name(tmp.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
            f.unlink(missing_ok=True)


#: the files SQLite keeps beside a database while it is open
SIDE_FILES = ("-wal", "-shm", "-journal")


def backup_sqlite(src: Path, dest: Path, *, made: bool = False) -> None:
    """A consistent copy of a live SQLite file (online backup API), readable by its owner only, in
    a new file `dest` (never through a symlink or over a file planted there: O_EXCL), or in the
    empty file `made` by the caller with `mkstemp`. No -wal, -shm or -journal file is left beside it."""
    if not made:
        os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600))
    s, d = sqlite3.connect(src), sqlite3.connect(dest)
    try:
        s.backup(d)
        d.execute("PRAGMA journal_mode=DELETE")  # the copy is one file, whatever the source's journal
    finally:
        d.close()
        s.close()
        for suffix in SIDE_FILES:
            dest.with_name(dest.name + suffix).unlink(missing_ok=True)


def upgrade(engine: Engine, *, sqlite_path: Path | None = None) -> str | None:
    """Bring the schema to the newest revision; returns the backup path made, if any."""
    head = head_revision()
    if current_revision(engine) == head:
        return None
    from alembic import command
    with engine.begin() as conn:
        # one migrator at a time: a second process opening a new database waits here, then
        # finds the schema at head (without the lock both would create the tables); SQLite
        # transactions hold the write lock from their start (_sqlite_on_begin)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7243001)"))
        current = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                   if inspect(conn).has_table("alembic_version") else None)
        if current == head:
            return None
        if current is not None and current not in known_revisions():
            raise DatabaseError(
                f"this database has schema revision {current}, written by a newer version of tracker; "
                "upgrade tracker (pip install -U pnet-tracker) before opening it"
            )
        backup = None
        if current is not None and sqlite_path is not None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            dest = sqlite_path.with_name(f"{sqlite_path.name}.before-{head}-{stamp}.bak")
            try:
                backup_sqlite(sqlite_path, dest)
            except (sqlite3.Error, OSError) as exc:
                if not isinstance(exc, FileExistsError):  # a half-made copy must not look like a backup
                    dest.unlink(missing_ok=True)
                reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:80]
                raise DatabaseError(f"cannot make the backup copy this upgrade needs ({reason}); the database "
                                    "was not changed. Free some disk space and run the command again") from None
            backup = str(dest)
        command.upgrade(_alembic_config(conn), "head")
    return backup


def open_engine(settings: Settings) -> Engine:
    """The engine for these settings, migrated to the newest schema (cached per URL)."""
    cached = _engines.get(settings.db_url)
    if cached is not None:
        return cached
    path = settings.sqlite_path
    engine: Engine | None = None
    try:
        if path is not None and not path.exists():
            _create_sqlite_file(path)
        engine = make_engine(settings.db_url)
        upgrade(engine, sqlite_path=path)
    except BaseException as exc:
        if engine is not None:  # not cached, so nothing else would close its connections
            engine.dispose()
        if isinstance(exc, PermissionError):
            raise DatabaseError(f"cannot open the database file: {exc.strerror}; check its permissions") from None
        if isinstance(exc, OperationalError):
            raise DatabaseError(database_message(exc)) from None
        if _not_allowed(exc):
            raise DatabaseError(_NOT_ALLOWED) from None
        if isinstance(exc, SADatabaseError):  # e.g. "file is not a database"
            raise DatabaseError("the file given by --db or TRACKER_DB is not a tracker database (SQLite cannot "
                                "read it); check the path") from None
        if isinstance(exc, IsADirectoryError):
            raise DatabaseError("the path given by --db or TRACKER_DB is a folder; give a database file") from None
        raise
    _engines[settings.db_url] = engine
    return engine


def dispose_all() -> None:
    """Close every cached engine (tests, and before restoring a backup)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _wal.clear()


_NOT_ALLOWED = ("the database role in --db or TRACKER_DB may not do this (a schema upgrade is run by the owner role; "
                "an everyday command needs the grants of docs/clinic-server.md); nothing was changed")


def _not_allowed(exc: BaseException) -> bool:
    """PostgreSQL refused for lack of a privilege (SQLSTATE 42501)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501"


def database_message(exc: OperationalError | sqlite3.Error, what: str = "the database") -> str:
    """The sentence for a database error: from SQLAlchemy (the database of --db or TRACKER_DB),
    or from the sqlite3 module reading or writing the file `what` (a backup, a restore)."""
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    raw = str(orig if orig is not None else exc)
    low = raw.lower()
    if getattr(orig, "sqlstate", None) in ("40P01", "40001"):  # PostgreSQL: deadlock, serialization
        return ("another command was changing the same patients at the same moment; nothing was written. "
                "Run the command again")
    if "not a database" in low or "malformed" in low:
        return f"{what} is not a SQLite database (or is damaged)"
    if "readonly" in low or "read-only" in low:
        return f"{what} is read-only; nothing was written. Check the file's permissions"
    if "disk" in low and "full" in low:
        return "the disk is full; nothing was written. Free some space and run the command again"
    if "unable to open" in low:
        return ("cannot open the database file; check the path given by --db or TRACKER_DB"
                if what == "the database" else f"cannot open {what}; check its path and permissions")
    if "database is locked" in low:  # SQLite's busy timeout
        return _LOCKED
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return ("the database server refused the user name or password; check the user in the URL given by --db "
                "or TRACKER_DB and the password (in ~/.pgpass or PGPASSWORD)")
    if "does not exist" in low and "database" in low:
        return ("the database server has no database of the name in the URL given by --db or TRACKER_DB; check "
                "the name after the last '/', or create the database (docs/clinic-server.md)")
    if "connection" in low or "could not connect" in low:
        return ("the database server did not answer at the host and port of the URL given by --db or TRACKER_DB; "
                "check that the server is running and the host and port are right")
    return f"the database refused the change ({raw.splitlines()[0][:120]}); nothing was written"


@contextmanager
def transaction(settings: Settings, *, read_only: bool = False) -> Iterator[Connection]:
    """One transaction on one connection: the rows queued for the hash chains are appended and
    the transaction committed when the block ends (`chain.write_pending`), everything rolled
    back if it raises. `read_only` for a command that only reads: on SQLite it reads a snapshot
    without taking the write lock, so it runs while another command writes."""
    engine = open_engine(settings)
    if not read_only and settings.db_url not in _wal:
        use_wal(engine)
        _wal.add(settings.db_url)
    conn = None
    try:
        conn = (reading(engine) if read_only else engine).connect()  # a server gone away: the sentence below
        queued = conn.info  # read now: a connection the server dropped refuses `info` later
        with conn.begin():
            try:
                yield conn
                chain.write_pending(conn)
            finally:
                chain.drop_pending(queued)
    except OperationalError as exc:
        raise DatabaseError(database_message(exc)) from None
    except IntegrityError:
        # the checks before writing passed, so another process stored the same thing meanwhile
        raise ConflictError(
            "another user or process stored a clashing change at the same moment; nothing was written. "
            "Run the command again"
        ) from None
    except SADatabaseError as exc:
        if _not_allowed(exc):
            raise DatabaseError(_NOT_ALLOWED) from None
        raise
    finally:
        if conn is not None:
            conn.close()
