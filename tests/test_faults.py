"""Faults, for real: killed imports, concurrent writers, newer schemas, read-only files, a full disk,
file modes, and no patient data in any error output. Child processes run `python -m tracker`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import EXAMPLES, Cli, as_user, subprocess_env
from tracker import db, models

pytestmark = pytest.mark.slow

AS_OF = "2027-12-31"
#: words that must never appear in error output: labels and values of the synthetic patients
PRIVATE = ("SYN-", "FAULT-", "Synthetic", "KRYPTOR", "omeprazole")


# --------------------------------------------------------------------------- helpers


def tracker(url: str, *args: str, user: str | None = None, umask: int | None = None,
            wait: bool = True, timeout: float = 300) -> Any:
    cmd = as_user([sys.executable, "-m", "tracker", "--db", url, "--user", "fault-test", *args], user)
    kwargs: dict[str, Any] = {"env": subprocess_env(), "stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
                              "text": True}
    if umask is not None:
        kwargs["preexec_fn"] = lambda: os.umask(umask)
    if not wait:
        return subprocess.Popen(cmd, **kwargs)
    return subprocess.run(cmd, timeout=timeout, check=False, **kwargs)


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal snapshots mean the same data."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            out = {t.name: [tuple(r) for r in conn.execute(t.select().order_by(*t.primary_key.columns))]
                   for t in models.METADATA.sorted_tables}
            out["alembic_version"] = [tuple(r) for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
            return out
    finally:
        engine.dispose()


def assert_private(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    for word in PRIVATE:
        assert word not in stderr, f"{word!r} leaked into: {stderr}"


def sqlite_ok(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def big_cohort(path: Path, patients: int = 300, per_kind: int = 10) -> Path:
    """patients × (4 × per_kind) records, with long notes so that the write phase takes a while."""
    filler = "Synthetic padding so that the import writes many pages. " * 8
    docs = []
    for i in range(patients):
        months = [(2020 + m // 12, m % 12 + 1) for m in range(per_kind)]
        day = lambda y, mo: f"{y}-{mo:02d}-15"  # noqa: E731
        docs.append({
            "schema_version": 1,
            "patient": {"label": f"FAULT-{i:04d}", "birth_year": 1960, "sex": "female",
                        "diagnosis_date": "2019-12-01", "setting": "small_nf",
                        "protocol": {"id": "pnet-small-nf", "start": "2020-01-10"}, "notes": filler},
            "visits": [{"date": day(y, mo), "weight_kg": 70 + n, "notes": filler} for n, (y, mo) in enumerate(months)],
            "labs": [{"date": day(y, mo), "analyte": "chromogranin_a", "value": 50 + n, "unit": "ng/mL",
                      "notes": filler} for n, (y, mo) in enumerate(months)],
            "scans": [{"date": day(y, mo), "modality": "MRI", "notes": filler,
                       "lesions": [{"lesion": "P1", "site": "pancreas", "longest_mm": 10 + n % 3}]}
                      for n, (y, mo) in enumerate(months)],
            "pathology": [{"date": day(y, mo), "ki67_pct": 1 + n % 2, "notes": filler}
                          for n, (y, mo) in enumerate(months)],
        })
    path.write_text(json.dumps({"schema_version": 1, "patients": docs}), encoding="utf-8")
    return path


def seed(url: str) -> None:
    for name in ("syn-growing.json", "syn-stable.json"):
        done = tracker(url, "import", str(EXAMPLES / name), "--as-of", AS_OF)
        assert done.returncode == 0, done.stderr


def _writing(url: str, wal: Path | None, baseline: int) -> bool:
    """Whether the importing process has started writing its (uncommitted) transaction."""
    if wal is not None:
        return wal.exists() and wal.stat().st_size > baseline + 512 * 1024
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL")).scalar())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- SIGKILL


def test_sigkill_in_the_middle_of_a_large_import_leaves_the_database_as_before(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    cohort = big_cohort(tmp_path / "cohort.json")
    before = snapshot(db_url)
    db.dispose_all()
    path = Path(db_url.split("///", 1)[1]) if db_url.startswith("sqlite") else None
    wal = path.with_name(path.name + "-wal") if path else None
    baseline = wal.stat().st_size if wal and wal.exists() else 0
    proc = tracker(db_url, "import", str(cohort), "--as-of", AS_OF, wait=False)
    deadline = time.monotonic() + 240
    try:
        while not _writing(db_url, wal, baseline):
            assert proc.poll() is None, "the import ended before it could be killed; make the cohort bigger"
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.005 if wal else 0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    if path:
        sqlite_ok(path)
    else:
        time.sleep(0.5)  # let the server notice the lost client and roll back
    assert snapshot(db_url) == before
    # and the database is usable: the same import now goes through whole
    done = tracker(db_url, "import", str(cohort), "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    assert len(snapshot(db_url)["patient"]) == len(before["patient"]) + 300


# --------------------------------------------------------------------------- concurrency


def test_processes_logging_at_the_same_moment_all_succeed(sqlite_url: str) -> None:
    seed(sqlite_url)
    procs = [tracker(sqlite_url, "log", "visit", "SYN-GROWING", "--date", f"2026-03-0{i}", "--weight", f"8{i}",
                     "--as-of", AS_OF, wait=False) for i in range(1, 5)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0, 0, 0], results
    conn = sqlite3.connect(sqlite_url.split("///", 1)[1])
    try:
        dates = [r[0] for r in conn.execute("SELECT date FROM visit WHERE date LIKE '2026-03-0%' ORDER BY date")]
        users = {r[0] for r in conn.execute("SELECT user FROM audit_event WHERE entity = 'visit'")}
    finally:
        conn.close()
    assert dates == [f"2026-03-0{i}" for i in range(1, 5)]
    assert users == {"fault-test"}  # the user is recorded for every change


def test_processes_opening_a_new_database_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    # CI once saw one of four processes opening a new database at once fail with "locked": a new
    # database is now built beside the target and linked into place whole; repeat the race
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'round{round_}' / 'tracker.db'}"
        procs = [tracker(url, "patient", "list", wait=False) for _ in range(4)]
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
        assert [rc for rc, _, _ in results] == [0, 0, 0, 0], results
        assert sorted(f.name for f in (tmp_path / f"round{round_}").iterdir()
                      if not f.name.startswith("tracker.db-")) == ["tracker.db"]  # no temporary file left
        assert snapshot(url)["alembic_version"] == [(db.head_revision(),)]


def test_a_database_made_by_another_process_meanwhile_is_kept(sqlite_url: str, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from tracker.config import Settings

    path = Path(sqlite_url.split("///", 1)[1])
    real_upgrade = db.upgrade

    def racing_upgrade(engine: Any, **kw: Any) -> Any:
        if not path.exists():  # while this process builds its file, another one makes the database
            monkeypatch.setattr(db, "upgrade", real_upgrade)
            db._create_sqlite_file(path)
            conn = sqlite3.connect(path)
            conn.execute("CREATE TABLE made_by_the_other_process (x)")
            conn.commit()
            conn.close()
            monkeypatch.setattr(db, "upgrade", racing_upgrade)
        return real_upgrade(engine, **kw)

    monkeypatch.setattr(db, "upgrade", racing_upgrade)
    db.open_engine(Settings(db_url=sqlite_url, user="fault-test"))
    db.dispose_all()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert "made_by_the_other_process" in tables and "patient" in tables
    assert sorted(f.name for f in path.parent.iterdir() if f.name.startswith(".")) == []


def test_a_creation_that_fails_leaves_no_database_behind(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.config import Settings

    path = Path(sqlite_url.split("///", 1)[1])

    def failing_upgrade(engine: Any, **kw: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(db, "upgrade", failing_upgrade)
    with pytest.raises(OSError):
        db.open_engine(Settings(db_url=sqlite_url, user="fault-test"))
    assert list(path.parent.iterdir()) == []  # neither the database nor the file it was being built in


# --------------------------------------------------------------------------- newer schema


def test_a_database_from_a_newer_tracker_is_refused(cli: Cli) -> None:
    assert cli("import", str(EXAMPLES / "syn-growing.json"), "--as-of", AS_OF).exit_code == 0
    engine = db.make_engine(cli.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zzzz_future'"))
    engine.dispose()
    db.dispose_all()
    before = snapshot(cli.url)
    for args in (("patient", "list"), ("log", "visit", "SYN-GROWING", "--date", "2026-03-01", "--as-of", AS_OF)):
        result = cli(*args)
        assert result.exit_code == 1
        assert "zzzz_future" in result.stderr and "newer version of tracker" in result.stderr
        assert result.stderr.count("\n") == 1
        assert_private(result.stderr)
    assert snapshot(cli.url) == before


# --------------------------------------------------------------------------- read-only file


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a writable folder, the same folder seen read-only). Root ignores file modes, so as root the
    read-only view is a read-only bind mount (the kernel refuses writes even to root); otherwise
    the files are chmod 0444 and the folder 0555."""
    rw = tmp_path / "rw"
    rw.mkdir()
    if os.geteuid() != 0:
        yield rw, rw
        os.chmod(rw, 0o755)
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    done = subprocess.run(["mount", "--bind", str(rw), str(ro)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root, and a read-only bind mount is not possible here: {done.stderr.strip()}")
    try:
        done = subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            pytest.skip(f"running as root, and cannot make a bind mount read-only: {done.stderr.strip()}")
        yield rw, ro
    finally:
        db.dispose_all()
        subprocess.run(["umount", "-l", str(ro)], capture_output=True, check=False)


def test_a_read_only_database_gives_a_clear_error_and_writes_nothing(read_only_dir: tuple[Path, Path]) -> None:
    rw, ro = read_only_dir
    seed(f"sqlite:///{rw / 'tracker.db'}")
    db.dispose_all()
    for f in rw.iterdir():
        os.chmod(f, 0o444)
    os.chmod(rw, 0o555)  # nor may a -wal or -shm file be created
    url = f"sqlite:///{ro / 'tracker.db'}"
    before = snapshot(f"sqlite:///{rw / 'tracker.db'}")
    try:
        done = tracker(url, "log", "visit", "SYN-GROWING", "--date", "2026-03-01", "--as-of", AS_OF)
        backup = tracker(url, "db", "backup", str(ro / "copy.db"))
    finally:
        os.chmod(rw, 0o755)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "read-only" in done.stderr or "cannot open" in done.stderr, done.stderr
    assert_private(done.stderr)
    assert backup.returncode == 1 and backup.stderr.startswith("Error: "), backup.stderr
    assert_private(backup.stderr)
    db.dispose_all()
    assert snapshot(f"sqlite:///{rw / 'tracker.db'}") == before
    sqlite_ok(rw / "tracker.db")


# --------------------------------------------------------------------------- full disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (needs root and mount); skipped, with the reason, where that is not possible."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk needs a tiny tmpfs, which needs root and mount")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        db.dispose_all()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def test_a_full_disk_gives_a_clear_error_and_writes_nothing(tiny_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tiny_disk / 'tracker.db'}"
    seed(url)
    db.dispose_all()
    before = snapshot(url)
    db.dispose_all()
    filler = tiny_disk / "filler"
    with open(filler, "wb") as f:  # leave about 256 kB: enough to open the database, not to import
        free = shutil.disk_usage(tiny_disk).free
        f.write(b"\0" * max(0, free - 256 * 1024))
    cohort = big_cohort(tmp_path / "cohort.json", patients=60)
    done = tracker(url, "import", str(cohort), "--as-of", AS_OF)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: ") and "disk is full" in done.stderr, done.stderr
    assert_private(done.stderr)
    filler.unlink()
    sqlite_ok(tiny_disk / "tracker.db")
    assert snapshot(url) == before
    again = tracker(url, "log", "visit", "SYN-GROWING", "--date", "2026-03-01", "--as-of", AS_OF)
    assert again.returncode == 0, again.stderr


# --------------------------------------------------------------------------- privacy


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_backups_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    from alembic import command

    home = tmp_path / "clinic"
    url = f"sqlite:///{home / 'tracker.db'}"
    # even with a permissive umask
    done = tracker(url, "import", str(EXAMPLES / "syn-growing.json"), "--as-of", AS_OF, umask=0)
    assert done.returncode == 0, done.stderr
    files = {p.name: p for p in home.iterdir()}
    assert mode(files["tracker.db"]) == 0o600
    for name in ("tracker.db-wal", "tracker.db-shm"):
        if name in files:
            assert mode(files[name]) == 0o600
    assert tracker(url, "db", "backup", str(tmp_path / "copy.db"), umask=0).returncode == 0
    assert mode(tmp_path / "copy.db") == 0o600
    assert tracker(url, "db", "restore", str(tmp_path / "copy.db"), umask=0).returncode == 0
    (safety,) = home.glob("tracker.db.before-restore-*.bak")
    assert mode(safety) == 0o600
    # the copy made before a schema upgrade
    old = tmp_path / "old" / "tracker.db"
    old.parent.mkdir()
    engine = db.make_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        command.upgrade(db._alembic_config(conn), "0001")
    engine.dispose()
    os.chmod(old, 0o600)
    assert tracker(f"sqlite:///{old}", "patient", "list", umask=0).returncode == 0
    (bak,) = old.parent.glob("tracker.db.before-*.bak")
    assert mode(bak) == 0o600


def test_failures_name_no_patient_data(cli: Cli, tmp_path: Path) -> None:
    assert cli("import", str(EXAMPLES / "syn-growing.json"), "--as-of", AS_OF).exit_code == 0
    doc = json.loads((EXAMPLES / "syn-growing.json").read_text(encoding="utf-8"))
    doc["labs"][0]["value"] = 999  # a clash with the stored value
    doc["patient"]["notes"] = "Synthetic: changed"
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps(doc), encoding="utf-8")
    result = cli("import", str(clash), "--as-of", AS_OF)
    assert result.exit_code == 1
    assert "999" not in result.stderr and "Synthetic" not in result.stderr and "Traceback" not in result.stderr


def test_a_postgresql_deadlock_or_serialization_failure_says_run_again() -> None:
    """PostgreSQL's own words ("... blocked by process ...") are not SQLite's busy timeout."""
    from sqlalchemy.exc import OperationalError

    class Orig(Exception):
        sqlstate = "40P01"

    exc = OperationalError("UPDATE ...", {}, Orig("deadlock detected\nProcess 1 waits for ShareLock; blocked by "
                                                  "process 2."))
    assert db.database_message(exc) == ("another command was changing the same patients at the same moment; "
                                            "nothing was written. Run the command again")
    Orig.sqlstate = "40001"
    assert "Run the command again" in db.database_message(exc)
    Orig.sqlstate = "XX000"
    assert "30 s" not in db.database_message(exc)
    assert "30 s" in db.database_message(OperationalError("x", {}, Exception("database is locked")))
