"""The state cache: each patient's `Core` (clinical flags and due items) kept in `patient_state`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from tracker.domain.model import (
    DUE_STATUS_OF,
    ITEM_KIND_OF,
    SEVERITY_OF,
    DueItem,
    Flag,
    Patient,
    PatientHistory,
    assemble,
)
from tracker.domain.protocol import SurveillanceProtocol
from tracker.domain.rules import RULES
from tracker.domain.schedule import SCHEDULE_RULE_VERSION
from tracker.services.surveillance.evaluation import ReviewState, _Core, _core, protocol_for, review_state
from tracker.store import Store

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

CACHE_FORMAT = "4"  # 3: flags carry `unconfirmed`; 4: due items carry `counts_from`


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




def _flag(d: dict[str, Any]) -> Flag:
    return assemble(Flag, {"rule_id": d["rule_id"], "severity": SEVERITY_OF[d["severity"]], "patient": d["patient"],
                           "date": date.fromisoformat(d["date"]), "message": d["message"],
                           "evidence": tuple(d["evidence"]), "threshold": d["threshold"], "source": d["source"],
                           "rule_version": d["rule_version"], "unconfirmed": tuple(d.get("unconfirmed", ()))})


def _due_item(d: dict[str, Any]) -> DueItem:
    return assemble(DueItem, {"patient": d["patient"], "kind": ITEM_KIND_OF[d["kind"]], "what": d["what"],
                              "due_date": date.fromisoformat(d["due_date"]),
                              "window_start": date.fromisoformat(d["window_start"]),
                              "window_end": date.fromisoformat(d["window_end"]), "status": DUE_STATUS_OF[d["status"]],
                              "reason": d["reason"], "counts_from": date.fromisoformat(d["counts_from"]),
                              "escalated_by": d["escalated_by"]})


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
