"""Benchmark: schedules for 10,000 synthetic 10-year histories, built in memory.

    /work/venv/bin/python -m benchmarks.bench_schedule [--patients N]   (from the repository root)

Each history follows its protocol with a little jitter: imaging, a visit and chromogranin A
roughly every 6 months for 10 years (about 20 of each), half of the patients on each built-in
protocol, a tenth with an open watch flag. Prints the seconds spent in compute_schedule alone.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from tracker.domain.model import (
    Analyte,
    Flag,
    ImagingStudy,
    LabResult,
    Modality,
    Patient,
    PatientHistory,
    Setting,
    Severity,
    Sex,
    Visit,
)
from tracker.domain.protocol import SurveillanceProtocol, protocol_from_dict
from tracker.domain.schedule import compute_schedule

PROTOCOLS = Path(__file__).resolve().parents[1] / "tracker" / "protocols"
AS_OF = date(2035, 6, 1)


def load(pid: str) -> SurveillanceProtocol:
    return protocol_from_dict(json.loads((PROTOCOLS / f"{pid}.json").read_text(encoding="utf-8")))


def synthetic(n: int, rng: random.Random, pid: str) -> tuple[PatientHistory, list[Flag]]:
    start = date(2025, 1, 1) + timedelta(days=rng.randrange(150))
    p = Patient(label=f"SYN-{n:05d}", birth_year=1960, sex=Sex.FEMALE, diagnosis_date=start,
                setting=Setting.SMALL_NF, protocol_id=pid, protocol_start=start, id=n)
    days = [start + timedelta(days=182 * k + rng.randrange(-20, 21)) for k in range(21)]
    days = sorted(max(start, d) for d in days)
    scans = tuple(ImagingStudy(date=d, modality=Modality.MRI, id=k) for k, d in enumerate(days, 1))
    visits = tuple(Visit(date=d, id=k) for k, d in enumerate(days, 1))
    labs = tuple(LabResult(date=d, analyte=Analyte.CHROMOGRANIN_A, value=Decimal(rng.randrange(40, 160)),
                           unit="ng/mL", upper_limit=Decimal(102), id=k) for k, d in enumerate(days, 1))
    flags = [Flag("growth.relative", Severity.WATCH, p.label, days[-1], "", (), None, "", "b")] \
        if n % 10 == 0 else []
    return PatientHistory(patient=p, visits=visits, labs=labs, scans=scans), flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(20250110)
    protocols = {pid: load(pid) for pid in ("pnet-small-nf", "pnet-metastatic-ww")}
    cohort = [(pid, *synthetic(n, rng, pid)) for n in range(args.patients)
              for pid in ["pnet-small-nf" if n % 2 else "pnet-metastatic-ww"]]
    began = time.perf_counter()
    count = sum(len(compute_schedule(h, protocols[pid], flags, as_of=AS_OF)) for pid, h, flags in cohort)
    seconds = time.perf_counter() - began
    print(f"{args.patients} histories, {count} due items: {seconds:.2f} s total "
          f"({seconds / args.patients * 1e6:.0f} µs per patient)")


if __name__ == "__main__":
    main()
