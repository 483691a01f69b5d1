"""tracker db check | backup | restore."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import EXAMPLES, Cli, PostgresServer
from tracker import db

AS_OF = ["--as-of", "2027-12-31"]


def _import(cli: Cli, name: str = "syn-growing.json") -> None:
    result = cli("import", str(EXAMPLES / name), *AS_OF)
    assert result.exit_code == 0, result.stderr


def _sql(url: str, *statements: str) -> None:
    """Statements run from outside tracker, as a damaged or tampered database would come about
    (on SQLite through the bare driver, out of any transaction, so that a PRAGMA takes effect)."""
    if url.startswith("sqlite:///"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for s in statements:
            con.execute(s)
        con.close()
        return
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            for s in statements:
                conn.execute(text(s))
    finally:
        engine.dispose()


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [line for line in conn.iterdump() if "alembic_version" not in line]
    finally:
        conn.close()


def test_check_passes_on_a_healthy_database(cli: Cli) -> None:
    _import(cli)
    result = cli("db", "check")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr.startswith(f"OK: schema {db.head_revision()}") and "1 patient" in result.stderr


def test_check_reports_orphans_by_id_only(cli: Cli) -> None:
    _import(cli)
    bypass = "PRAGMA foreign_keys=OFF" if cli.url.startswith("sqlite") else "SET session_replication_role = replica"
    _sql(cli.url, bypass, "DELETE FROM lesion_measurement", "DELETE FROM imaging_study",
         "INSERT INTO lesion_measurement (study_id, lesion, site, other_dims_mm, is_new) "
         "VALUES (4242, 'P9', 'pancreas', '', false)",
         "UPDATE visit SET patient_id = 777 WHERE id = 1")
    db.dispose_all()
    result = cli("db", "check")
    assert result.exit_code == 1
    assert "orphan: visit #1 refers to patient #777, which does not exist" in result.stdout
    assert "lesion_measurement" in result.stdout and "imaging_study #4242" in result.stdout
    assert "SYN-GROWING" not in result.stdout + result.stderr


def test_check_reports_a_missing_audit_guard_and_a_newer_schema(cli: Cli) -> None:
    _import(cli)
    drop = ("DROP TRIGGER audit_event_no_delete" if cli.url.startswith("sqlite")
            else "DROP TRIGGER audit_event_no_delete ON audit_event")
    _sql(cli.url, drop)
    result = cli("db", "check")
    assert result.exit_code == 1 and "audit_event_no_delete" in result.stdout
    _sql(cli.url, "UPDATE alembic_version SET version_num = 'zzzz_future'")
    result = cli("db", "check")
    assert result.exit_code == 1 and "newer tracker" in result.stdout


def test_check_does_not_create_a_missing_file(sqlite_url: str, make_cli, tmp_path: Path) -> None:
    result = make_cli(sqlite_url)("db", "check")
    assert result.exit_code == 1 and "there is no database" in result.stderr
    assert not (tmp_path / "tracker.db").exists()


def test_backup_is_a_private_consistent_copy(sqlite_url: str, make_cli, tmp_path: Path) -> None:
    cli = make_cli(sqlite_url)
    _import(cli)
    dest = tmp_path / "copy.db"
    result = cli("db", "backup", str(dest))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert _dump(dest) == _dump(tmp_path / "tracker.db")
    again = cli("db", "backup", str(dest))
    assert again.exit_code == 1 and "--force" in again.stderr
    assert cli("db", "backup", "--force", str(dest)).exit_code == 0
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.postgres
def test_postgres_backup_and_restore_point_to_pg_tools(postgres_server: PostgresServer, make_cli) -> None:
    url = postgres_server.url("postgres").replace("postgres@", "postgres:s3cret@")
    cli = make_cli(url)
    result = cli("db", "backup", "clinic.dump")
    assert result.exit_code == 1
    assert "pg_dump --format=custom --file clinic.dump 'postgresql://postgres@127.0.0.1" in result.stderr
    result = cli("db", "restore", "clinic.dump")
    assert result.exit_code == 1 and "pg_restore --clean --if-exists --dbname 'postgresql://" in result.stderr
    assert "s3cret" not in result.stderr


def test_restore_puts_back_the_backup_and_keeps_a_safety_copy(sqlite_url: str, make_cli, tmp_path: Path) -> None:
    cli = make_cli(sqlite_url)
    _import(cli)
    backup = tmp_path / "monday.db"
    assert cli("db", "backup", str(backup)).exit_code == 0
    before = _dump(tmp_path / "tracker.db")
    _import(cli, "syn-stable.json")
    after_import = _dump(tmp_path / "tracker.db")
    result = cli("db", "restore", str(backup))
    assert result.exit_code == 0, result.stderr
    assert _dump(tmp_path / "tracker.db") == before
    (safety,) = tmp_path.glob("tracker.db.before-restore-*.bak")
    assert stat.S_IMODE(safety.stat().st_mode) == 0o600
    assert _dump(safety) == after_import
    assert stat.S_IMODE((tmp_path / "tracker.db").stat().st_mode) == 0o600
    assert cli("patient", "show", "SYN-STABLE").exit_code == 1
    assert cli("db", "check").exit_code == 0


def test_restore_upgrades_an_older_backup(sqlite_url: str, make_cli, tmp_path: Path) -> None:
    from alembic import command

    old = tmp_path / "old.db"
    engine = db.make_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        command.upgrade(db._alembic_config(conn), "0001")
    engine.dispose()
    cli = make_cli(sqlite_url)
    _import(cli)
    result = cli("db", "restore", str(old))
    assert result.exit_code == 0, result.stderr
    assert f"schema 0001, now {db.head_revision()}" in result.stderr
    assert db.current_revision(db.make_engine(sqlite_url)) == db.head_revision()
    assert cli("db", "check").exit_code == 0


@pytest.mark.parametrize("kind", ["junk", "not-tracker", "newer", "missing"])
def test_restore_refuses_what_it_cannot_trust(kind: str, sqlite_url: str, make_cli, tmp_path: Path) -> None:
    cli = make_cli(sqlite_url)
    _import(cli)
    before = _dump(tmp_path / "tracker.db")
    bad = tmp_path / "bad.db"
    if kind == "junk":
        bad.write_bytes(b"this is not a database at all" * 100)
    elif kind == "not-tracker":
        with sqlite3.connect(bad) as conn:
            conn.execute("CREATE TABLE t (x)")
        conn.close()
    elif kind == "newer":
        assert cli("db", "backup", str(bad)).exit_code == 0
        _sql(f"sqlite:///{bad}", "UPDATE alembic_version SET version_num = 'zzzz_future'")
    result = cli("db", "restore", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    expected = {"junk": "not a SQLite database", "not-tracker": "not a tracker database", "newer": "newer tracker",
                "missing": "does not exist"}[kind]
    assert expected in result.stderr
    assert _dump(tmp_path / "tracker.db") == before
    assert not list(tmp_path.glob("tracker.db.before-restore-*"))


