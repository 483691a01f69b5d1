"""Benchmark: the tool against the raw-database limit on a synthetic cohort (issue 7).

    /work/venv/bin/python -m benchmarks.run                 # 10,000 patients (~1 million records)
    /work/venv/bin/python -m benchmarks.run --quick         # 1,000 patients, a smoke run for CI
    /work/venv/bin/python -m benchmarks.run --patients 2000 --seed 7 --as-of 2026-11-22

Runs from the repository root, in a fresh temporary folder, and prints one table. Every
measurement runs in its own Python subprocess, so that its peak memory (RSS high-water mark,
`resource.getrusage`) is its own:

- import: `tracker.services.files.import_file` of the cohort file, against a raw `sqlite3`
  executemany of the same rows into the same schema (the raw side reads the same file too, one
  patient document per line, and gives the rows their ids itself);
- worklist as of a date: `services.surveillance.views` + `worklist_rows`, the first run after the
  import, a repeat and one 30 days later (served by the same cached states), against a raw
  `sqlite3` query reading the same rows (patients and their
  active records, lesions joined);
- flags for every patient (what `tracker flags --all` computes);
- `tracker serve` server time (issue 17) of a patient's home page and of the worklist's first page:
  one request through the whole ASGI application in process (security checks, services,
  template) after one warm-up request of the start page: the first request (the worklist made
  afresh, its cached states decoded) and the best of 3 after it (the worklist kept while the
  database does not change), against the raw read;
- `tracker --help` wall time, against `python -c "import tracker"`;
- the one-patient commands `tracker schedule|flags|history PATIENT`, against
  `python -c "import sqlalchemy"` (issue 19: start-up is most of their time), the four run in
  turn for 9 rounds so that a machine whose speed drifts slows them alike; each row is the
  median wall time of its 9 runs (`--help` against `import tracker`: median of 7). Commands
  start as an installed tool starts: from bytecode compiled by one run before
  (PYTHONDONTWRITEBYTECODE is ignored there).

Targets (2 cores): import ≤ 5× the raw insert of the same run and < 60 s; worklist ≤ 3× raw read
and < 2 s; flags for all < 10 s; `tracker --help` < 0.3 s; web pages < 0.3 s; one-patient
commands ≤ 1.5× `import sqlalchemy`; peak memory < 500 MB. Not a test: it
prints PASS or FAIL and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
MB = 1024  # ru_maxrss is in KiB on Linux


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MB


# ------------------------------------------------------------------ steps (run in a subprocess)


def _settings(db: Path) -> Any:
    from tracker.config import Settings

    return Settings(db_url=f"sqlite:///{db}", user="bench")


def _migrate(db: Path) -> None:
    from tracker.db import dispose_all, open_engine

    open_engine(_settings(db))
    dispose_all()


def _patient_lines(path: Path) -> Any:
    """The patient documents of a file written by tracker.synthetic.write_cohort (one per line)."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{\"schema_version\": 1, \"synthetic\": true, \"patients\"") or line == "]}":
                continue
            yield json.loads(line.lstrip(","))


def step_raw_insert(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
    _migrate(db)
    began = time.perf_counter()
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    pid = sid = 0
    n = 0
    buf: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("patient", "visit", "lab", "scan", "lesion", "path")}

    def flush() -> None:
        con.executemany("INSERT INTO patient (id, label, birth_year, sex, diagnosis_date, setting, syndrome, "
                        "primary_resected, t_stage, protocol_id, protocol_start, left_on, leave_reason, source, "
                        "verified, notes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", buf["patient"])
        con.executemany("INSERT INTO visit (patient_id, date, voided_reason, source, verified, notes, symptoms, "
                        "symptom_other, weight_kg, performance_status, on_ppi, wants_to_leave) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", buf["visit"])
        con.executemany("INSERT INTO lab_result (patient_id, date, voided_reason, source, verified, notes, analyte, "
                        "analyte_other, value, unit, lab, assay, specimen, upper_limit) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", buf["lab"])
        con.executemany("INSERT INTO imaging_study (id, patient_id, date, voided_reason, source, verified, notes, "
                        "modality, mpd_mm, cbd_mm) VALUES (?,?,?,?,?,?,?,?,?,?)", buf["scan"])
        con.executemany("INSERT INTO lesion_measurement (study_id, lesion, site, longest_mm, short_axis_mm, "
                        "other_dims_mm, is_new, pet_avid) VALUES (?,?,?,?,?,?,?,?)", buf["lesion"])
        con.executemany("INSERT INTO pathology (patient_id, date, voided_reason, source, verified, notes, ki67_pct, "
                        "mitoses_per_2mm2, grade) VALUES (?,?,?,?,?,?,?,?,?)", buf["path"])
        for v in buf.values():
            v.clear()

    def s(x: Any) -> str | None:
        return None if x is None else str(x)

    with con:
        for doc in _patient_lines(cohort):
            pid += 1
            p = doc["patient"]
            left = p.get("left_surveillance") or {}
            buf["patient"].append((pid, p["label"], p["birth_year"], p["sex"], p["diagnosis_date"], p["setting"],
                                   p.get("syndrome", "none"), p.get("primary_resected", False), p.get("t_stage"),
                                   p["protocol"]["id"], p["protocol"]["start"], left.get("date"),
                                   left.get("reason"), p.get("source", "import"), False, p.get("notes", "")))
            for v in doc.get("visits", []):
                buf["visit"].append((pid, v["date"], None, "import", False, "", ",".join(sorted(v.get("symptoms", []))),
                                     v.get("symptom_other", ""), s(v.get("weight_kg")), v.get("performance_status"),
                                     v.get("on_ppi", False), v.get("wants_to_leave", False)))
            for r in doc.get("labs", []):
                buf["lab"].append((pid, r["date"], None, "import", False, "", r["analyte"], r.get("analyte_other", ""),
                                   str(r["value"]), r["unit"], r.get("lab", ""), r.get("assay", ""),
                                   r.get("specimen", "serum"), s(r.get("upper_limit"))))
            for sc in doc.get("scans", []):
                sid += 1
                buf["scan"].append((sid, pid, sc["date"], None, "import", False, "", sc["modality"],
                                    s(sc.get("mpd_mm")), s(sc.get("cbd_mm"))))
                for x in sc.get("lesions", []):
                    buf["lesion"].append((sid, x["lesion"], x["site"], s(x.get("longest_mm")),
                                          s(x.get("short_axis_mm")), "", x.get("is_new", False), x.get("pet_avid")))
                    n += 1
            for r in doc.get("pathology", []):
                buf["path"].append((pid, r["date"], None, "import", False, "", s(r.get("ki67_pct")),
                                    s(r.get("mitoses_per_2mm2")), r.get("grade")))
            n += len(doc.get("visits", [])) + len(doc.get("labs", [])) + len(doc.get("scans", [])) \
                + len(doc.get("pathology", []))
            if pid % 500 == 0:
                flush()
        flush()
    con.close()
    return {"seconds": time.perf_counter() - began, "rows": n}


def step_import(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
    from tracker.services.files import import_file

    _migrate(db)
    began = time.perf_counter()
    summary = import_file(_settings(db), cohort, today=as_of)
    return {"seconds": time.perf_counter() - began, "rows": summary.records_added}


RAW_READ = [
    "SELECT id, label, birth_year, sex, diagnosis_date, setting, syndrome, primary_resected, t_stage, protocol_id, "
    "protocol_start, left_on, leave_reason, source, verified, notes FROM patient",
    "SELECT * FROM visit WHERE voided_reason IS NULL",
    "SELECT * FROM lab_result WHERE voided_reason IS NULL",
    "SELECT * FROM imaging_study WHERE voided_reason IS NULL",
    "SELECT l.* FROM lesion_measurement l JOIN imaging_study s ON s.id = l.study_id WHERE s.voided_reason IS NULL",
    "SELECT * FROM pathology WHERE voided_reason IS NULL",
    "SELECT * FROM flag_review",
    "SELECT patient_id, flag_key FROM flag_log",
]


def step_raw_read(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
    began = time.perf_counter()
    con = sqlite3.connect(db)
    n = sum(len(con.execute(q).fetchall()) for q in RAW_READ)
    con.close()
    return {"seconds": time.perf_counter() - began, "rows": n}


def step_worklist(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
    from tracker.services import surveillance

    began = time.perf_counter()
    views = surveillance.views(_settings(db), None, as_of=as_of)
    rows = surveillance.worklist_rows(views, as_of=as_of, within_days=30, statuses=None)
    return {"seconds": time.perf_counter() - began, "rows": len(rows)}


def step_worklist_later(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
    """The worklist 30 days later: the states cached for `as_of` still serve (migration 0004)."""
    from datetime import timedelta

    return step_worklist(cohort, db, as_of + timedelta(days=30))


def step_flags(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
    from tracker.services import surveillance

    began = time.perf_counter()
    views = surveillance.views(_settings(db), None, as_of=as_of)
    rows = [fv.to_json() for v in views for fv in v.flags]
    return {"seconds": time.perf_counter() - began, "rows": len(rows)}


def _web_get(app: Any, path: str, cookie: str) -> tuple[int, bytes]:
    """One GET through the whole ASGI application (security checks, page, template), in process."""
    import asyncio

    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return out["status"], out["body"]


def _web_step(path: str) -> Any:
    """Server time of one page of `tracker serve`: its first request after one warm-up request of
    the start page (`first_seconds`; the worklist is made afresh then), the best of 3 after it
    (`seconds`; the worklist is kept while the database does not change), and the request after
    a flag of the first row is acknowledged (`after_review_seconds`; the worklist made again for
    that patient)."""
    def step(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
        from tracker.web import security
        from tracker.web.app import create_app

        sessions = security.Sessions()
        app = create_app(_settings(db), sessions=sessions, as_of=as_of)
        cookie = f"{security.COOKIE}={sessions.redeem(sessions.token or '')}"
        page = path.replace("PATIENT", "SYN-00000")
        _web_get(app, "/", cookie)
        times = []
        for _ in range(4):
            began = time.perf_counter()
            status, body = _web_get(app, page, cookie)
            times.append(time.perf_counter() - began)
            if status != 200:
                raise SystemExit(f"GET {page} answered {status}")
        out = {"seconds": min(times[1:]), "first_seconds": times[0], "rows": body.count(b'<li class="row ') or None}
        if "worklist" in path:
            from tracker.services.surveillance import review_flag, views

            v = next(v for v in views(_settings(db), None, as_of=as_of, record=False) if v.flags)
            review_flag(_settings(db), v.label, v.flags[0].flag.key, action="acknowledge", reason="benchmark",
                        as_of=as_of)
            began = time.perf_counter()
            _web_get(app, page, cookie)
            out["after_review_seconds"] = time.perf_counter() - began
        return out

    return step


def _cli_env(db: Path) -> dict[str, str]:
    """As an installed tool starts: from compiled bytecode (kept out of the checkout, in the
    benchmark's folder; compiling the tracker's sources at every start costs ~0.2 s)."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TRACKER_DB": str(db),
            "TRACKER_USER": "bench", "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(db.parent / "pycache")}


def _cli_step(argv: list[str]) -> Any:
    def step(cohort: Path, db: Path, as_of: date) -> dict[str, Any]:
        env = _cli_env(db)
        cmd = [a.replace("AS_OF", as_of.isoformat()) for a in argv]
        subprocess.run([PY, *cmd], cwd=ROOT, env=env, capture_output=True, check=True)  # compiles it once
        return {**_wall([PY, *cmd], env), "rows": None}

    return step


#: how the installed `tracker` script starts the tool (pip's console-script wrapper; `python -m
#: tracker` adds runpy's own start-up)
ENTRY = ["-c", "from tracker.cli import main; main()"]
#: the one-patient commands and their baseline, `import sqlalchemy` (issue 19 item 8)
ONE_PATIENT = {"import_sqlalchemy": ["-c", "import sqlalchemy"],
               "schedule": [*ENTRY, "schedule", "SYN-00000", "--as-of", "AS_OF"],
               "patient_flags": [*ENTRY, "flags", "SYN-00000", "--as-of", "AS_OF"],
               "history": [*ENTRY, "history", "SYN-00000"]}


def step_one_patient(cohort: Path, db: Path, as_of: date, repeat: int = 9) -> dict[str, Any]:
    """The baseline and the one-patient commands run in turn, `repeat` rounds: a machine whose
    speed drifts (a shared one does) slows them alike, so their medians compare. Each command's
    peak is its own process's."""
    env = _cli_env(db)
    cmds = {k: [PY, *(a.replace("AS_OF", as_of.isoformat()) for a in argv)] for k, argv in ONE_PATIENT.items()}
    for cmd in cmds.values():
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=True)  # compiles it once
    times: dict[str, list[float]] = {k: [] for k in cmds}
    peaks: dict[str, float] = dict.fromkeys(cmds, 0.0)
    for _ in range(repeat):
        for key, cmd in cmds.items():
            began = time.perf_counter()
            child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            times[key].append(time.perf_counter() - began)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                raise SystemExit(f"{' '.join(cmd[1:])} exited with {child.returncode}")
            peaks[key] = max(peaks[key], usage.ru_maxrss / MB)
    return {"by_command": {k: {"seconds": statistics.median(v), "peak_mb": peaks[k], "rows": None}
                           for k, v in times.items()}}


STEPS = {"raw_insert": step_raw_insert, "import": step_import, "raw_read": step_raw_read,
         "worklist": step_worklist, "worklist_later": step_worklist_later, "flags": step_flags,
         # wall time, median of 7; the peak is that of the child processes of this step alone
         "import_tracker": _cli_step(["-c", "import tracker"]), "help": _cli_step(["-m", "tracker", "--help"]),
         "one_patient": step_one_patient,
         "web_home": _web_step("/p/PATIENT"), "web_worklist": _web_step("/nurse/worklist")}


# ------------------------------------------------------------------ driver


def _run_step(name: str, cohort: Path, db: Path, as_of: date, timeout: float) -> dict[str, Any]:
    cmd = [PY, "-m", "benchmarks.run", "--step", name, "--cohort", str(cohort), "--db", str(db),
           "--as-of", as_of.isoformat()]
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "rows": None, "peak_mb": None, "error": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"seconds": None, "rows": None, "peak_mb": None, "error": out.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _wall(cmd: list[str], env: dict[str, str], repeat: int = 7) -> dict[str, Any]:
    """Median wall time of `repeat` runs, and the peak RSS of the children (KiB → MB)."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return {"seconds": statistics.median(times),
            "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / MB}


def _fmt(x: float | None, unit: str = "s") -> str:
    if x is None:
        return "—"
    return f"{x:.2f} {unit}" if unit == "s" else f"{x:.0f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description="tracker benchmark against the raw-database limit")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 patients (CI smoke run)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--years", type=float, default=10)
    parser.add_argument("--as-of", default="2026-11-22")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to each measurement")
    parser.add_argument("--keep", type=Path, help="use this folder (kept) instead of a temporary one")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--cohort", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    as_of = date.fromisoformat(args.as_of)
    if args.step:
        result = STEPS[args.step](args.cohort, args.db, as_of)
        result.setdefault("peak_mb", _peak_mb())
        print(json.dumps(result))
        return
    n = 1000 if args.quick else args.patients
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        report(folder, n, args.seed, args.years, as_of, args.timeout)


def report(folder: Path, n: int, seed: int, years: float, as_of: date, timeout: float) -> None:
    from tracker.synthetic import write_cohort

    cohort = folder / "cohort.json"
    began = time.perf_counter()
    records = write_cohort(cohort, n, seed=seed, years=years, as_of=as_of)
    gen_s = time.perf_counter() - began
    print(f"cohort: {n} patients, {records} records counting lesions ({cohort.stat().st_size / 1e6:.0f} MB), "
          f"seed {seed}, {years:g} years, as of {as_of}; generated in {gen_s:.1f} s", flush=True)
    raw_db, db = folder / "raw.db", folder / "tracker.db"
    for p in folder.glob("*.db*"):
        p.unlink()
    r: dict[str, dict[str, Any]] = {}
    for name, target in (("raw_insert", raw_db), ("import", db), ("raw_read", db), ("worklist", db),
                         ("worklist_repeat", db), ("worklist_later", db), ("flags", db), ("web_home", db),
                         ("web_worklist", db), ("import_tracker", db),
                         ("help", db), ("one_patient", db)):
        r[name] = _run_step(name.removesuffix("_repeat"), cohort, target, as_of, timeout)
        print(f"  {name}: {r[name]}", file=sys.stderr, flush=True)
    for key in ONE_PATIENT:  # measured together, in turn
        r[key] = r["one_patient"].get("by_command", {}).get(key) or r["one_patient"]

    def ratio(a: str, b: str) -> float | None:
        x, y = r[a].get("seconds"), r[b].get("seconds")
        return None if x is None or y is None else x / y

    lines: list[tuple[str, str, str, str, str, str]] = []

    def row(what: str, key: str, base: str | None, target: str, ok: bool | None, rows: bool = True) -> None:
        v = r[key]
        extra = f"{v['rows']} rows" if rows and v.get("rows") is not None else ""
        rat = ratio(key, base) if base else None
        verdict = "—" if ok is None else ("PASS" if ok else "FAIL")
        if v.get("error"):
            extra, verdict = str(v["error"])[:40], "FAIL"
        lines.append((what, _fmt(v.get("seconds")), f"{rat:.2f}×" if rat is not None else "",
                      _fmt(v.get("peak_mb"), "MB"), f"{target}  {verdict}", extra))

    def le(x: float | None, limit: float) -> bool:
        return x is not None and x <= limit

    mem = 500
    row("raw sqlite3 executemany", "raw_insert", None, f"mem<{mem}", le(r["raw_insert"].get("peak_mb"), mem))
    row("import (import_file)", "import", "raw_insert", "≤5× raw, <60 s", le(ratio("import", "raw_insert"), 5)
        and le(r["import"].get("seconds"), 60) and le(r["import"].get("peak_mb"), mem))
    row("raw sqlite3 read", "raw_read", None, f"mem<{mem}", le(r["raw_read"].get("peak_mb"), mem))
    for key, what in (("worklist", "worklist, first after import"), ("worklist_repeat", "worklist, repeat"),
                      ("worklist_later", "worklist, 30 days later")):
        row(what, key, "raw_read", "≤3× raw, <2 s",
            le(ratio(key, "raw_read"), 3) and le(r[key].get("seconds"), 2) and le(r[key].get("peak_mb"), mem))
    row("flags for every patient", "flags", None, "<10 s", le(r["flags"].get("seconds"), 10)
        and le(r["flags"].get("peak_mb"), mem))
    row("web: patient home page (best of 3)", "web_home", "raw_read", "<0.3 s", le(r["web_home"].get("seconds"), 0.3),
        rows=False)
    row("web: worklist, first page (best of 3)", "web_worklist", "raw_read", "<0.3 s",
        le(r["web_worklist"].get("seconds"), 0.3))
    r["web_worklist_first"] = {**r["web_worklist"], "seconds": r["web_worklist"].get("first_seconds")}
    row("web: worklist, first request (made afresh)", "web_worklist_first", "raw_read", "", None)
    r["web_worklist_review"] = {**r["web_worklist"], "seconds": r["web_worklist"].get("after_review_seconds")}
    row("web: worklist, after an acknowledgement", "web_worklist_review", "raw_read", "<0.3 s",
        le(r["web_worklist_review"].get("seconds"), 0.3))
    row('python -c "import tracker"', "import_tracker", None, "", None, rows=False)
    row("tracker --help (median of 7)", "help", "import_tracker", "<0.3 s", le(r["help"].get("seconds"), 0.3),
        rows=False)
    row('python -c "import sqlalchemy" (median of 9, in turn with the three below)', "import_sqlalchemy", None, "",
        None, rows=False)
    for key, what in (("schedule", "schedule"), ("patient_flags", "flags"), ("history", "history")):
        row(f"tracker {what} PATIENT (median of 9)", key, "import_sqlalchemy", "≤1.5× import sqlalchemy",
            le(ratio(key, "import_sqlalchemy"), 1.5), rows=False)
    head = ("measurement", "time", "ratio", "peak RSS", "target", "")
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(6)]
    print()
    for x in [head, tuple("-" * w for w in widths), *lines]:
        print("  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)).rstrip())
    print("\n(ratios are against the raw line above; peak RSS is the measuring process's own high-water mark)")


if __name__ == "__main__":
    main()
