"""A seeded synthetic cohort: patient documents (schemas/patient.schema.json) for benchmarks,
demos and tests. Pure: standard library only, no database, no clock (the as-of date is passed in).

Proportions and rates:

- 80 % small non-functioning pNET on `pnet-small-nf`: baseline MRI (+ SSTR-PET in most, EUS-FNA
  with Ki-67 in half), imaging at months 6 and 12, yearly to year 5, then every 24 months, a clinic
  visit with each imaging (and a yearly one after year 5). Most lesions are stable (drift around
  0.12 mm/year, Gaujoux 2013) with ±1 mm measurement noise; about 15 % grow 1–4 mm/year (13–22 %
  grow in the cohorts), a few of them past 20 mm, after which some leave for surgery.
- 20 % low-grade metastatic pNET on `pnet-metastatic-ww`: a primary and 1–4 liver lesions growing
  slowly; imaging every 3 months in year 1, then every 6 months; new liver lesions appear after a
  time to progression drawn around Gao 2020 (median 24 / 10 / 6 months by risk factors), after
  which some leave for treatment.
- Every visit has a routine panel (glucose, bilirubin, creatinine, eGFR, ALT); chromogranin A at
  baseline (then with imaging when the baseline was raised, always on the metastatic protocol).
  Dates are late by −2..+6 weeks, a few items are missed, some patients take a PPI (raised CgA),
  a few report symptoms, and a few leave surveillance (patient choice, lost to follow-up, death).

Each patient has its own random stream seeded by (seed, index), so patient k is the same whatever
N. Every date is on or before `as_of`. Counting a scan's lesions as records, a 10-year cohort has
about 100 records per patient.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

DEFAULT_AS_OF = date(2026, 11, 22)
LAB = "Synthetic Regional Lab"
CGA_ASSAY = "BRAHMS CgA II KRYPTOR"
CGA_ULN = 102
# (analyte, unit, upper limit, typical value, spread)
ROUTINE = (("glucose", "mmol/L", 6.0, 5.2, 0.5), ("bilirubin", "umol/L", 21, 10, 3),
           ("creatinine", "umol/L", 110, 80, 12), ("egfr", "mL/min/{1.73_m2}", None, 85, 10),
           ("other", "U/L", 45, 25, 8))  # "other" is ALT (alanine aminotransferase)


def _add_months(d: date, months: float) -> date:
    return d + timedelta(days=round(months * 30.4375))


def _late(rng: random.Random) -> int:
    """Days late (negative: early) of a planned item: −2..+6 weeks, skewed late."""
    return round(rng.triangular(-14, 42, 3))


def _mm(x: float) -> float:
    return round(min(max(x, 1.0), 95.0), 1)


class _Patient:
    t_stage: str | None

    def __init__(self, index: int, seed: int, years: float, as_of: date) -> None:
        self.rng = rng = random.Random(f"{seed}:{index}")
        self.as_of = as_of
        self.label = f"SYN-{index:05d}"
        self.metastatic = rng.random() < 0.20
        span = round(years * 365.25)
        self.start = as_of - timedelta(days=span - rng.randrange(0, 120))
        self.diagnosis = self.start - timedelta(days=rng.randrange(7, 60))
        self.birth_year = self.start.year - rng.randrange(35, 80)
        self.on_ppi = rng.random() < 0.15
        self.weight = rng.uniform(55, 100)
        self.visits: list[dict[str, Any]] = []
        self.labs: list[dict[str, Any]] = []
        self.scans: list[dict[str, Any]] = []
        self.pathology: list[dict[str, Any]] = []
        self.left: dict[str, str] | None = None
        self.end = as_of  # last day of follow-up
        # leaving for a reason unrelated to the tumour: ~1 %/year each
        for reason in ("patient_choice", "lost_to_follow_up", "death"):
            t = rng.expovariate(0.005) * 365.25
            if self.start + timedelta(days=t) < self.end and rng.random() < 0.5:
                self.end = self.start + timedelta(days=t)
                self.left = {"date": self.end.isoformat(), "reason": reason}

    # ------------------------------------------------------------------ records
    def visit(self, d: date, *, symptoms: bool = True) -> None:
        """A clinic visit with the routine panel; at most one a day."""
        rng = self.rng
        if self.visits and any(v["date"] == d.isoformat() for v in self.visits[-3:]):
            return
        self.weight += rng.gauss(0, 0.8)
        v: dict[str, Any] = {"date": d.isoformat(), "weight_kg": round(self.weight, 1)}
        if symptoms and rng.random() < 0.03:
            v["symptoms"] = [rng.choice(["abdominal_pain", "back_pain", "diarrhoea", "flushing", "other"])]
            if v["symptoms"] == ["other"]:
                v["symptom_other"] = rng.choice(["fatigue", "nausea", "heartburn"])
        if self.on_ppi:
            v["on_ppi"] = True
        if rng.random() < 0.1:
            v["performance_status"] = 0 if not self.metastatic else rng.choice([0, 0, 1])
        self.visits.append(v)
        for analyte, unit, uln, typical, spread in ROUTINE:
            value = round(max(rng.gauss(typical, spread), typical / 4), 1)
            lab: dict[str, Any] = {"date": d.isoformat(), "analyte": analyte, "value": value, "unit": unit,
                                   "lab": LAB}
            if uln is not None:
                lab["upper_limit"] = uln
            if analyte == "other":
                lab["analyte_other"] = "ALT"
            self.labs.append(lab)

    def cga(self, d: date, value: float) -> None:
        self.labs.append({"date": d.isoformat(), "analyte": "chromogranin_a", "value": round(value),
                          "unit": "ng/mL", "lab": LAB, "assay": CGA_ASSAY, "upper_limit": CGA_ULN})

    def scan(self, d: date, modality: str, lesions: list[dict[str, Any]], *, ducts: bool = True) -> None:
        s: dict[str, Any] = {"date": d.isoformat(), "modality": modality, "lesions": lesions}
        if ducts:
            s["mpd_mm"] = round(self.rng.uniform(1.4, 2.6), 1)
        self.scans.append(s)

    # ------------------------------------------------------------------ timelines
    def timepoints(self, phases: list[tuple[int, int]]) -> Iterator[tuple[date, float]]:
        """Imaging dates after baseline: the next is one interval after the last one done,
        with lateness and a few missed; stops at the end of follow-up."""
        rng = self.rng
        last = self.start
        while True:
            months = (last - self.start).days / 30.4375
            interval = [iv for frm, iv in phases if months >= frm - 1][-1]
            due = _add_months(last, interval)
            done = due + timedelta(days=_late(rng))
            if rng.random() < 0.04:  # missed: comes back months later
                done += timedelta(days=rng.randrange(60, 200))
            if done > self.end or done > self.as_of:
                return
            last = done
            yield done, (done - self.start).days / 365.25

    def small_nf(self) -> None:
        rng = self.rng
        size0 = min(max(rng.lognormvariate(2.45, 0.25), 5.0), 18.0)
        onset = 0.0
        if rng.random() < 0.15:
            onset = rng.uniform(0, 8)  # years of stability before growth starts
            rate = rng.uniform(1.0, 4.0)  # growing minority
            if rng.random() < 0.25:
                size0 = rng.uniform(15.0, 18.5)  # a few will pass 20 mm
        else:
            rate = rng.gauss(0.12, 0.15)
        mpd = rng.uniform(1.4, 2.4)
        modality = "MRI" if rng.random() < 0.85 else rng.choice(["CT", "EUS"])
        cga0 = rng.uniform(150, 420) if self.on_ppi else rng.lognormvariate(4.0, 0.4)
        raised = cga0 > CGA_ULN

        def size(t: float) -> float:
            return size0 + rate * max(t - onset, 0.0) + rng.uniform(-1.0, 1.0)

        def lesion(t: float) -> dict[str, Any]:
            return {"lesion": "P1", "site": "pancreas", "longest_mm": _mm(size(t))}

        self.visit(self.start, symptoms=False)
        self.cga(self.start, cga0)
        self.scan(self.start, "MRI", [lesion(0)])
        self.scans[-1]["mpd_mm"] = round(mpd, 1)
        if rng.random() < 0.7:
            d = self.start + timedelta(days=rng.randrange(7, 28))
            self.scan(d, "SSTR-PET", [{"lesion": "P1", "site": "pancreas", "pet_avid": True}], ducts=False)
        if rng.random() < 0.5:
            ki67 = round(rng.uniform(0.5, 2.9), 1) if rng.random() < 0.85 else round(rng.uniform(3, 6), 1)
            self.pathology.append({"date": (self.start + timedelta(days=rng.randrange(7, 35))).isoformat(),
                                   "ki67_pct": ki67, "notes": "EUS-FNA"})
        treat_after: date | None = None
        surgery = rng.random() < 0.4  # leaves for surgery once past 20 mm
        last_visit_year = 0
        for d, t in self.timepoints([(0, 6), (12, 12), (60, 24)]):
            # a yearly clinic visit between 24-monthly scans
            while last_visit_year + 1 < int(t) and t > 5:
                last_visit_year += 1
                vd = _add_months(self.start, 12 * last_visit_year) + timedelta(days=_late(rng))
                if vd < d - timedelta(days=60):
                    self.visit(vd)
            last_visit_year = max(last_visit_year, int(t))
            m = modality if rng.random() < 0.95 else rng.choice(["MRI", "CT", "EUS"])
            self.scan(d, m, [lesion(t)])
            self.scans[-1]["mpd_mm"] = round(mpd + rng.uniform(-0.3, 0.3), 1)
            self.visit(d)
            if raised:
                self.cga(d, cga0 * rng.uniform(0.8, 1.25))
            if treat_after is None and surgery and size0 + rate * max(t - onset, 0.0) > 20:
                treat_after = d + timedelta(days=rng.randrange(30, 150))
            if treat_after is not None and treat_after <= self.end:
                self.end = treat_after
                self.left = {"date": treat_after.isoformat(), "reason": "treatment"}
                break

    def metastatic_ww(self) -> None:
        rng = self.rng
        primary_resected = rng.random() < 0.4
        t_stage = rng.choice(["T1", "T2", "T2", "T3", "T4"])
        livers = [rng.uniform(4, 30) for _ in range(rng.randint(1, 4))]
        risk = (max(livers) > 5) + (not primary_resected) + (t_stage in ("T3", "T4"))
        ttp_months = rng.expovariate(1.0) * {0: 24, 1: 10}.get(risk, 6) / 0.693
        tgr = rng.uniform(0.1, 1.2) / 100  # diameter growth per month
        primary = rng.uniform(15, 40)
        modality = "MRI" if rng.random() < 0.6 else "CT"
        cga0 = rng.uniform(120, 900)
        self.t_stage, self.primary_resected = t_stage, primary_resected
        new_lesions: list[tuple[str, float]] = []

        def lesions(t_months: float) -> list[dict[str, Any]]:
            g = (1 + tgr) ** t_months
            out: list[dict[str, Any]] = []
            if not primary_resected:
                out.append({"lesion": "P1", "site": "pancreas", "longest_mm": _mm(primary * g + rng.uniform(-1, 1))})
            for i, s in enumerate(livers, 1):
                out.append({"lesion": f"L{i}", "site": "liver", "longest_mm": _mm(s * g + rng.uniform(-1, 1))})
            for name, since in new_lesions:
                x = {"lesion": name, "site": "liver", "longest_mm": _mm(5 * (1 + tgr) ** (t_months - since))}
                if since == t_months:
                    x["is_new"] = True
                out.append(x)
            return out

        self.visit(self.start, symptoms=False)
        self.cga(self.start, cga0)
        self.scan(self.start, modality, lesions(0))
        self.scan(self.start + timedelta(days=rng.randrange(7, 28)), "SSTR-PET",
                  [{"lesion": "L1", "site": "liver", "pet_avid": True}], ducts=False)
        self.pathology.append({"date": (self.start - timedelta(days=rng.randrange(1, 6))).isoformat(),
                               "ki67_pct": round(rng.uniform(1, 12), 1), "notes": "liver biopsy"})
        for d, t in self.timepoints([(0, 3), (12, 6)]):
            months = t * 12
            if months >= ttp_months and rng.random() < 0.5:
                new_lesions.append((f"L{len(livers) + len(new_lesions) + 1}", months))
                ttp_months = months + rng.expovariate(1.0) * 12
                if rng.random() < 0.3:
                    self.end = d + timedelta(days=rng.randrange(20, 90))
                    self.left = {"date": self.end.isoformat(), "reason": "treatment"}
            self.scan(d, modality, lesions(months))
            self.visit(d)
            self.cga(d, cga0 * (1 + tgr) ** (2 * months) * rng.uniform(0.85, 1.15))
            if self.left and self.left["reason"] == "treatment":
                break

    def document(self) -> dict[str, Any]:
        rng = self.rng
        self.t_stage = None
        self.primary_resected = False
        if self.metastatic:
            self.metastatic_ww()
        else:
            self.small_nf()
            self.t_stage = "T1"
        if self.left is not None and self.end > self.as_of:
            self.left = None
        if self.left is None and rng.random() < 0.02 and self.visits:
            self.visits[-1]["wants_to_leave"] = True
        patient: dict[str, Any] = {
            "label": self.label, "birth_year": self.birth_year, "sex": rng.choice(["female", "male"]),
            "diagnosis_date": self.diagnosis.isoformat(),
            "setting": "metastatic" if self.metastatic else "small_nf",
            "primary_resected": self.primary_resected, "t_stage": self.t_stage,
            "protocol": {"id": "pnet-metastatic-ww" if self.metastatic else "pnet-small-nf",
                         "start": self.start.isoformat()},
            "source": "import", "notes": "synthetic",
        }
        if self.left is not None:
            patient["left_surveillance"] = self.left
        by_date = sorted
        return {"schema_version": 1, "synthetic": True, "patient": patient,
                "visits": by_date(self.visits, key=lambda r: r["date"]),
                "labs": by_date(self.labs, key=lambda r: (r["date"], r["analyte"])),
                "scans": by_date(self.scans, key=lambda r: (r["date"], r["modality"])),
                "pathology": self.pathology}


def patient_document(index: int, *, seed: int = 1, years: float = 10, as_of: date = DEFAULT_AS_OF) -> dict[str, Any]:
    """The document of synthetic patient `index` (0-based) of the cohort with this seed."""
    return _Patient(index, seed, years, as_of).document()


def cohort(n: int, *, seed: int = 1, years: float = 10, as_of: date = DEFAULT_AS_OF) -> Iterator[dict[str, Any]]:
    """The N patient documents of a cohort, one at a time."""
    for i in range(n):
        yield patient_document(i, seed=seed, years=years, as_of=as_of)


def record_count(doc: dict[str, Any]) -> int:
    """Records of one document, counting each lesion measurement of a scan as a record too."""
    return (len(doc["visits"]) + len(doc["labs"]) + len(doc["pathology"]) + len(doc["scans"])
            + sum(len(s["lesions"]) for s in doc["scans"]))


def write_cohort(path: Any, n: int, *, seed: int = 1, years: float = 10, as_of: date = DEFAULT_AS_OF) -> int:
    """Write a cohort document, one patient per line (compact JSON); returns the record count."""
    import io
    import json
    from pathlib import Path

    from tracker.private import write_private

    total = 0

    def write(raw: Any) -> None:
        nonlocal total
        f = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        f.write('{"schema_version": 1, "synthetic": true, "patients": [\n')
        for i, doc in enumerate(cohort(n, seed=seed, years=years, as_of=as_of)):
            total += record_count(doc)
            f.write(("," if i else "") + json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n")
        f.write("]}\n")
        f.flush()
        f.detach()

    write_private(Path(path), write)
    return total
