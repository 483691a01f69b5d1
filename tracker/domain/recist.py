"""RECIST 1.1 sums of target diameters for the metastatic protocol (Eisenhauer 2009).

Pure: standard library and `tracker.domain` only. Re-exported by `tracker.domain.measures`.

The rule book (RECIST 1.1 as the protocol settles it):
- Only CT and MRI measure RECIST (`RECIST_MODALITIES`): EUS, ultrasound and PET sizes never
  enter a target sum, a baseline or a nadir; they still count for new lesions. The RECIST
  baseline is the first CT or MRI on or after the protocol start.
- Targets are chosen automatically at the baseline: up to `max_targets` measurable lesions, at
  most `max_per_organ` per organ, largest first (ties by label). A lesion is measurable at
  `min_measurable_mm` longest diameter; a node (`NODE_SITES`, counted as one organ) at
  `node_measurable_short_axis_mm` short axis, ranked and summed by short axis. Bone lesions are
  never targets (blastic bone disease is not measurable); they count as new lesions.
- A non-nodal target may be recorded as 0 mm (disappeared).
- A lesion is new when a scan (any modality, PET included) marks it new, dated after the previous
  RECIST point and up to this one.
- PD: sum ≥ (100 + rel_pct) % of the nadir and ≥ nadir + abs_mm (integer-exact: for 20 % this is
  5 × sum ≥ 6 × nadir), or any new lesion. The nadir is the smallest earlier evaluable sum,
  baseline included.
- A target not measured at a scan makes the time point not evaluable ("NE", no sum), unless the
  targets that were measured already meet PD by their own sum: then it is PD. A not-evaluable
  time point never becomes a nadir.
- CR: every non-nodal target 0 mm and every target node under `normal_node_short_axis_mm` (10)
  short axis. PR: sum ≤ (100 − pr_pct) % of the baseline sum. Else SD. The response follows
  RECIST 1.1 table 1 literally: a PR that regrows without reaching PD reads SD.
- Without a measurable target at the baseline there is no sum: each later point reads PD when a
  new lesion appears, else "no target" (no measurable disease; non-target progression is not
  judged by the tool).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracker.domain.model import (
    NODE_SITES,
    ImagingStudy,
    LesionMeasurement,
    Modality,
    PatientHistory,
    Site,
)
from tracker.domain.protocol import RuleConfig, SurveillanceProtocol

RECIST_RULE = "recist.progression"
_Date = date  # the type, for annotations inside RecistPoint (whose field `date` hides it)
#: The modalities that measure RECIST target lesions.
RECIST_MODALITIES = frozenset({Modality.CT, Modality.MRI})
#: The response of a point after a baseline that had no measurable target and no new lesion.
NO_TARGET = "no target"
#: Default short axis under which a target node is normal (RECIST 1.1: < 10 mm).
DEFAULT_NORMAL_NODE_MM = Decimal(10)


def lesion_label(m: LesionMeasurement) -> str:
    """The order of a scan's lesions, wherever a scan is built (its lesions sorted by label)."""
    return m.lesion


def size_of(m: LesionMeasurement) -> Decimal | None:
    """Short axis for nodes, longest diameter otherwise."""
    return m.short_axis_mm if m.site in NODE_SITES else m.longest_mm


@dataclass(frozen=True)
class RecistPoint:
    """The RECIST time point of one CT or MRI scan from the RECIST baseline on.

    `sum_mm` is the sum of every target, None when a target was not measured (or there is no
    target); `measured_mm` is the sum of the targets that were measured (equal to `sum_mm` when
    none is missing); `missing` names the targets not measured. `nadir_mm` is the smallest earlier
    evaluable sum, baseline included (None at baseline); `refs` cite the target and new-lesion
    measurements; `baseline_ref` and `baseline_date` name the baseline scan."""

    date: date
    sum_mm: Decimal | None
    baseline_mm: Decimal | None
    nadir_mm: Decimal | None
    response: str
    targets: tuple[str, ...]
    new_lesions: tuple[str, ...]
    refs: tuple[str, ...]
    modality: Modality
    scan_ref: str
    measured_mm: Decimal | None = None
    missing: tuple[str, ...] = ()
    baseline_ref: str = ""
    baseline_date: _Date | None = None

    @property
    def pct_from_baseline(self) -> Decimal | None:
        """100 × (sum − baseline) / baseline, exact; None without a sum or a baseline sum above 0."""
        return _pct(self.baseline_mm, self.sum_mm)

    @property
    def pct_from_nadir(self) -> Decimal | None:
        """100 × (sum − nadir) / nadir, of the measured targets when one is missing (a PD by the
        measured sum); None without a nadir above 0."""
        return _pct(self.nadir_mm, self.sum_mm if self.sum_mm is not None else self.measured_mm)


def _pct(ref: Decimal | None, value: Decimal | None) -> Decimal | None:
    return None if ref is None or value is None or ref <= 0 else 100 * (value - ref) / ref


def is_progression(current: Decimal, nadir: Decimal, rel_pct: Decimal, abs_mm: Decimal) -> bool:
    """RECIST PD by sum, exact: current ≥ nadir × (1 + rel_pct/100) and current − nadir ≥ abs_mm."""
    return 100 * current >= (100 + rel_pct) * nadir and current - nadir >= abs_mm


def choose_targets(scan: ImagingStudy, cfg: RuleConfig) -> tuple[str, ...]:
    """Target labels at the baseline scan: largest measurable first, capped per organ and in all;
    bone lesions are never targets."""
    measurable = sorted(
        ((size, m.lesion, "node" if m.site in NODE_SITES else m.site.value)
         for m in scan.lesions
         if m.site is not Site.BONE and (size := size_of(m)) is not None and size >= _min_size(m, cfg)),
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


def recist_baseline(history: PatientHistory,
                    modalities: frozenset[Modality] = RECIST_MODALITIES) -> ImagingStudy | None:
    """The first CT or MRI scan (or one of `modalities`) on or after the protocol start."""
    start = history.patient.protocol_start
    return next((s for s in history.scans if s.modality in modalities and s.date >= start), None)


def recist_series(history: PatientHistory, protocol: SurveillanceProtocol) -> list[RecistPoint]:
    """One point per CT or MRI scan from the RECIST baseline on; [] without a baseline scan."""
    cfg = protocol.rule(RECIST_RULE)
    base = recist_baseline(history)
    if base is None:
        return []
    targets = choose_targets(base, cfg)
    base_sum = _sums(base, targets)[0] if targets else None
    marked = _marked_new(history.scans)
    points: list[RecistPoint] = []
    nadir: Decimal | None = None  # the smallest earlier evaluable sum (the first of equal ones)
    for s in (s for s in history.scans if s.modality in RECIST_MODALITIES and s.date >= base.date):
        point = _point(marked, s, targets, base, base_sum, nadir, points[-1].date if points else None, cfg)
        points.append(point)
        if point.sum_mm is not None and (nadir is None or point.sum_mm < nadir):
            nadir = point.sum_mm
    return points


def _sums(scan: ImagingStudy, targets: Sequence[str]) -> tuple[Decimal, tuple[str, ...]]:
    """(the sum of the targets measured at `scan`, the targets it does not measure)."""
    sizes: dict[str, Decimal | None] = {}
    for m in scan.lesions:
        sizes.setdefault(m.lesion, size_of(m))
    measured = [v for t in targets if (v := sizes.get(t)) is not None]
    return sum(measured, Decimal(0)), tuple(t for t in targets if sizes.get(t) is None)


def _marked_new(scans: Sequence[ImagingStudy]) -> list[tuple[date, str, str]]:
    """(date, label, ref) of every measurement any scan marks new, in scan then lesion order."""
    return [(s.date, m.lesion, s.lesion_ref(m.lesion)) for s in scans for m in s.lesions if m.is_new]


def _point(marked: Sequence[tuple[date, str, str]], s: ImagingStudy, targets: tuple[str, ...], base: ImagingStudy,
           base_sum: Decimal | None, nadir: Decimal | None, previous: date | None, cfg: RuleConfig) -> RecistPoint:
    """The point of scan `s`; `previous` is the date of the point before it (None at baseline)."""
    measured, missing = _sums(s, targets)
    new = [(label, ref) for when, label, ref in marked if previous is not None and previous < when <= s.date]
    refs = tuple(s.lesion_ref(m.lesion) for m in s.lesions if m.lesion in targets) + tuple(r for _, r in new)
    if previous is None:
        response = "baseline"
    elif not targets:
        response = "PD" if new else NO_TARGET
    else:
        response = _response(s, targets, measured, missing, base_sum, nadir, bool(new), cfg)
    return RecistPoint(
        date=s.date, sum_mm=measured if targets and not missing else None, baseline_mm=base_sum, nadir_mm=nadir,
        response=response, targets=targets, new_lesions=tuple(dict.fromkeys(n for n, _ in new)), refs=refs,
        modality=s.modality, scan_ref=s.ref, measured_mm=measured if targets else None, missing=missing,
        baseline_ref=base.ref, baseline_date=base.date,
    )


def _response(s: ImagingStudy, targets: tuple[str, ...], total: Decimal, missing: tuple[str, ...],
              base: Decimal | None, nadir: Decimal | None, new: bool, cfg: RuleConfig) -> str:
    if new:
        return "PD"
    if nadir is not None and is_progression(total, nadir, cfg.dec("rel_pct"), cfg.dec("abs_mm")):
        return "PD"  # a missing target cannot make the measured ones any smaller
    if missing or nadir is None or base is None:
        return "NE"
    if _complete_response(s, targets, Decimal(str(cfg.params.get("normal_node_short_axis_mm",
                                                                   DEFAULT_NORMAL_NODE_MM)))):
        return "CR"
    if 100 * total <= (100 - cfg.dec("pr_pct")) * base:
        return "PR"
    return "SD"


def _complete_response(s: ImagingStudy, targets: tuple[str, ...], normal_node: Decimal) -> bool:
    """Every non-nodal target 0 mm and every target node under `normal_node` short axis."""
    by_name: dict[str, LesionMeasurement] = {}
    for m in s.lesions:
        by_name.setdefault(m.lesion, m)
    for t in targets:
        m = by_name[t]
        size = size_of(m)
        if size is None or (size >= normal_node if m.site in NODE_SITES else size != 0):
            return False
    return True
