"""Time the plots of one synthetic patient with 20 years of data (target: each under 1 second).

    /work/venv/bin/python benchmarks/bench_plots.py [runs]

The 20-year history of `bench_flags.py` (quarterly visits, chromogranin A, eGFR and bilirubin,
MRI/CT scans with 3 lesions, ~400 records) plus yearly pathology; its flags come from the
engine. For each plot kind and the report page, prints the median time to build the figure and
render it to PNG (PDF for the report) in memory, after one warm-up (so matplotlib's import and
font cache are not counted; the first, cold call is printed separately). Synthetic data only.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_flags import START, synthetic_history
from tests.factories import builtin_protocol, pathology
from tracker.domain.model import PatientHistory
from tracker.domain.rules import evaluate_flags
from tracker.domain.schedule import compute_schedule

TARGET_S = 1.0


def history_20y() -> PatientHistory:
    h = synthetic_history()
    extra = tuple(pathology(START + timedelta(days=365 * y + 30), ki67=1 + y % 4) for y in range(0, 20, 2))
    return PatientHistory(patient=h.patient, visits=h.visits, labs=h.labs, scans=h.scans,
                          pathology=(*h.pathology, *extra))


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return cold, statistics.median(times)


def main(runs: int = 5) -> int:
    t0 = time.perf_counter()
    from tracker import report
    from tracker.plots.markers import markers_figure
    from tracker.plots.size import size_figure
    from tracker.plots.timeline import timeline_figure

    print(f"import tracker.plots + tracker.report (matplotlib): {time.perf_counter() - t0:.2f} s")
    h = history_20y()
    protocol = builtin_protocol("pnet-small-nf")
    as_of = START + timedelta(days=365 * 20)
    flags = evaluate_flags(h, protocol, as_of=as_of)
    items = compute_schedule(h, protocol, flags, as_of=as_of)
    print(f"{len(h.visits)} visits, {len(h.labs)} labs, {len(h.scans)} scans, {len(h.pathology)} pathology; "
          f"{len(flags)} flags")

    def png(make: Callable[[], object]) -> Callable[[], object]:
        return lambda: make().savefig(io.BytesIO(), format="png")  # type: ignore[attr-defined]

    data = report.ReportData(history=h, protocol=protocol, flags=tuple(flags), schedule=tuple(items), as_of=as_of,
                             version="bench")
    cases: dict[str, Callable[[], object]] = {
        "size": png(lambda: size_figure(h, protocol, flags, as_of=as_of)),
        "markers": png(lambda: markers_figure(h, as_of=as_of)),
        "timeline": png(lambda: timeline_figure(h, flags, items, as_of=as_of)),
        "report (PDF)": lambda: report.write_pdf(data, io.BytesIO()),  # type: ignore[arg-type]
    }
    worst = 0.0
    for name, fn in cases.items():
        cold, median = _time(fn, runs)
        worst = max(worst, median)
        print(f"{name:13} median {median * 1000:6.0f} ms over {runs} runs (first call {cold * 1000:.0f} ms)")
    ok = worst < TARGET_S
    print(f"slowest {worst * 1000:.0f} ms: {'under' if ok else 'OVER'} the {TARGET_S:.0f} s target")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
