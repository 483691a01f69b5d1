"""Benchmark: the pure domain engines over a synthetic cohort, in memory (no database).

    /work/venv/bin/python -m benchmarks.bench_domain_cohort [--patients N] [--profile]

Builds N (default 2,000) 10-year histories with `tracker.synthetic` (seed 1, about 100 records
each), then times `evaluate_flags` and `compute_schedule` (with the open non-info flags) for every
patient as of the cohort's date, and prints the mean milliseconds per patient of each. Target:
flags + schedule ≤ 0.5 ms per patient. `--profile` prints the top functions by own time instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.domain.test_golden_cohort import cohort_histories, load_protocols
from tracker.domain.model import Flag, PatientHistory, Severity
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import evaluate_flags
from tracker.domain.schedule import compute_schedule
from tracker.synthetic import DEFAULT_AS_OF

Cohort = list[tuple[PatientHistory, SurveillanceProtocol]]


def fresh(cohort: Cohort) -> Cohort:
    """The cohort with every record copied, so that no value cached on a record by an earlier
    run is reused (histories loaded from a database are new objects every time)."""
    def copy(h: PatientHistory) -> PatientHistory:
        return replace(h, visits=tuple(replace(r) for r in h.visits), labs=tuple(replace(r) for r in h.labs),
                       scans=tuple(replace(r) for r in h.scans), pathology=tuple(replace(r) for r in h.pathology))
    return [(copy(h), protocol) for h, protocol in cohort]


def run(cohort: Cohort) -> tuple[float, float, int, int]:
    """Seconds in flags, seconds in schedules, flag count and due-item count."""
    t_flags = t_sched = 0.0
    n_flags = n_items = 0
    clock = time.perf_counter
    for h, protocol in cohort:
        t0 = clock()
        flags = evaluate_flags(h, protocol, as_of=DEFAULT_AS_OF)
        t1 = clock()
        open_flags: list[Flag] = [f for f in flags if f.severity is not Severity.INFO]
        t2 = clock()
        items = compute_schedule(h, protocol, open_flags, as_of=DEFAULT_AS_OF)
        t3 = clock()
        t_flags += t1 - t0
        t_sched += t3 - t2
        n_flags += len(flags)
        n_items += len(items)
    return t_flags, t_sched, n_flags, n_items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    protocols = load_protocols()
    cohort = [(h, protocols[h.patient.protocol_id]) for h in cohort_histories(args.patients)]
    records = sum(len(h.visits) + len(h.labs) + len(h.scans) + len(h.pathology)
                  + sum(len(s.lesions) for s in h.scans) for h, _ in cohort)
    print(f"{args.patients} histories, {records / args.patients:.0f} records each counting lesions; "
          f"built in {time.perf_counter() - began:.1f} s")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(run, fresh(cohort))
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    runs = [run(fresh(cohort)) for _ in range(args.repeat)]
    f_s, _, n_flags, n_items = min(runs, key=lambda r: r[0])
    s_s = min(r[1] for r in runs)
    n = args.patients
    print(f"flags:    {f_s / n * 1000:.3f} ms/patient ({n_flags} flags)")
    print(f"schedule: {s_s / n * 1000:.3f} ms/patient ({n_items} due items)")
    print(f"total:    {(f_s + s_s) / n * 1000:.3f} ms/patient (best of {args.repeat}; target ≤ 0.5)")


if __name__ == "__main__":
    main()
