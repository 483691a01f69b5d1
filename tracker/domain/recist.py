"""RECIST 1.1 sums of target diameters for the metastatic protocol (clinical-evidence §4.1).

Pure: standard library and `tracker.domain` only. Re-exported by `tracker.domain.measures`.

Settled in rules.md §4:
- Targets are chosen automatically at the first CT, MRI or EUS scan on or after the protocol
  start (the RECIST baseline): up to `max_targets` measurable lesions, at most `max_per_organ` per
  organ, largest first (ties by label). A lesion is measurable at `min_measurable_mm` longest
  diameter; a node (`NODE_SITES`, counted as one organ) at `node_measurable_short_axis_mm` short
  axis, measured by short axis.
- A scan that does not size every target is "NE" (not evaluable) and has no sum.
- A lesion is new when a scan (any modality, PET included) marks it new, dated after the previous
  RECIST point and up to this one.
- PD: sum ≥ (100 + rel_pct) % of the nadir and ≥ nadir + abs_mm (integer-exact: for 20 % this is
  5 × sum ≥ 6 × nadir), or any new lesion. PR: sum ≤ (100 − pr_pct) % of the baseline.
  CR: every target measures 0 mm (the node < 10 mm refinement is not judged). Else SD.
  Non-target progression is not judged by the tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracker.domain.model import (
    NODE_SITES,
    SIZING_MODALITIES,
    ImagingStudy,
    LesionMeasurement,
    Modality,
    PatientHistory,
)
from tracker.domain.protocol import RuleConfig, SurveillanceProtocol

RECIST_RULE = "recist.progression"


def size_of(m: LesionMeasurement) -> Decimal | None:
    """Short axis for nodes, longest diameter otherwise."""
    return m.short_axis_mm if m.site in NODE_SITES else m.longest_mm


@dataclass(frozen=True)
class RecistPoint:
    """The target sum at one CT/MRI/EUS scan from the RECIST baseline on.

    `sum_mm` is None when a target was not sized ("NE"); `nadir_mm` is the smallest earlier
    sum, baseline included (None at baseline); `refs` cite the target and new-lesion measurements."""

    date: date
    sum_mm: Decimal | None
    baseline_mm: Decimal
    nadir_mm: Decimal | None
    response: str
    targets: tuple[str, ...]
    new_lesions: tuple[str, ...]
    refs: tuple[str, ...]
    modality: Modality
    scan_ref: str


def is_progression(current: Decimal, nadir: Decimal, rel_pct: Decimal, abs_mm: Decimal) -> bool:
    """RECIST PD by sum, exact: current ≥ nadir × (1 + rel_pct/100) and current − nadir ≥ abs_mm."""
    return 100 * current >= (100 + rel_pct) * nadir and current - nadir >= abs_mm


def choose_targets(scan: ImagingStudy, cfg: RuleConfig) -> tuple[str, ...]:
    """Target labels at the baseline scan: largest measurable first, capped per organ and in all."""
    measurable = sorted(
        ((size, m.lesion, "node" if m.site in NODE_SITES else m.site.value)
         for m in scan.lesions if (size := size_of(m)) is not None and size >= _min_size(m, cfg)),
        key=lambda t: (-t[0], t[1]),
    )
    chosen: list[str] = []
    per_organ: dict[str, int] = {}
    for _, label, organ in measurable:
        if len(chosen) < int(cfg.param("max_targets")) and per_organ.get(organ, 0) < int(
                cfg.param("max_per_organ")):
            chosen.append(label)
            per_organ[organ] = per_organ.get(organ, 0) + 1
    return tuple(chosen)


def _min_size(m: LesionMeasurement, cfg: RuleConfig) -> Decimal:
    return cfg.dec("node_measurable_short_axis_mm" if m.site in NODE_SITES else "min_measurable_mm")


def recist_baseline(history: PatientHistory) -> ImagingStudy | None:
    """The first CT, MRI or EUS scan on or after the protocol start."""
    start = history.patient.protocol_start
    return next((s for s in history.scans if s.modality in SIZING_MODALITIES and s.date >= start), None)


def recist_series(history: PatientHistory, protocol: SurveillanceProtocol) -> list[RecistPoint]:
    """One point per CT/MRI/EUS scan from the RECIST baseline on; [] without a baseline scan or
    without a measurable target."""
    cfg = protocol.rule(RECIST_RULE)
    base = recist_baseline(history)
    targets = choose_targets(base, cfg) if base else ()
    if base is None or not targets:
        return []
    scans = [s for s in history.scans if s.modality in SIZING_MODALITIES and s.date >= base.date]
    base_sum = _target_sum(base, targets)
    assert base_sum is not None  # every target was sized at baseline by construction
    marked = _marked_new(history.scans)
    points: list[RecistPoint] = []
    nadir: Decimal | None = None  # the smallest earlier sum (the first of equal ones, as min() keeps)
    for s in scans:
        point = _point(marked, s, targets, base_sum, nadir, points[-1].date if points else None, cfg)
        points.append(point)
        if point.sum_mm is not None and (nadir is None or point.sum_mm < nadir):
            nadir = point.sum_mm
    return points


def _target_sum(scan: ImagingStudy, targets: Sequence[str]) -> Decimal | None:
    sizes = {m.lesion: size_of(m) for m in scan.lesions}
    values = [sizes.get(t) for t in targets]
    return None if any(v is None for v in values) else sum((v for v in values if v is not None), Decimal(0))


def _marked_new(scans: Sequence[ImagingStudy]) -> list[tuple[date, str, str]]:
    """(date, label, ref) of every measurement any scan marks new, in scan then lesion order."""
    return [(s.date, m.lesion, s.lesion_ref(m.lesion)) for s in scans for m in s.lesions if m.is_new]


def _point(marked: Sequence[tuple[date, str, str]], s: ImagingStudy, targets: tuple[str, ...], base_sum: Decimal,
           nadir: Decimal | None, previous: date | None, cfg: RuleConfig) -> RecistPoint:
    """The point of scan `s`; `previous` is the date of the point before it (None at baseline)."""
    total = _target_sum(s, targets)
    new = [(label, ref) for when, label, ref in marked if previous is not None and previous < when <= s.date]
    refs = tuple(s.lesion_ref(m.lesion) for m in s.lesions if m.lesion in targets) + tuple(r for _, r in new)
    return RecistPoint(
        date=s.date, sum_mm=total, baseline_mm=base_sum, nadir_mm=nadir,
        response=_response(total, base_sum, nadir, bool(new), cfg) if previous is not None else "baseline",
        targets=targets, new_lesions=tuple(dict.fromkeys(n for n, _ in new)), refs=refs,
        modality=s.modality, scan_ref=s.ref,
    )


def _response(total: Decimal | None, base: Decimal, nadir: Decimal | None, new: bool, cfg: RuleConfig) -> str:
    if new:
        return "PD"
    if total is None or nadir is None:
        return "NE"
    if is_progression(total, nadir, cfg.dec("rel_pct"), cfg.dec("abs_mm")):
        return "PD"
    if total == 0:
        return "CR"
    if 100 * total <= (100 - cfg.dec("pr_pct")) * base:
        return "PR"
    return "SD"
