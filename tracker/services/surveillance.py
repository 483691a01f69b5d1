"""Flags, schedules and the worklist: the domain engines run over stored histories.

One evaluation per patient: the clinical flags as of the date; the schedule, tightened by the
open watch/action flags (snoozed ones excepted, acknowledged ones still count); then one
`schedule.overdue` flag per overdue item. Flags are stored in the flag log when evaluated
(first seen), so a later reader sees what was shown and why; a flag whose key was not in the
log before is marked new. Acknowledgements and snoozes are append-only reviews by flag key: a
snoozed watch flag is hidden until the snooze ends, and comes back at once when newer
evidence gives the rule a new key.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from tracker import models as m
from tracker.config import Settings
from tracker.db import session_scope
from tracker.domain.model import DueItem, DueStatus, Flag, ItemKind, Patient, PatientHistory, Severity
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import evaluate_flags
from tracker.domain.schedule import compute_schedule, item_status, overdue_flags
from tracker.errors import ConflictError, NotFoundError, ValidationError
from tracker.services import no_cycle_collection
from tracker.services.protocols import all_protocols
from tracker.store import Store, merged_history, now_utc, with_id

#: The longest snooze a user may set (peers: a snooze needs a maximum length and a reason).
MAX_SNOOZE_DAYS = 183


@dataclass(frozen=True)
class FlagView:
    flag: Flag
    is_new: bool = False
    acknowledged: bool = False
    snoozed_until: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.flag.to_json(), "new": self.is_new, "acknowledged": self.acknowledged,
                "snoozed_until": self.snoozed_until.isoformat() if self.snoozed_until else None,
                "key": self.flag.key}


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
            with session_scope(self.settings, read_only=True) as s:
                self.loaded = {h.patient.id or -1: h for h in Store(s).histories(self.patients)}
        return self.loaded.get(p.id or -1) or PatientHistory(patient=p)


@dataclass(frozen=True)
class ReviewState:
    acknowledged: set[str]
    snoozed: dict[str, date]  # key -> until


def review_state(reviews: Sequence[m.FlagReview]) -> dict[int, ReviewState]:
    out: dict[int, ReviewState] = defaultdict(lambda: ReviewState(set(), {}))
    for r in reviews:
        st = out[r.patient_id]
        if r.action == "acknowledge":
            st.acknowledged.add(r.flag_key)
        elif r.until is not None:
            st.snoozed[r.flag_key] = r.until
    return out


def _sort_key(f: Flag) -> tuple[int, int, str, str]:
    return (f.severity.rank, -f.date.toordinal(), f.rule_id, f.key)


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
    hidden = frozenset(f.key for f in clinical if _hidden(f, state, as_of))
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
    views = [FlagView(f, f.key not in seen, f.key in state.acknowledged, state.snoozed.get(f.key))
             for f in sorted([*core.clinical, *overdue], key=_sort_key)]
    return PatientView(history, protocol, flags=[v for v in views if not _hidden(v.flag, state, as_of)],
                       snoozed=[v for v in views if _hidden(v.flag, state, as_of)], schedule=items,
                       patient=patient, loader=loader)


def evaluate(history: PatientHistory, protocol: SurveillanceProtocol, state: ReviewState, *, as_of: date,
             seen: set[str] | frozenset[str] = frozenset()) -> PatientView:
    """Flags and schedule of one patient as of a date (pure composition of the domain engines)."""
    p = history.patient
    if p.has_left(as_of):
        return PatientView(history, protocol)
    return _finish(history, _core(history, protocol, state, as_of), protocol, state, as_of=as_of, seen=seen)


def _protocol_for(protocols: dict[str, SurveillanceProtocol], patient: Patient) -> SurveillanceProtocol:
    pid = patient.protocol_id
    if pid not in protocols:
        raise NotFoundError(f"patient {patient.label} follows protocol '{pid}', which is not installed; "
                            "add its file to the protocols folder or change the patient's protocol")
    return protocols[pid]


# ------------------------------------------------------------------ state cache
#
# `patient_state` (migrations 0003, 0004) keeps each patient's `_Core`: the clinical flags and due
# items evaluated from their whole history. Flags as of a date read only records dated up to it
# (rules.md §4), so a core holds for every as-of date on or after `valid_from` (the latest active
# record, or the latest date a flag names); an earlier date is evaluated afresh and not stored.
# On read, the item windows, overdue flags, acknowledgements, snoozes and new marks are derived
# for the asked date (`_finish`); a core is used only when the clinical flags the schedule left out
# as snoozed are the same on that date (a snooze that has ended, or not yet, recomputes). A
# patient who has left by the date has nothing, without the cache. The database empties a
# patient's row on every write to their records, their patient row or their flag reviews
# (triggers), and the cache key names the format, tracker version and protocol content.
# States are stored by `views` for the patients it had to evaluate, and by an import for the
# patients it wrote (`store_states`). The patient rows are locked before their histories are
# read (`Store.lock_patients`), so a concurrent write waits and then empties the new row.

CACHE_FORMAT = "2"
#: patients evaluated together: their histories are loaded, evaluated, stored and dropped
CHUNK = 500


def cache_key(protocol: SurveillanceProtocol) -> str:
    from tracker import __version__

    digest = hashlib.sha256(json.dumps(protocol.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{CACHE_FORMAT}|{__version__}|{protocol.id}|{protocol.version}|{digest}"


def _core_doc(core: _Core) -> str:
    return json.dumps({"clinical": [f.to_json() for f in core.clinical], "items": [i.to_json() for i in core.items],
                       "hidden": sorted(core.hidden)}, separators=(",", ":"))


def _flag(d: dict[str, Any]) -> Flag:
    return Flag(rule_id=d["rule_id"], severity=Severity(d["severity"]), patient=d["patient"],
                date=date.fromisoformat(d["date"]), message=d["message"], evidence=tuple(d["evidence"]),
                threshold=d["threshold"], source=d["source"], rule_version=d["rule_version"])


def _due_item(d: dict[str, Any]) -> DueItem:
    return DueItem(patient=d["patient"], kind=ItemKind(d["kind"]), what=d["what"],
                   due_date=date.fromisoformat(d["due_date"]), window_start=date.fromisoformat(d["window_start"]),
                   window_end=date.fromisoformat(d["window_end"]), status=DueStatus(d["status"]), reason=d["reason"],
                   escalated_by=d["escalated_by"])


def _core_from_doc(computed: str) -> _Core:
    d = json.loads(computed)
    return _Core([_flag(x) for x in d["clinical"]], [_due_item(x) for x in d["items"]], frozenset(d["hidden"]))


def valid_from(history: PatientHistory, core: _Core) -> date | None:
    """The first as-of date a core evaluated from this whole history holds for (None: any date)."""
    dates = [r.date for rs in (history.visits, history.labs, history.scans, history.pathology) for r in rs]
    dates += [f.date for f in core.clinical]
    return max(dates, default=None)


_STATE = text("SELECT patient_id, cache_key, computed FROM patient_state "
              "WHERE valid_from IS NULL OR valid_from <= :as_of")
_STATE_ONE = text("SELECT patient_id, cache_key, computed FROM patient_state "
                  "WHERE (valid_from IS NULL OR valid_from <= :as_of) AND patient_id = :pid")


Progress = Callable[[int, int], None]  # (patients done, patients in all)


@no_cycle_collection()
def views(settings: Settings, ref: str | None, *, as_of: date, record: bool = True,
          progress: Progress | None = None) -> list[PatientView]:
    """Evaluate one patient (by label) or all, storing newly seen flags in the flag log.

    Patients with a usable cached core (see above) are not evaluated again; the others are, in
    chunks of `CHUNK` patients (histories loaded, evaluated, stored and dropped), and their core
    is stored when it holds on from `as_of`. Views of all patients load their histories lazily."""
    protocols = all_protocols()
    keys = {pid: cache_key(p) for pid, p in protocols.items()}
    with session_scope(settings) as s:
        st = Store(s)
        if not ref:
            st.one_bulk_command()
        patients = [st.patient(ref)] if ref else st.patients()
        ids = [p.id for p in patients if p.id is not None]
        scope = ids if ref else None
        states = review_state(st.reviews(scope))
        logged: dict[int, set[str]] = defaultdict(set)
        for pid, key in st.flag_keys(scope):
            logged[pid].add(key)
        conn = s.connection()
        rows = conn.execute(_STATE_ONE, {"as_of": as_of, "pid": ids[0]}) if ref else \
            conn.execute(_STATE, {"as_of": as_of})
        cached = _valid_states(rows, patients, keys)
        loader = _Histories(settings, patients)
        out: dict[int, PatientView] = {}
        need: list[Patient] = []
        for p in patients:
            pid = p.id or -1
            protocol = _protocol_for(protocols, p)
            if p.has_left(as_of):
                out[pid] = PatientView(None, protocol, patient=p, loader=loader)
                continue
            core = _core_from_doc(cached[pid]) if pid in cached else None
            if core is not None and core.hidden == {f.key for f in core.clinical if _hidden(f, states[pid], as_of)}:
                out[pid] = _finish(None, core, protocol, states[pid], as_of=as_of, seen=logged[pid], patient=p,
                                   loader=loader)
            else:
                need.append(p)
        stamp = now_utc()
        done = len(patients) - len(need)
        if progress:
            progress(done, len(patients))
        for i in range(0, len(need), CHUNK):
            chunk = need[i:i + CHUNK]
            for h, protocol, core in _evaluate_chunk(st, chunk, protocols, keys, states, as_of):
                pid = h.patient.id or -1
                out[pid] = (PatientView(h if ref else None, protocol, patient=h.patient, loader=loader)
                            if core is None else  # left surveillance meanwhile
                            _finish(h if ref else None, core, protocol, states[pid], as_of=as_of, seen=logged[pid],
                                    patient=h.patient, loader=loader))
            if progress:
                progress(done + i + len(chunk), len(patients))
        result = [out[p.id or -1] for p in patients]
        if record:
            st.add_flag_rows(_seen_rows(result, stamp, as_of))
        return result


def _seen_rows(shown: Sequence[PatientView], stamp: Any, as_of: date) -> list[dict[str, Any]]:
    return [_log_row(v.patient.id or -1, fv.flag, stamp, as_of) for v in shown for fv in [*v.flags, *v.snoozed]
            if fv.is_new]


def mark_seen(settings: Settings, shown: Sequence[PatientView], *, as_of: date) -> None:
    """Store the new flags of `shown` in the flag log: call it once they have been shown (the
    output written whole), so that a flag nobody saw stays new. A flag another command logged
    meanwhile is left as logged."""
    rows = _seen_rows(shown, now_utc(), as_of)
    if rows:
        with session_scope(settings) as s:
            Store(s).add_flag_rows(rows)


def _evaluate_chunk(st: Store, chunk: Sequence[Patient], protocols: dict[str, SurveillanceProtocol],
                    keys: dict[str, str], states: dict[int, ReviewState], as_of: date
                    ) -> list[tuple[PatientHistory, SurveillanceProtocol, _Core | None]]:
    """Lock these patients, then load their whole histories (one bulk load) and evaluate them
    (`_evaluate`). The patients are evaluated as read after the lock (their details may have
    changed since the caller read them)."""
    locked = st.lock_patients([p.id for p in chunk if p.id is not None])
    current = [locked[p.id] for p in chunk if p.id in locked]
    return _evaluate(st, st.histories(current), protocols, keys, states, as_of)


def _evaluate(st: Store, histories: Sequence[PatientHistory], protocols: dict[str, SurveillanceProtocol],
              keys: dict[str, str], states: dict[int, ReviewState], as_of: date
              ) -> list[tuple[PatientHistory, SurveillanceProtocol, _Core | None]]:
    """Evaluate these whole histories and store each core that holds from `as_of` on; a patient
    who has left by `as_of` comes back with no core."""
    out: list[tuple[PatientHistory, SurveillanceProtocol, _Core | None]] = []
    new_states: list[dict[str, Any]] = []
    for h in histories:
        protocol = _protocol_for(protocols, h.patient)
        core, row = _state(h, protocol, states[h.patient.id or -1], keys, as_of)
        out.append((h, protocol, core))
        if row is not None:
            new_states.append({"patient_id": h.patient.id, **row})
    if new_states:
        st.put_states(new_states)
    return out


def _state(h: PatientHistory, protocol: SurveillanceProtocol, state: ReviewState, keys: dict[str, str],
           as_of: date) -> tuple[_Core | None, dict[str, Any] | None]:
    """A whole history's core as of a date (None once the patient has left) and the state row
    that caches it (without its patient id; None when the core does not hold from `as_of`)."""
    if h.patient.has_left(as_of):
        return None, None
    core = _core(h, protocol, state, as_of)
    start = valid_from(h, core)
    if start is not None and start > as_of:
        return core, None
    return core, {"as_of": as_of, "cache_key": keys[h.patient.protocol_id], "computed": _core_doc(core),
                  "valid_from": start}


class NewPatientStates:
    """The states of an import's new patients, evaluated ahead by the process that checks the
    file (services.checker), with the record ids they will be given.

    On SQLite an import gives record ids itself, in file order, following the largest stored one
    (`Store.add_records_bulk`), under a write lock held from before this plan is read. So while
    every patient of the file is new (not stored), the ids of each record are known before it
    is written, and the state the import would cache for the patient can be evaluated by the
    checker. The importing process compares the first id of each kind it gave a patient with
    the one assumed here (services.files) and evaluates the patient itself when they differ;
    once a patient is stored, or a problem is found (nothing is written then), or an evaluation
    fails here (the importing process then meets the same failure and reports it), no more
    states are predicted."""

    def __init__(self, next_ids: dict[str, int], stored_labels: set[str],
                 protocols: dict[str, SurveillanceProtocol], as_of: date) -> None:
        self.next_ids = dict(next_ids)
        self.stored_labels = stored_labels
        self.protocols = protocols
        self.keys = {pid: cache_key(p) for pid, p in protocols.items()}
        self.as_of = as_of
        self.on = True

    def predict(self, patient: Patient, records: Sequence[tuple[str, Any, str | None]], *, problems: bool
                ) -> Prediction | None:
        """The first id of each kind of record of this new patient, and its state row (None when
        nothing is cached); None when no prediction can be made from here on."""
        if not self.on or problems or patient.label in self.stored_labels or patient.protocol_id not in self.protocols:
            self.on = False
            return None
        firsts: dict[str, int] = {}
        with_ids = []
        for kind, r, voided in records:
            i = self.next_ids[kind]
            self.next_ids[kind] = i + 1
            firsts.setdefault(kind, i)
            with_ids.append((kind, with_id(r, i), voided))
        try:
            h = merged_history(patient, with_ids)
            _, row = _state(h, self.protocols[patient.protocol_id], ReviewState(set(), {}), self.keys, self.as_of)
        except Exception:  # e.g. a protocol missing a rule parameter: the importer says what it is
            self.on = False
            return None
        return firsts, row


#: what `NewPatientStates.predict` assumed and found: the first id of each kind of record, and
#: the state row to store (None: nothing is cached for this patient)
Prediction = tuple[dict[str, int], dict[str, Any] | None]


def store_states(st: Store, histories: Sequence[PatientHistory], *, as_of: date,
                 protocols: dict[str, SurveillanceProtocol]) -> None:
    """Evaluate and cache the state of these whole histories as of a date, in the caller's
    transaction, which has locked or created their patients and holds what they are.

    An import calls this for the patients it wrote, with the histories it has in hand (the
    records stored before it, read after the lock, and those it added, with their new ids), so
    that the first worklist after a bulk import is served by the cache instead of evaluating every
    history then. Patients who have left by `as_of` have no state (their views are empty)."""
    if not histories:
        return
    keys = {pid: cache_key(p) for pid, p in protocols.items()}
    states = review_state(st.reviews([h.patient.id for h in histories if h.patient.id is not None]))
    _evaluate(st, histories, protocols, keys, states, as_of)


def _valid_states(rows: Any, patients: Sequence[Patient], keys: dict[str, str]) -> dict[int, str]:
    protocol_of = {p.id: p.protocol_id for p in patients}
    return {pid: computed for pid, key, computed in rows if key == keys.get(protocol_of.get(pid, ""))}


def _log_row(patient_id: int, f: Flag, stamp: Any, as_of: date) -> dict[str, Any]:
    return {"patient_id": patient_id, "flag_key": f.key, "rule_id": f.rule_id, "severity": f.severity.value,
            "date": f.date, "message": f.message, "evidence": ",".join(f.evidence), "threshold": f.threshold,
            "source": f.source, "rule_version": f.rule_version, "first_seen_at": stamp, "first_seen_as_of": as_of}


def flag_history(settings: Settings, ref: str | None) -> list[dict[str, Any]]:
    """Every flag ever shown, as stored when first evaluated."""
    with session_scope(settings, read_only=True) as s:
        st = Store(s)
        patients = {p.id: p.label for p in ([st.patient(ref)] if ref else st.patients())}
        rows = st.flag_rows(list(patients)) if ref else st.flag_rows()
        reviews = st.reviews(list(patients)) if ref else st.reviews()
    by_key: dict[tuple[int, str], list[m.FlagReview]] = defaultdict(list)
    for r in reviews:
        by_key[(r.patient_id, r.flag_key)].append(r)
    return [
        {"patient": patients.get(r.patient_id, str(r.patient_id)), "rule_id": r.rule_id, "severity": r.severity,
         "date": r.date.isoformat(), "message": r.message, "evidence": r.evidence.split(",") if r.evidence else [],
         "threshold": r.threshold, "source": r.source, "rule_version": r.rule_version,
         "first_seen_at": r.first_seen_at.isoformat(timespec="seconds"),
         "first_seen_as_of": r.first_seen_as_of.isoformat(), "key": r.flag_key,
         "reviews": [f"{x.action} by {x.user} at {x.at.isoformat(timespec='seconds')}"
                     f"{' until ' + x.until.isoformat() if x.until else ''}: {x.reason}"
                     for x in by_key[(r.patient_id, r.flag_key)]]}
        for r in rows
    ]


def review_flag(settings: Settings, ref: str, key: str, *, action: str, reason: str, as_of: date,
                until: date | None = None) -> FlagView:
    """Acknowledge a current flag, or snooze a watch flag until a date (at most 183 days ahead)."""
    if not reason.strip():
        raise ValidationError(f"to {action} a flag, give a reason with --reason", "--reason")
    if action == "snooze" and (until is None or until <= as_of or until > as_of + timedelta(days=MAX_SNOOZE_DAYS)):
        raise ValidationError(f"--until must be after {as_of} and at most {MAX_SNOOZE_DAYS} days later", "--until")
    # Read without marking anything seen: a refused review leaves the flag log as it was.
    current = views(settings, ref, as_of=as_of, record=False)[0]
    candidates = [*current.flags, *current.snoozed]
    matches = [v for v in candidates if v.flag.key == key] or [v for v in candidates if v.flag.rule_id == key]
    if not matches:
        raise NotFoundError(f"no current flag '{key}' for {ref} as of {as_of}; run `tracker flags {ref}` "
                            "and copy the flag's rule id or key exactly")
    if len(matches) > 1:
        raise ValidationError(f"'{key}' matches {len(matches)} flags; give the full key from "
                              f"`tracker flags {ref} --format json`", "FLAG")
    target = matches[0]
    if action == "snooze" and target.flag.severity is not Severity.WATCH:
        raise ConflictError(f"only watch flags can be snoozed; {target.flag.rule_id} is "
                            f"{target.flag.severity.value} — acknowledge it instead")
    with session_scope(settings) as s:
        st = Store(s)
        p = st.patient_for_update(ref)
        assert p.id is not None
        if target.is_new:  # the user has seen the flag they reviewed
            st.add_flag_rows([_log_row(p.id, target.flag, now_utc(), as_of)])
        st.add_review(m.FlagReview(patient_id=p.id, flag_key=target.flag.key, action=action, until=until,
                                   severity_at_review=target.flag.severity.value, reason=reason, user=settings.user,
                                   at=now_utc()))
        st.audit(user=settings.user, action=action, entity="flag", entity_id=None, patient_id=p.id, reason=reason,
                 after={"key": target.flag.key, "rule_id": target.flag.rule_id, "until": until})
    return target


# ------------------------------------------------------------------ worklist

#: Urgency of worklist rows: tumour-board flags first, then overdue, due, due soon, not due.
_URGENCY = {"tumour_board": 0, **{s.value: 1 + s.rank for s in DueStatus}}


def worklist_rows(all_views: Sequence[PatientView], *, as_of: date, within_days: int,
                  statuses: Sequence[str] | None) -> list[dict[str, Any]]:
    """Open action flags (for the tumour board) merged with due items, most urgent first."""
    horizon = as_of + timedelta(days=within_days)
    rows: list[dict[str, Any]] = []
    for v in all_views:
        for fv in v.flags:
            if fv.flag.severity is Severity.ACTION:
                rows.append({"patient": v.label, "status": "tumour_board", "kind": "flag", "what": fv.flag.rule_id,
                             "due_date": fv.flag.date.isoformat(), "window_start": None, "window_end": None,
                             "reason": fv.flag.message, "escalated_by": None, "new": fv.is_new, "_item": None})
        for it in v.schedule:
            if it.status is DueStatus.CLOSED or (it.due_date > horizon and it.status is DueStatus.NOT_DUE):
                continue
            rows.append({**it.to_json(), "new": None, "_item": it})
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    rows.sort(key=lambda r: (_URGENCY[r["status"]], r["due_date"], r["patient"], r["kind"], r["what"]))
    return rows
