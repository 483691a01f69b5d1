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
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import text

from tracker import models as m
from tracker.config import Settings
from tracker.db import session_scope
from tracker.domain.model import (
    DueItem,
    DueStatus,
    Flag,
    ItemKind,
    Patient,
    PatientHistory,
    Severity,
    assemble,
)
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import RULES, evaluate_flags
from tracker.domain.schedule import (
    OVERDUE_RULE,
    SCHEDULE_RULE_VERSION,
    compute_schedule,
    item_status,
    overdue_flags,
)
from tracker.errors import ConflictError, NotFoundError, ValidationError
from tracker.services import no_cycle_collection
from tracker.services.protocols import all_protocols
from tracker.store import CHUNK, Store, now_utc
from tracker.text import quoted

#: The longest snooze a user may set (a snooze needs a maximum length and a reason).
MAX_SNOOZE_DAYS = 183


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
            with session_scope(self.settings, read_only=True) as s:
                self.loaded = {h.patient.id or -1: h for h in Store(s).histories(self.patients)}
        return self.loaded.get(p.id or -1) or PatientHistory(patient=p)


@dataclass(frozen=True)
class ReviewState:
    acknowledged: dict[str, Ack]  # key -> the latest acknowledgement
    snoozed: dict[str, date]  # key -> until


def review_state(reviews: Sequence[m.FlagReview]) -> dict[int, ReviewState]:
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


# ------------------------------------------------------------------ state cache
#
# `patient_state` (migrations 0003, 0004) keeps each patient's `_Core`: the clinical flags and due
# items evaluated from their whole history. Flags as of a date read only records dated up to it
#, so a core holds for every as-of date on or after `valid_from` (the latest active
# record, or the latest date a flag names); an earlier date is evaluated afresh and not stored.
# On read, the item windows, overdue flags, acknowledgements, snoozes and new marks are derived
# for the asked date (`_finish`); a core is used only when the clinical flags the schedule left out
# as snoozed are the same on that date (a snooze that has ended, or not yet, recomputes). A
# patient who has left by the date has nothing, without the cache. The database empties a
# patient's row on every write to their records, their patient row or their flag reviews
# (triggers), and the cache key names the format, the tracker version, every rule's VERSION, the
# schedule rule version and the protocol's content (`cache_key`): a fixed rule never serves old flags.
# States are stored by `views` for the patients it had to evaluate, and by an import for the
# patients it wrote (`store_states`). The patient rows are locked before their histories are
# read (`Store.lock_patients`), so a concurrent write waits and then empties the new row.

CACHE_FORMAT = "3"  # 3: flags carry `unconfirmed`


def rules_digest() -> str:
    """A hash of every flag rule's id and VERSION and of the schedule rule version."""
    versions = [*sorted(f"{r.id}={r.version}" for r in RULES), f"schedule={SCHEDULE_RULE_VERSION}"]
    return hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]


def cache_key(protocol: SurveillanceProtocol) -> str:
    """The key a cached state must carry to be used: the cache format, the tracker version, a hash
    of the rule versions (`rules_digest`) and a hash of the protocol document's whole content."""
    from tracker import __version__

    digest = hashlib.sha256(json.dumps(protocol.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{CACHE_FORMAT}|{__version__}|{rules_digest()}|{protocol.id}|{protocol.version}|{digest}"


def _core_doc(core: _Core) -> str:
    return json.dumps({"clinical": [f.to_json() for f in core.clinical], "items": [i.to_json() for i in core.items],
                       "hidden": sorted(core.hidden)}, separators=(",", ":"))


_SEVERITY_OF = {e.value: e for e in Severity}
_KIND_OF = {e.value: e for e in ItemKind}
_STATUS_OF = {e.value: e for e in DueStatus}


def _flag(d: dict[str, Any]) -> Flag:
    return assemble(Flag, {"rule_id": d["rule_id"], "severity": _SEVERITY_OF[d["severity"]], "patient": d["patient"],
                           "date": date.fromisoformat(d["date"]), "message": d["message"],
                           "evidence": tuple(d["evidence"]), "threshold": d["threshold"], "source": d["source"],
                           "rule_version": d["rule_version"], "unconfirmed": tuple(d.get("unconfirmed", ()))})


def _due_item(d: dict[str, Any]) -> DueItem:
    return assemble(DueItem, {"patient": d["patient"], "kind": _KIND_OF[d["kind"]], "what": d["what"],
                              "due_date": date.fromisoformat(d["due_date"]),
                              "window_start": date.fromisoformat(d["window_start"]),
                              "window_end": date.fromisoformat(d["window_end"]), "status": _STATUS_OF[d["status"]],
                              "reason": d["reason"], "escalated_by": d["escalated_by"]})


@lru_cache(maxsize=50_000)
def _core_from_doc(computed: str) -> _Core:
    """The core a stored state holds. Memoised by the stored text itself (a pure function of it,
    never of a patient or a date): a long-running `tracker serve` decodes each state once, and a
    write, which empties the patient's state, gives a new text. The core is shared, so nothing
    changes it (`_finish` derives new lists)."""
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
            protocol = protocol_for(protocols, p)
            if p.has_left(as_of):
                out[pid] = PatientView(None, protocol, patient=p, loader=loader)
                continue
            core = _core_from_doc(cached[pid]) if pid in cached else None
            if core is not None and core.hidden == _snoozed_keys(core.clinical, states[pid], as_of):
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
        protocol = protocol_for(protocols, h.patient)
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
        ids = [pid for pid in patients if pid is not None]
        rows = st.flag_rows(ids) if ref else st.flag_rows()
        reviews = st.reviews(ids) if ref else st.reviews()
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
    target = find_flag([*current.flags, *current.snoozed], key, ref, as_of)
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


def find_flag(candidates: Sequence[FlagView], handle: str, ref: str, as_of: date) -> FlagView:
    """The flag a person named: by its number in `tracker flags` / `worklist`, its key, its rule
    id, or 'overdue KIND' ('overdue imaging', 'overdue chromogranin_a') for an overdue item."""
    text = " ".join(handle.split())
    words = text.split(" ")
    if text.isdigit():
        matches = [v for v in candidates if v.handle == int(text)]
    elif len(words) == 2 and words[0] == "overdue":
        matches = [v for v in candidates if (item := overdue_item(v.flag)) is not None and words[1] in item]
    else:
        matches = [v for v in candidates if v.flag.key == text] or [v for v in candidates if v.flag.rule_id == text]
    if not matches:
        raise NotFoundError(f"no current flag {quoted(text)} for {ref} as of {as_of}; run `tracker flags {ref}` "
                            "and give the flag's number (#), rule id or key")
    if len(matches) > 1:
        raise ValidationError(f"{quoted(text)} matches {len(matches)} flags; give the flag's number (#) from "
                              f"`tracker flags {ref}`", "FLAG")
    return matches[0]


def overdue_item(f: Flag) -> tuple[str, str] | None:
    """(kind, what) of the due item a `schedule.overdue` flag is about; None for other flags."""
    if f.rule_id != OVERDUE_RULE or not f.evidence or not f.evidence[0].startswith("due:"):
        return None
    kind, _, rest = f.evidence[0][len("due:"):].partition("/")
    return kind, rest.rpartition("@")[0]


# ------------------------------------------------------------------ worklist

#: Urgency of worklist rows: tumour-board flags first, then overdue, due, due soon, not due.
_URGENCY = {"tumour_board": 0, **{s.value: 1 + s.rank for s in DueStatus}}


@no_cycle_collection()
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
                             "reason": fv.flag.message, "escalated_by": None, **_row_review(fv), "_item": None})
        overdue = {fv.flag.evidence[0]: fv for fv in [*v.flags, *v.snoozed]
                   if fv.flag.rule_id == OVERDUE_RULE and fv.flag.evidence}
        for it in v.schedule:
            if it.status is DueStatus.CLOSED or (it.due_date > horizon and it.status is DueStatus.NOT_DUE):
                continue
            late = overdue.get(f"due:{it.kind.value}/{it.what}@{it.due_date}")
            rows.append({**it.to_json(), **_row_review(late), "_item": it})
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    rows.sort(key=lambda r: (_URGENCY[r["status"]], r["due_date"], r["patient"], r["kind"], r["what"]))
    return rows


#: What a worklist row says about its flag (the tumour-board flag, or an overdue item's
#: `schedule.overdue` flag): all null for an item that has none.
WORKLIST_REVIEW_FIELDS = ("handle", "key", "new", "acknowledged", "acknowledged_by", "acknowledged_at",
                          "snoozed_until")


def _row_review(fv: FlagView | None) -> dict[str, Any]:
    if fv is None:
        return dict.fromkeys(WORKLIST_REVIEW_FIELDS)
    return {"handle": fv.handle, "key": fv.flag.key, **fv.review_json()}
