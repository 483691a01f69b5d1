"""The views of one patient or all as of a date, served from the state cache where it holds,
and the flag log of what was shown."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.model import Flag, Patient, PatientHistory
from tracker.domain.protocol import SurveillanceProtocol
from tracker.services import no_cycle_collection
from tracker.services.protocols import all_protocols
from tracker.services.surveillance.cache import _core_from_doc, _evaluate, _valid_states, cache_key
from tracker.services.surveillance.evaluation import (
    PatientView,
    ReviewState,
    _Core,
    _finish,
    _Histories,
    _snoozed_keys,
    protocol_for,
    review_state,
)
from tracker.store import CHUNK, Store, now_utc

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
    with transaction(settings) as s:
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
        cached = _valid_states(st.states(as_of, ids[0] if ref else None), patients, keys)
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
        with transaction(settings) as s:
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


def _log_row(patient_id: int, f: Flag, stamp: Any, as_of: date) -> dict[str, Any]:
    return {"patient_id": patient_id, "flag_key": f.key, "rule_id": f.rule_id, "severity": f.severity.value,
            "date": f.date, "message": f.message, "evidence": ",".join(f.evidence), "threshold": f.threshold,
            "source": f.source, "rule_version": f.rule_version, "first_seen_at": stamp, "first_seen_as_of": as_of}
