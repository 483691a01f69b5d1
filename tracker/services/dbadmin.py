"""Looking after the database itself: check it, back it up, restore a backup.

- `check` reports schema revision against this program's head, missing tables or audit guards,
  foreign keys and orphan rows (by internal id only), and SQLite file integrity. It never
  upgrades or writes.
- `backup` copies a live SQLite file with the online backup API; the copy is readable by its
  owner only. PostgreSQL is backed up with pg_dump, and the error says the command.
- `restore` puts a SQLite backup in place after checking it is a tracker database this program
  knows, keeping a safety copy of the current file; then it upgrades the schema.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from tracker import chain, db
from tracker.config import Settings
from tracker.errors import ConfigError, DatabaseError, NotFoundError
from tracker.private import fsync_dir

#: (table, column, referenced table) of every link between rows
LINKS = (
    ("visit", "patient_id", "patient"),
    ("lab_result", "patient_id", "patient"),
    ("imaging_study", "patient_id", "patient"),
    ("pathology", "patient_id", "patient"),
    ("lesion_measurement", "study_id", "imaging_study"),
    ("flag_log", "patient_id", "patient"),
    ("flag_review", "patient_id", "patient"),
    ("audit_event", "patient_id", "patient"),  # no foreign key: the trail outlives nothing, but must point somewhere
)
TABLES = ("patient", "visit", "lab_result", "imaging_study", "lesion_measurement", "pathology", "audit_event",
          "flag_log", "flag_review", "patient_state", "alembic_version")
#: the tables whose writes empty a patient's cached state (migration 0003)
STATE_TABLES = ("visit", "lab_result", "imaging_study", "pathology", "flag_review", "lesion_measurement", "patient")


def guards(dialect: str, revision: str) -> tuple[list[str], list[str]]:
    """The trigger names a database at `revision` must have, enabled: (append-only guards of the
    audit trail and flag reviews, state-cache triggers)."""
    since = _ancestry(revision)
    append_only, state = [], []
    for t in chain.FIELDS:
        if "0002" in since:
            append_only += [f"{t}_no_update", f"{t}_no_delete"]
        if "0006" in since:
            append_only.append(f"{t}_no_truncate" if dialect == "postgresql" else f"{t}_no_replace")
    if "0003" in since:
        state = [f"{t}_state_stale" for t in STATE_TABLES] if dialect == "postgresql" else [
            f"{t}_state_stale_{e}" for t in STATE_TABLES for e in ("insert", "update", "delete")]
    return append_only, state


def _ancestry(revision: str) -> set[str]:
    """`revision` and every revision it follows."""
    revisions, seen, todo = db._revisions(), set(), [revision]
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo += revisions.get(r, ())
    return seen


@dataclass
class CheckReport:
    revision: str | None
    head: str
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: the newest hash of each chain (None: no row yet); written down elsewhere, it shows later
    #: whether the whole trail was rewritten, which the chain alone cannot
    heads: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _pg_command_url(settings: Settings) -> str:
    """The URL for libpq tools (pg_dump, pg_restore): no driver name and never the password."""
    u = make_url(settings.db_url)
    clean = URL.create("postgresql", username=u.username, host=u.host, port=u.port, database=u.database,
                       query=u.query)
    return clean.render_as_string(hide_password=False)


def _existing_sqlite(settings: Settings) -> Path:
    path = settings.sqlite_path
    if path is None:
        raise ConfigError("an in-memory database has nothing to check, back up or restore; give --db FILE")
    if not path.is_file():
        raise NotFoundError(f"there is no database at {path}; check --db or TRACKER_DB")
    return path


# ------------------------------------------------------------------ check


def check(settings: Settings) -> CheckReport:
    """Every problem found in the database; an empty list means all is well."""
    head = db.head_revision()
    if settings.is_sqlite:
        _existing_sqlite(settings)
    engine = db.make_engine(settings.db_url)
    try:
        with db.reading(engine).connect() as conn:
            return _check(conn, head)
    except OperationalError as exc:
        raise DatabaseError(db.database_message(exc)) from None
    finally:
        engine.dispose()


def _check(conn: Connection, head: str) -> CheckReport:
    tables = set(inspect(conn).get_table_names())
    revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in tables else None)
    report = CheckReport(revision=revision, head=head)
    if revision is None:
        report.problems.append("no schema revision: this is not a tracker database, or an empty one; "
                               "any tracker command creates the tables in an empty database")
        return report
    if revision not in db.known_revisions():
        report.problems.append(f"schema revision {revision} was written by a newer tracker (this one knows up to "
                               f"{head}); upgrade tracker before using this database")
        return report
    if revision != head:
        report.problems.append(f"schema revision {revision} is behind {head}; any tracker command upgrades it "
                               "(after a backup copy of a SQLite file)")
    missing = [t for t in TABLES if t not in tables]
    if missing:
        report.problems.append(f"table(s) missing: {', '.join(missing)}")
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for (line,) in conn.execute(text("PRAGMA integrity_check")):
            if line != "ok":
                report.problems.append(f"SQLite integrity: {line}")
        for table, rowid, parent, _ in conn.execute(text("PRAGMA foreign_key_check")):
            report.problems.append(f"foreign key: {table} row #{rowid} points to a missing {parent} row")
        triggers = {r[0]: True for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
    elif dialect == "postgresql":  # a trigger fires in normal operation when it is 'O'rigin or 'A'lways enabled
        triggers = {r[0]: r[1] in ("O", "A") for r in conn.execute(text(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal"))}
    else:
        triggers = None
    if triggers is not None:
        append_only, state = guards(dialect, revision)
        for names, what in ((append_only, "append-only guard(s) {}, the audit trail could be altered: "),
                            (state, "state-cache trigger(s) {}, a stale surveillance state could be shown: ")):
            absent = [g for g in names if g not in triggers]
            disabled = [g for g in names if triggers.get(g) is False]
            for found, how in ((absent, "missing"), (disabled, "disabled")):
                if found:
                    report.problems.append(what.format(how) + ", ".join(found))
    if "0006" in _ancestry(revision):
        report.problems += _chain_problems(conn)
        report.heads = {t: chain.head(conn, t) for t in chain.FIELDS}
    for table, column, parent in LINKS:
        if table not in tables or parent not in tables:
            continue
        orphans = conn.execute(text(
            f"SELECT c.id, c.{column} FROM {table} c LEFT JOIN {parent} p ON p.id = c.{column} "
            f"WHERE c.{column} IS NOT NULL AND p.id IS NULL ORDER BY c.id")).all()
        for row_id, ref in orphans[:20]:
            report.problems.append(f"orphan: {table} #{row_id} refers to {parent} #{ref}, which does not exist")
        if len(orphans) > 20:
            report.problems.append(f"orphan: {len(orphans) - 20} more in {table}")
    for table in TABLES[:-1]:
        if table in tables:
            report.rows[table] = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    return report


def _chain_problems(conn: Connection) -> list[str]:
    """Where the hash chains break, and what the audit trail should hold but does not."""
    out = []
    for table in chain.FIELDS:
        broken = chain.first_break(conn, table)
        if broken is not None:
            out.append(f"{table} #{broken} does not match the hash chain: it, or the row before it, was changed, "
                       "replaced or removed outside tracker; compare with a backup")
    unrecorded = conn.execute(text(
        "SELECT p.id FROM patient p WHERE NOT EXISTS (SELECT 1 FROM audit_event a WHERE a.entity = 'patient' "
        "AND a.entity_id = p.id AND a.action IN ('create', 'import')) ORDER BY p.id")).scalars().all()
    if unrecorded:
        more = f" and {len(unrecorded) - 1} more" if len(unrecorded) > 1 else ""
        out.append(f"the audit trail does not record the creation of patient #{unrecorded[0]}{more}: audit events "
                   "were removed outside tracker; compare with a backup")
    unmatched = conn.execute(text(
        "SELECT r.patient_id FROM (SELECT patient_id, count(*) AS n FROM flag_review GROUP BY patient_id) r "
        "FULL OUTER JOIN (SELECT patient_id, count(*) AS n FROM audit_event WHERE entity = 'flag' "
        "AND action IN ('acknowledge', 'snooze') GROUP BY patient_id) a ON a.patient_id = r.patient_id "
        "WHERE r.n IS NULL OR a.n IS NULL OR r.n <> a.n")).scalars().all()
    if unmatched:
        out.append(f"the flag reviews of {len(unmatched)} patient(s) do not match their audit events: reviews "
                   "were removed or added outside tracker; compare with a backup")
    return out


# ------------------------------------------------------------------ backup


def backup(settings: Settings, dest: Path, *, force: bool = False) -> Path:
    """A consistent copy of the SQLite database at `dest` (mode 0600), checked after writing."""
    if not settings.is_sqlite:
        raise ConfigError(
            "tracker db backup copies SQLite files; back up a PostgreSQL database with pg_dump, e.g. "
            f"pg_dump --format=custom --file {dest} '{_pg_command_url(settings)}'"
        )
    src = _existing_sqlite(settings)
    dest = dest.expanduser()
    if dest.is_dir():
        raise ConfigError(f"{dest} is a folder; give a file name such as {dest / ('tracker-' + _stamp() + '.db')}")
    if dest.exists() and not force:
        raise ConfigError(f"{dest} already exists; pick another name or pass --force to overwrite it")
    if dest.resolve() == src.resolve():
        raise ConfigError("the backup cannot overwrite the database itself; pick another file name")
    if not dest.parent.exists():
        raise NotFoundError(f"folder {dest.parent} does not exist; create it first")
    _checked_copy(src, dest)
    return dest


def _checked_copy(src: Path, dest: Path, before_replace: Callable[[], None] | None = None) -> None:
    """Copy a SQLite file to a temporary file beside `dest`, check it, then move it into place
    atomically (mode 0600). A failure leaves `dest` as it was. The temporary file has a name of
    its own (`mkstemp`: no symlink planted beside `dest` is followed); the partial copies a killed
    backup left beside `dest` are removed first."""
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.partial*"):
        with contextlib.suppress(OSError):
            stale.unlink()
    try:
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    except OSError as exc:
        raise DatabaseError(f"cannot write {dest}: {exc.strerror}; nothing was changed") from None
    os.close(fd)
    tmp = Path(name)
    try:
        db.backup_sqlite(src, tmp, made=True)
        problem = _sqlite_problem(tmp)
        if problem:
            raise DatabaseError(f"the copy of {src.name} failed its check ({problem}); nothing was changed")
        os.chmod(tmp, 0o600)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(db.database_message(exc, "the database")) from None
    except OSError as exc:
        raise DatabaseError(f"cannot write {dest}: {exc.strerror}; nothing was changed") from None
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + suffix) for suffix in db.SIDE_FILES)):
            with contextlib.suppress(OSError):  # nothing to clean up on a read-only folder
                leftover.unlink(missing_ok=True)


def _sqlite_problem(path: Path) -> str | None:
    """Why `path` is not an intact SQLite file, or None."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA quick_check").fetchone()
        conn.close()
    except sqlite3.DatabaseError as exc:
        return db.database_message(exc, path.name)
    return None if result and result[0] == "ok" else f"integrity check: {result[0] if result else 'no answer'}"


# ------------------------------------------------------------------ restore


@dataclass(frozen=True)
class RestoreResult:
    revision: str  # the backup's schema revision
    head: str  # after the upgrade
    safety_copy: Path | None  # the database as it was before the restore


def inspect_backup(path: Path) -> str:
    """The schema revision of a tracker backup file; refuses anything else with a reason."""
    if not path.is_file():
        raise NotFoundError(f"file {path} does not exist")
    problem = _sqlite_problem(path)
    if problem:
        raise DatabaseError(f"{path.name} cannot be restored: {problem}")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = (conn.execute("SELECT version_num FROM alembic_version").fetchone() or [None])[0] \
                if "alembic_version" in names else None
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path.name} cannot be restored: {db.database_message(exc, path.name)}") from None
    if revision is None or not {"patient", "audit_event"} <= names:
        raise DatabaseError(f"{path.name} is not a tracker database (no schema revision); nothing was changed")
    if revision not in db.known_revisions():
        raise DatabaseError(f"{path.name} has schema revision {revision}, written by a newer tracker; upgrade "
                            "tracker (pip install -U pnet-tracker) before restoring it; nothing was changed")
    return str(revision)


def restore(settings: Settings, src: Path) -> RestoreResult:
    """Replace the SQLite database with the backup `src` (atomically), keeping a safety copy."""
    if not settings.is_sqlite:
        raise ConfigError(
            "tracker db restore puts back SQLite files; restore a PostgreSQL dump with pg_restore, e.g. "
            f"pg_restore --clean --if-exists --dbname '{_pg_command_url(settings)}' {src}"
        )
    target = settings.sqlite_path
    if target is None:
        raise ConfigError("an in-memory database cannot be restored into; give --db FILE")
    src = src.expanduser()
    revision = inspect_backup(src)
    if target.exists() and src.resolve() == target.resolve():
        raise ConfigError("that file is the database itself; give a backup file")
    db.dispose_all()
    target.parent.mkdir(parents=True, exist_ok=True)
    safety: Path | None = None
    if target.exists():
        _quiesce(target)
        safety = target.with_name(f"{target.name}.before-restore-{_stamp()}.bak")
        try:
            db.backup_sqlite(target, safety)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise DatabaseError(f"cannot keep a safety copy of the current database ({exc}); nothing was "
                                "changed") from None

    def drop_old_log() -> None:  # emptied by the checkpoint above; they belong to the old file
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)

    _checked_copy(src, target, drop_old_log)
    try:
        db.open_engine(settings)  # upgrades to head, after its own backup copy
    except SQLAlchemyError as exc:  # pragma: no cover - open_engine turns these into DatabaseError
        raise DatabaseError(f"the restored database could not be upgraded: {type(exc).__name__}") from None
    finally:
        db.dispose_all()
    return RestoreResult(revision=revision, head=db.head_revision(), safety_copy=safety)


def _quiesce(target: Path) -> None:
    """Fold the write-ahead log into the file; refuse if another process is using the database."""
    conn = sqlite3.connect(target, timeout=5)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"the current database cannot be read ({db.database_message(exc, 'it')}); move it away "
                            "by hand, then restore") from None
    finally:
        conn.close()
    if busy:
        raise DatabaseError("another tracker command is using the database; let it finish, then restore")

