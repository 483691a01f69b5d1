"""One patient's evaluation: the clinical flags as of a date, the schedule tightened by the open
watch/action flags, the overdue flags, and what the reviews say about each flag (`FlagView`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.model import DueItem, Flag, Patient, PatientHistory, Severity
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import evaluate_flags
from tracker.domain.schedule import compute_schedule, item_status, overdue_flags
from tracker.errors import NotFoundError
from tracker.store import Store


@dataclass(frozen=True)
class Ack:
    """Who acknowledged a flag, and when (the latest acknowledgement)."""

    user: str
    at: datetime


@dataclass(frozen=True)
class FlagView:
    flag: Flag
    is_new: bool = False
    ack: Ack | None = None
    snoozed_until: date | None = None
    #: the flag's number among the patient's current flags (snoozed ones included), action first:
    #: `tracker flag ack PATIENT 2`
    handle: int | None = None

    @property
    def acknowledged(self) -> bool:
        return self.ack is not None

    def to_json(self) -> dict[str, Any]:
        return {**self.flag.to_json(), "handle": self.handle, **self.review_json(), "key": self.flag.key}

    def review_json(self) -> dict[str, Any]:
        """What was done about the flag: new, acknowledged (by whom, when), snoozed until."""
        return {"new": self.is_new, "acknowledged": self.acknowledged,
                "acknowledged_by": self.ack.user if self.ack else None,
                "acknowledged_at": self.ack.at.isoformat(timespec="seconds") if self.ack else None,
                "snoozed_until": self.snoozed_until.isoformat() if self.snoozed_until else None}


class PatientView:
    """One patient's flags and schedule as of a date. `history` is loaded on first use when the
    view came from the state cache (all the cached views of one call load theirs together)."""

    def __init__(self, history: PatientHistory | None, protocol: SurveillanceProtocol,
                 flags: Sequence[FlagView] = (), snoozed: Sequence[FlagView] = (), schedule: Sequence[DueItem] = (),
                 *, patient: Patient | None = None, loader: _Histories | None = None) -> None:
        self._history = history
        self.patient: Patient = history.patient if history is not None else patient  # type: ignore[assignment]
        self.protocol = protocol
        self.flags: list[FlagView] = list(flags)  # current, not snoozed
        self.snoozed: list[FlagView] = list(snoozed)
        self.schedule: list[DueItem] = list(schedule)
        self._loader = loader

    @property
    def history(self) -> PatientHistory:
        if self._history is None:
            assert self._loader is not None
            self._history = self._loader.get(self.patient)
        return self._history

    @property
    def label(self) -> str:
        return self.patient.label


class _Histories:
    """Histories of the views built from the state cache, loaded in bulk when one is first asked for."""

    def __init__(self, settings: Settings, patients: Sequence[Patient]) -> None:
        self.settings, self.patients = settings, list(patients)
        self.loaded: dict[int, PatientHistory] | None = None

    def get(self, p: Patient) -> PatientHistory:
        if self.loaded is None:
            with transaction(self.settings, read_only=True) as s:
                self.loaded = {h.patient.id or -1: h for h in Store(s).histories(self.patients)}
        return self.loaded.get(p.id or -1) or PatientHistory(patient=p)


@dataclass(frozen=True)
class ReviewState:
    acknowledged: dict[str, Ack]  # key -> the latest acknowledgement
    snoozed: dict[str, date]  # key -> until


def review_state(reviews: Sequence[Any]) -> dict[int, ReviewState]:
    """What the reviews (rows of `models.FLAG_REVIEW`, oldest first) leave: by patient id."""
    out: dict[int, ReviewState] = defaultdict(lambda: ReviewState({}, {}))
    for r in reviews:
        st = out[r.patient_id]
        if r.action == "acknowledge":
            st.acknowledged[r.flag_key] = Ack(r.user, r.at)
        elif r.until is not None:
            st.snoozed[r.flag_key] = r.until
    return out


def _snoozed_keys(flags: Sequence[Flag], state: ReviewState, as_of: date) -> frozenset[str]:
    """The keys of these flags that are hidden by a snooze on `as_of`."""
    if not state.snoozed:
        return frozenset()
    return frozenset(f.key for f in flags if _hidden(f, state, as_of))


def _hidden(f: Flag, state: ReviewState, as_of: date) -> bool:
    """A watch flag snoozed until after `as_of`."""
    until = state.snoozed.get(f.key)
    return until is not None and as_of < until and f.severity is Severity.WATCH


@dataclass(frozen=True)
class _Core:
    """The part of an evaluation that only the records decide: the clinical flags and the due
    items (their windows aside), with the snoozed clinical flags the schedule left out. It holds
    for every as-of date on or after the patient's latest record while the same flags are snoozed."""

    clinical: list[Flag]
    items: list[DueItem]
    hidden: frozenset[str]


def _core(history: PatientHistory, protocol: SurveillanceProtocol, state: ReviewState, as_of: date) -> _Core:
    clinical = evaluate_flags(history, protocol, as_of=as_of)
    hidden = _snoozed_keys(clinical, state, as_of)
    items = compute_schedule(history, protocol, [f for f in clinical if f.key not in hidden], as_of=as_of)
    return _Core(clinical, items, hidden)


def _finish(history: PatientHistory | None, core: _Core, protocol: SurveillanceProtocol, state: ReviewState, *,
            as_of: date, seen: set[str] | frozenset[str], patient: Patient | None = None,
            loader: _Histories | None = None) -> PatientView:
    """The as-of-dependent part: each item's window, the overdue flags, reviews and what is new."""
    items = []
    for it in core.items:
        status = item_status(it.due_date, as_of, protocol)
        items.append(it if it.status is status else replace(it, status=status))
    overdue = overdue_flags(items, protocol, as_of=as_of) if protocol.enabled("schedule.overdue") else []
    shown: list[FlagView] = []
    snoozed: list[FlagView] = []
    acks, snoozes = state.acknowledged, state.snoozed
    for n, f in enumerate(sorted([*core.clinical, *overdue], key=Flag.sort_key), start=1):
        key = f.key
        until = snoozes.get(key)
        fv = FlagView(f, key not in seen, acks.get(key), until, handle=n)
        (snoozed if until is not None and _hidden(f, state, as_of) else shown).append(fv)
    return PatientView(history, protocol, flags=shown, snoozed=snoozed, schedule=items, patient=patient,
                       loader=loader)


def evaluate(history: PatientHistory, protocol: SurveillanceProtocol, state: ReviewState, *, as_of: date,
             seen: set[str] | frozenset[str] = frozenset()) -> PatientView:
    """Flags and schedule of one patient as of a date (pure composition of the domain engines)."""
    p = history.patient
    if p.has_left(as_of):
        return PatientView(history, protocol)
    return _finish(history, _core(history, protocol, state, as_of), protocol, state, as_of=as_of, seen=seen)


def protocol_for(protocols: dict[str, SurveillanceProtocol], patient: Patient) -> SurveillanceProtocol:
    pid = patient.protocol_id
    if pid not in protocols:
        raise NotFoundError(f"the protocol patient #{patient.id} follows is not installed (`tracker patient show "
                            f"#{patient.id}` names it); add its file to the protocols folder or change the "
                            "patient's protocol")
    return protocols[pid]
