"""Time the flag engine and the measures on one synthetic patient with 20 years of data.

    /work/venv/bin/python benchmarks/bench_flags.py [runs]

One patient on pnet-small-nf: quarterly visits (weights, an occasional symptom), chromogranin A,
eGFR and bilirubin results and MRI scans with 3 lesions (a pancreatic lesion, a regional node, a
liver lesion) over 20 years; prints the median of `evaluate_flags` + `lesion_measures` +
`marker_measures` in milliseconds (target < 50 ms). Synthetic data only.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.factories import builtin_protocol, history, lab, lesion, patient, scan, visit
from tracker.domain.measures import lesion_measures, marker_measures
from tracker.domain.model import PatientHistory
from tracker.domain.rules import evaluate_flags

START = date(2005, 1, 10)
QUARTERS = 80


def synthetic_history() -> PatientHistory:
    records: list[object] = []
    for q in range(QUARTERS):
        when = START + timedelta(days=round(q * 91.3125))
        records += [
            visit(when, *(["abdominal_pain"] if q % 17 == 16 else []), weight=80 - (q % 5), ppi=q % 9 == 0),
            lab(when, 60 + (q * 7) % 90),
            lab(when, 60 + q % 30, analyte="egfr", unit="mL/min/{1.73_m2}", uln=None),
            lab(when, 12 + q % 15, analyte="bilirubin", unit="umol/L", uln=21),
            scan(when, lesion("P1", f"{12 + q * 0.1:.1f}"), lesion("N1", site="regional_node", short_axis=6 + q % 3),
                 lesion("L1", f"{4 + q % 4}", site="liver"), modality="MRI" if q % 6 else "CT", mpd=2, cbd=6),
        ]
    return history(patient(protocol_start=START, diagnosis_date=START), *records)


def main(runs: int = 50) -> None:
    h = synthetic_history()
    protocol = builtin_protocol("pnet-small-nf")
    as_of = START + timedelta(days=365 * 20)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        flags = evaluate_flags(h, protocol, as_of=as_of)
        known = h.up_to(as_of)
        lesion_measures(known)
        marker_measures(known)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{len(h.visits)} visits, {len(h.labs)} labs, {len(h.scans)} scans; {len(flags)} flags")
    print(f"median {statistics.median(times):.1f} ms over {runs} runs (min {min(times):.1f}, max {max(times):.1f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
