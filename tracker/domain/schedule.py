"""The surveillance schedule: which item of each kind falls due next, when, and why.

Pure: standard library and `tracker.domain` only (calendar months: `dates`). Time is
passed in as `as_of`; nothing here reads the clock, a database or a file.

The semantics are those of the protocol rule book ("Scheduling"); where it is
silent, the choice made here is written down in `schemas/protocol.schema.json` ($comment
"scheduling choices") and below:

- Anchor. The protocol start is the baseline imaging date. Only records dated after the
  protocol start re-anchor an item; a study on the start date is the baseline itself, and a
  record before the start (for example under a previous protocol) never anchors the current
  protocol. So after a protocol change the first item is start + interval.
- Escalation anchor. With no imaging since the start, "the last completed imaging" is the
  baseline at the start: a flag dated on or after the start may escalate.
- Items "with each imaging" (visit, lab): for the imaging cycle of the last completed imaging L
  and of the next imaging N, a completing record dated on or after a cycle's window start
  (its date − due_soon_days) serves that cycle. The latest record R decides:
  R in N's window → due with the imaging planned after N (N done on its due date);
  no imaging since the start, or R on/after L's window start → due with N (same escalation);
  otherwise the companion of L was missed → due on L's date.
  The baseline cycle (the protocol start) asks for no companion.
- Baseline of a lab: the latest result on or before start + baseline_days (any time before
  the start counts). For an `at_start` item a later first result is a late baseline: it
  completes the at-start item and its value decides. A result with no upper limit is not above
  it.
- Occurrence (`DueItem.counts_from`): an item counts from the record it is scheduled after, the
  last completed imaging for imaging, the latest completing visit or result after the start for
  an item with each imaging, and the protocol start when there is none. Escalation and a
  companion moving with its imaging keep it; completing the item gives the next one a new date.
  In a preview, each planned item counts from the planned date of the one before.
- Flags: every flag given is taken as this patient's open flag; one dated after `as_of` is
  ignored.
- As of a date, only what is dated on or before it exists, the leaving event too: before the
  leaving date the schedule is that of a patient under surveillance (items due after the leaving
  date included); from the leaving date nothing is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from tracker.domain.dates import add_days, add_months, calendar_months_between
from tracker.domain.model import (
    Analyte,
    DueItem,
    DueStatus,
    Flag,
    ImagingStudy,
    ItemKind,
    LabResult,
    PatientHistory,
    Severity,
)
from tracker.domain.protocol import ItemSpec, SurveillanceProtocol
from tracker.domain.units import analyte_name

OVERDUE_RULE = "schedule.overdue"
#: Watch flags that never shorten an interval: an overdue item, and a possible entry error
#: ("check this entry"), which is settled by verifying the record, not by a scan.
NEVER_ESCALATE = frozenset({OVERDUE_RULE, "data.implausible"})
#: Version stamped on the flags this module raises; bump it when their logic changes.
SCHEDULE_RULE_VERSION = "schedule-2"
#: Columns of a schedule row, in order (schemas/due-item.schema.json; CSV header).
DUE_ITEM_FIELDS = (
    "patient", "kind", "what", "due_date", "window_start", "window_end", "status", "reason",
    "escalated_by", "counts_from",
)


@dataclass(frozen=True)
class _Planned:
    """A due date before its window is applied."""

    due: date
    reason: str
    counts_from: date  # DueItem.counts_from
    escalated_by: str | None = None


@dataclass(frozen=True)
class _Cycle:
    """The imaging cycles that companion items follow."""

    start: date  # the protocol start
    last: date | None  # last completed imaging after the start
    next: _Planned
    following: date  # the imaging after `next`, if `next` is done on its due date


# --------------------------------------------------------------------------- windows


def item_status(due: date, as_of: date, protocol: SurveillanceProtocol) -> DueStatus:
    """The window of an item due on `due`, on the date `as_of`."""
    if as_of < add_days(due, -protocol.due_soon_days):
        return DueStatus.NOT_DUE
    if as_of < due:
        return DueStatus.DUE_SOON
    if as_of <= add_days(due, protocol.grace_days):
        return DueStatus.DUE
    return DueStatus.OVERDUE


def _window_start(due: date, protocol: SurveillanceProtocol) -> date:
    return add_days(due, -protocol.due_soon_days)


def _due_item(label: str, kind: ItemKind, what: str, plan: _Planned, protocol: SurveillanceProtocol,
              status: DueStatus) -> DueItem:
    return DueItem(
        patient=label, kind=kind, what=what, due_date=plan.due,
        window_start=_window_start(plan.due, protocol),
        window_end=add_days(plan.due, protocol.grace_days),
        status=status, reason=plan.reason, counts_from=plan.counts_from, escalated_by=plan.escalated_by,
    )


# --------------------------------------------------------------------------- imaging


def imaging_spec(protocol: SurveillanceProtocol) -> ItemSpec:
    """The protocol's imaging item (protocol_from_dict guarantees exactly one)."""
    spec = protocol.item(ItemKind.IMAGING)
    assert spec is not None, "protocol_from_dict guarantees an imaging item"
    return spec


def imaging_interval(spec: ItemSpec, start: date, last: date, *, flag_open: bool) -> int:
    """Months to the next imaging: the phase is chosen by calendar months from the start to the
    last completed imaging."""
    months = calendar_months_between(start, last)
    phase = spec.phases[0]
    for candidate in spec.phases:
        if candidate.from_month <= months:
            phase = candidate
    if flag_open and phase.interval_months_if_flag_open is not None:
        return phase.interval_months_if_flag_open
    return phase.interval_months


def _escalating(flags: Iterable[Flag], protocol: SurveillanceProtocol, as_of: date) -> list[Flag]:
    """Open flags that shorten intervals: watch/action, never schedule.overdue or data.implausible."""
    return [
        f for f in flags
        if f.severity in protocol.escalation_severities and f.rule_id not in NEVER_ESCALATE
        and f.severity is not Severity.INFO and f.date <= as_of
    ]


def _last_scan(scans: Sequence[ImagingStudy], spec: ItemSpec, start: date) -> ImagingStudy | None:
    done = [s for s in scans if s.modality in spec.completed_by and s.date > start]
    return done[-1] if done else None


def _regular_imaging(spec: ItemSpec, start: date, last: ImagingStudy | None, flag_open: bool) -> _Planned:
    anchor = last.date if last else start
    months = imaging_interval(spec, start, anchor, flag_open=flag_open)
    after = f"the {last.modality.value} of {anchor}" if last else f"the protocol start {anchor}"
    return _Planned(add_months(anchor, months), f"{months} months after {after}", counts_from=anchor)


def _escalated(plan: _Planned, flags: Sequence[Flag], anchor: date,
               protocol: SurveillanceProtocol) -> _Planned:
    """The earliest date a flag dated on/after the anchor brings the imaging to, if earlier."""
    months = protocol.escalation_max_months
    best = plan
    for flag in sorted(flags, key=lambda f: (f.date, f.rule_id)):
        due = add_months(flag.date, months)
        if flag.date >= anchor and due < best.due:
            reason = f"brought forward to {months} months after {flag.rule_id} evidence of {flag.date}"
            best = _Planned(due, reason, counts_from=plan.counts_from, escalated_by=flag.rule_id)
    return best


def _next_imaging(history: PatientHistory, protocol: SurveillanceProtocol, flags: Sequence[Flag]) -> _Cycle:
    spec = imaging_spec(protocol)
    start = history.patient.protocol_start
    last = _last_scan(history.scans, spec, start)
    plan = _regular_imaging(spec, start, last, bool(flags))
    plan = _escalated(plan, flags, last.date if last else start, protocol)
    following = add_months(plan.due, imaging_interval(spec, start, plan.due, flag_open=bool(flags)))
    return _Cycle(start, last.date if last else None, plan, following)


# --------------------------------------------------------------------------- companions and labs


def _companion(done: Sequence[date], cycle: _Cycle, protocol: SurveillanceProtocol) -> _Planned:
    """An item "with each imaging", given the dates of the records that complete it. It counts
    from the latest of them after the protocol start (else from the start), whichever imaging it
    goes with: done, it is a new occurrence; moved with its imaging, the same one."""
    latest = max(done, default=None)
    since = latest if latest is not None and latest > cycle.start else cycle.start
    if latest is not None and latest >= _window_start(cycle.next.due, protocol):
        return _Planned(cycle.following, f"with the imaging planned for {cycle.following}", counts_from=since)
    last = cycle.last
    if last is None or (latest is not None and latest >= _window_start(last, protocol)):
        return _Planned(cycle.next.due, f"with the imaging due {cycle.next.due}", counts_from=since,
                        escalated_by=cycle.next.escalated_by)
    return _Planned(last, f"with the imaging of {last}", counts_from=since)


def _baseline(results: Sequence[LabResult], spec: ItemSpec, start: date, *, late: bool) -> LabResult | None:
    """The latest result on or before start + baseline_days; else, if `late`, the first after."""
    cutoff = add_days(start, spec.baseline_days)
    before = [r for r in results if r.date <= cutoff]
    if before:
        return before[-1]
    return results[0] if late and results else None


def _above(result: LabResult) -> bool:
    return result.above_limit(result.upper_limit)


def _results_by_analyte(history: PatientHistory) -> dict[str, list[LabResult]]:
    """Results by analyte code (`Analyte` value), oldest first."""
    out: dict[str, list[LabResult]] = {}
    for r in history.labs:
        out.setdefault(r.analyte._value_, []).append(r)
    return out


def _lab_plans(results: dict[str, list[LabResult]], spec: ItemSpec, cycle: _Cycle,
               protocol: SurveillanceProtocol, own: frozenset[str], start: date) -> list[tuple[str, _Planned]]:
    analytes = [a for a in spec.analytes if a not in own] if spec.analyte == "any" else [spec.analyte or ""]
    plans = []
    for analyte in analytes:
        plan = _lab_plan(results.get(analyte, []), spec, cycle, protocol, start)
        if plan is not None:
            plans.append((analyte, plan))
    return plans


def _lab_plan(results: Sequence[LabResult], spec: ItemSpec, cycle: _Cycle,
              protocol: SurveillanceProtocol, start: date) -> _Planned | None:
    if spec.with_imaging == "always":
        return _companion([r.date for r in results], cycle, protocol)
    baseline = _baseline(results, spec, start, late=spec.at_start)
    if baseline is None:
        return _Planned(start, f"{spec.label} at the protocol start {start} (no baseline result)",
                        counts_from=start) \
            if spec.at_start else None
    if spec.with_imaging == "if_baseline_above_upper_limit" and _above(baseline):
        plan = _companion([r.date for r in results], cycle, protocol)
        return _Planned(plan.due, f"{plan.reason}; baseline {baseline.value} {baseline.unit} of "
                        f"{baseline.date} above the upper limit {baseline.upper_limit}",
                        counts_from=plan.counts_from, escalated_by=plan.escalated_by)
    return None


# --------------------------------------------------------------------------- public API


def compute_schedule(history: PatientHistory, protocol: SurveillanceProtocol, flags: Sequence[Flag], *,
                     as_of: date) -> list[DueItem]:
    """The next item of each kind with its window on `as_of` and the reason for its date.

    `history` holds the active records (those after `as_of` are not counted); `flags` are the
    patient's open flags as of `as_of` (snoozed ones removed, acknowledged ones kept). A patient
    who left surveillance on or before `as_of` has nothing due."""
    patient = history.patient
    if patient.has_left(as_of):
        return []
    known = history.up_to(as_of)
    cycle = _next_imaging(known, protocol, _escalating(flags, protocol, as_of))
    planned = _planned_items(known, protocol, cycle)
    return [
        _due_item(patient.label, kind, what, plan, protocol, item_status(plan.due, as_of, protocol))
        for kind, what, plan in planned
    ]


def _planned_items(history: PatientHistory, protocol: SurveillanceProtocol,
                   cycle: _Cycle) -> list[tuple[ItemKind, str, _Planned]]:
    own = frozenset(i.analyte for i in protocol.items if i.kind is ItemKind.LAB and i.analyte)
    results = _results_by_analyte(history)
    planned: list[tuple[ItemKind, str, _Planned]] = []
    for spec in protocol.items:
        if spec.kind is ItemKind.IMAGING:
            planned.append((spec.kind, spec.label, cycle.next))
        elif spec.kind is ItemKind.VISIT:
            visits = [v.date for v in history.visits]
            planned.append((spec.kind, spec.label, _companion(visits, cycle, protocol)))
        else:
            labs = _lab_plans(results, spec, cycle, protocol, own, history.patient.protocol_start)
            planned.extend((spec.kind, what, plan) for what, plan in labs)
    return planned


def overdue_flags(items: Sequence[DueItem], protocol: SurveillanceProtocol, *,
                  rule_version: str = SCHEDULE_RULE_VERSION, as_of: date | None = None) -> list[Flag]:
    """One `schedule.overdue` (watch) flag per overdue item, dated at the item's due date.

    With `as_of` the message counts the days overdue; without it, it says "at least" the first
    overdue day count (grace + 1), which every overdue item has reached."""
    rule = protocol.rule(OVERDUE_RULE)
    if not rule.enabled:
        return []
    source = rule.source or protocol.windows_source
    return [_overdue_flag(item, protocol, source, rule_version, as_of)
            for item in items if item.status is DueStatus.OVERDUE]


_ANALYTES = frozenset(a.value for a in Analyte)


def display_what(item: DueItem) -> str:
    """What is due, as people read it: a lab's analyte name ("chromogranin A") instead of its code."""
    return analyte_name(Analyte(item.what)) if item.kind is ItemKind.LAB and item.what in _ANALYTES else item.what


def _overdue_flag(item: DueItem, protocol: SurveillanceProtocol, source: str, rule_version: str,
                  as_of: date | None) -> Flag:
    grace = protocol.grace_days
    days = f"{(as_of - item.due_date).days} days" if as_of else f"at least {grace + 1} days"
    message = (f"{display_what(item)} was due on {item.due_date} and is {days} overdue "
               f"(grace period {grace} days: {protocol.windows_source or source})")
    return Flag(
        rule_id=OVERDUE_RULE, severity=Severity.WATCH, patient=item.patient, date=item.due_date,
        message=message, evidence=(f"due:{item.kind.value}/{item.what}@{item.due_date}",),
        threshold=f"{grace} days", source=source, rule_version=rule_version,
    )


def preview_schedule(protocol: SurveillanceProtocol, start: date, *, years: int = 10) -> list[DueItem]:
    """The planned schedule for `years` after `start`, assuming each item is done on its due
    date, no flag opens and every baseline lab is within its limits (so a lab "with imaging
    only if raised" appears once, at the start when `at_start`, and "any raised marker" never)."""
    spec = imaging_spec(protocol)
    end = add_months(start, 12 * years)
    planned: list[tuple[ItemKind, str, _Planned]] = [
        (s.kind, s.analyte or s.label,
         _Planned(start, f"{s.label} at the protocol start {start} (baseline)", counts_from=start))
        for s in protocol.items if s.kind is ItemKind.LAB and s.at_start
    ]
    previous, reason = start, f"the protocol start {start}"
    while True:
        months = imaging_interval(spec, start, previous, flag_open=False)
        due = add_months(previous, months)
        if due > end:
            break
        planned.append((spec.kind, spec.label, _Planned(due, f"{months} months after {reason}", counts_from=previous)))
        planned.extend((s.kind, s.analyte or s.label,
                        _Planned(due, f"with the imaging planned for {due}", counts_from=previous))
                       for s in protocol.items if s.with_imaging == "always")
        previous, reason = due, f"the imaging planned for {due}"
    return [_due_item("", kind, what, plan, protocol, DueStatus.NOT_DUE) for kind, what, plan in planned]


def due_rows(items: Iterable[DueItem]) -> list[dict[str, str]]:
    """Schedule rows as text columns (`DUE_ITEM_FIELDS`), for CSV; None becomes ""."""
    return [{k: "" if v is None else str(v) for k, v in item.to_json().items()} for item in items]
