"""Alembic migrations: a database at the first revision, holding data, upgrades to the newest
without losing a row, after a backup copy; a database from a newer tracker is refused."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tracker import db
from tracker.config import Settings
from tracker.errors import DatabaseError


def _at_first_revision(path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(db._alembic_config(conn), "0001")
        conn.execute(text(
            "INSERT INTO patient (id, label, birth_year, sex, diagnosis_date, setting, syndrome, primary_resected, "
            "protocol_id, protocol_start, source, verified, notes) VALUES (1, 'OLD-1', 1960, 'female', '2024-01-02', "
            "'small_nf', 'none', 0, 'pnet-small-nf', '2024-01-10', 'clinician', 1, 'synthetic')"))
        conn.execute(text(
            "INSERT INTO imaging_study (id, patient_id, date, modality, source, verified, notes) "
            "VALUES (1, 1, '2024-01-10', 'MRI', 'clinician', 1, '')"))
        conn.execute(text(
            "INSERT INTO lesion_measurement (study_id, lesion, site, longest_mm, other_dims_mm, is_new) "
            "VALUES (1, 'P1', 'pancreas', '12.5', '', 0)"))
    engine.dispose()


def test_an_old_database_with_data_is_upgraded_after_a_backup(tmp_path: Path) -> None:
    """Opening a first-revision database upgrades it to head, keeps every row and leaves a backup."""
    path = tmp_path / "old.db"
    _at_first_revision(path)
    settings = Settings(db_url=f"sqlite:///{path}", user="test-user")
    engine = db.open_engine(settings)
    assert db.current_revision(engine) == db.head_revision()
    from tracker.db import transaction
    from tracker.store import Store

    with transaction(settings) as s:
        st = Store(s)
        p = st.patient("OLD-1")
        h = st.history(p)
    assert str(h.scans[0].lesions[0].longest_mm) == "12.5"
    backups = list(tmp_path.glob("old.db.before-*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
        assert conn.execute("SELECT count(*) FROM lesion_measurement").fetchone()[0] == 1


def test_every_revision_upgrades_and_downgrades(tmp_path: Path) -> None:
    """Each revision applies and reverts cleanly on SQLite."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        cfg = db._alembic_config(conn)
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")
    assert db.current_revision(engine) == db.head_revision()


def test_a_database_from_a_newer_tracker_is_refused(tmp_path: Path) -> None:
    """An unknown newer revision is refused with a clear message, not migrated."""
    path = tmp_path / "new.db"
    settings = Settings(db_url=f"sqlite:///{path}", user="test-user")
    db.open_engine(settings)
    db.dispose_all()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'zzzz_future'")
    with pytest.raises(DatabaseError, match="newer version of tracker"):
        db.open_engine(settings)


def test_the_schema_check_reads_the_same_chain_as_alembic() -> None:
    """Every command compares the database with the newest revision without importing Alembic;
    what it reads from the migration files is Alembic's own chain."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(db._MIGRATIONS))
    assert db.head_revision() == script.get_current_head()
    assert db._revisions() == {r.revision: db._as_tuple(r.down_revision) for r in script.walk_revisions()}


def test_an_everyday_command_does_not_import_alembic_or_jsonschema(tmp_path: Path) -> None:
    """Opening a database already at the newest schema and reading the built-in protocols costs
    no Alembic (0.2-0.3 s) and no jsonschema import."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'x.db'}"
    db.open_engine(Settings(db_url=url, user="test-user"))
    code = ("import sys; from tracker.config import Settings; from tracker import db; "
            "from tracker.services.protocols import all_protocols; "
            f"db.open_engine(Settings(db_url={url!r}, user='u')); all_protocols(); "
            "print(sorted(m for m in ('alembic', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_next_migration_alembic_writes_is_read_too(tmp_path: Path) -> None:
    """A revision generated from this project's template (single quotes), annotated forms, and
    a merge (which the quick reader hands to Alembic)."""
    shutil.copytree(db._MIGRATIONS, tmp_path / "migrations")
    cfg = db._alembic_config(None)
    cfg.set_main_option("script_location", str(tmp_path / "migrations"))
    head = db.head_revision()
    script = command.revision(cfg, message="next one", rev_id="9001")
    assert script is not None
    text = Path(script.path).read_text(encoding="utf-8")
    assert "revision = '9001'" in text  # the template's repr()
    assert db.parse_revision(text) == ("9001", head)
    assert db.parse_revision('revision: str = "0006"\ndown_revision: str | None = "0005"\n') == ("0006", "0005")
    assert db.parse_revision("revision = '0001'\ndown_revision = None\n") == ("0001", None)
    assert db.parse_revision("revision = '0007'\ndown_revision = ('0005', '0006')\n") is None
    # two branches from 9001 and their merge: the merge file goes to Alembic, which finds one head
    command.revision(cfg, message="branch", rev_id="9002a", head="9001")
    command.revision(cfg, message="branch", rev_id="9002b", head="9001", splice=True)
    command.merge(cfg, ["9002a", "9002b"], message="merge", rev_id="9003")
    folder = tmp_path / "migrations"
    assert db.head_revision(folder) == "9003"
    assert db._revisions(folder)["9003"] == ("9002a", "9002b")


def test_a_read_only_command_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """SQLite: while another process holds the write lock (an import of a large cohort), commands
    that only read (patient list, history, export, audit, db check) answer at once."""
    import subprocess
    import sys
    import time

    path = tmp_path / "x.db"
    settings = Settings(db_url=f"sqlite:///{path}", user="test-user")
    from tests.conftest import EXAMPLES
    from tracker.services.files import import_file

    import_file(settings, EXAMPLES / "syn-stable.json", today=date(2026, 11, 22))
    db.dispose_all()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO visit (patient_id, date, source, verified, notes, symptoms, symptom_other, on_ppi, "
                   "wants_to_leave) VALUES (1, '2026-11-01', 'clinician', 0, '', '', '', 0, 0)")
    try:
        for args in (["patient", "list"], ["history", "SYN-STABLE"], ["export", "--all"], ["audit"], ["db", "check"]):
            began = time.monotonic()
            out = subprocess.run([sys.executable, "-m", "tracker", "--db", str(path), *args], capture_output=True,
                                 text=True, timeout=25, check=False)
            assert out.returncode == 0, (args, out.stderr)
            assert time.monotonic() - began < 10, f"{args} waited for the writer"
            assert out.stdout.strip() or out.stderr.strip(), args
            assert "2026-11-01" not in out.stdout  # nothing uncommitted is read
    finally:
        holder.execute("ROLLBACK")
        holder.close()
