"""`tracker demo`: the whole tool on synthetic patients, in a separate demo database."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tracker import config
from tracker.cli.app import app
from tracker.cli.common import AsOfOption, as_of, note, table


@app.command("demo")
def demo(
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the demo database and outputs.")] = None,
    today: AsOfOption = None,
) -> None:
    """Load three synthetic patients into a fresh demo database (never your real one) and show
    the worklist, the flags and where the plots and reports were written.

    Example: tracker demo --as-of 2026-11-22
    """
    from tracker.services import demo as svc
    from tracker.services import surveillance

    when = as_of(today)
    folder = out or config.home_dir() / "demo"
    settings, left_out = svc.fresh_demo(folder, user="demo", today=when)
    note(f"Demo database: {folder / 'demo.db'} (synthetic patients only). As of {when}"
         + (f"; {left_out} example record(s) dated after it left out." if left_out else "."))
    views = surveillance.views(settings, None, as_of=when)
    w = sys.stdout.write
    w("\n== Patients\n")
    if not views:
        w(f"none: no example patient had been enrolled by {when}\n")
    else:
        w(table([{"patient": v.label, "setting": v.history.patient.setting.value, "protocol": v.protocol.id,
                  "since": v.history.patient.protocol_start.isoformat(), "scans": len(v.history.scans),
                  "labs": len(v.history.labs), "visits": len(v.history.visits)} for v in views],
                ["patient", "setting", "protocol", "since", "scans", "labs", "visits"]))
    w(f"\n== Worklist as of {when} (next 30 days)\n")
    rows = surveillance.worklist_rows(views, as_of=when, within_days=30, statuses=None)
    w(table(rows, ["patient", "status", "kind", "what", "due_date"]) if rows else "nothing due\n")
    w("\n== Flags (action and watch; `tracker flags PATIENT` shows all with their evidence)\n")
    for v in views:
        for fv in v.flags:
            if fv.flag.severity.value != "info":
                w(f"{fv.flag.severity.value.upper():6} {v.label:15} {fv.flag.rule_id:18} {fv.flag.message}\n")
    _plots(settings, folder, [v.label for v in views], when)
    db_opt = f"--db {folder / 'demo.db'}"
    labels = [v.label for v in views]
    if labels:
        first = "SYN-GROWING" if "SYN-GROWING" in labels else labels[0]
        last = "SYN-METASTATIC" if "SYN-METASTATIC" in labels else labels[-1]
        note(f"\nTry: tracker {db_opt} schedule {first} --as-of {when}\n"
             f"     tracker {db_opt} measures {last}\n"
             f"     tracker {db_opt} flags {first} --format json")


def _plots(settings: config.Settings, folder: Path, labels: list[str], when: date) -> None:
    from tracker.services import plots

    written: list[Path] = []
    for label in labels:
        written += plots.write_patient_outputs(settings, label, folder / label, as_of=when)
    written.append(plots.write_cohort_plot(settings, folder / "cohort.png", as_of=when))
    sys.stdout.write("\n== Plots and reports\n" + "".join(f"{p}\n" for p in written))
