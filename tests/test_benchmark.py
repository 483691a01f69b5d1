"""The benchmark (benchmarks/run.py) runs end to end: every measurement of issue 7 is taken and
printed (the web pages' server time, issue 17, among them). Timings are not asserted here (they
live in the benchmark, on a quiet machine); this only keeps the benchmark itself from breaking
unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = ["raw sqlite3 executemany", "import (import_file)", "raw sqlite3 read", "worklist, first after import",
        "worklist, repeat", "worklist, 30 days later", "flags for every patient",
        "web: patient home page (best of 3)", "web: worklist, first page (best of 3)",
        "web: worklist, first request (made afresh)", "web: worklist, after an acknowledgement",
        'python -c "import tracker"',
        "tracker --help (median of 7)", 'python -c "import sqlalchemy" (median of 9, in turn with the three below)',
        "tracker schedule PATIENT (median of 9)", "tracker flags PATIENT (median of 9)",
        "tracker history PATIENT (median of 9)"]


def test_a_small_benchmark_takes_every_measurement(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "benchmarks.run", "--patients", "25", "--keep", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "error" not in out.stderr, out.stderr[-2000:]
    table = out.stdout[out.stdout.index("measurement"):].splitlines()
    for name in ROWS:
        (line,) = [x for x in table if x.startswith(name + "  ")]
        assert " s  " in line, line  # a time was measured
    rows = {x.split("  ")[0]: x for x in table}
    assert "781524" not in out.stdout  # the small cohort, not a stale 10,000-patient result
    assert "rows" in rows["import (import_file)"] and "rows" in rows["worklist, first after import"]
